"""A cache entry's parts, a tiny model and a counting train step, shared by the cache tests.

Imported by name (pytest puts this folder on ``sys.path``, as it has no ``__init__``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ftunlearn.models import build_model

PARTS = {"dataset": "toy", "split": "full", "model": "mlp", "recipe": {"epochs": 1}, "seed": 0}


def build() -> nn.Module:
    return build_model("mlp:hidden=4,depth=1", (3,), 2, seed=0)


def make_train(calls: list[int]) -> Callable[[nn.Module], None]:
    """A train step that counts its calls in ``calls`` and moves every weight by 1."""
    def train(model: nn.Module) -> None:
        calls.append(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)

    return train
