"""Gradient saliency of a model's weights on a set of samples, and masks cut from it.

Two statistics of the per-sample cross-entropy gradients ``∇ℓ_i`` at the current weights:

- ``sum``: ``|Σ_i ∇ℓ_i|``, the magnitude of the set's total gradient (SalUn's saliency). It is
  blind where the model sits at a stationary point of the set's loss: the per-sample gradients
  cancel and the total says nothing about which weights the samples use.
- ``abs-sum``: ``Σ_i |∇ℓ_i|``, the summed per-sample magnitudes. Opposite gradients do not cancel,
  so a weight a sample relies on scores high even at a stationary point (docs/theory.md).

Gradients are taken in evaluation mode (no dropout, batch-norm running statistics), so each
sample's gradient depends on that sample only and the two statistics are exact functions of the
per-sample gradients. Masks keep an exact number of entries; ties are broken by position.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from fractions import Fraction
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from ftunlearn.data.sources import DataSource
from ftunlearn.errors import UnlearnError
from ftunlearn.methods.base import Samples
from ftunlearn.training import eval_mode, to_device

SaliencyStatistic = Literal["sum", "abs-sum"]
Selection = Literal["largest", "smallest"]
MaskScope = Literal["tensor", "global"]
PerSampleEngine = Literal["auto", "vmap", "loop"]

Masks = dict[str, torch.Tensor]
"""Parameter name -> boolean tensor of the parameter's shape."""

PER_SAMPLE_BUDGET = {"cpu": 2**22, "cuda": 2**26}
"""Most per-sample gradient entries held at once, by device type (16 MiB / 256 MiB in float32);
sets the chunk size. Small chunks stay in the CPU's caches, which is faster there."""


def trainable_names(model: nn.Module) -> list[str]:
    """Names of the parameters that require grad, in registration order."""
    return [name for name, param in model.named_parameters() if param.requires_grad]


def gradient_saliency(
    model: nn.Module,
    samples: Samples | DataSource,
    *,
    statistic: SaliencyStatistic = "abs-sum",
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    names: Collection[str] | None = None,
    engine: PerSampleEngine = "auto",
) -> dict[str, torch.Tensor]:
    """Per-entry saliency of ``model``'s parameters on ``samples`` (float32, on ``device``).

    ``names`` restricts the parameters scored (default: all that require grad). ``engine``
    picks how ``abs-sum`` gets per-sample gradients: ``vmap`` (torch.func, in chunks), ``loop``
    (one backward pass per sample; also for models whose layers vmap cannot batch) or ``auto``
    (vmap on a GPU; loop on the CPU, where it is as fast for small models and skips torch.func's
    one-off start-up of about two seconds). The model is moved to ``device``; its weights and
    its training mode are left as they were. A streamed set (``DataSource``) is read in
    batches of ``batch_size``, never held whole.
    """
    if statistic not in ("sum", "abs-sum"):
        raise UnlearnError(f"saliency statistic must be 'sum' or 'abs-sum', got {statistic!r}")
    if engine not in ("auto", "vmap", "loop"):
        raise UnlearnError(f"per-sample engine must be auto, vmap or loop, got {engine!r}")
    if len(samples) == 0:
        raise UnlearnError("cannot compute saliency on an empty set of samples")
    if batch_size < 1:
        raise UnlearnError(f"saliency batch_size must be >= 1, got {batch_size}")
    target = torch.device(device)
    if engine == "auto":
        engine = "vmap" if target.type == "cuda" else "loop"
    model.to(target)
    chosen = _chosen_parameters(model, names)
    if isinstance(samples, DataSource):
        pieces = samples.batches(batch_size, device=target)
    else:
        pieces = iter([(to_device(samples.x, target), to_device(samples.y, target))])
    scores = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in chosen.items()}
    with eval_mode(model):
        # a streamed set is scored batch by batch; both statistics are sums over samples
        for x, y in pieces:
            if statistic == "sum":
                part = _summed_gradient(model, chosen, x, y, batch_size)
            elif engine == "vmap":
                part = _abs_sum_vmap(model, chosen, x, y)
            else:
                part = _abs_sum_loop(model, chosen, x, y)
            for name, value in part.items():
                scores[name] += value
    if statistic == "sum":
        scores = {name: value.abs() for name, value in scores.items()}
    for name, value in scores.items():
        if not bool(torch.isfinite(value).all()):
            raise UnlearnError(
                f"the saliency of {name} is not finite: the model's loss or gradient overflows "
                "on these samples; check the model and the inputs"
            )
    return scores


def _chosen_parameters(model: nn.Module, names: Collection[str] | None) -> dict[str, nn.Parameter]:
    params = dict(model.named_parameters())
    wanted = trainable_names(model) if names is None else list(names)
    unknown = sorted(set(wanted) - set(params))
    if unknown:
        raise UnlearnError(f"saliency asked for unknown parameters {unknown[:5]}")
    if not wanted:
        raise UnlearnError("the model has no parameter that requires grad: nothing to score")
    fixed = [name for name in wanted if not params[name].requires_grad]
    if fixed:
        raise UnlearnError(f"saliency needs parameters that require grad; {fixed[:5]} do not")
    return {name: params[name] for name in wanted}


def _summed_gradient(
    model: nn.Module, chosen: dict[str, nn.Parameter], x: torch.Tensor, y: torch.Tensor,
    batch_size: int,
) -> dict[str, torch.Tensor]:
    totals = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in chosen.items()}
    tensors = list(chosen.values())
    for start in range(0, int(y.shape[0]), batch_size):
        logits = model(x[start : start + batch_size])
        loss = F.cross_entropy(logits, y[start : start + batch_size], reduction="sum")
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
        for name, value in zip(chosen, grads, strict=True):
            if value is not None:
                totals[name] += value.float()
    return totals


