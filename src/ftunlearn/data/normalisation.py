"""Per-channel affine normalisation of raw arrays into float32 tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ftunlearn.errors import UnlearnError


@dataclass(frozen=True)
class Normalisation:
    """``x = (raw / scale - mean[c]) / std[c]`` along axis 1 of a ``(n, C, ...)`` array.

    Axis 1 is the channel axis of images in ``(n, C, H, W)`` layout and the feature axis of flat
    ``(n, d)`` data; ``mean`` and ``std`` hold one value per entry of that axis, on the scale of
    ``raw / scale`` (so ``scale=255`` states 8-bit image statistics on ``[0, 1]``).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float = 255.0

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError("Normalisation needs as many means as stds, at least one")
        if self.scale <= 0 or min(self.std) <= 0:
            raise ValueError("Normalisation needs a positive scale and positive stds")

    @classmethod
    def fitted_to(cls, raw: np.ndarray) -> Normalisation:
        """The mean and std of ``raw`` along axis 1 (over samples and pixels), with scale 1.

        Computed in float64. An entry with zero spread (a constant pixel or feature) gets std 1,
        so that it maps to 0 instead of dividing by zero.
        """
        if raw.ndim < 2 or raw.shape[0] == 0:
            raise UnlearnError(
                f"cannot compute normalisation statistics from an array of shape {raw.shape}; "
                "the training set needs at least one sample of shape (C, ...) or (d,)"
            )
        axes = tuple(a for a in range(raw.ndim) if a != 1)
        values = raw.astype(np.float64, copy=False)
        mean = values.mean(axis=axes)
        std = values.std(axis=axes)
        std = np.where(std > 0, std, 1.0)
        return cls(tuple(float(m) for m in mean), tuple(float(s) for s in std), scale=1.0)

    def describe(self) -> str:
        """A canonical text of the constants, part of the dataset fingerprint."""
        return f"scale={self.scale!r};mean={self.mean!r};std={self.std!r}"

    def apply(self, raw: np.ndarray) -> torch.Tensor:
        """``raw`` (any real dtype, ``(n, C, ...)``) normalised into a new float32 tensor."""
        if raw.ndim < 2 or raw.shape[1] != len(self.mean):
            raise ValueError(
                f"Normalisation has {len(self.mean)} channel(s) but the array has shape {raw.shape}"
            )
        shape = (1, len(self.mean)) + (1,) * (raw.ndim - 2)
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        gain = torch.from_numpy((1.0 / (self.scale * std)).astype(np.float32).reshape(shape))
        offset = torch.from_numpy((mean / std).astype(np.float32).reshape(shape))
        x = torch.from_numpy(np.array(raw, dtype=np.float32))
        return x.mul_(gain).sub_(offset)
