"""The embedded scikit-learn digits: the fixed split, scaling and normalisation."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from ftunlearn.data import load_dataset


def test_digits_split_is_stratified_80_20_and_fixed() -> None:
    data = load_dataset("digits")
    assert data.x_train.shape == (1437, 1, 8, 8) and data.x_test.shape == (360, 1, 8, 8)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    full = np.bincount(load_digits().target, minlength=10)
    test_counts = np.bincount(data.y_test.numpy(), minlength=10)
    # Stratified: every class keeps its share of the test set to within one sample.
    assert np.all(np.abs(test_counts - full * 360 / 1797) < 1)
    again = load_dataset("digits")
    assert torch.equal(data.x_train, again.x_train) and torch.equal(data.y_test, again.y_test)
    assert data.fingerprint == again.fingerprint


def test_digits_are_the_scikit_learn_pixels_and_labels_normalised_by_training_statistics() -> None:
    data = load_dataset("digits")
    assert abs(data.x_train.double().mean().item()) < 1e-6
    assert abs(data.x_train.double().std(unbiased=False).item() - 1) < 1e-5
    train = data.x_train.reshape(data.n_train, -1).double().numpy()
    test = data.x_test.reshape(data.n_test, -1).double().numpy()
    levels = np.unique(train)
    assert len(levels) == 17  # the raw levels 0..16, mapped by one increasing affine map
    step = (levels[-1] - levels[0]) / 16
    np.testing.assert_allclose(np.diff(levels), step, rtol=1e-4)
    # Undo the map; train and test together must be exactly scikit-learn's (image, label) pairs.
    raw = np.rint((np.concatenate([train, test]) - levels[0]) / step).astype(int)
    labels = np.concatenate([data.y_train.numpy(), data.y_test.numpy()])
    ours = sorted((*row, label) for row, label in zip(raw, labels, strict=True))
    bunch = load_digits()
    reference = bunch.data.astype(int)
    theirs = sorted((*r, t) for r, t in zip(reference, bunch.target, strict=True))
    assert ours == theirs
