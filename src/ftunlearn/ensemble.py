"""Train many copies of one architecture at once, one seed each, in one vectorised pass.

The K models' parameters are stacked (``torch.func.stack_module_state``) and one step computes
every model's loss and gradient on its own batch with ``torch.func.vmap`` over
``torch.func.functional_call``. Each model keeps its own seeded batch order (the generator that
``training.fit(..., seed=j)`` uses), its own optimiser state and its own gradient clip, so model
j ends where sequential ``fit`` with seed j ends, up to float rounding.

The optimiser steps are written out here and mirror ``torch.optim.SGD`` (momentum, weight decay
added to the gradient, no dampening or Nesterov) and ``torch.optim.Adam`` (L2 weight decay,
betas 0.9/0.999, eps 1e-8); the schedule is ``training.make_schedule`` itself, stepped once per
optimiser step as ``fit`` does. Cases the vectorised pass cannot reproduce exactly fall back to
sequential ``fit`` per seed, with the reason logged at INFO ("sequential: ..."): models with
running statistics (BatchNorm: their buffers change in every forward pass, and the stats matter
at evaluation time), models of different structure, and models whose forward pass vmap rejects
(random layers such as dropout, in-place buffer updates).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap
from torch.utils.data import TensorDataset
from tqdm.auto import tqdm

from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import (
    Context,
    Samples,
    UnlearnResult,
    as_samples,
    make_config,
    method_class,
    shared_samples,
    unlearn,
)
from ftunlearn.training import (
    Batch,
    BatchSource,
    LossFn,
    Recipe,
    TensorBatches,
    cross_entropy_loss,
    fit,
    make_schedule,
    resolve_device,
)

log = logging.getLogger(__name__)

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8
_CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s guard against a zero norm
_PREFIX = "model."
_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                 nn.ConvTranspose3d)

SetLike = Samples | TensorDataset | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class EnsembleFit:
    """What a many-model fit did: wall-clock seconds for all models together, steps per model,
    each model's per-epoch mean losses, and whether it ran vectorised (else ``reason``)."""

    seconds: float
    steps: int
    epoch_losses: tuple[tuple[float, ...], ...]
    vectorised: bool
    reason: str = ""


class _NotVectorisable(Exception):
    """The vectorised pass cannot reproduce sequential training for these models."""


