"""Checks of what a caller hands to ``unlearn``: sample tensors, labels, their devices, and the
weights a method leaves behind.

Rules: samples are real numbers (bool and complex are refused), at least one value per sample,
all finite; integer samples become float32 and floating samples take the model's floating dtype
(float64 data for a float32 model is cast down, as training would do anyway). Labels are a 1-d
integer vector of class indices ``0 .. K-1``.
"""

from __future__ import annotations

import torch
from torch import nn

from ftunlearn.data.tensors import refuse_meta, refuse_non_finite
from ftunlearn.errors import UnlearnError


def checked_features(x: torch.Tensor, role: str, dtype: torch.dtype) -> torch.Tensor:
    """``x`` as ``dtype`` after refusing bool/complex values, a missing sample axis and
    non-finite entries (counted in the message)."""
    if x.dtype == torch.bool or x.is_complex():
        raise UnlearnError(f"{role} x holds {x.dtype} values; give real-valued (float) samples")
    if x.dim() < 2:
        raise UnlearnError(f"{role} x has shape {tuple(x.shape)}; give one row per sample, "
                           "shape (n, features...)")
    refuse_meta((f"{role} x", x))
    refuse_non_finite(x, f"{role} x")
    return x.to(dtype)


def checked_labels(y: torch.Tensor, role: str) -> torch.Tensor:
    """``y`` as int64 class indices, refusing non-integer dtypes, other shapes and negatives."""
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex() or y.dim() != 1:
        raise UnlearnError(f"{role}: y must be a 1-d tensor of integer class labels, got "
                           f"{y.dtype} of shape {tuple(y.shape)}")
    refuse_meta((f"{role} y", y))
    y = y.long()
    if y.numel() and int(y.min()) < 0:
        raise UnlearnError(f"{role}: y holds the negative label {int(y.min())}; labels are "
                           "class indices 0, 1, ..., K-1")
    return y


def floating_dtype(model: nn.Module) -> torch.dtype:
    """The dtype inputs should have for ``model``: that of its first floating parameter."""
    for param in model.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.get_default_dtype()


def check_same_device(*tensors: tuple[str, torch.Tensor]) -> None:
    """Refuse tensors spread over several devices, naming where each lies."""
    devices = {str(t.device) for _, t in tensors}
    if len(devices) > 1:
        where = ", ".join(f"{name} on {t.device}" for name, t in tensors)
        raise UnlearnError(f"the data lies on several devices ({where}); move every tensor to "
                           "one device (the method moves them to its own device itself)")


def check_finite_weights(model: nn.Module, method: str) -> None:
    """Refuse a model whose parameters or floating buffers hold NaN or infinity."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    bad = [name for name, t in tensors if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise UnlearnError(
            f"method {method!r} left non-finite weights (NaN or infinity) in {shown}; the "
            "optimisation diverged: lower lr or set grad_clip"
        )
