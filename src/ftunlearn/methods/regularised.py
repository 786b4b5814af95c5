"""``dr-ft``: fine-tuning on D_r with a discriminative regulariser on D_f (the paper's remedy).

Objective: ``CE(θ; D_r) + α · R(θ; D_f)`` with ``α ∈ (0, 1]``, so the retained data keeps
priority. Every step draws one retain batch and one forget batch (the forget set cycles,
reshuffled, when it runs out) and takes one gradient step on the weighted sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import torch
from torch import nn
from torch.nn import functional as F

from ftunlearn.methods.base import Context, Samples, Unlearner, register
from ftunlearn.methods.common import (
    TrainingHyperparameters,
    batches_of,
    relabelled,
)
from ftunlearn.methods.plan import FitPlan
from ftunlearn.params import Count, Fraction, Positive
from ftunlearn.training import Batch, BatchSource, LossFn, ZippedBatches
from ftunlearn.tuning import space as search

Regulariser = Literal["random-label", "uniform-kl"]


def kl_uniform_to_model(logits: torch.Tensor) -> torch.Tensor:
    """Per-sample ``KL(u ‖ softmax(logits)) = −log K − (1/K) Σ_k log p_k`` (u uniform on K)."""
    classes = logits.shape[1]
    return -math.log(classes) - F.log_softmax(logits, dim=1).mean(dim=1)


def forget_penalty(logits: torch.Tensor, targets: torch.Tensor, regulariser: str) -> torch.Tensor:
    """The mean regulariser ``R`` over a forget batch (``targets`` are the relabelled classes
    for ``random-label`` and unused for ``uniform-kl``)."""
    if regulariser == "random-label":
        return F.cross_entropy(logits, targets)
    return kl_uniform_to_model(logits).mean()


def regularised_loss(alpha: float, regulariser: str) -> LossFn:
    """``CE(retain batch) + α · R(forget batch)`` for batches ``(x_r, y_r, x_f, t_f)``.

    Both halves go through one forward pass (concatenated), then are split.
    """

    def loss(model: nn.Module, batch: Batch) -> torch.Tensor:
        x_r, y_r, x_f, t_f = batch
        logits = model(torch.cat([x_r, x_f]))
        retained, forgotten = logits[: len(y_r)], logits[len(y_r) :]
        return F.cross_entropy(retained, y_r) + alpha * forget_penalty(
            forgotten, t_f, regulariser
        )

    return loss


def regularised_batches(
    retain: Samples,
    forget: Samples,
    *,
    batch_size: int,
    forget_batch_size: int,
    regulariser: str,
    num_classes: int,
) -> ZippedBatches:
    """Retain batches ``(x_r, y_r)`` zipped with forget batches ``(x_f, t_f)``: random wrong
    labels (redrawn each pass over D_f) for ``random-label``, true labels for ``uniform-kl``."""
    forget_source: BatchSource
    if regulariser == "random-label":
        forget_source = relabelled(forget, num_classes, forget_batch_size)
    else:
        forget_source = batches_of(forget, forget_batch_size)
    return ZippedBatches(batches_of(retain, batch_size), forget_source)


@dataclass(frozen=True)
class DiscriminativeConfig(TrainingHyperparameters):
    """Hyperparameters of ``dr-ft`` (and of ``rbm`` with ``objective=dr-ft``): SGD (momentum
    0.9, weight decay 5e-4, constant rate, batch 128 of D_r, the shared training defaults)."""

    epochs: Count = 5
    """Passes over D_r. Default 5: as ``ft``, so the two differ only by the α-term."""
    lr: Positive = 0.01
    """Learning rate. Default 0.01: as ``ft`` (the l1-sparse / SalUn reference scripts' FT
    value)."""
    alpha: Fraction = 0.2
    """Weight α of the forget regulariser, in (0, 1]. Default 0.2: chosen on digits+mlp and a
    Fashion-MNIST subset+cnn (random 10 % forgetting), where it came closest to retraining;
    0.5 already over-forgets on digits. The paper only requires α ≤ 1."""
    regulariser: Regulariser = "random-label"
    """``random-label``: CE toward a random wrong label per forget sample, redrawn each pass
    over D_f. ``uniform-kl``: KL(uniform ‖ softmax(model(x_f))). Default random-label: chosen
    on the small models here (at the same α, uniform-kl forgot less on digits and lost more
    test accuracy on a Fashion-MNIST subset)."""
    forget_batch_size: Count | None = None
    """Forget samples per step. ``None`` (default): ``ceil(batch_size · n_f / n_r)``, so D_f is
    passed once per epoch over D_r (its random labels are redrawn each epoch) and a step costs
    about ``1 + n_f/n_r`` plain ``ft`` steps. The batch size changes the noise of the α-term's
    gradient, not the objective's expectation. Chosen here for cost."""



    def forget_batch(self, retain: Samples, forget: Samples) -> int:
        """The forget batch size in use for these sets."""
        if self.forget_batch_size is not None:
            return self.forget_batch_size
        return proportional_batch(self.batch_size, len(forget), len(retain))


def proportional_batch(batch_size: int, n_forget: int, n_retain: int) -> int:
    """``ceil(batch_size · n_forget / n_retain)``: one pass over D_f per epoch over D_r."""
    return max(1, math.ceil(batch_size * n_forget / n_retain))


def train_regularised(
    model: nn.Module,
    retain: Samples,
    forget: Samples,
    config: DiscriminativeConfig,
    context: Context,
    *,
    desc: str,
    frozen: dict[str, torch.Tensor] | None = None,
) -> None:
    """Fine-tune ``model`` in place on the ``dr-ft`` objective (``frozen`` entries stay put)."""
    regularised_plan(retain, forget, config, context, desc=desc, frozen=frozen).run(model, context)


def regularised_plan(
    retain: Samples,
    forget: Samples,
    config: DiscriminativeConfig,
    context: Context,
    *,
    desc: str,
    frozen: dict[str, torch.Tensor] | None = None,
) -> FitPlan:
    """The fit-loop call of the ``dr-ft`` objective."""
    batches = regularised_batches(
        retain, forget, batch_size=config.batch_size,
        forget_batch_size=config.forget_batch(retain, forget), regulariser=config.regulariser,
        num_classes=context.num_classes,
    )
    return FitPlan(batches, config.recipe(), desc,
                   loss_fn=regularised_loss(config.alpha, config.regulariser), frozen=frozen)


@register
class DiscriminativeFineTune(Unlearner):
    """Minimise ``CE(θ; D_r) + α · R(θ; D_f)`` from the original weights."""

    name = "dr-ft"
    Config = DiscriminativeConfig
    search_space = (
        search.learning_rate(), search.epochs(),
        search.uniform("alpha", 0.01, 1.0, "the paper only asks α ≤ 1; below 0.01 the "
                       "regulariser barely acts"),
        search.choice("regulariser", ("random-label", "uniform-kl"),
                      "the two forget regularisers the method offers"),
    )
    summary = "fine-tune on D_r plus α times a forget regulariser (random labels or uniform KL)"

    def run(
        self, model: nn.Module, retain: Samples, forget: Samples, context: Context
    ) -> nn.Module:
        self.fit_plan(retain, forget, context).run(model, context)
        return model

    def fit_plan(self, retain: Samples, forget: Samples, context: Context) -> FitPlan:
        config = cast(DiscriminativeConfig, self.config)
        return regularised_plan(retain, forget, config, context, desc="dr-ft")
