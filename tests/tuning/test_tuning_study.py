"""The studies: resume with every finished trial kept, the same seed the same trials, failed and
pruned trials recorded while the study goes on, and the outputs."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from figure_helpers import figure_formats
from ftunlearn.experiments.config import config_from_mapping, load_toml
from ftunlearn.experiments.plots import FORMATS
from ftunlearn.tuning import objective, outputs
from ftunlearn.tuning.study import TuneSettings, study_name, tune

pytestmark = pytest.mark.usefixtures("no_figures")
DRAW_FIGURES = outputs._write_figures


def _settings(cache: Path, **changes) -> TuneSettings:
    return TuneSettings(**{"trials": 3, "cache_dir": cache, "progress": False, "threads": 1,
                           **changes})


def _trials(out: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'optuna.db'}"
                             ).get_trials()


def _summary(outcome) -> list[tuple]:
    return [(s.method, [(t.number, t.state, t.params, t.value) for t in s.trials])
            for s in outcome.studies]


@pytest.fixture(scope="module")
def full_run(tiny_config, tune_cache, tmp_path_factory):
    """Three trials per method in one go (the reference the other runs are compared with)."""
    out = tmp_path_factory.mktemp("full")
    with pytest.MonkeyPatch.context() as patch, figure_formats(FORMATS):
        patch.setattr(outputs, "_write_figures", DRAW_FIGURES)  # this run's figures are checked
        return tune(tiny_config, out, _settings(tune_cache))


def test_a_resumed_study_keeps_its_trials_and_runs_only_the_missing_one(
        full_run, tiny_config, tune_cache, tmp_path):
    first = tune(tiny_config, tmp_path, _settings(tune_cache, trials=2))
    kept = {s.method: [(t.params, t.value) for t in s.trials] for s in first.studies}
    second = tune(tiny_config, tmp_path, _settings(tune_cache, trials=3))
    for study in second.studies:
        assert len(study.trials) == 3
        assert [(t.params, t.value) for t in study.trials[:2]] == kept[study.method]
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    # per-trial sampler seeds: the resumed study drew what the uninterrupted one did
    assert _summary(second) == _summary(full_run)
    again = tune(tiny_config, tmp_path, _settings(tune_cache, trials=3))
    assert _summary(again) == _summary(second)  # nothing left to run


def test_the_same_seed_gives_the_same_best_trial(full_run, tiny_config, tune_cache, tmp_path):
    other = tune(tiny_config, tmp_path / "a", _settings(tune_cache))
    for mine, theirs in zip(other.studies, full_run.studies, strict=True):
        assert mine.study_name == theirs.study_name
        assert mine.best.number == theirs.best.number
        assert mine.best.params == theirs.best.params
        assert mine.best.value == pytest.approx(theirs.best.value)
    shifted = _settings(tune_cache, sampler_seed=7)
    assert study_name(tiny_config, "ft", shifted) != full_run.studies[0].study_name
    wider = _settings(tune_cache, trials=50)  # a larger budget continues the same study
    assert study_name(tiny_config, "ft", wider) == full_run.studies[0].study_name


def test_an_interrupted_trial_does_not_count_and_is_retried(tiny_config, tune_cache, tmp_path,
                                                            monkeypatch):
    config = tiny_config.replace(methods=("ft",), hyperparameters={"ft": {"epochs": 1}})
    calls = []
    real = objective.evaluate

    def interrupt_second(workspace, settings, values):
        calls.append(values)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(workspace, settings, values)

    from ftunlearn.tuning import study as study_module

    monkeypatch.setattr(study_module, "evaluate", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        tune(config, tmp_path, _settings(tune_cache, trials=2))
    monkeypatch.setattr(study_module, "evaluate", real)
    outcome = tune(config, tmp_path, _settings(tune_cache, trials=2))
    [study] = outcome.studies
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[1].user_attrs["interrupted"] is True
    assert study.trials[2].params == study.trials[1].params  # retried
    assert study.counted(TrialState.COMPLETE) == 2 and study.counted(TrialState.FAIL) == 0


def test_a_trial_left_running_by_a_dead_process_is_failed_and_retried(
        tiny_config, tune_cache, tmp_path):
    config = tiny_config.replace(methods=("ft",), hyperparameters={"ft": {"epochs": 1}})
    [study] = tune(config, tmp_path, _settings(tune_cache, trials=1)).studies
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = optuna.load_study(study_name=study.study_name,
                             storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    orphan = live.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    orphan.set_user_attr("owner", f"{socket.gethostname()}:{dead.pid}")
    assert dead.pid != os.getpid()
    [study] = tune(config, tmp_path, _settings(tune_cache, trials=2)).studies
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL,
                                               TrialState.COMPLETE]
    assert "process stopped" in study.trials[1].user_attrs["reason"]
    assert study.trials[2].params["lr"] == orphan.params["lr"]


def test_a_nan_trial_is_failed_with_its_reason_and_the_study_goes_on(
        tiny_config, tune_cache, tmp_path, monkeypatch):
    config = tiny_config.replace(methods=("ft",), hyperparameters={"ft": {"epochs": 1}})
    real = objective.run_cell
    broken = []

    def nan_first_trial(workspace, cell, **kwargs):
        result = real(workspace, cell, **kwargs)
        if cell.method == "ft" and not broken:
            broken.append(cell)
            return dataclasses.replace(result, status="failed", metrics={}, error=(
                "UnlearnError: method 'ft' produced non-finite weights (loss is nan)"))
        return result

    monkeypatch.setattr(objective, "run_cell", nan_first_trial)
    [study] = tune(config, tmp_path, _settings(tune_cache)).studies
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE,
                                               TrialState.COMPLETE]
    assert "non-finite weights" in study.trials[0].user_attrs["reason"]
    assert study.best is not None and study.best.number in (1, 2)
    [row] = csv.DictReader((tmp_path / "summary.csv").open())
    assert (row["trials_complete"], row["trials_pruned"], row["trials_failed"]) == ("2", "0",
                                                                                   "1")


def test_a_collapsed_trial_is_pruned_after_its_first_seed(tiny_config, tune_cache, tmp_path):
    config = tiny_config.replace(methods=("ft",), hyperparameters={"ft": {"epochs": 1}})
    # a drop of -100 points: every RA counts as collapsed, so every trial is pruned
    [study] = tune(config, tmp_path, _settings(tune_cache, trials=2,
                                               prune_ra_drop=-100.0)).studies
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    assert all(list(t.user_attrs["per_seed"]) == ["100"] for t in study.trials)
    assert "below the golden" in study.trials[0].user_attrs["reason"]
    assert study.best is None
    assert "# No complete trial (defaults kept): ft." in (tmp_path / "tuned.toml").read_text()


def test_the_outputs(full_run) -> None:
    out = full_run.out_dir
    values = load_toml(out / "tuned.toml")
    config = config_from_mapping(values)
    assert config.seeds == (0, 1, 2)
    assert config.tuning["seeds"] == [100, 101]
    assert config.tuning["objective"] == "avg-gap" and config.tuning["trials"] == 3
    for study in full_run.studies:
        assert dict(config.hyperparameters[study.method]) == study.tuned
        assert config.tuning["best"][study.method] == pytest.approx(study.best.value)
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["method"] for r in rows] == ["ft", "dr-ft"]
    assert json.loads(rows[0]["tuned_hyperparameters"]) == full_run.studies[0].tuned
    assert json.loads(rows[1]["default_hyperparameters"])["alpha"] == 0.2
    assert rows[0]["trials_complete"] == "3" and rows[0]["trials_failed"] == "0"
    for stem in ("history-ft", "history-dr-ft", "importance-ft", "importance-dr-ft"):
        for fmt in ("png", "svg", "pdf"):
            assert (out / "figures" / f"{stem}.{fmt}").stat().st_size > 0
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and 'src="figures' not in html
    markdown = (out / "report.md").read_text()
    assert "## dr-ft" in markdown and "| alpha | 0.2 |" in markdown


@pytest.mark.usefixtures("few_null_draws")  # the objective's wiring, not its p-values
def test_the_audit_objective_maximises_the_audits_final_score(tiny_config, tune_cache,
                                                              tmp_path):
    config = tiny_config.replace(methods=("ft",), hyperparameters={"ft": {"epochs": 1}})
    [study] = tune(config, tmp_path, _settings(tune_cache, trials=1, seeds=(100,),
                                               objective="audit", audit_ensemble=4)).studies
    assert study.direction == "maximize"
    [trial] = study.trials
    assert trial.state == TrialState.COMPLETE and 0 <= trial.value <= 2
    assert list(trial.user_attrs["per_seed"]) == ["100"]
