"""One trial's evaluation: a method with some hyperparameters, on every tuning seed.

This module knows nothing of Optuna: it turns hyperparameters into an :class:`Evaluation`
(complete with a value, pruned, or failed with a reason), so the same function runs in the
driver or in a Ray task. Avg Gap is the one ``ftunlearn.metrics`` computes for every cell
against its seed's golden model (``avg_gap`` in the cell's metrics); it is not recomputed here.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.cells import Cell, run_cell
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.pseudo import GOLDEN
from ftunlearn.experiments.workspace import Workspace
from ftunlearn.methods import make_config
from ftunlearn.tuning.space import finite

OBJECTIVES: dict[str, Literal["minimize", "maximize"]] = {
    "avg-gap": "minimize", "audit": "maximize"}
"""Each objective and its direction: mean Avg Gap (lower is better) or the per-example audit's
final score (higher is better)."""

PRUNE_RA_DROP = 25.0
"""A trial whose retain accuracy on its first tuning seed lies more than this many percentage
points below that seed's golden RA is pruned: its model is broken (its Avg Gap is at least a
quarter of the drop) and further seeds cannot rescue the mean."""

TRIAL_METRICS = "primary"
"""A trial computes the main table's metrics alone: its objective, its pruning rule and its
record read nothing else, and the diagnostics (the cross-validated attacks) cost most of a
small model's evaluation."""

State = Literal["complete", "pruned", "failed"]


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a study shares (picklable, so it travels to Ray workers)."""

    method: str
    seeds: tuple[int, ...]
    objective: str = "avg-gap"
    golden_ra: Mapping[int, float] = field(default_factory=dict)
    """Each tuning seed's golden RA, for the pruning rule (no pruning where it is missing)."""
    prune_ra_drop: float | None = PRUNE_RA_DROP
    audit_ensemble: int = 8
    cache_dir: str = ""


@dataclass(frozen=True)
class Evaluation:
    """A trial's outcome: its value (mean over seeds), the per-seed values and mean metrics."""

    state: State
    value: float | None = None
    per_seed: Mapping[int, float] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""


def resolve(method: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of ``method`` with ``values`` applied (raises UnlearnError)."""
    return make_config(method, values).to_dict()


def golden_retain_accuracy(workspace: Workspace, seeds: Sequence[int]) -> dict[int, float]:
    """Each seed's golden RA (the golden row's cell, trained or read from the cache here, so the
    trials that follow find every model ready)."""
    accuracies = {}
    for seed in seeds:
        result = run_cell(workspace, Cell(GOLDEN, seed), metrics=TRIAL_METRICS)
        if result.status != "ok":
            first = (result.error or "").splitlines()[0]
            raise UnlearnError(f"the golden model of tuning seed {seed} failed: {first}")
        accuracies[seed] = float(result.metrics["RA"])
    return accuracies


def evaluate(workspace: Workspace, settings: TrialSettings, values: Mapping[str, Any]
             ) -> Evaluation:
    """Run the trial ``values`` on every tuning seed and score it by the objective."""
    try:
        hyperparameters = resolve(settings.method, values)
    except UnlearnError as error:
        return Evaluation("failed", reason=f"invalid hyperparameters: {error}")
    if settings.objective == "audit":
        return _evaluate_audit(workspace.config, settings, hyperparameters)
    per_seed: dict[int, float] = {}
    sums: dict[str, float] = {}
    for index, seed in enumerate(settings.seeds):
        result = run_cell(workspace, Cell(settings.method, seed, hyperparameters),
                          metrics=TRIAL_METRICS)
        if result.status != "ok":
            first = (result.error or "unknown error").splitlines()[0]
            return Evaluation("failed", per_seed=per_seed, reason=f"seed {seed}: {first}")
        gap = result.metrics.get("avg_gap")
        if not finite(gap):
            return Evaluation("failed", per_seed=per_seed,
                              reason=f"seed {seed}: Avg Gap is not a finite number ({gap})")
        per_seed[seed] = float(gap)  # type: ignore[arg-type]
        for key in ("UA", "RA", "TA", "MIA"):
            if finite(result.metrics.get(key)):
                sums[key] = sums.get(key, 0.0) + float(result.metrics[key])
        golden_ra = settings.golden_ra.get(seed)
        if (index == 0 and settings.prune_ra_drop is not None and golden_ra is not None
                and len(settings.seeds) > 1
                and result.metrics.get("RA", math.inf) < golden_ra - settings.prune_ra_drop):
            return Evaluation(
                "pruned", value=per_seed[seed], per_seed=per_seed,
                reason=f"seed {seed}: RA {result.metrics['RA']:.1f} is more than "
                       f"{settings.prune_ra_drop:g} points below the golden's {golden_ra:.1f}")
    mean = sum(per_seed.values()) / len(per_seed)
    metrics = {key: total / len(per_seed) for key, total in sums.items()}
    return Evaluation("complete", value=mean, per_seed=per_seed, metrics=metrics)


def _evaluate_audit(config: BenchConfig, settings: TrialSettings,
                    hyperparameters: Mapping[str, Any]) -> Evaluation:
    """The per-example audit's final score of the method, averaged over the tuning seeds (each
    one the audit's split seed), its files written to a temporary folder."""
    from ftunlearn.experiments.audit import run_audit

    single = config.replace(methods=(settings.method,),
                            hyperparameters={settings.method: dict(hyperparameters)})
    per_seed: dict[int, float] = {}
    for seed in settings.seeds:
        with tempfile.TemporaryDirectory(prefix="ftunlearn-tune-audit-") as folder:
            try:
                outcome = run_audit(single, folder, settings.audit_ensemble, seed=seed,
                                    cache_dir=settings.cache_dir or None)
            except (UnlearnError, RuntimeError, ValueError) as error:
                return Evaluation("failed", per_seed=per_seed,
                                  reason=f"seed {seed}: {type(error).__name__}: {error}")
        score = outcome.rows[settings.method].values.get("final_score")
        if not finite(score):
            return Evaluation("failed", per_seed=per_seed,
                              reason=f"seed {seed}: the audit's final score is {score}")
        per_seed[seed] = float(score)
    return Evaluation("complete", value=sum(per_seed.values()) / len(per_seed),
                      per_seed=per_seed)
