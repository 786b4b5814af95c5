"""The protocol's metrics on the caller's own sets, with no ``ftunlearn.Dataset`` needed.

``evaluate_sets(model, retain=..., forget=..., test=...)`` takes each set as ``unlearn`` does:
``(x, y)`` tensors, a map-style ``Dataset`` of ``(x, y)`` items or a ``DataLoader`` (dict
batches by the same keys, or the ``batch=`` hook; see :mod:`ftunlearn.data.sources`). Give
evaluation pipelines without augmentation: every sample is read once, as the pipeline yields it.
The model's outputs become :class:`~ftunlearn.metrics.evaluate.SetOutputs` and the metrics are
``evaluate``'s own (``standalone_metrics`` and, with ``golden``, ``golden_metrics``), so the keys
are the same: UA, RA, TA, MIA..., loss_MIA, forget_CE, and avg_gap, forget_loss_gap, JS_forget,
JS_test against a golden model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ftunlearn.data.sources import BatchHook, DataSource, as_source, is_streamed
from ftunlearn.data.splits import stratified_subsample
from ftunlearn.errors import UnlearnError
from ftunlearn.metrics.evaluate import (
    EXTRA_MIA_FEATURES,
    ModelOutputs,
    SetOutputs,
    golden_metrics,
    standalone_metrics,
)
from ftunlearn.metrics.mia import AttackSamples
from ftunlearn.params import GENERATOR_SEED_LIMIT, check_seed
from ftunlearn.training import (
    eval_mode,
    fast_memory_format,
    predict_batch,
    resolve_device,
    to_device,
)

OutputHook = Callable[[Any], torch.Tensor]


def set_outputs(model: nn.Module, data: Any, role: str, *, output: OutputHook | None = None,
                batch: BatchHook | None = None, device: str | torch.device = "auto",
                batch_size: int | None = None) -> SetOutputs:
    """Logits and per-sample cross-entropy of ``model`` on one set, read batch by batch."""
    from ftunlearn.methods.base import Samples, as_samples
    from ftunlearn.methods.checks import floating_dtype
    from ftunlearn.methods.inputs import default_output

    target = resolve_device(device)
    dtype = floating_dtype(model)
    source: DataSource | Samples = (as_source(data, role, batch).configured(dtype=dtype)
                                    if is_streamed(data) else as_samples(data, role, dtype=dtype))
    if len(source) == 0:
        raise UnlearnError(f"the {role} set is empty")
    hook = output or default_output
    batch_size = batch_size or predict_batch(target)
    model.to(target)
    logits, losses, labels = [], [], []
    if isinstance(source, DataSource):
        pieces = source.batches(batch_size, device=target)
    else:
        pieces = ((to_device(x, target), to_device(y, target))
                  for x, y in zip(source.x.split(batch_size), source.y.split(batch_size),
                                  strict=True))
    with eval_mode(model), torch.inference_mode(), fast_memory_format(model, target):
        for x, y in pieces:
            out = hook(model(x)).float()
            if out.dim() != 2 or int(y.max()) >= out.shape[1]:
                raise UnlearnError(f"{role}: the model's logits have shape {tuple(out.shape)}; "
                                   f"labels go up to {int(y.max())}")
            logits.append(out.cpu())
            losses.append(F.cross_entropy(out, y, reduction="none").cpu())
            labels.append(y.cpu())
    return SetOutputs(torch.cat(logits), torch.cat(losses), torch.cat(labels))


def _retain_outputs(model: nn.Module, retain: Any, cap: int | None, seed: int,
                    reading: dict[str, Any]) -> SetOutputs:
    """The outputs on ``evaluate``'s retain subsample (same labels and seed, same rows): only
    those rows are run when the set is tensors, every row of a streamed set is read."""
    from ftunlearn.methods.base import as_samples
    from ftunlearn.methods.checks import floating_dtype

    if is_streamed(retain):
        whole = set_outputs(model, retain, "retain", **reading)
        rows = torch.from_numpy(stratified_subsample(whole.labels.numpy(), cap, seed))
        return SetOutputs(whole.logits[rows], whole.losses[rows], whole.labels[rows])
    samples = as_samples(retain, "retain", dtype=floating_dtype(model))
    rows = torch.from_numpy(stratified_subsample(samples.y.cpu().numpy(), cap, seed))
    return set_outputs(model, (samples.x[rows], samples.y[rows]), "retain", **reading)


def sets_outputs(model: nn.Module, *, retain: Any, forget: Any, test: Any,
                 forgotten_classes: Sequence[int] = (), seed: int = 0,
                 extra_mia_features: Sequence[str] = EXTRA_MIA_FEATURES,
                 retain_samples: int | None = None,
                 attack_samples: AttackSamples = "auto",
                 **reading: Any) -> ModelOutputs:
    """:class:`ModelOutputs` of ``model`` on the three sets (``reading``: ``output``,
    ``batch``, ``device``, ``batch_size`` of :func:`set_outputs`); with ``retain_samples``,
    the retain set's are on ``evaluate``'s subsample."""
    outputs = {role: set_outputs(model, data, role, **reading)
               for role, data in (("forget", forget), ("test", test))}
    outputs["retain"] = _retain_outputs(model, retain, retain_samples, seed, reading)
    classes = tuple(int(c) for c in forgotten_classes)
    metrics = standalone_metrics(outputs["forget"], outputs["retain"], outputs["test"], classes,
                                 seed=seed, extra_mia_features=extra_mia_features,
                                 attack_samples=attack_samples)
    return ModelOutputs(outputs["forget"], outputs["retain"], outputs["test"], classes,
                        MappingProxyType(metrics))


def evaluate_sets(
    model: nn.Module,
    *,
    retain: Any,
    forget: Any,
    test: Any,
    golden: nn.Module | ModelOutputs | None = None,
    forgotten_classes: Sequence[int] = (),
    seed: int = 0,
    device: str | torch.device = "auto",
    batch_size: int | None = None,
    output: OutputHook | None = None,
    batch: BatchHook | None = None,
    extra_mia_features: Sequence[str] = EXTRA_MIA_FEATURES,
    retain_samples: int | None = None,
    attack_samples: AttackSamples = "auto",
) -> dict[str, float]:
    """The protocol's metrics of ``model`` on the caller's sets; with ``golden`` (a retrained
    model, or its :func:`sets_outputs`) the golden-relative ones too. ``forgotten_classes``
    marks class-wise forgetting (TA is then on the kept classes, TA_forgotten on the others);
    ``retain_samples`` and ``attack_samples`` are ``evaluate``'s."""
    seed = check_seed(seed, "evaluate_sets: seed", GENERATOR_SEED_LIMIT)  # not numpy's error
    reading = {"output": output, "batch": batch, "device": device, "batch_size": batch_size}
    common = {"forgotten_classes": forgotten_classes, "seed": seed,
              "extra_mia_features": extra_mia_features, "retain_samples": retain_samples,
              "attack_samples": attack_samples}
    mine = sets_outputs(model, retain=retain, forget=forget, test=test, **common, **reading)
    metrics = dict(mine.metrics)
    if golden is not None:
        theirs = golden if isinstance(golden, ModelOutputs) else sets_outputs(
            golden, retain=retain, forget=forget, test=test, **common, **reading)
        metrics.update(golden_metrics(mine, theirs))
    return metrics
