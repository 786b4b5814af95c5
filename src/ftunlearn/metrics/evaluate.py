"""The evaluation protocol (docs/protocol.md) applied to a model on a dataset split.

``model_outputs`` runs a model once over D_f, D_r and D_test and keeps what later comparisons
need; ``evaluate`` turns a model (and optionally the golden model's outputs) into one result
row of metrics. Metric keys:

- always: ``UA``, ``RA`` (on all of D_r, or on a seeded, label-stratified subsample of at most
  ``retain_samples``), ``TA``, ``MIA`` (confidence feature, RBF SVC), ``MIA_entropy``,
  ``MIA_m_entropy``, ``MIA_loss`` (the other features, unless left out), ``loss_MIA``,
  ``forget_CE`` (mean cross-entropy on D_f);
- class-wise splits (``split.forgotten_classes`` not empty): ``TA`` is on the test samples of
  the kept classes and ``TA_forgotten`` on those of the forgotten classes (NaN when the test set
  has none); MIA non-members are the whole test set unless ``mia_non_members="kept-classes"``;
- ``MIA_attack_acc``: the confidence attack's own cross-validated accuracy (50 is chance);
- with ``golden``: ``avg_gap``, ``forget_loss_gap``, ``JS_forget``, ``JS_test``;
- ``max_logit``: the largest |logit| over D_f, D_r and D_test (a diverged model's is huge);
- with ``rte_seconds``: ``rte_seconds``, and ``rte_ratio`` when ``retrain_seconds`` is given too;
- with ``weights_changed``: ``weights_changed`` (0 means the model is bit-identical to its input).

``metrics="primary"`` (``registry.MetricSelection``) keeps only the main table's keys and what
Avg Gap averages, and skips computing the rest (a tuning trial reads nothing else).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

import torch
from torch import nn

from ftunlearn.data.dataset import Dataset
from ftunlearn.data.splits import stratified_subsample
from ftunlearn.errors import UnlearnError
from ftunlearn.metrics.mia import AttackSamples
from ftunlearn.metrics.outputs import ModelOutputs, SetOutputs
from ftunlearn.metrics.registry import (
    METRICS,
    MetricInputs,
    MetricSelection,
    NonMembers,
    compute_stage,
    selected,
)
from ftunlearn.params import GENERATOR_SEED_LIMIT, check_seed
from ftunlearn.training import predict

MIA_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "confidence": "MIA",
        "entropy": "MIA_entropy",
        "modified_entropy": "MIA_m_entropy",
        "loss": "MIA_loss",
    }
)
"""The metric key under which each MIA feature's efficacy is reported."""

EXTRA_MIA_FEATURES: tuple[str, ...] = ("entropy", "modified_entropy", "loss")
"""MIA features reported besides the default (confidence) one, unless asked otherwise."""


class SplitLike(Protocol):
    """What evaluation needs from a forget/retain split of the training set."""

    @property
    def forget(self) -> torch.Tensor: ...

    @property
    def retain(self) -> torch.Tensor: ...

    @property
    def forgotten_classes(self) -> tuple[int, ...]: ...


def _index_vector(indices: torch.Tensor, name: str, n_train: int) -> torch.Tensor:
    if not isinstance(indices, torch.Tensor) or indices.ndim != 1:
        raise UnlearnError(f"split.{name} must be a 1-d tensor of training-set indices")
    if indices.dtype.is_floating_point or indices.dtype == torch.bool:
        raise UnlearnError(f"split.{name} must hold integer indices, got dtype {indices.dtype}")
    if indices.numel() == 0:
        raise UnlearnError(f"split.{name} is empty: the {name} set needs at least one sample")
    if int(indices.min()) < 0 or int(indices.max()) >= n_train:
        raise UnlearnError(
            f"split.{name} has indices outside [0, {n_train}); was the split made for another "
            "dataset?"
        )
    return indices.long().cpu()


