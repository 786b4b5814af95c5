"""What a model's evaluation keeps: its per-sample outputs on each set of a split.

The metric registry reads these and :mod:`ftunlearn.metrics.evaluate` makes them, so they live
below both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class SetOutputs:
    """A model's per-sample outputs on one set: float32 logits (n, classes) and cross-entropy
    losses (n,), with the int64 labels (n,), all on the CPU."""

    logits: torch.Tensor
    losses: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True, eq=False)
class ModelOutputs:
    """One model's outputs on D_f, D_r and D_test of a split, and the metrics they alone give
    (UA, RA, TA, MIA, ...: see :mod:`ftunlearn.metrics.evaluate`)."""

    forget: SetOutputs
    retain: SetOutputs
    test: SetOutputs
    forgotten_classes: tuple[int, ...]
    metrics: Mapping[str, float]
