"""Pieces shared by several methods: training hyperparameters, relabelled batches, a fit call."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from torch import nn

from ftunlearn.data.sources import DataSource, SourceBatches
from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import Context, Hyperparameters, Samples
from ftunlearn.params import Count, NonNegative, Positive, Range
from ftunlearn.training import (
    Batch,
    BatchSource,
    FitResult,
    LossFn,
    Recipe,
    TensorBatches,
    cross_entropy_loss,
    fit,
    to_device,
)


@dataclass(frozen=True)
class TrainingHyperparameters(Hyperparameters):
    """The optimisation settings every fine-tuning style method shares."""

    epochs: Count = 5
    lr: Positive = 0.01
    batch_size: Count = 128
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: Annotated[float, Range(ge=0, lt=1)] = 0.9
    weight_decay: NonNegative = 5e-4
    schedule: Literal["cosine", "step", "constant"] = "constant"
    grad_clip: Positive | None = None

    def recipe(self) -> Recipe:
        """The :class:`Recipe` these settings describe (validates them)."""
        return Recipe(
            epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
            momentum=self.momentum, weight_decay=self.weight_decay, schedule=self.schedule,
            grad_clip=self.grad_clip,
        )


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


SampleSet = Samples | DataSource
"""What a method's ``run`` receives: tensors in memory, or a set streamed in batches."""


def batches_of(samples: SampleSet, batch_size: int) -> BatchSource:
    """Shuffled ``(x, y)`` batches of a set (a ``DataLoader`` keeps its own batch size)."""
    if isinstance(samples, DataSource):
        return SourceBatches(samples, batch_size)
    return TensorBatches(samples.x, samples.y, batch_size=batch_size)


def ordered_batches(samples: SampleSet, batch_size: int, device: torch.device, *,
                    near_equal: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One pass of ``(x, y)`` batches in order on ``device``; ``near_equal`` cuts the set into
    ``ceil(n / batch_size)`` batches whose sizes differ by at most one."""
    if isinstance(samples, DataSource):
        yield from samples.batches(batch_size, device=device, near_equal=near_equal)
        return
    if near_equal:
        count = -(-len(samples) // batch_size)
        pieces = zip(samples.x.tensor_split(count), samples.y.tensor_split(count), strict=True)
    else:
        pieces = zip(samples.x.split(batch_size), samples.y.split(batch_size), strict=True)
    for x, y in pieces:
        yield to_device(x, device), to_device(y, device)


def in_memory(samples: SampleSet, limit: int, seed: int) -> Samples:
    """At most ``limit`` samples of a streamed set as tensors (a seeded choice for datasets;
    a loader's first batches); tensors are returned as they are."""
    if isinstance(samples, DataSource):
        return Samples(*samples.take(limit, seed))
    return samples


class WrongLabelBatches:
    """Each batch of ``inner`` with every label replaced by a random other one (streamed sets:
    the labels are redrawn per batch from the fit loop's generator)."""

    def __init__(self, inner: BatchSource, num_classes: int) -> None:
        if num_classes < 2:
            raise UnlearnError("random wrong labels need at least 2 classes")
        self.inner = inner
        self.num_classes = num_classes

    def __len__(self) -> int:
        return len(self.inner)

    def to(self, device: torch.device) -> WrongLabelBatches:
        return WrongLabelBatches(self.inner.to(device), self.num_classes)

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        for x, y, *rest in self.inner.epoch(generator):
            shift = torch.randint(1, self.num_classes, (len(y),), generator=generator)
            yield (x, (y + shift.to(y.device)) % self.num_classes, *rest)


def relabelled(samples: SampleSet, num_classes: int, batch_size: int) -> BatchSource:
    """Batches of a set with random wrong labels, redrawn every pass."""
    if isinstance(samples, DataSource):
        return WrongLabelBatches(batches_of(samples, batch_size), num_classes)
    return RandomWrongLabels(samples, num_classes, batch_size)


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
