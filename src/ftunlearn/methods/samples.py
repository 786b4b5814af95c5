"""A labelled set held in memory, and how ``unlearn`` and ``evaluate_sets`` accept one.

Below both :mod:`ftunlearn.methods.base` (the contract) and :mod:`ftunlearn.methods.inputs`
(every kind of set), which build on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

from ftunlearn.data.tensors import refuse_meta
from ftunlearn.errors import UnlearnError
from ftunlearn.methods.checks import check_same_device, checked_features, checked_labels


@dataclass(frozen=True)
class Samples:
    """A labelled set of samples held as two tensors."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


def as_samples(data: Samples | TensorDataset | tuple[torch.Tensor, torch.Tensor], role: str,
               *, dtype: torch.dtype = torch.float32) -> Samples:
    """Accept ``(x, y)`` pairs, ``TensorDataset``s or ``Samples``; validate them by the rules of
    :mod:`ftunlearn.methods.checks` (finite real samples cast to ``dtype``, int64 labels >= 0).
    """
    if isinstance(data, Samples):
        samples = data
    elif isinstance(data, TensorDataset):
        if len(data.tensors) < 2:
            raise UnlearnError(f"{role} TensorDataset needs (x, y) tensors")
        samples = Samples(data.tensors[0], data.tensors[1])
    elif isinstance(data, tuple | list) and len(data) == 2:
        if data[1] is None:
            raise UnlearnError(f"{role}: the labels y are None; give one integer class label "
                               "per sample")
        try:
            samples = Samples(torch.as_tensor(data[0]), torch.as_tensor(data[1]))
        except (TypeError, ValueError, RuntimeError) as error:
            raise UnlearnError(f"{role}: x and y must be tensors or numeric arrays ({error})"
                               ) from error
    else:
        raise UnlearnError(f"{role} must be an (x, y) pair of tensors or a TensorDataset")
    if not isinstance(samples.x, torch.Tensor) or not isinstance(samples.y, torch.Tensor):
        raise UnlearnError(f"{role}: x and y must be tensors, got {type(samples.x).__name__} "
                           f"and {type(samples.y).__name__}")
    # before any value is read: a meta tensor has none
    refuse_meta((f"{role} x", samples.x), (f"{role} y", samples.y))
    if samples.x.dim() == 0 or samples.x.shape[0] != samples.y.reshape(-1).shape[0]:
        raise UnlearnError(
            f"{role}: x has {samples.x.shape[0] if samples.x.dim() else 0} samples but y has "
            f"{samples.y.numel()}; give one label per sample"
        )
    check_same_device((f"{role} x", samples.x), (f"{role} y", samples.y))
    return Samples(checked_features(samples.x, role, dtype), checked_labels(samples.y, role))
