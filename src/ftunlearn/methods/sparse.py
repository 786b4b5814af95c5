"""``l1-sparse``: fine-tune on the retain set with a decaying L1 penalty (Jia et al. 2023,
"Model Sparsity Can Simplify Machine Unlearning").

Step ``t`` of ``T`` minimises ``CE(θ; D_r batch) + γ_t·‖θ‖₁`` with ``γ_t = γ·(1 − t/T)``: the
penalty starts at ``γ`` and decays linearly towards 0, so the model is first pushed towards
sparsity and then left to recover its accuracy. ``‖θ‖₁`` sums the absolute values of every
trainable parameter (biases included), as the reference code does. The reference code lowers
``γ`` once per epoch (``γ·(1 − e/E)``); here it is lowered every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import Context, Samples, Unlearner, register
from ftunlearn.methods.common import TrainingHyperparameters, batches_of, train
from ftunlearn.params import Count, NonNegative, Positive
from ftunlearn.training import Batch, cross_entropy_loss
from ftunlearn.tuning import space as search


def l1_norm(model: nn.Module) -> torch.Tensor:
    """``‖θ‖₁`` over the parameters that require grad."""
    return torch.stack([p.abs().sum() for p in model.parameters() if p.requires_grad]).sum()


class DecayingL1Loss:
    """Cross-entropy plus ``γ_t·‖θ‖₁``, ``γ_t = γ·(1 − t/T)``; ``t`` counts this object's calls.

    The fit loop calls the loss once per optimisation step, so the call count is the step
    index. One instance serves one training run of ``total_steps`` steps.
    """

    def __init__(self, gamma: float, total_steps: int) -> None:
        if total_steps < 1:
            raise UnlearnError(f"l1-sparse needs at least one step, got {total_steps}")
        self.gamma = gamma
        self.total_steps = total_steps
        self.step = 0

    def weight(self, step: int) -> float:
        """``γ_t`` at step ``t`` (counted from 0)."""
        return self.gamma * (1.0 - step / self.total_steps)

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        weight = self.weight(self.step)
        self.step += 1
        return cross_entropy_loss(model, batch) + weight * l1_norm(model)


@dataclass(frozen=True)
class L1SparseConfig(TrainingHyperparameters):
    """Hyperparameters of ``l1-sparse``: fine-tuning on D_r plus a linearly decaying L1 term."""

    gamma: NonNegative = 5e-5
    """Initial L1 weight γ (≥ 0; 0 is plain fine-tuning). Default 5e-5: chosen for the small
    models here (the reference code's ``--alpha`` is tuned per experiment)."""
    epochs: Count = 5
    """Passes over D_r. Default 5: chosen for the small models here (the reference scripts use
    10 epochs for a ResNet-18 on CIFAR-10)."""
    lr: Positive = 0.01
    """Learning rate. Default 0.01: the reference scripts' ``--unlearn_lr 0.01``."""


@register
class L1Sparse(Unlearner):
    """``l1-sparse``: fine-tune on D_r with a decaying L1 penalty on the weights."""

    name = "l1-sparse"
    Config = L1SparseConfig
    search_space = (
        search.learning_rate(), search.epochs(),
        search.log_uniform("gamma", 1e-6, 1e-3, "the L1 weight is tuned per experiment in the "
                           "reference code; above 1e-3 it wipes out small models"),
    )
    summary = "CE(θ; D_r) + γ_t·‖θ‖₁ with γ_t decaying linearly from γ to 0"

    def run(
        self, model: nn.Module, retain: Samples, forget: Samples, context: Context
    ) -> nn.Module:
        config = cast(L1SparseConfig, self.config)
        batches = batches_of(retain, config.batch_size)
        loss = DecayingL1Loss(config.gamma, config.epochs * len(batches))
        train(model, batches, config, context, loss_fn=loss, desc="l1-sparse")
        return model