class _LossOf(nn.Module):
    """Holds the model as a child so that ``functional_call`` can swap its weights inside any
    ``loss_fn(model, batch)``."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def sequential_reason(models: Sequence[nn.Module], device: torch.device,
                      vectorise: Literal["auto", "always"] = "auto") -> str | None:
    """Why these models are trained one after the other, or ``None`` for one vectorised pass.

    ``always`` skips the speed rule (convolutions on the CPU) but never a correctness rule.
    """
    for module in models[0].modules():
        if getattr(module, "track_running_stats", False) and getattr(
            module, "running_mean", None
        ) is not None:
            return "BatchNorm buffers"
    shapes = [[(n, p.shape) for n, p in m.named_parameters()] for m in models]
    if any(s != shapes[0] for s in shapes[1:]):
        return "models differ in structure"
    # Measured (benchmarks/bench_ensemble.py): 16 vectorised cnn ran at 0.44x the sequential
    # loop on one CPU core (vmap turns each conv into a slower batched form); mlp at 1.07x.
    convolutional = any(isinstance(m, _CONVOLUTIONS) for m in models[0].modules())
    if vectorise == "auto" and device.type == "cpu" and convolutional:
        return "convolutions (vectorised is slower on the CPU)"
    return None


def fit_many(
    models: Sequence[nn.Module],
    batches: BatchSource,
    recipe: Recipe,
    *,
    seeds: Sequence[int],
    loss_fn: LossFn = cross_entropy_loss,
    device: str | torch.device = "auto",
    frozen: Mapping[str, torch.Tensor] | None = None,
    progress: bool = False,
    desc: str = "ensemble",
    vectorise: Literal["auto", "always"] = "auto",
) -> EnsembleFit:
    """Train ``models[j]`` in place as ``fit(models[j], batches, recipe, seed=seeds[j], ...)``
    would, all in one vectorised pass when possible (see the module docstring).

    ``frozen`` (parameter name -> boolean mask) applies to every model. ``vectorise="auto"``
    also trains convolutional models sequentially on the CPU, where that measured faster;
    ``"always"`` vectorises whenever the result would be the same.
    """
    models, seeds = list(models), [int(s) for s in seeds]
    if not models:
        raise UnlearnError(f"{desc}: no models to train")
    if len(models) != len(seeds):
        raise UnlearnError(f"{desc}: {len(models)} models but {len(seeds)} seeds")
    target = resolve_device(device)
    if vectorise not in ("auto", "always"):
        raise UnlearnError(f"vectorise must be auto or always, got {vectorise!r}")
    reason = sequential_reason(models, target, vectorise)
    if reason is None:
        try:
            return _fit_vectorised(models, batches, recipe, seeds, loss_fn, target, frozen,
                                   progress, desc)
        except _NotVectorisable as error:
            reason = str(error)
    log.info("%s: sequential: %s", desc, reason)
    started = time.perf_counter()
    results = [
        fit(model, batches, recipe, loss_fn=loss_fn, seed=seed, device=target, frozen=frozen,
            progress=progress, desc=desc)
        for model, seed in zip(models, seeds, strict=True)
    ]
    return EnsembleFit(time.perf_counter() - started, results[0].steps,
                       tuple(r.epoch_losses for r in results), False, reason)


def train_ensemble(
    build: Callable[[int], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: Recipe,
    seeds: Sequence[int],
    *,
    device: str | torch.device = "cpu",
    progress: bool = False,
    frozen: Mapping[str, torch.Tensor] | None = None,
) -> list[nn.Module]:
    """``[build(s) trained on (x, y) with recipe and seed s for s in seeds]``, vectorised."""
    models = [build(seed) for seed in seeds]
    fit_many(models, TensorBatches(x, y, batch_size=recipe.batch_size), recipe, seeds=seeds,
             device=device, frozen=frozen, progress=progress, desc="train_ensemble")
    return models


def _stacked_batches(source: BatchSource, generators: list[torch.Generator]) -> Iterator[Batch]:
    """Each step: every model's own next batch, stacked along a new leading model axis."""
    for per_model in zip(*(source.epoch(g) for g in generators), strict=True):
        yield tuple(torch.stack(parts) for parts in zip(*per_model, strict=True))


class _Optimiser:
    """SGD or Adam over stacked parameters, as ``torch.optim`` would step each model."""

    def __init__(self, params: dict[str, torch.Tensor], recipe: Recipe) -> None:
        self.recipe = recipe
        self.state: dict[str, dict[str, torch.Tensor]] = {name: {} for name in params}
        self.steps = 0

    def step(self, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], lr: float
             ) -> None:
        self.steps += 1
        decay = self.recipe.weight_decay
        for name, param in params.items():
            grad = grads[name]
            if decay != 0:
                grad = grad.add(param, alpha=decay)
            if self.recipe.optimizer == "adam":
                self._adam(name, param, grad, lr)
            else:
                self._sgd(name, param, grad, lr)

    def _sgd(self, name: str, param: torch.Tensor, grad: torch.Tensor, lr: float) -> None:
        momentum = self.recipe.momentum
        if momentum != 0:
            state = self.state[name]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.clone()
            else:
                state["momentum_buffer"].mul_(momentum).add_(grad)
            grad = state["momentum_buffer"]
        param.add_(grad, alpha=-lr)

    def _adam(self, name: str, param: torch.Tensor, grad: torch.Tensor, lr: float) -> None:
        beta1, beta2 = _ADAM_BETAS
        state = self.state[name]
        if not state:
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        correction1 = 1 - beta1**self.steps
        correction2_sqrt = (1 - beta2**self.steps) ** 0.5
        denom = (exp_avg_sq.sqrt() / correction2_sqrt).add_(_ADAM_EPS)
        param.addcdiv_(exp_avg, denom, value=-lr / correction1)


def _clip_per_model(grads: dict[str, torch.Tensor], max_norm: float) -> dict[str, torch.Tensor]:
    """Scale each model's gradients by ``min(1, max_norm / (its total norm + 1e-6))``."""
    count = next(iter(grads.values())).shape[0]
    norms = torch.stack([g.reshape(count, -1).norm(dim=1) for g in grads.values()], dim=1)
    scale = (max_norm / (norms.norm(dim=1) + _CLIP_EPS)).clamp(max=1.0)
    return {n: g * scale.view(-1, *([1] * (g.dim() - 1))) for n, g in grads.items()}


