"""A method's whole procedure when it is one call of the fit loop, as data.

A method whose ``run`` is "optionally re-initialise, then ``fit`` once" describes that call as a
:class:`FitPlan`; ``run`` executes the plan, and :func:`ftunlearn.ensemble.unlearn_many` trains
many seeds of the same plan in one vectorised pass. The plan must not depend on
``context.seed``: the seed reaches only ``prepare`` and the fit loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ftunlearn.methods.context import Context
from ftunlearn.training import BatchSource, FitResult, LossFn, Recipe, cross_entropy_loss, fit

Prepare = Callable[[nn.Module, int], None]
"""``prepare(model, seed)``: changes the model in place before training (e.g. re-initialise)."""


@dataclass(frozen=True)
class FitPlan:
    """One fit-loop call: what to draw batches from, how to train, on which loss."""

    batches: BatchSource
    recipe: Recipe
    desc: str
    loss_fn: LossFn = cross_entropy_loss
    frozen: Mapping[str, torch.Tensor] | None = None
    prepare: Prepare | None = None

    def run(self, model: nn.Module, context: Context) -> FitResult:
        """Execute the plan on ``model`` in place with the context's seed and device."""
        if self.prepare is not None:
            self.prepare(model, context.seed)
        return fit(
            model, self.batches, self.recipe, loss_fn=self.loss_fn, seed=context.seed,
            device=context.device, frozen=self.frozen, progress=context.progress,
            desc=self.desc, on_epoch_end=context.on_epoch_end,
        )
