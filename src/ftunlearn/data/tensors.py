"""Checks of sample tensors that the in-memory sets (``methods.checks``) and the streamed ones
(:mod:`ftunlearn.data.sources`) share, so both paths refuse the same data with the same words.
"""

from __future__ import annotations

import torch

from ftunlearn.errors import UnlearnError


def refuse_meta(*tensors: tuple[str, torch.Tensor]) -> None:
    """Refuse tensors on the meta device: they have shapes but no values to train on."""
    for name, tensor in tensors:
        if tensor.device.type == "meta":
            raise UnlearnError(f"{name} lies on the meta device, which holds shapes but no "
                               "values; load the data onto the CPU or a GPU first")


def refuse_non_finite(x: torch.Tensor, name: str) -> None:
    """Refuse floating samples holding NaN or infinity, counting each kind."""
    if not x.is_floating_point():
        return
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        nan = int(torch.isnan(x).sum())
        raise UnlearnError(f"{name} holds {nan} NaN and {bad - nan} infinite value(s); clean or "
                           "impute the data first")


def refuse_bad_labels(y: torch.Tensor, name: str, classes: int | None) -> None:
    """Refuse labels below 0 or (when ``classes`` is known) at or above ``classes``."""
    if not y.numel():
        return
    low, high = int(y.min()), int(y.max())
    if low < 0:
        known = f" (K = {classes} here)" if classes is not None else ""
        raise UnlearnError(f"{name}: labels must be class indices 0..K-1{known}; found {low}")
    if classes is not None and high >= classes:
        raise UnlearnError(f"{name}: label {high} is not a class index 0..{classes - 1} (the "
                           "model's output width, or num_classes)")
