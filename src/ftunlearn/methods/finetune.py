"""``retrain`` (the golden model: a fresh model trained on D_r) and ``ft`` (fine-tuning on D_r)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import Context, Hyperparameters, Samples, Unlearner, register
from ftunlearn.methods.common import TrainingHyperparameters, batches_of
from ftunlearn.methods.plan import FitPlan
from ftunlearn.params import Count, Positive
from ftunlearn.training import Recipe
from ftunlearn.tuning import space as search


def reinitialise(model: nn.Module, seed: int) -> None:
    """Give ``model`` a fresh initialisation in place, fixed by ``seed``.

    Calls ``reset_parameters()`` on every submodule that has one, in ``model.modules()`` order,
    under ``torch.manual_seed(seed)`` (the global RNG is restored afterwards). Batch-norm layers
    reset their running statistics too. For the built-in ``mlp``, ``cnn`` and ``resnet18`` this
    reproduces ``build_model(spec, ..., seed=seed)``'s initialisation exactly. A parameter held
    by a module without ``reset_parameters()`` would keep its old value, so it is an error.
    """
    resettable = [m for m in model.modules() if callable(getattr(m, "reset_parameters", None))]
    covered = {id(p) for module in resettable for p in module.parameters(recurse=False)}
    stranded = [name for name, p in model.named_parameters() if id(p) not in covered]
    if stranded:
        raise UnlearnError(
            f"cannot re-initialise parameters {stranded[:5]}: their modules have no "
            "reset_parameters() method; give each such module one (see docs/methods.md)"
        )
    devices = [p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"][:1]
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        for module in resettable:
            module.reset_parameters()


@dataclass(frozen=True)
class RetrainConfig(Hyperparameters):
    """``retrain`` has no hyperparameters: it reuses the original's recipe (``Context.recipe``)."""


@register
class Retrain(Unlearner):
    """Train a freshly initialised copy of the architecture on D_r with the original's recipe.

    The initialisation and the batch order are both fixed by ``context.seed``; the original's
    weights play no part (only its architecture is reused).
    """

    name = "retrain"
    reference = True
    needs_recipe = True
    Config = RetrainConfig
    summary = "retrain from scratch on D_r with the original's recipe (the golden model)"

    def run(
        self, model: nn.Module, retain: Samples, forget: Samples, context: Context
    ) -> nn.Module:
        self.fit_plan(retain, forget, context).run(model, context)
        return model

    def fit_plan(self, retain: Samples, forget: Samples, context: Context) -> FitPlan:
        return from_scratch(retain, context.recipe, "retrain")


def from_scratch(samples: Samples, recipe: Recipe, desc: str, *, initialised: bool = False
                 ) -> FitPlan:
    """The reference procedure: a seeded initialisation trained on ``samples`` with the
    original's recipe. ``retrain``, and the benchmark's original (on D) and golden (on D_r)
    models, all train through this one plan; ``initialised`` skips the re-initialisation for
    a model just built with its seed (``build_model`` gives the same weights)."""
    return FitPlan(batches_of(samples, recipe.batch_size), recipe, desc,
                   prepare=None if initialised else reinitialise)


@dataclass(frozen=True)
class FineTuneConfig(TrainingHyperparameters):
    """Hyperparameters of ``ft``: SGD (momentum 0.9, weight decay 5e-4, constant rate, batch
    128, the shared training defaults) on CE(θ; D_r)."""

    epochs: Count = 5
    """Passes over D_r. Default 5: chosen here to keep fine-tuning cheap next to retraining (the
    l1-sparse / SalUn reference scripts run 10 epochs of a 160-epoch CIFAR-10 recipe)."""
    lr: Positive = 0.01
    """Learning rate. Default 0.01: the l1-sparse / SalUn reference scripts' FT value
    (``--unlearn_lr 0.01``)."""


@register
class FineTune(Unlearner):
    """Minimise CE(θ; D_r) starting from the original weights."""

    name = "ft"
    Config = FineTuneConfig
    search_space = (
        search.learning_rate(), search.epochs(),
    )
    summary = "fine-tune on D_r with cross-entropy"

    def run(
        self, model: nn.Module, retain: Samples, forget: Samples, context: Context
    ) -> nn.Module:
        self.fit_plan(retain, forget, context).run(model, context)
        return model

    def fit_plan(self, retain: Samples, forget: Samples, context: Context) -> FitPlan:
        config = cast(FineTuneConfig, self.config)
        return FitPlan(batches_of(retain, config.batch_size), config.recipe(), "ft")
