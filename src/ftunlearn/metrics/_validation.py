"""Boundary checks shared by the metric functions: convert inputs, reject bad ones."""

from __future__ import annotations

import numpy as np
import torch

from ftunlearn.errors import UnlearnError

ArrayLike = torch.Tensor | np.ndarray


def _to_numpy(values: ArrayLike, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    if isinstance(values, np.ndarray):
        return values
    raise UnlearnError(
        f"{name} must be a torch.Tensor or a numpy array, got {type(values).__name__}; "
        "convert it with torch.as_tensor or numpy.asarray"
    )


def as_logits(logits: ArrayLike, name: str = "logits") -> np.ndarray:
    """``logits`` as a float64 array of shape (n, classes), n ≥ 1, classes ≥ 2, all finite."""
    array = _to_numpy(logits, name)
    if array.ndim != 2:
        raise UnlearnError(
            f"{name} must have shape (n_samples, n_classes), got shape {tuple(array.shape)}"
        )
    if array.shape[0] == 0:
        raise UnlearnError(f"{name} is empty: the set it was computed on has no samples")
    if array.shape[1] < 2:
        raise UnlearnError(f"{name} needs at least 2 classes (columns), got {array.shape[1]}")
    if not np.issubdtype(array.dtype, np.floating):
        raise UnlearnError(f"{name} must be floating point, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise UnlearnError(f"{name} contains NaN or infinite values; check the model's outputs")
    return array


def as_labels(
    labels: ArrayLike, n_samples: int, n_classes: int, name: str = "labels"
) -> np.ndarray:
    """``labels`` as an int64 vector of length ``n_samples`` with values in [0, n_classes)."""
    array = _to_numpy(labels, name)
    if array.ndim != 1 or array.shape[0] != n_samples:
        raise UnlearnError(
            f"{name} must be a vector of {n_samples} labels (one per row of the logits), "
            f"got shape {tuple(array.shape)}"
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise UnlearnError(f"{name} must be integers, got dtype {array.dtype}")
    array = array.astype(np.int64)
    if array.min() < 0 or array.max() >= n_classes:
        raise UnlearnError(
            f"{name} must lie in [0, {n_classes}) for logits with {n_classes} classes, "
            f"got values from {array.min()} to {array.max()}"
        )
    return array


def logits_and_labels(
    logits: ArrayLike, labels: ArrayLike, name: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(logits, labels)`` pair; ``name`` prefixes the argument names in errors."""
    prefix = f"{name}_" if name else ""
    z = as_logits(logits, f"{prefix}logits")
    y = as_labels(labels, z.shape[0], z.shape[1], f"{prefix}labels")
    return z, y


def as_values(values: ArrayLike, name: str) -> np.ndarray:
    """A non-empty, finite float64 vector (per-sample losses or attack features)."""
    array = _to_numpy(values, name)
    if array.ndim != 1:
        raise UnlearnError(
            f"{name} must be a vector (one value per sample), got shape {tuple(array.shape)}"
        )
    if array.shape[0] == 0:
        raise UnlearnError(f"{name} is empty: the set it was computed on has no samples")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise UnlearnError(f"{name} contains NaN or infinite values; check the model's outputs")
    return array
