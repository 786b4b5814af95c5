"""What a method may know besides the model and the two sets: :class:`Context`.

Below :mod:`ftunlearn.methods.base` (which builds it in ``unlearn``) and
:mod:`ftunlearn.methods.plan` (whose plans run with its seed and device).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ftunlearn.training import Recipe


@dataclass(frozen=True)
class Context:
    """What a method may know besides the model and the two sets."""

    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    recipe: Recipe = field(default_factory=Recipe)
    """The original model's training recipe (``retrain`` reuses it)."""
    num_classes: int = 0
    n_test: int | None = None
    """The test set's size, for methods whose protocol needs it (no test samples are given)."""
    progress: bool = False
    on_epoch_end: Callable[[int, float], None] | None = None
