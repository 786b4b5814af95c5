"""scikit-learn's embedded 8x8 handwritten digits, with a fixed stratified train/test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ftunlearn.data.assemble import RawSplit, assemble_dataset
from ftunlearn.data.dataset import Dataset
from ftunlearn.data.normalisation import Normalisation
from ftunlearn.data.registry import register_dataset

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0
DIGITS_MAX_VALUE = 16.0  # pixels are counts of set bits in 4x4 blocks: 0..16


@register_dataset("digits")
def load_digits(data_dir: Path | None = None) -> Dataset:
    """The 1 797 digits as ``(1, 8, 8)`` images: 1 437 for training, 360 for testing.

    The split is stratified by class, 80/20, drawn with seed 0 by scikit-learn's
    ``train_test_split``. Pixels are scaled to [0, 1] (divided by 16) and normalised with the
    mean and std of the training pixels. ``data_dir`` is ignored: the data ship with
    scikit-learn.
    """
    # imported here: scikit-learn costs a second at start-up, and most commands never load digits
    from sklearn.datasets import load_digits as sklearn_load_digits
    from sklearn.model_selection import train_test_split

    del data_dir
    bunch = sklearn_load_digits()
    images = bunch.images.reshape(-1, 1, 8, 8).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        labels,
        test_size=DIGITS_TEST_FRACTION,
        random_state=DIGITS_SPLIT_SEED,
        stratify=labels,
    )
    fitted = Normalisation.fitted_to(x_train / DIGITS_MAX_VALUE)
    normalisation = Normalisation(fitted.mean, fitted.std, scale=DIGITS_MAX_VALUE)
    return assemble_dataset(
        name="digits",
        train=RawSplit(x_train, y_train, "scikit-learn digits (training part)"),
        test=RawSplit(x_test, y_test, "scikit-learn digits (test part)"),
        normalisation=normalisation,
        num_classes=10,
        class_names=tuple(str(digit) for digit in range(10)),
        extra=f"stratified split, test fraction {DIGITS_TEST_FRACTION}, seed {DIGITS_SPLIT_SEED}",
    )
