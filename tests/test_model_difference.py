import torch
from torch import nn

from ftunlearn.models.difference import changed_entries


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_identical_models_change_nothing():
    a = _net()
    b = _net()
    assert changed_entries(a, b) == 0


def test_counts_each_changed_entry_including_buffers():
    a, b = _net(), _net()
    with torch.no_grad():
        b[0].weight[0, :2] += 1.0  # two weight entries
        b[1].running_mean[3] = 5.0  # one buffer entry
    assert changed_entries(a, b) == 3


def test_nan_in_both_is_no_change_but_new_nan_is():
    a, b = _net(), _net()
    with torch.no_grad():
        a[2].bias[0] = float("nan")
        b[2].bias[0] = float("nan")
        assert changed_entries(a, b) == 0
        b[2].bias[1] = float("nan")
    assert changed_entries(a, b) == 1
