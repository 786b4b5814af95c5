"""The SVHN loader on small .mat files written with scipy in the official layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ftunlearn.data import load_dataset
from ftunlearn.errors import UnlearnError

MEAN, STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)


def write_svhn(directory: Path, n_train: int = 6, n_test: int = 4) -> dict:
    rng = np.random.default_rng(0)
    arrays = {}
    for name, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)  # digits 1..10, 10 = "0"
        scipy.io.savemat(directory / f"{name}_32x32.mat", {"X": x, "y": y})
        arrays[name] = (x, y)
    return arrays


def test_svhn_layout_labels_and_normalisation(tmp_path: Path) -> None:
    arrays = write_svhn(tmp_path, n_train=12)
    data = load_dataset("svhn", tmp_path)
    assert data.x_train.shape == (12, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    assert data.y_train.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    x, _ = arrays["train"]
    n, c, h, w = 7, 2, 5, 30
    expected = (x[h, w, c, n] / 255 - MEAN[c]) / STD[c]
    assert data.x_train[n, c, h, w].item() == pytest.approx(expected, abs=2e-6)
    full = (x.transpose(3, 2, 0, 1) / 255 - np.array(MEAN)[:, None, None]) / np.array(STD)[
        :, None, None
    ]
    np.testing.assert_allclose(data.x_train.numpy(), full, atol=2e-6)


def test_svhn_fingerprint_is_stable_and_sees_labels(tmp_path: Path) -> None:
    write_svhn(tmp_path)
    first = load_dataset("svhn", tmp_path).fingerprint
    assert load_dataset("svhn", tmp_path).fingerprint == first
    x = np.zeros((32, 32, 3, 4), np.uint8)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": x, "y": np.full((4, 1), 3)})
    second = load_dataset("svhn", tmp_path).fingerprint
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": x, "y": np.full((4, 1), 4)})
    assert len({first, second, load_dataset("svhn", tmp_path).fingerprint}) == 3


def test_svhn_errors(tmp_path: Path) -> None:
    with pytest.raises(UnlearnError, match=r"train_32x32\.mat, test_32x32\.mat"):
        load_dataset("svhn", tmp_path)
    write_svhn(tmp_path)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(UnlearnError, match="lacks the variables X and y"):
        load_dataset("svhn", tmp_path)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": np.zeros((32, 32, 2)), "y": [[1]]})
    with pytest.raises(UnlearnError, match=r"expected uint8 \(height, width, 3, n\)"):
        load_dataset("svhn", tmp_path)
    (tmp_path / "test_32x32.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(UnlearnError, match="cannot be read as a MATLAB file"):
        load_dataset("svhn", tmp_path)
