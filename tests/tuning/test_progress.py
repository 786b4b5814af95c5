"""What a tuning run shows while and after it runs: one progress bar over every method's trials
(starting where a resumed run stopped), Optuna's trial numbers going on across a resume, an
interrupted run's summary counting the cut trial, and the caveat on importances from few trials."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ftunlearn.tuning import objective, outputs
from ftunlearn.tuning import study as study_module
from ftunlearn.tuning.figures import IMPORTANCE_MIN_TRIALS
from ftunlearn.tuning.study import TuneSettings, tune


def _settings(cache: Path, **changes) -> TuneSettings:
    return TuneSettings(**{"trials": 2, "cache_dir": cache, "progress": False, "threads": 1,
                           **changes})


def _ft_only(config):
    return config.replace(methods=("ft",), hyperparameters={"ft": {"epochs": 1}})


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with (out / "summary.csv").open(newline="") as file:
        return {row["method"]: row for row in csv.DictReader(file)}


@pytest.mark.usefixtures("no_figures")
def test_trial_numbers_go_on_across_a_resume(tiny_config, tune_cache, tmp_path, capsys) -> None:
    config = _ft_only(tiny_config)
    tune(config, tmp_path, _settings(tune_cache, trials=2))
    capsys.readouterr()
    [study] = tune(config, tmp_path, _settings(tune_cache, trials=4)).studies
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    printed = re.findall(r"trial ft #(\d+)", capsys.readouterr().err)
    assert printed == ["2", "3"]  # the resumed run's trials, never renumbered from 0


@pytest.mark.usefixtures("no_figures")
def test_one_bar_over_every_methods_trials_starts_at_the_finished_ones(
        tiny_config, tune_cache, tmp_path) -> None:
    settings = _settings(tune_cache, trials=3)
    tune(tiny_config, tmp_path, _settings(tune_cache, trials=1))  # one trial per method done
    storage = optuna.storages.RDBStorage(settings.storage_url(tmp_path))
    with study_module._overall_bar(tiny_config, settings, storage) as bar:
        assert (bar.n, bar.total) == (2, 3 * len(tiny_config.methods))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    storage = optuna.storages.RDBStorage(settings.storage_url(fresh))
    with study_module._overall_bar(tiny_config, settings, storage) as bar:
        assert bar.n == 0  # no study yet: nothing finished


def test_the_overall_bar_counts_every_told_trial(tiny_config, tune_cache, tmp_path,
                                                  monkeypatch) -> None:
    bars = []
    real = study_module._overall_bar

    def recorded(*args):
        bar = real(*args)
        bars.append(bar)
        return bar

    monkeypatch.setattr(study_module, "_overall_bar", recorded)
    monkeypatch.setattr(study_module, "_shows_lines", lambda settings: False)  # bars on
    monkeypatch.setattr(outputs, "_write_figures", lambda outcome: {})
    tune(tiny_config, tmp_path, _settings(tune_cache, trials=2))
    [bar] = bars
    assert (bar.n, bar.total) == (4, 4)


def test_an_interrupted_runs_summary_counts_the_cut_trial(tiny_config, tune_cache, tmp_path,
                                                          monkeypatch) -> None:
    config = _ft_only(tiny_config)
    calls = []
    real = objective.evaluate

    def interrupt_second(workspace, settings, values):
        calls.append(values)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(workspace, settings, values)

    monkeypatch.setattr(study_module, "evaluate", interrupt_second)
    monkeypatch.setattr(outputs, "_write_figures", lambda outcome: {})
    with pytest.raises(KeyboardInterrupt):
        tune(config, tmp_path, _settings(tune_cache, trials=3))
    row = _summary(tmp_path)["ft"]  # written on the interrupt, not left from nothing
    assert (row["trials_complete"], row["trials_interrupted"]) == ("1", "1")
    report = (tmp_path / "report.md").read_text()
    assert "| Method | Best | Complete | Pruned | Failed | Interrupted |" in report
    assert re.search(r"\| ft \| [^|]+ \| 1 \| 0 \| 0 \| 1 \|", report)


@pytest.mark.usefixtures("all_figure_formats")  # the caveat is read from the SVG
def test_importances_from_few_trials_carry_a_caveat(tiny_config, tune_cache, tmp_path,
                                                    monkeypatch) -> None:
    # fANOVA may refuse so few trials; a fixed estimate makes the figure certain to be drawn
    monkeypatch.setattr(outputs, "importances", lambda study: {"lr": 1.0})
    outcome = tune(_ft_only(tiny_config), tmp_path, _settings(tune_cache, trials=2))
    [study] = outcome.studies
    assert study.counted(TrialState.COMPLETE) == 2 < IMPORTANCE_MIN_TRIALS
    caveat = f"from 2 complete trials only (fewer than {IMPORTANCE_MIN_TRIALS})"
    assert f"Parameter importances {caveat}" in (tmp_path / "report.md").read_text()
    assert f"Parameter importances {caveat}" in (tmp_path / "report.html").read_text()
    svg = (tmp_path / "figures" / "importance-ft.svg").read_text()
    assert caveat in svg
