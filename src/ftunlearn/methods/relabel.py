"""``rl``: random-label unlearning.

Minimise ``CE(θ; D_r ∪ D̃_f)`` where ``D̃_f`` is the forget set with every label replaced by a
uniformly drawn *wrong* label, redrawn each epoch. Retain and forget samples are combined into
one shuffled union every epoch (as the SalUn reference code does for CIFAR-100), so a batch
holds forget samples in proportion to the forget set's share of the training set.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from ftunlearn.data.sources import DataSource, InterleavedBatches
from ftunlearn.methods.base import Context, Samples, Unlearner, register
from ftunlearn.methods.common import (
    RandomWrongLabels,
    SampleSet,
    TrainingHyperparameters,
    batches_of,
    relabelled,
)
from ftunlearn.methods.plan import FitPlan
from ftunlearn.params import Count, Positive
from ftunlearn.training import Batch, BatchSource, TensorBatches
from ftunlearn.tuning import space as search


class RelabelledUnion:
    """Batches of ``D_r`` (true labels) and ``D_f`` (random wrong labels) shuffled together.

    Each epoch draws fresh wrong labels for the whole forget set (through
    :class:`RandomWrongLabels`), appends them to the retain set and cuts shuffled batches of the
    union; every sample appears exactly once per epoch.
    """

    def __init__(self, retain: Samples, relabelled: RandomWrongLabels, batch_size: int) -> None:
        self.retain = retain
        self.relabelled = relabelled
        self.batch_size = batch_size

    @classmethod
    def of(cls, retain: SampleSet, forget: SampleSet, num_classes: int, batch_size: int
           ) -> BatchSource:
        """The union of ``retain`` and ``forget`` relabelled among ``num_classes`` classes.

        A streamed set (a ``Dataset`` or ``DataLoader``) cannot be concatenated in memory: then
        whole retain batches and relabelled forget batches are interleaved in a seeded random
        order, each sample still once an epoch.
        """
        if isinstance(retain, DataSource) or isinstance(forget, DataSource):
            return InterleavedBatches(batches_of(retain, batch_size),
                                      relabelled(forget, num_classes, batch_size))
        return cls(retain, RandomWrongLabels(forget, num_classes, batch_size=len(forget)),
                   batch_size)

    def __len__(self) -> int:
        return math.ceil((len(self.retain) + len(self.relabelled.samples)) / self.batch_size)

    def to(self, device: torch.device) -> RelabelledUnion:
        retain = Samples(self.retain.x.to(device), self.retain.y.to(device))
        return RelabelledUnion(retain, self.relabelled.to(device), self.batch_size)

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        ((x_f, wrong),) = self.relabelled.epoch(generator)
        x = torch.cat([self.retain.x, x_f])
        y = torch.cat([self.retain.y, wrong])
        yield from TensorBatches(x, y, batch_size=self.batch_size).epoch(generator)


@dataclass(frozen=True)
class RandomLabelConfig(TrainingHyperparameters):
    """Hyperparameters of ``rl``: SGD on the union of D_r and the relabelled D_f."""

    epochs: Count = 5
    """Passes over the union. Default 5: chosen for the small models here (the SalUn reference
    scripts use 10 epochs for a ResNet-18 on CIFAR-10)."""
    lr: Positive = 0.01
    """Learning rate. Default 0.01: the SalUn reference scripts' order of magnitude (0.013 for
    CIFAR-10), which also suits the small models here."""


@register
class RandomLabel(Unlearner):
    """``rl``: train on D_r with true labels and D_f with random wrong labels, mixed."""

    name = "rl"
    Config = RandomLabelConfig
    search_space = (
        search.learning_rate(), search.epochs(),
    )
    summary = "CE on D_r ∪ D_f with each forget label replaced by a random wrong one"

    def run(
        self, model: nn.Module, retain: Samples, forget: Samples, context: Context
    ) -> nn.Module:
        self.fit_plan(retain, forget, context).run(model, context)
        return model

    def fit_plan(self, retain: Samples, forget: Samples, context: Context) -> FitPlan:
        config = cast(RandomLabelConfig, self.config)
        batches = RelabelledUnion.of(retain, forget, context.num_classes, config.batch_size)
        return FitPlan(batches, config.recipe(), "rl")
