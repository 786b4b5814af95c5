"""Named experiments and sweeps: scenario x method x one swept parameter x trials -> flat rows.

A row is one (experiment, swept value, trial, model): ``experiment``, ``sweep`` (the swept key,
or ``""``), ``trial``, ``seed``, ``model``, the metrics of ``METRIC_NAMES``, every scenario and
method parameter under its own key, and ``lr`` (the gradient-descent step, ``None`` in the
limit). Trial ``t`` of seed ``s`` draws its scenario from ``numpy.random.default_rng([s, t])``
and its random replacement targets from ``default_rng([s, t, 1])``, so every swept value of a
method parameter sees the same draw, and the same seed gives the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ftunlearn.errors import UnlearnError
from ftunlearn.linear.metrics import METRIC_NAMES, evaluate
from ftunlearn.linear.models import MODEL_NAMES, MethodSpec, fit_models
from ftunlearn.linear.real import RealFeatureSpec
from ftunlearn.linear.scenarios import Scenario, SyntheticSpec, check_whole
from ftunlearn.linear.solvers import FactorCache

ScenarioSpec = SyntheticSpec | RealFeatureSpec
Row = dict[str, object]
TOTAL_SAMPLES_KEY = "n"
"""Sweeping ``n`` sets ``n_f + n_r = n`` and keeps their ratio (``n_f`` rounded, at least 1)."""


@dataclass(frozen=True)
class Sweep:
    """One parameter (a scenario or method field, or ``n``) and the values it takes."""

    key: str
    values: tuple[object, ...]


@dataclass(frozen=True)
class Experiment:
    """A scenario, a method, an optional sweep, and how many seeded trials to average."""

    name: str
    description: str
    scenario: ScenarioSpec
    method: MethodSpec = field(default_factory=MethodSpec)
    sweep: Sweep | None = None
    trials: int = 10
    seed: int = 0

    def points(self) -> list[tuple[ScenarioSpec, MethodSpec]]:
        """The validated (scenario, method) of every swept value, in sweep order."""
        check_whole("trials", self.trials, 1)
        check_whole("seed", self.seed, 0)
        values: Sequence[object] = (None,) if self.sweep is None else self.sweep.values
        if self.sweep is not None and not self.sweep.values:
            raise UnlearnError(f"the sweep over {self.sweep.key} has no values; give at least one")
        points = []
        for value in values:
            scenario, method = self.scenario, self.method
            if self.sweep is not None:
                scenario, method = apply_value(scenario, method, self.sweep.key, value)
            scenario.validate()
            method.validate()
            points.append((scenario, method))
        return points


def sweep_keys(scenario: ScenarioSpec) -> tuple[str, ...]:
    """The keys a sweep may vary for this kind of scenario."""
    fields = [f.name for f in dataclasses.fields(scenario) if f.name != "w_star"]
    fields += [f.name for f in dataclasses.fields(MethodSpec)]
    return (*fields, TOTAL_SAMPLES_KEY)


def apply_value(
    scenario: ScenarioSpec, method: MethodSpec, key: str, value: object
) -> tuple[ScenarioSpec, MethodSpec]:
    """``scenario`` and ``method`` with ``key`` set to ``value``."""
    if key == TOTAL_SAMPLES_KEY:
        total = int(value)  # type: ignore[call-overload]
        if total < 2:
            raise UnlearnError(f"n (total samples) must be >= 2 to hold both sets, got {total}")
        share = scenario.n_f / (scenario.n_f + scenario.n_r)
        n_f = min(max(1, round(total * share)), total - 1)
        return scenario.replace(n_f=n_f, n_r=total - n_f), method
    scenario_fields = {f.name for f in dataclasses.fields(scenario)}
    if key in scenario_fields and key != "w_star":
        return scenario.replace(**{key: value}), method
    if key in {f.name for f in dataclasses.fields(MethodSpec)}:
        return scenario, method.replace(**{key: value})
    raise UnlearnError(
        f"cannot sweep {key!r} for this scenario; sweepable keys: {', '.join(sweep_keys(scenario))}"
    )


def _build_scenario(
    spec: ScenarioSpec, rng: np.random.Generator, datasets: dict[tuple[str, str | None], object]
) -> Scenario:
    if isinstance(spec, SyntheticSpec):
        return spec.build(rng)
    key = (spec.dataset, spec.data_dir)
    if key not in datasets:
        datasets[key] = spec.load()
    return spec.build(rng, datasets[key])  # type: ignore[arg-type]


def run_experiment(
    experiment: Experiment,
    *,
    on_point: Callable[[], None] | None = None,
    datasets: dict[tuple[str, str | None], object] | None = None,
) -> list[Row]:
    """All rows of ``experiment``, ordered by swept value, trial and model.

    ``on_point`` is called after each (trial, value); ``datasets`` caches loaded datasets across
    experiments (keyed by name and folder).
    """
    points = experiment.points()
    datasets = {} if datasets is None else datasets
    sweep_key = experiment.sweep.key if experiment.sweep is not None else ""
    ordered: list[tuple[int, int, list[Row]]] = []
    for trial in range(experiment.trials):
        scenarios: dict[ScenarioSpec, tuple[Scenario, FactorCache]] = {}
        for index, (scenario_spec, method) in enumerate(points):
            if scenario_spec not in scenarios:
                rng = np.random.default_rng([experiment.seed, trial])
                built = _build_scenario(scenario_spec, rng, datasets)
                scenarios[scenario_spec] = (built, FactorCache())
            scenario, cache = scenarios[scenario_spec]
            targets_rng = np.random.default_rng([experiment.seed, trial, 1])
            fitted = fit_models(scenario, method, cache, targets_rng)
            metrics = evaluate(scenario, fitted)
            context: Row = {
                **scenario.params,
                **method.params(),
                "seed": experiment.seed,
                "lr": fitted.lr,
            }
            rows = [
                {
                    "experiment": experiment.name,
                    "sweep": sweep_key,
                    "trial": trial,
                    "model": model,
                    **metrics[model],
                    **context,
                }
                for model in MODEL_NAMES
            ]
            ordered.append((index, trial, rows))
            if on_point is not None:
                on_point()
    ordered.sort(key=lambda item: (item[0], item[1]))
    return [row for _, _, rows in ordered for row in rows]


def run_experiments(experiments: Sequence[Experiment], *, show_progress: bool = True) -> list[Row]:
    """The rows of every experiment in turn, with one progress bar (tqdm, on stderr)."""
    from tqdm import tqdm

    total = sum(len(e.points()) * e.trials for e in experiments)
    datasets: dict[tuple[str, str | None], object] = {}
    rows: list[Row] = []
    with tqdm(total=total, desc="theory", unit="draw", disable=not show_progress) as bar:
        for experiment in experiments:
            bar.set_postfix_str(experiment.name)
            rows += run_experiment(experiment, on_point=lambda: bar.update(1), datasets=datasets)
    return rows


def swept_value(row: Mapping[str, object]) -> object:
    """The value of the row's swept parameter (``None`` without a sweep)."""
    key = row["sweep"]
    return row[key] if key else None  # type: ignore[index]


