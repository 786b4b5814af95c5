"""Turning raw arrays read from any format into a validated, normalised ``Dataset``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ftunlearn.data.dataset import Dataset, content_fingerprint
from ftunlearn.data.normalisation import Normalisation
from ftunlearn.errors import UnlearnError


@dataclass(frozen=True)
class RawSplit:
    """Raw samples ``(n, C, H, W)`` or ``(n, d)`` and their labels, as read from files."""

    x: np.ndarray
    y: np.ndarray
    source: str  # where the arrays came from, for error messages


def integer_labels(y: np.ndarray, source: str) -> np.ndarray:
    """``y`` as a 1-D int64 array; a ``(n, 1)`` column is accepted, non-integers are refused."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UnlearnError(
            f"the labels in {source} have shape {y.shape}; expected one label per sample, "
            "a vector of shape (n,)"
        )
    if y.dtype.kind in "iu":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    raise UnlearnError(
        f"the labels in {source} are not whole numbers (dtype {y.dtype}); store class indices "
        "0, 1, ..., K-1 as integers"
    )


MAX_SPARSE_CLASSES = 1024
"""Up to this many classes the labels may leave any classes empty (a few cost nothing)."""
MAX_EMPTY_CLASS_FACTOR = 10
"""Beyond MAX_SPARSE_CLASSES the class count may be at most this multiple of the labels present:
a larger gap is a corrupt label, and each class costs memory (names, logits, per-class tables)."""


def class_count(labels: Sequence[np.ndarray], source: str) -> int:
    """The number of classes implied by integer ``labels`` (largest + 1), refusing negative
    labels and a gap the labels present cannot justify, before anything is allocated per class.
    """
    present = np.unique(np.concatenate([np.asarray(y).reshape(-1) for y in labels]))
    if present.size == 0:
        raise UnlearnError(f"{source} holds no labels; it needs at least one sample")
    if present[0] < 0:
        raise UnlearnError(f"{source} holds the negative label {int(present[0])} (labels range "
                           f"over [{int(present[0])}, {int(present[-1])}]); labels are class "
                           "indices 0, 1, ..., K-1")
    count = int(present[-1]) + 1
    if count > MAX_SPARSE_CLASSES and count > MAX_EMPTY_CLASS_FACTOR * present.size:
        raise UnlearnError(
            f"{source}: the largest label {count - 1} implies {count} classes but only "
            f"{present.size} distinct labels are present (at most {MAX_SPARSE_CLASSES} classes, "
            f"or {MAX_EMPTY_CLASS_FACTOR}x the labels present, are accepted); renumber the "
            "labels 0, 1, ..., K-1"
        )
    return count


def _checked(split: RawSplit, num_classes: int) -> np.ndarray:
    """The split's labels as int64 after checking counts and range."""
    y = integer_labels(split.y, split.source)
    if split.x.ndim < 2:
        raise UnlearnError(
            f"the samples in {split.source} have shape {split.x.shape}; expected "
            "(n, C, H, W) images or (n, d) features"
        )
    if split.x.shape[0] != y.shape[0]:
        raise UnlearnError(
            f"{split.source} holds {split.x.shape[0]} samples but {y.shape[0]} labels; "
            "each sample needs exactly one label"
        )
    if y.shape[0] == 0:
        raise UnlearnError(f"{split.source} holds no samples; it needs at least one")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        raise UnlearnError(
            f"the labels in {split.source} range over [{low}, {high}] but must lie in "
            f"[0, {num_classes - 1}] for {num_classes} classes; check that the files are intact"
        )
    return y


def check_test_classes_trained(y_train: np.ndarray, y_test: np.ndarray, source: str) -> None:
    """Refuse test labels no training sample has: no model can learn such a class, so TA and
    every metric on it would read 0 without saying why."""
    unseen = np.setdiff1d(y_test, y_train)
    if unseen.size:
        shown = ", ".join(str(int(c)) for c in unseen[:10]) + (" ..." if unseen.size > 10 else "")
        count = int(np.isin(y_test, unseen).sum())
        raise UnlearnError(
            f"the test labels {shown} in {source} ({count} of {y_test.size} test samples) never "
            "occur in the training labels; a model cannot learn a class it never sees: drop "
            "those test samples or add training samples of those classes"
        )


def assemble_dataset(
    *,
    name: str,
    train: RawSplit,
    test: RawSplit,
    normalisation: Normalisation,
    num_classes: int,
    class_names: Sequence[str],
    extra: str = "",
) -> Dataset:
    """Validate raw train/test arrays, normalise them and fingerprint their content.

    The fingerprint covers the raw arrays (before normalisation), the int64 labels, the
    dataset name, the normalisation constants and ``extra`` (e.g. how a split was drawn).
    """
    y_train = _checked(train, num_classes)
    y_test = _checked(test, num_classes)
    if train.x.shape[1:] != test.x.shape[1:]:
        raise UnlearnError(
            f"training samples have shape {train.x.shape[1:]} ({train.source}) but test samples "
            f"have shape {test.x.shape[1:]} ({test.source}); both must have the same shape"
        )
    if len(class_names) != num_classes:
        raise UnlearnError(
            f"{name}: {len(class_names)} class names for {num_classes} classes; give one name "
            "per class"
        )
    fingerprint = content_fingerprint(
        train.x, y_train, test.x, y_test, extra=f"{name}|{normalisation.describe()}|{extra}"
    )
    return Dataset(
        name=name,
        x_train=normalisation.apply(train.x),
        y_train=torch.from_numpy(y_train),
        x_test=normalisation.apply(test.x),
        y_test=torch.from_numpy(y_test),
        num_classes=num_classes,
        input_shape=tuple(int(d) for d in train.x.shape[1:]),
        fingerprint=fingerprint,
        class_names=tuple(class_names),
    )
