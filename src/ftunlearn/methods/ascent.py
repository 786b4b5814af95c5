"""Gradient-ascent methods: ``ga`` (ascend the forget loss) and ``neggrad+`` (ascend it while
descending the retain loss).

- ``ga``: minimise ``−CE(θ; D_f)`` (Thudi et al. 2022; the SalUn / l1-sparse baseline ``GA``).
- ``neggrad+``: minimise ``β·CE(θ; D_r) − (1−β)·CE(θ; D_f)`` (Kurmanji et al. 2023). Every step
  takes one retain batch and one forget batch: the retain set leads the epoch, the forget set
  restarts (reshuffled) whenever it runs out, as in the SCRUB reference code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

import torch
from torch import nn

from ftunlearn.methods.base import Context, Samples, Unlearner, register
from ftunlearn.methods.common import TrainingHyperparameters, batches_of
from ftunlearn.methods.plan import FitPlan
from ftunlearn.params import Count, Positive, Range
from ftunlearn.training import Batch, ZippedBatches, cross_entropy_loss
from ftunlearn.tuning import space as search


def forget_ascent_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The negated cross-entropy of a forget batch ``(x_f, y_f)``."""
    return -cross_entropy_loss(model, batch)


@dataclass(frozen=True)
class NegatedRetainForgetLoss:
    """``β·CE(retain batch) − (1−β)·CE(forget batch)`` for a zipped ``(x_r, y_r, x_f, y_f)``.

    The two sets go through the model in separate forward passes (as in the reference code), so
    a batch-normalised model sees each set's own batch statistics.
    """

    beta: float

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x_r, y_r, x_f, y_f = batch
        retain = cross_entropy_loss(model, (x_r, y_r))
        forget = cross_entropy_loss(model, (x_f, y_f))
        return self.beta * retain - (1.0 - self.beta) * forget


@dataclass(frozen=True)
class GradientAscentConfig(TrainingHyperparameters):
    """Hyperparameters of ``ga``: SGD on ``−CE(θ; D_f)``."""

    epochs: Count = 5
    """Passes over D_f. Default 5: the SalUn / l1-sparse reference scripts
    (``--unlearn_epochs 5``)."""
    lr: Positive = 1e-4
    """Learning rate. Default 1e-4: the SalUn / l1-sparse reference scripts (``--unlearn_lr
    1e-4``). Ascent is unbounded, so the usable rate shrinks with the number of steps: on
    Fashion-MNIST+cnn (47 steps an epoch) 3e-4 already ends in NaN, while on digits+mlp (2 steps
    an epoch) 1e-4 leaves the model almost unchanged."""
    batch_size: Count = 128
    """Forget-set batch size. Default 128: the reference scripts' batch size."""
    grad_clip: Positive | None = 1.0
    """Largest gradient norm per step. Default 1.0: chosen here. Ascent is unbounded; without a
    clip the forget loss overflowed to NaN within two epochs on Fashion-MNIST + cnn (the paper
    preset). With it, each step's gradient has norm at most 1, so the weights drift at most
    linearly in the number of steps."""


@register
class GradientAscent(Unlearner):
    """``ga``: gradient ascent on the forget set's cross-entropy."""

    name = "ga"
    Config = GradientAscentConfig
    search_space = (
        search.learning_rate(1e-5, 1e-2, "ascent is unbounded: the "
                             "usable rate is lower than fine-tuning's (default 1e-4)"),
        search.epochs(),
    )
    summary = "gradient ascent on the forget set: minimise −CE(θ; D_f)"

    def run(
        self, model: nn.Module, retain: Samples, forget: Samples, context: Context
    ) -> nn.Module:
        self.fit_plan(retain, forget, context).run(model, context)
        return model

    def fit_plan(self, retain: Samples, forget: Samples, context: Context) -> FitPlan:
        config = cast(GradientAscentConfig, self.config)
        return FitPlan(batches_of(forget, config.batch_size), config.recipe(), "ga",
                       loss_fn=forget_ascent_loss)


@dataclass(frozen=True)
class NegGradPlusConfig(TrainingHyperparameters):
    """Hyperparameters of ``neggrad+``: SGD on ``β·CE(D_r) − (1−β)·CE(D_f)``."""

    beta: Annotated[float, Range(ge=0, le=1)] = 0.95
    """Weight of the retain loss, in [0, 1]; the forget loss gets ``1 − β`` (β = 1 is plain
    fine-tuning on D_r, β = 0 is gradient ascent). Default 0.95: chosen for the small models
    here; the SCRUB reference code (where it is called ``alpha``) tunes it per experiment."""
    epochs: Count = 3
    """Passes over D_r (the forget set is cycled alongside). Default 3: chosen for the small
    models here; each step also passes a forget batch, so 3 epochs cost about as much as 6 of
    fine-tuning."""
    lr: Positive = 0.01
    """Learning rate. Default 0.01: the value ``ft`` uses here; chosen for the small models here."""
    forget_batch_size: Count = 128
    """Forget-set batch size (the retain set uses ``batch_size``). Default 128: chosen to match
    ``batch_size``."""
    grad_clip: Positive | None = 1.0
    """Largest gradient norm per step. Default 1.0: chosen here. The ascent term is unbounded;
    without a clip it overflowed to NaN on Fashion-MNIST + cnn with a whole class forgotten
    (the paper preset)."""


@register
class NegGradPlus(Unlearner):
    """``neggrad+``: descend the retain loss and ascend the forget loss in every step."""

    name = "neggrad+"
    Config = NegGradPlusConfig
    search_space = (
        search.learning_rate(),
        search.epochs(),
        search.uniform("beta", 0.5, 1.0, "the retain loss's weight: below 0.5 ascent "
                       "dominates and the model collapses; 1 is plain fine-tuning"),
    )
    summary = "β·CE(θ; D_r) − (1−β)·CE(θ; D_f), one retain and one forget batch per step"

    def run(
        self, model: nn.Module, retain: Samples, forget: Samples, context: Context
    ) -> nn.Module:
        self.fit_plan(retain, forget, context).run(model, context)
        return model

    def fit_plan(self, retain: Samples, forget: Samples, context: Context) -> FitPlan:
        config = cast(NegGradPlusConfig, self.config)
        batches = ZippedBatches(batches_of(retain, config.batch_size),
                                batches_of(forget, config.forget_batch_size))
        return FitPlan(batches, config.recipe(), "neggrad+",
                       loss_fn=NegatedRetainForgetLoss(config.beta))
