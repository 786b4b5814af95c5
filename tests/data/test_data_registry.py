"""The dataset registry and the normalisation it relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ftunlearn.data import Normalisation, available_datasets, load_dataset
from ftunlearn.errors import UnlearnError


def test_every_format_is_registered() -> None:
    assert available_datasets() == [
        "cifar10",
        "cifar100",
        "digits",
        "fashion-mnist",
        "mnist",
        "npz",
        "svhn",
    ]


def test_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(UnlearnError, match="unknown dataset 'imagenet'; available: "):
        load_dataset("imagenet")
    with pytest.raises(UnlearnError) as error:
        load_dataset("")
    assert all(name in str(error.value) for name in available_datasets())


def test_names_are_case_insensitive_and_underscores_stand_for_dashes(tmp_path: Path) -> None:
    assert load_dataset(" DIGITS ").fingerprint == load_dataset("digits").fingerprint
    with pytest.raises(UnlearnError, match=r"^mnist: expected the files"):
        load_dataset("MNIST")
    with pytest.raises(UnlearnError, match=r"^fashion-mnist: expected the files"):
        load_dataset("Fashion_MNIST", tmp_path)


def test_normalisation_applies_per_channel_affine_map() -> None:
    raw = np.array([[[[0, 255]], [[51, 102]]]], dtype=np.uint8)  # (1, 2, 1, 2)
    norm = Normalisation(mean=(0.5, 0.2), std=(0.25, 0.4))
    x = norm.apply(raw)
    assert x.dtype == torch.float32 and x.shape == (1, 2, 1, 2)
    np.testing.assert_allclose(x.numpy().reshape(-1), [-2.0, 2.0, 0.0, 0.5], atol=1e-6)
    assert raw[0, 0, 0, 1] == 255  # the input is not modified


def test_fitted_normalisation_standardises_the_fitted_data() -> None:
    rng = np.random.default_rng(3)
    raw = rng.normal(loc=[5.0, -2.0, 0.0], scale=[2.0, 0.5, 3.0], size=(400, 3))
    raw[:, 2] = 7.0  # constant feature: std 1, maps to 0
    norm = Normalisation.fitted_to(raw)
    assert norm.scale == 1.0 and norm.std[2] == 1.0 and norm.mean[2] == 7.0
    x = norm.apply(raw).double()
    np.testing.assert_allclose(x.mean(dim=0).numpy(), [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(x.std(dim=0, unbiased=False).numpy(), [1, 1, 0], atol=1e-5)


def test_normalisation_refuses_inconsistent_constants() -> None:
    with pytest.raises(ValueError, match="as many means as stds"):
        Normalisation(mean=(0.1, 0.2), std=(0.3,))
    with pytest.raises(ValueError, match="positive"):
        Normalisation(mean=(0.1,), std=(0.0,))
    with pytest.raises(ValueError, match=r"1 channel\(s\) but the array has shape \(2, 3\)"):
        Normalisation(mean=(0.1,), std=(1.0,)).apply(np.zeros((2, 3)))
    with pytest.raises(UnlearnError, match="at least one sample"):
        Normalisation.fitted_to(np.zeros((0, 3)))


def test_a_dataset_factory_that_raises_is_one_clean_error(tmp_path, monkeypatch) -> None:
    (tmp_path / "broken_data.py").write_text("def make(data_dir):\n    raise ValueError('no')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnlearnError, match="dataset factory broken_data:make raised ValueError"):
        load_dataset("broken_data:make")