def _checked_split(
    dataset: Dataset, split: SplitLike
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    forget = _index_vector(split.forget, "forget", dataset.n_train)
    retain = _index_vector(split.retain, "retain", dataset.n_train)
    if bool(torch.isin(forget, retain).any()):
        raise UnlearnError("split.forget and split.retain overlap; they must be disjoint")
    classes = tuple(int(c) for c in split.forgotten_classes)
    bad = [c for c in classes if not 0 <= c < dataset.num_classes]
    if bad:
        raise UnlearnError(f"split.forgotten_classes {bad} lie outside [0, {dataset.num_classes})")
    if dataset.n_test == 0:
        raise UnlearnError(f"dataset {dataset.name!r} has an empty test set")
    return forget, retain, classes


def _set_outputs(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int | None, device: str
) -> SetOutputs:
    predictions = predict(model, x, y, batch_size=batch_size, device=device)
    assert predictions.losses is not None  # predict returns losses whenever labels are given
    return SetOutputs(predictions.logits, predictions.losses, y.long().cpu())


def standalone_metrics(
    forget: SetOutputs,
    retain: SetOutputs,
    test: SetOutputs,
    forgotten_classes: Sequence[int] = (),
    *,
    seed: int = 0,
    extra_mia_features: Sequence[str] = EXTRA_MIA_FEATURES,
    mia_non_members: NonMembers = "test",
    attack_samples: AttackSamples = "auto",
    mia_attack: str = "svc",
    metrics: MetricSelection = "all",
) -> dict[str, float]:
    """The metrics of one model that need no golden model (see the module docs for keys);
    ``attack_samples``: how many members and non-members the MIA attacks are fitted on
    (``mia.fit_size``); ``mia_attack``: their classifier (``mia.MIA_ATTACKS``); ``metrics``:
    all of them, or the main table's alone (``registry.MetricSelection``)."""
    if metrics not in typing.get_args(MetricSelection):
        raise UnlearnError(f"metrics must be one of {typing.get_args(MetricSelection)}, got "
                           f"{metrics!r}")
    if mia_non_members not in typing.get_args(NonMembers):
        raise UnlearnError(f"mia_non_members must be one of {typing.get_args(NonMembers)}, got "
                           f"{mia_non_members!r}")
    unknown = [f for f in extra_mia_features if f not in MIA_KEYS]
    if unknown:
        raise UnlearnError(f"unknown MIA feature(s) {unknown}; choose among {', '.join(MIA_KEYS)}")
    inputs = MetricInputs(forget, retain, test, tuple(forgotten_classes), seed=seed,
                          mia_features=tuple(extra_mia_features), mia_non_members=mia_non_members,
                          attack_samples=attack_samples, mia_attack=mia_attack)
    return compute_stage("model", inputs, metrics)


def model_outputs(
    model: nn.Module,
    dataset: Dataset,
    split: SplitLike,
    *,
    seed: int = 0,
    device: str = "auto",
    batch_size: int | None = None,
    extra_mia_features: Sequence[str] = EXTRA_MIA_FEATURES,
    mia_non_members: NonMembers = "test",
    retain_samples: int | None = None,
    attack_samples: AttackSamples = "auto",
    mia_attack: str = "svc",
    metrics: MetricSelection = "all",
) -> ModelOutputs:
    """Run ``model`` over the split's forget, retain and test sets and compute its standalone
    metrics; ``seed`` draws the MIA member sample and the loss-MIA folds. ``retain_samples``
    evaluates on at most that many retain samples (a seeded, label-stratified subsample, the
    same for every model of a seed): cheaper, at the cost of RA's sampling error (binomial,
    at most 50/sqrt(n) points; docs/performance.md, "Evaluation cost"). ``metrics="primary"``
    computes only the main table's metrics."""
    forget_idx, retain_idx, classes = _checked_split(dataset, split)
    rows = stratified_subsample(dataset.y_train[retain_idx].numpy(), retain_samples, seed)
    retain_idx = retain_idx[torch.from_numpy(rows)]

    def outputs(x: torch.Tensor, y: torch.Tensor) -> SetOutputs:
        return _set_outputs(model, x, y, batch_size=batch_size, device=device)

    forget = outputs(dataset.x_train[forget_idx], dataset.y_train[forget_idx])
    retain = outputs(dataset.x_train[retain_idx], dataset.y_train[retain_idx])
    test = outputs(dataset.x_test, dataset.y_test)
    metrics = standalone_metrics(
        forget, retain, test, classes, seed=seed, extra_mia_features=extra_mia_features,
        mia_non_members=mia_non_members, attack_samples=attack_samples, mia_attack=mia_attack,
        metrics=metrics,
    )
    return ModelOutputs(forget, retain, test, classes, MappingProxyType(metrics))


def golden_metrics(outputs: ModelOutputs, golden: ModelOutputs,
                   metrics: MetricSelection = "all") -> dict[str, float]:
    """``avg_gap``, ``forget_loss_gap``, ``JS_forget`` and ``JS_test`` of ``outputs`` against
    the golden model's outputs on the same split (those of them in ``metrics``)."""
    same_split = outputs.forgotten_classes == golden.forgotten_classes and all(
        torch.equal(mine.labels, theirs.labels)
        for mine, theirs in (
            (outputs.forget, golden.forget),
            (outputs.retain, golden.retain),
            (outputs.test, golden.test),
        )
    )
    if not same_split:
        raise UnlearnError(
            "the golden outputs were computed on a different split (their forget, retain or "
            "test labels differ); compute them with model_outputs on the same dataset and split"
        )
    inputs = MetricInputs(outputs.forget, outputs.retain, outputs.test,
                          outputs.forgotten_classes, own=outputs.metrics, golden=golden)
    return compute_stage("golden", inputs, metrics)


def timing_metrics(
    rte_seconds: float | None = None, retrain_seconds: float | None = None,
    weights_changed: int | None = None, metrics: MetricSelection = "all",
) -> dict[str, float]:
    """``rte_seconds`` when given; ``rte_ratio`` = rte / retrain when both are given;
    ``weights_changed`` when given."""
    empty = SetOutputs(torch.empty(0, 0), torch.empty(0), torch.empty(0, dtype=torch.long))
    inputs = MetricInputs(empty, empty, empty, (), rte_seconds=rte_seconds,
                          retrain_seconds=retrain_seconds, weights_changed=weights_changed)
    return compute_stage("timing", inputs, metrics)


def outputs_metrics(
    outputs: ModelOutputs,
    *,
    golden: ModelOutputs | None = None,
    rte_seconds: float | None = None,
    retrain_seconds: float | None = None,
    weights_changed: int | None = None,
    metrics: MetricSelection = "all",
) -> dict[str, float]:
    """One result row from a model's ``model_outputs``: its standalone metrics, those against
    ``golden`` (when given) and the timing ones, each in ``metrics``."""
    result = {name: value for name, value in outputs.metrics.items()
              if selected(METRICS.get(name), metrics)}
    if golden is not None:
        result.update(golden_metrics(outputs, golden, metrics))
    result.update(timing_metrics(rte_seconds, retrain_seconds, weights_changed, metrics))
    return result


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    split: SplitLike,
    *,
    golden: ModelOutputs | None = None,
    seed: int = 0,
    device: str = "auto",
    rte_seconds: float | None = None,
    retrain_seconds: float | None = None,
    batch_size: int | None = None,
    extra_mia_features: Sequence[str] = EXTRA_MIA_FEATURES,
    mia_non_members: NonMembers = "test",
    retain_samples: int | None = None,
    attack_samples: AttackSamples = "auto",
    mia_attack: str = "svc",
    weights_changed: int | None = None,
    metrics: MetricSelection = "all",
) -> dict[str, float]:
    """One result row of metrics for ``model`` on ``split`` of ``dataset`` (keys: module docs).

    ``golden`` holds the golden model's ``model_outputs`` on the same split, with the same
    ``seed`` and ``retain_samples``; computing it once and passing it to every method's
    evaluation avoids re-running the golden model. ``metrics="primary"``: only the main
    table's metrics, without the costlier diagnostics (the cross-validated attacks).
    """
    seed = check_seed(seed, "evaluate: seed", GENERATOR_SEED_LIMIT)  # not numpy's own error
    outputs = model_outputs(
        model,
        dataset,
        split,
        seed=seed,
        device=device,
        batch_size=batch_size,
        extra_mia_features=extra_mia_features,
        mia_non_members=mia_non_members,
        retain_samples=retain_samples,
        attack_samples=attack_samples,
        mia_attack=mia_attack,
        metrics=metrics,
    )
    return outputs_metrics(outputs, golden=golden, rte_seconds=rte_seconds,
                           retrain_seconds=retrain_seconds, weights_changed=weights_changed,
                           metrics=metrics)