def _frozen_masks(model: nn.Module, frozen: Mapping[str, torch.Tensor], device: torch.device
                  ) -> dict[str, torch.Tensor]:
    shapes = {name: p.shape for name, p in model.named_parameters()}
    unknown = sorted(set(frozen) - set(shapes))
    if unknown:
        raise UnlearnError(f"frozen masks name unknown parameters: {unknown[:5]}")
    masks = {}
    for name, mask in frozen.items():
        if mask.shape != shapes[name]:
            raise UnlearnError(f"mask for {name} has shape {tuple(mask.shape)}, parameter has "
                               f"{tuple(shapes[name])}")
        mask = mask.to(device=device, dtype=torch.bool)
        if bool(mask.any()):
            masks[_PREFIX + name] = mask
    return masks


def _fit_vectorised(
    models: list[nn.Module],
    batches: BatchSource,
    recipe: Recipe,
    seeds: list[int],
    loss_fn: LossFn,
    target: torch.device,
    frozen: Mapping[str, torch.Tensor] | None,
    progress: bool,
    desc: str,
) -> EnsembleFit:
    for model in models:
        model.to(target)
        model.train()
    trainable_names = [n for n, p in models[0].named_parameters() if p.requires_grad]
    if not trainable_names:
        raise UnlearnError(f"{desc}: nothing to train (no parameter requires grad)")
    stacked, buffers = stack_module_state(models)
    params = {_PREFIX + n: stacked[n].detach() for n in trainable_names}
    fixed = {_PREFIX + n: t.detach() for n, t in {**stacked, **buffers}.items()
             if n not in trainable_names}
    masks = _frozen_masks(models[0], frozen, target) if frozen else {}
    saved = {name: params[name].clone() for name in masks}
    loss_module = _LossOf(copy.deepcopy(models[0]), loss_fn)

    def loss_of(own: dict[str, torch.Tensor], rest: dict[str, torch.Tensor], batch: Batch
                ) -> torch.Tensor:
        return functional_call(loss_module, (own, rest), (batch,))

    step_all = vmap(grad_and_value(loss_of), randomness="error")
    source = batches.to(target)
    steps_per_epoch = len(source)
    optimiser = _Optimiser(params, recipe)
    # The schedule object of fit itself, on a stand-in optimiser whose rate is read each step.
    stand_in = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=recipe.lr)
    schedule = make_schedule(stand_in, recipe, steps_per_epoch)
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    sync_every = 1 if target.type == "cpu" else recipe.sync_every
    epoch_losses: list[torch.Tensor] = []
    started = time.perf_counter()
    bar = tqdm(total=recipe.epochs * steps_per_epoch, desc=desc, unit="step",
               disable=not progress, leave=False, dynamic_ncols=True)
    with bar:
        for epoch in range(1, recipe.epochs + 1):
            total = torch.zeros(len(models), device=target)
            pending: list[torch.Tensor] = []
            for step, batch in enumerate(_stacked_batches(source, generators), start=1):
                if epoch == 1 and step == 1:
                    try:
                        grads, losses = step_all(params, fixed, batch)
                    except RuntimeError as error:
                        raise _NotVectorisable(f"vmap rejected the model: {error}") from error
                else:
                    grads, losses = step_all(params, fixed, batch)
                with torch.no_grad():
                    for name, mask in masks.items():
                        grads[name] = grads[name].masked_fill(mask, 0.0)
                    if recipe.grad_clip is not None:
                        grads = _clip_per_model(grads, recipe.grad_clip)
                    optimiser.step(params, grads, stand_in.param_groups[0]["lr"])
                    for name, mask in masks.items():
                        params[name].copy_(torch.where(mask, saved[name], params[name]))
                        for value in optimiser.state[name].values():
                            value.masked_fill_(mask, 0.0)
                stand_in.step()
                schedule.step()
                total += losses.detach()
                pending.append(losses.detach())
                if len(pending) >= sync_every or step == steps_per_epoch:
                    _check_finite(pending, epoch, step, seeds, desc, recipe)
                    bar.update(len(pending))
                    pending = []
            epoch_losses.append(total / steps_per_epoch)
    with torch.no_grad():
        for index, model in enumerate(models):
            for name, param in model.named_parameters():
                if _PREFIX + name in params:
                    param.copy_(params[_PREFIX + name][index])
    if target.type == "cuda":
        torch.cuda.synchronize(target)
    per_model = torch.stack(epoch_losses, dim=1).cpu().tolist() if epoch_losses else []
    return EnsembleFit(time.perf_counter() - started, recipe.epochs * steps_per_epoch,
                       tuple(tuple(losses) for losses in per_model), True)