def summarise(rows: Iterable[Mapping[str, object]]) -> list[Row]:
    """Mean and (population) std over trials per (experiment, swept value, model)."""
    groups: dict[tuple[object, ...], list[Mapping[str, object]]] = {}
    for row in rows:
        key = (row["experiment"], row["sweep"], swept_value(row), row["model"])
        groups.setdefault(key, []).append(row)
    summary: list[Row] = []
    for (experiment, sweep, value, model), members in groups.items():
        entry: Row = {
            "experiment": experiment,
            "sweep": sweep,
            "value": value,
            "model": model,
            "trials": len(members),
        }
        for metric in METRIC_NAMES:
            numbers = np.array([float(m[metric]) for m in members])  # type: ignore[arg-type]
            entry[f"{metric}_mean"] = float(numbers.mean())
            entry[f"{metric}_std"] = float(numbers.std())
        summary.append(entry)
    return summary


_BASE = SyntheticSpec(d_f=100, d_r=100, d_lap=60, n_f=30, n_r=60)
_TRAJECTORY_STEPS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


def _named() -> dict[str, Experiment]:
    finite = MethodSpec(steps=50)
    experiments = [
        Experiment(
            "overlap",
            "UL, RL and distance to golden against the overlap |O| / |F ∪ O| (limit of GD)",
            _BASE,
            sweep=Sweep("d_lap", (0, 5, 10, 20, 40, 60, 100, 150, 200, 300)),
        ),
        Experiment(
            "alpha",
            "discriminative regularisation with zero targets against α, 50 fine-tuning steps",
            _BASE,
            finite,
            sweep=Sweep("alpha", (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)),
        ),
        Experiment(
            "trajectory",
            "RL and UL along fine-tuning (0 to 10⁴ GD steps) from each model's start",
            _BASE,
            sweep=Sweep("steps", _TRAJECTORY_STEPS),
        ),
        Experiment(
            "noise",
            "label noise σ in the overlapping scenario (limit of GD)",
            _BASE,
            sweep=Sweep("sigma", (0.0, 0.1, 0.2, 0.5, 1.0)),
        ),
        Experiment(
            "samples",
            "total samples n = n_f + n_r (ratio 1:2) across the interpolation threshold, σ = 0.1",
            dataclasses.replace(_BASE, interpolate=False, sigma=0.1),
            sweep=Sweep(TOTAL_SAMPLES_KEY, (30, 60, 90, 150, 210, 300, 450, 600, 900)),
        ),
        Experiment(
            "ridge",
            "ridge λ (pulling each training towards its start), limit of GD",
            _BASE,
            sweep=Sweep("ridge", (0.0, 0.001, 0.01, 0.1, 1.0)),
        ),
        Experiment(
            "targets",
            "replacement targets of discriminative regularisation (limit of GD)",
            _BASE,
            sweep=Sweep("dr_targets", ("zero", "random", "permuted")),
        ),
        Experiment(
            "distinct", "distinct features, d_lap = 0 (R2, R4)", dataclasses.replace(_BASE, d_lap=0)
        ),
        Experiment(
            "illustrative",
            "docs/theory.md's illustrative draw: d_f = d_r = 100, n_f = 30, n_r = 60, d_lap = 60",
            _BASE,
            trials=20,
        ),
        Experiment(
            "digits",
            "digits, 500 random ReLU features, forget 40 images of class 0, keep 300 others",
            RealFeatureSpec(dataset="digits", features="relu", n_features=500),
            trials=5,
        ),
        Experiment(
            "fashion-mnist",
            "Fashion-MNIST pixels, forget 100 images of class 0, keep 500 others",
            RealFeatureSpec(
                dataset="fashion-mnist", features="pixels", n_f=100, n_r=500, n_test=1000
            ),
            trials=3,
        ),
    ]
    return {experiment.name: experiment for experiment in experiments}


EXPERIMENTS: Mapping[str, Experiment] = MappingProxyType(_named())
DEFAULT_SWEEP: tuple[str, ...] = ("overlap", "alpha", "trajectory")
"""What ``ftunlearn theory`` runs without an experiment name: the three figures of issue 3."""


def is_number(value: object) -> bool:
    """True for real numbers (bool excluded), which a plot can place on a numeric axis."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
