"""Pieces shared by several methods: training hyperparameters, relabelled batches, a fit call."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import Context, Hyperparameters, Samples
from ftunlearn.training import (
    Batch,
    BatchSource,
    FitResult,
    LossFn,
    Recipe,
    TensorBatches,
    cross_entropy_loss,
    fit,
)


@dataclass(frozen=True)
class TrainingHyperparameters(Hyperparameters):
    """The optimisation settings every fine-tuning style method shares."""

    epochs: int = 5
    lr: float = 0.01
    batch_size: int = 128
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["cosine", "step", "constant"] = "constant"
    grad_clip: float | None = None

    def check(self) -> None:
        self.recipe()

    def recipe(self) -> Recipe:
        """The :class:`Recipe` these settings describe (validates them)."""
        return Recipe(
            epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
            momentum=self.momentum, weight_decay=self.weight_decay, schedule=self.schedule,
            grad_clip=self.grad_clip,
        )


def check_fraction(name: str, value: float, *, low_open: bool = True, high: float = 1.0) -> None:
    """Raise unless ``value`` lies in (0, high] (or [0, high] when ``low_open`` is False)."""
    inside = (0 < value <= high) if low_open else (0 <= value <= high)
    if not inside:
        bracket = "(" if low_open else "["
        raise UnlearnError(f"{name} must be in {bracket}0, {high}], got {value}")


class RandomWrongLabels:
    """Batches ``(x, y_random)`` where each sample gets a uniformly drawn label other than its
    own, redrawn every epoch from the fit loop's generator."""

    def __init__(self, samples: Samples, num_classes: int, batch_size: int) -> None:
        if num_classes < 2:
            raise UnlearnError("random wrong labels need at least 2 classes")
        self.samples = samples
        self.num_classes = num_classes
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(TensorBatches(self.samples.y, batch_size=self.batch_size))

    def to(self, device: torch.device) -> RandomWrongLabels:
        moved = Samples(self.samples.x.to(device), self.samples.y.to(device))
        return RandomWrongLabels(moved, self.num_classes, self.batch_size)

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        y = self.samples.y
        shift = torch.randint(1, self.num_classes, (len(y),), generator=generator).to(y.device)
        wrong = (y + shift) % self.num_classes
        yield from TensorBatches(self.samples.x, wrong, batch_size=self.batch_size).epoch(
            generator
        )


def batches_of(samples: Samples, batch_size: int) -> TensorBatches:
    """Shuffled ``(x, y)`` batches of a set."""
    return TensorBatches(samples.x, samples.y, batch_size=batch_size)


def train(
    model: nn.Module,
    batches: BatchSource,
    config: TrainingHyperparameters,
    context: Context,
    *,
    loss_fn: LossFn = cross_entropy_loss,
    desc: str,
    params: Sequence[nn.Parameter] | None = None,
    frozen: Mapping[str, torch.Tensor] | None = None,
    recipe: Recipe | None = None,
) -> FitResult:
    """Run the shared fit loop with the context's seed, device, progress and epoch callback."""
    return fit(
        model, batches, recipe or config.recipe(), loss_fn=loss_fn, seed=context.seed,
        device=context.device, params=params, frozen=frozen, progress=context.progress,
        desc=desc, on_epoch_end=context.on_epoch_end,
    )
