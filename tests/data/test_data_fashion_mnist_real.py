"""Fashion-MNIST from the real files of the Debian package, when it is installed."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ftunlearn.data import Dataset, load_dataset, make_split
from ftunlearn.data.idx import FASHION_MNIST_DIR, IDX_FILE_NAMES


@pytest.fixture(scope="module")
def fashion() -> Dataset:
    present = [
        any((FASHION_MNIST_DIR / v).is_file() for v in (n[:-5], n[:-5] + ".gz"))
        for n in IDX_FILE_NAMES
    ]
    if not all(present):
        reason = (
            f"Fashion-MNIST files absent from {FASHION_MNIST_DIR}; "
            "`apt-get install dataset-fashion-mnist` provides them"
        )
        print(reason)
        pytest.skip(reason)
    start = time.perf_counter()
    data = load_dataset("fashion-mnist")
    print(f"fashion-mnist loaded in {time.perf_counter() - start:.2f} s")
    return data


def test_real_fashion_mnist_shapes_and_balance(fashion: Dataset) -> None:
    assert fashion.x_train.shape == (60000, 1, 28, 28)
    assert fashion.x_test.shape == (10000, 1, 28, 28)
    assert fashion.x_train.dtype == torch.float32 and fashion.y_train.dtype == torch.int64
    assert np.bincount(fashion.y_train.numpy()).tolist() == [6000] * 10
    assert np.bincount(fashion.y_test.numpy()).tolist() == [1000] * 10


def test_real_fashion_mnist_constants_standardise_the_training_set(fashion: Dataset) -> None:
    # The documented constants (0.2860, 0.3530) are the training statistics to four digits.
    std, mean = torch.std_mean(fashion.x_train)  # float32 cascade sums: ~1e-7 off float64's
    assert abs(mean.item()) < 2e-3 and abs(std.item() - 1) < 2e-3


def test_real_fashion_mnist_splits(fashion: Dataset) -> None:
    random_split = make_split(fashion, "random:0.1", seed=0)
    assert random_split.n_forget == 6000 and random_split.n_retain == 54000
    class_split = make_split(fashion, "class:3")
    assert class_split.n_forget == 6000
    assert bool((fashion.y_train[class_split.forget] == 3).all())