def _abs_sum_vmap(
    model: nn.Module, chosen: dict[str, nn.Parameter], x: torch.Tensor, y: torch.Tensor
) -> dict[str, torch.Tensor]:
    weights = {name: p.detach() for name, p in chosen.items()}
    fixed = {name: p.detach() for name, p in model.named_parameters() if name not in chosen}
    fixed.update({name: b.detach() for name, b in model.named_buffers()})

    def sample_loss(
        weights: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor
    ) -> torch.Tensor:
        logits = functional_call(model, (weights, fixed), (xi.unsqueeze(0),))
        return F.cross_entropy(logits, yi.unsqueeze(0))

    per_sample: Callable[..., dict[str, torch.Tensor]] = vmap(
        grad(sample_loss), in_dims=(None, 0, 0)
    )
    width = sum(p.numel() for p in chosen.values())
    budget = PER_SAMPLE_BUDGET.get(x.device.type, PER_SAMPLE_BUDGET["cpu"])
    chunk = max(1, min(1024, budget // max(width, 1)))
    totals = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in chosen.items()}
    for start in range(0, int(y.shape[0]), chunk):
        grads = per_sample(weights, x[start : start + chunk], y[start : start + chunk])
        for name, value in grads.items():
            totals[name] += value.abs().float().sum(0)
    return totals


def _abs_sum_loop(
    model: nn.Module, chosen: dict[str, nn.Parameter], x: torch.Tensor, y: torch.Tensor
) -> dict[str, torch.Tensor]:
    totals = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in chosen.items()}
    tensors = list(chosen.values())
    for index in range(int(y.shape[0])):
        loss = F.cross_entropy(model(x[index : index + 1]), y[index : index + 1])
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
        for name, value in zip(chosen, grads, strict=True):
            if value is not None:
                totals[name] += value.abs().float()
    return totals


def selected_count(total: int, fraction: float) -> int:
    """How many of ``total`` entries a ``fraction`` selects: ``fraction · total`` rounded half up.

    The fraction is read as the nearest ratio with a denominator up to 10⁹, so decimal
    fractions count exactly (0.29 of 100 selects 29, although ``0.29 * 100 < 29`` in floats).
    """
    if not 0.0 <= fraction <= 1.0:
        raise UnlearnError(f"a mask fraction must be in [0, 1], got {fraction}")
    exact = Fraction(fraction).limit_denominator(10**9) * total
    return min(total, math.floor(exact + Fraction(1, 2)))


def select_top(
    scores: Mapping[str, torch.Tensor],
    fraction: float,
    *,
    scope: MaskScope = "tensor",
    select: Selection = "largest",
) -> Masks:
    """Boolean masks marking the ``fraction`` of entries with the largest (or smallest) scores.

    ``scope="tensor"`` selects ``selected_count(numel, fraction)`` entries in every tensor;
    ``scope="global"`` ranks all entries together and selects ``selected_count(total,
    fraction)`` of them. Equal scores are broken by position (earlier first).
    """
    if scope not in ("tensor", "global"):
        raise UnlearnError(f"mask scope must be 'tensor' or 'global', got {scope!r}")
    if select not in ("largest", "smallest"):
        raise UnlearnError(f"mask selection must be 'largest' or 'smallest', got {select!r}")
    if not scores:
        raise UnlearnError("no scores to select from")
    if scope == "tensor":
        return {
            name: _top_entries(value.flatten(), fraction, select).view(value.shape)
            for name, value in scores.items()
        }
    flat = torch.cat([value.flatten().float() for value in scores.values()])
    chosen = _top_entries(flat, fraction, select)
    masks: Masks = {}
    start = 0
    for name, value in scores.items():
        masks[name] = chosen[start : start + value.numel()].view(value.shape)
        start += value.numel()
    return masks


def _top_entries(flat: torch.Tensor, fraction: float, select: Selection) -> torch.Tensor:
    count = selected_count(int(flat.numel()), fraction)
    order = torch.argsort(flat, descending=select == "largest", stable=True)
    mask = torch.zeros(flat.shape, dtype=torch.bool, device=flat.device)
    mask[order[:count]] = True
    return mask


def invert(masks: Mapping[str, torch.Tensor]) -> Masks:
    """The complement of every mask."""
    return {name: ~mask for name, mask in masks.items()}


def count_selected(masks: Mapping[str, torch.Tensor]) -> int:
    """How many entries the masks mark, over all tensors."""
    return sum(int(mask.sum()) for mask in masks.values())


def frozen_outside(model: nn.Module, trainable: Mapping[str, torch.Tensor]) -> Masks:
    """A ``frozen`` map for the fit loop: every parameter entry not marked in ``trainable``.

    Parameters missing from ``trainable`` are frozen whole.
    """
    return {
        name: ~trainable[name] if name in trainable else torch.ones_like(param, dtype=torch.bool)
        for name, param in model.named_parameters()
    }


def overwrite_entries(
    model: nn.Module,
    where: Mapping[str, torch.Tensor],
    values: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Set the marked entries of each parameter to ``values`` (same names), or to zero."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in where.items():
            param = params[name]
            mask = mask.to(param.device)
            if values is None:
                param.masked_fill_(mask, 0.0)
            else:
                param.copy_(torch.where(mask, values[name].to(param.device, param.dtype), param))
