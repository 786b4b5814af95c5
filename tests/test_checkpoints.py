"""Checkpoints: safetensors with metadata, weights-only PyTorch state dicts, clear mismatches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ftunlearn
from ftunlearn import UnlearnError


def net(width: int = 8) -> nn.Module:
    torch.manual_seed(width)
    return nn.Sequential(nn.Linear(4, width), nn.BatchNorm1d(width), nn.Linear(width, 3))


def test_save_and_load_round_trip_weights_buffers_and_metadata(tmp_path) -> None:
    model = net()
    model[1].running_mean.add_(1.5)
    path = ftunlearn.save(model, tmp_path / "m.safetensors", method="ft", seed=3)
    loaded = ftunlearn.load(path, lambda: net(8))
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    from ftunlearn.checkpoints import read_metadata
    assert read_metadata(path) == {"method": "ft", "seed": 3}


def test_plain_pytorch_state_dicts_load_weights_only(tmp_path) -> None:
    model = net()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    assert torch.equal(ftunlearn.load(tmp_path / "m.pt", net(8))[0].weight, model[0].weight)
    torch.save(model, tmp_path / "whole.pt")  # a pickled module is refused, never unpickled
    with pytest.raises(UnlearnError, match="weights-only"):
        ftunlearn.load(tmp_path / "whole.pt", net(8))


def test_mismatched_keys_and_shapes_are_named(tmp_path) -> None:
    path = ftunlearn.save(net(8), tmp_path / "m.safetensors")
    shape = r"shape \(file vs model\) 0.weight \(8, 4\) vs \(16, 4\)"
    with pytest.raises(UnlearnError, match=shape):
        ftunlearn.load(path, net(16))
    with pytest.raises(UnlearnError, match=r"missing \['2.bias', '2.weight'\]|unexpected"):
        ftunlearn.load(path, nn.Sequential(nn.Linear(4, 8)))
    with pytest.raises(UnlearnError, match="no checkpoint file"):
        ftunlearn.load(tmp_path / "absent.safetensors")
