"""Experiments and sweeps: row schema, determinism by seed, sweep semantics, summaries."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ftunlearn.errors import UnlearnError
from ftunlearn.linear.experiments import (
    DEFAULT_SWEEP,
    EXPERIMENTS,
    Experiment,
    Sweep,
    apply_value,
    run_experiment,
    summarise,
)
from ftunlearn.linear.metrics import METRIC_NAMES
from ftunlearn.linear.models import MODEL_NAMES, MethodSpec
from ftunlearn.linear.scenarios import SyntheticSpec

SMALL = SyntheticSpec(d_f=8, d_r=8, d_lap=4, n_f=3, n_r=6, n_test=20)
REQUIRED_KEYS = {
    "experiment", "trial", "model", *METRIC_NAMES,
    "d_f", "d_r", "d_lap", "d_extra", "n_f", "n_r", "sigma", "alpha", "steps",
}  # fmt: skip


def small(sweep: Sweep | None = None, seed: int = 0, **method) -> Experiment:
    return Experiment("small", "test", SMALL, MethodSpec(**method), sweep, trials=2, seed=seed)


def test_rows_are_flat_and_complete_in_sweep_trial_model_order() -> None:
    rows = run_experiment(small(Sweep("alpha", (0.1, 1.0)), steps=5))
    assert len(rows) == 2 * 2 * len(MODEL_NAMES)
    assert all(set(row) >= REQUIRED_KEYS for row in rows)
    assert all(not isinstance(v, dict | list) for row in rows for v in row.values())
    order = [(row["alpha"], row["trial"], row["model"]) for row in rows]
    expected = [(a, t, m) for a in (0.1, 1.0) for t in (0, 1) for m in MODEL_NAMES]
    assert order == expected
    assert {row["sweep"] for row in rows} == {"alpha"}


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first = run_experiment(small(seed=3))
    assert first == run_experiment(small(seed=3))
    other = run_experiment(small(seed=4))
    assert [r["UL"] for r in first] != [r["UL"] for r in other]


def test_method_sweep_sees_the_same_draw_for_every_value() -> None:
    rows = run_experiment(small(Sweep("alpha", (0.2, 0.9)), steps=3))
    golden = [r["UL"] for r in rows if r["model"] == "golden"]
    assert golden[:2] == golden[2:]  # (alpha 0.2: trials 0, 1) == (alpha 0.9: trials 0, 1)
    dr = [r["UL"] for r in rows if r["model"] == "dr"]
    assert dr[:2] != dr[2:]


def test_sweeping_total_samples_keeps_the_ratio() -> None:
    scenario, _ = apply_value(SMALL, MethodSpec(), "n", 12)
    assert (scenario.n_f, scenario.n_r) == (4, 8)
    with pytest.raises(UnlearnError, match="cannot sweep 'bogus'"):
        apply_value(SMALL, MethodSpec(), "bogus", 1)


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (Sweep("alpha", (0.5, 0.0)), "alpha must be in \\(0, 1\\]"),
        (Sweep("alpha", (1.5,)), "alpha must be in \\(0, 1\\]"),
        (Sweep("n_r", (13,)), "n_r = 13 exceeds d_r \\+ d_lap"),
        (Sweep("d_f", (-2,)), "d_f must be >= 0"),
        (Sweep("steps", (-1,)), "steps must be >= 0 \\(a whole number\\) or none"),
        (Sweep("d_lap", ()), "has no values"),
    ],
)
def test_every_swept_configuration_is_validated_before_running(sweep, message) -> None:
    with pytest.raises(UnlearnError, match=message):
        small(sweep).points()


def test_summary_means_and_stds_over_trials() -> None:
    rows = run_experiment(small())
    summary = summarise(rows)
    assert len(summary) == len(MODEL_NAMES)
    entry = next(e for e in summary if e["model"] == "golden")
    values = np.array([r["UL"] for r in rows if r["model"] == "golden"])
    assert entry["UL_mean"] == pytest.approx(values.mean())
    assert entry["UL_std"] == pytest.approx(values.std())
    assert entry["trials"] == 2


def test_named_experiments_are_valid_and_the_default_sweep_exists() -> None:
    assert set(DEFAULT_SWEEP) <= set(EXPERIMENTS)
    for experiment in EXPERIMENTS.values():
        experiment.points()


def test_default_experiments_show_the_paper_effects() -> None:
    """Limit of GD, overlap: FT keeps UL = 0, golden does not; zero-target DR over-forgets."""
    experiment = dataclasses.replace(EXPERIMENTS["illustrative"], trials=3)
    summary = {e["model"]: e for e in summarise(run_experiment(experiment))}
    assert summary["ft"]["UL_mean"] < 1e-20 < summary["golden"]["UL_mean"]
    assert summary["ft"]["gap_mean"] == pytest.approx(summary["golden"]["UL_mean"])
    assert summary["dr"]["RL_mean"] < 1e-20