def _check_finite(pending: list[torch.Tensor], epoch: int, last_step: int, seeds: list[int],
                  desc: str, recipe: Recipe) -> None:
    values = torch.stack(pending).cpu()
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return
    row, column = (int(i) for i in (~finite).nonzero()[0])
    step = last_step - len(pending) + 1 + row
    raise UnlearnError(
        f"{desc}: the loss of the model with seed {seeds[column]} became "
        f"{float(values[row, column])} at epoch {epoch}, step {step}; lower the learning rate "
        f"(lr={recipe.lr}) or set grad_clip"
    )


def unlearn_many(
    models: nn.Module | Sequence[nn.Module],
    retain: SetLike,
    forget: SetLike,
    method: str,
    seeds: Sequence[int],
    *,
    device: str | torch.device = "auto",
    recipe: Recipe | None = None,
    num_classes: int | None = None,
    n_test: int | None = None,
    progress: bool = False,
    **hyperparameters: Any,
) -> list[UnlearnResult]:
    """``[unlearn(models[j], retain, forget, method, seed=seeds[j], ...) for j]``, vectorised.

    ``models`` is one model per seed, or one model unlearned once per seed. A method whose
    procedure is a single fit-loop call (``Unlearner.fit_plan`` returns a plan) runs as one
    vectorised :func:`fit_many`; each result's ``seconds`` is then the shared wall time divided
    by the number of seeds. Any other method runs ``unlearn`` once per seed.
    """
    seeds = [int(s) for s in seeds]
    originals = [models] * len(seeds) if isinstance(models, nn.Module) else list(models)
    if not seeds or len(originals) != len(seeds):
        raise UnlearnError(f"unlearn_many needs one model per seed (or one model) and at least "
                           f"one seed, got {len(originals)} models and {len(seeds)} seeds")
    config = make_config(method, hyperparameters)
    retain_samples, forget_samples, classes = _checked_sets(retain, forget, num_classes)
    context = Context(seed=seeds[0], device=resolve_device(device), recipe=recipe or Recipe(),
                      num_classes=classes, n_test=n_test)
    plan = method_class(method)(config).fit_plan(retain_samples, forget_samples, context)
    if plan is None:
        log.info("%s: sequential: the method is more than one fit-loop call", method)
        return [
            unlearn(model, retain_samples, forget_samples, method, seed=seed, device=device,
                    recipe=recipe, num_classes=classes, n_test=n_test, progress=progress,
                    **hyperparameters)
            for model, seed in zip(originals, seeds, strict=True)
        ]
    working = [copy.deepcopy(model) for model in originals]
    started = time.perf_counter()
    for model, seed in zip(working, seeds, strict=True):
        if plan.prepare is not None:
            plan.prepare(model, seed)
    fit_many(working, plan.batches, plan.recipe, seeds=seeds, loss_fn=plan.loss_fn,
             device=context.device, frozen=plan.frozen, progress=progress, desc=plan.desc)
    share = (time.perf_counter() - started) / len(seeds)
    return [UnlearnResult(model, share, method, config.to_dict()) for model in working]


def _checked_sets(retain: SetLike, forget: SetLike, num_classes: int | None
                  ) -> tuple[Samples, Samples, int]:
    """The checks ``unlearn`` makes on its two sets, and the number of classes."""
    retain_samples = as_samples(retain, "retain")
    forget_samples = as_samples(forget, "forget")
    if len(forget_samples) == 0:
        raise UnlearnError("the forget set is empty: there is nothing to unlearn")
    if len(retain_samples) == 0:
        raise UnlearnError("the retain set is empty: unlearning needs data to keep")
    shared = shared_samples(retain_samples, forget_samples)
    if shared:
        raise UnlearnError(f"{shared} forget sample(s) also appear in the retain set; "
                           "the two sets must be disjoint (D_r = D minus D_f)")
    largest = int(max(retain_samples.y.max(), forget_samples.y.max())) + 1
    classes = num_classes if num_classes is not None else largest
    if classes < largest:
        raise UnlearnError(f"labels go up to {largest - 1} but num_classes is {classes}")
    return retain_samples, forget_samples, classes
