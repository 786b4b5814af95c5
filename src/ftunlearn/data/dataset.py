"""The in-memory dataset every other part of ftunlearn consumes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset held in memory as normalised tensors.

    ``x_*`` are float32 with shape ``(n, *input_shape)``; ``y_*`` are int64 labels in
    ``[0, num_classes)``. ``fingerprint`` is a hex digest of the content (tensors, name,
    normalisation) and is the dataset's part of every cache key.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    fingerprint: str
    class_names: tuple[str, ...] = field(default=())

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.y_test.shape[0])


def content_fingerprint(*arrays: torch.Tensor | np.ndarray, extra: str = "") -> str:
    """A stable sha256 hex digest of tensors' dtypes, shapes and bytes, plus a free text."""
    digest = hashlib.sha256(extra.encode())
    for array in arrays:
        a = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()
