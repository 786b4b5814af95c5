"""``ftunlearn tune`` on the command line: its help, its errors (one clean line, exit 2), the
tuned config it writes and bench's protocol guard on it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ftunlearn.cli import build_parser, main
from ftunlearn.experiments.config import config_from_mapping, load_toml

pytestmark = pytest.mark.usefixtures("no_figures")

BAD = {
    "unknown method": (["--methods", "ft,nope"], "unknown method 'nope'"),
    "zero trials": (["--trials", "0"], "--trials must be a whole number >= 1"),
    "text trials": (["--trials", "many"], "argument --trials"),
    "unknown objective": (["--objective", "accuracy"], "unknown objective 'accuracy'"),
    "text tuning seeds": (["--tune-seeds", "a,b"], "--tune-seeds must be comma-separated"),
    "negative tuning seed": (["--tune-seeds", "-1"], "--tune-seeds must be comma-separated"),
    "repeated tuning seed": (["--tune-seeds", "5,5"], "distinct"),
    "reference method": (["--methods", "retrain"], "is a reference"),
    "tuning seeds overlap the report's": (["--tune-seeds", "1,100"], "share [1]"),
    "unknown executor": (["--executor", "slurm"], "unknown executor 'slurm'"),
    "bad timeout": (["--timeout", "0"], "--timeout must be"),
    "bad prune rule": (["--prune-ra-drop", "lots"], "--prune-ra-drop must be"),
    "small audit ensemble": (["--objective", "audit", "--audit-ensemble", "2"],
                             "--audit-ensemble must be >= 4"),
    "unknown preset": (["--preset", "huge"], "argument --preset"),
    "missing config": (["--config", "/nonexistent/x.toml"], "does not exist"),
}


@pytest.mark.parametrize("extra,expected", BAD.values(), ids=BAD.keys())
def test_bad_input_is_one_clean_line(extra, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FTUNLEARN_CACHE", str(tmp_path / "cache"))
    # other tests' throw-away methods must not change which line comes out
    methods = [] if "--methods" in extra else ["--methods", "ft"]
    code = main(["tune", "--out", str(tmp_path / "out"), "--no-progress", *methods, *extra])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("ftunlearn tune: error:"), err
    assert expected in lines[0], err
    assert not (tmp_path / "cache").exists()  # refused before any training


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["tune", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = [o for action in sub.choices["tune"]._actions for o in action.option_strings]
    for option in options:
        assert option in text
    for option in ("--dataset", "--data-dir", "--model", "--forget", "--methods", "--trials",
                   "--tune-seeds", "--objective", "--timeout", "--executor", "--ray-address",
                   "--out", "--config", "--preset", "--recipe", "--hp", "--cache-dir",
                   "--threads", "--storage", "--no-progress", "--seed", "--audit-ensemble"):
        assert option in options
    assert "avg-gap" in text and "audit" in text


def test_the_paper_preset_tunes_both_runs_into_sub_folders(tmp_path):
    from ftunlearn.tuning.cli import configs_from

    args = build_parser().parse_args(["tune", "--preset", "paper", "--trials", "3", "--out",
                                      str(tmp_path / "tp"), "--threads", "1"])
    runs = configs_from(args)
    assert [path.name for path, _ in runs] == ["random-10", "class-3"]
    for _, config in runs:
        assert "retrain" not in config.methods and "ft" in config.methods
        assert config.hyperparameters["ft"]["epochs"] == 1  # held fixed: the preset's cost


@pytest.fixture(scope="module")
def tuned(tiny_toml: Path, tune_cache: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "tuned"
    with pytest.MonkeyPatch.context() as patch:
        from ftunlearn.tuning import outputs

        patch.setattr(outputs, "_write_figures", lambda outcome: {})
        code = main(["tune", "--config", str(tiny_toml), "--trials", "2", "--out", str(out),
                     "--cache-dir", str(tune_cache), "--threads", "1", "--no-progress"])
    assert code == 0
    return out


def test_tune_writes_a_config_bench_can_load(tuned: Path, capsys):
    config = config_from_mapping(load_toml(tuned / "tuned.toml"))
    assert config.methods == ("ft", "dr-ft") and config.seeds == (0, 1, 2)
    assert set(config.hyperparameters["dr-ft"]) == {"epochs", "lr", "alpha", "regulariser"}
    assert config.tuning["seeds"] == [100, 101]
    assert config.to_dict()["tuning"]["trials"] == 2


@pytest.mark.usefixtures("no_report_plots")
def test_bench_refuses_the_tuning_seeds_unless_allowed(tuned: Path, tune_cache: Path,
                                                       tmp_path: Path, capsys):
    argv = ["bench", "--config", str(tuned / "tuned.toml"), "--seeds", "100",
            "--out", str(tmp_path / "b"), "--cache-dir", str(tune_cache), "--no-progress",
            "--metrics", "primary"]
    argv[argv.index("100")] = "0,100"
    assert main(argv) == 2
    err = capsys.readouterr().err
    [line] = err.splitlines()
    assert line.startswith("ftunlearn bench: error:") and "[100]" in line
    assert "report on other seeds" in line and "--allow-tuning-seeds" in line
    assert not (tmp_path / "b").exists()
    assert main([*argv, "--allow-tuning-seeds", "--threads", "1"]) == 0
    report = (tmp_path / "b" / "report.md").read_text()
    assert "tuning seeds reused: for debugging only" in report


def test_a_config_without_a_tuning_table_stores_what_it_always_did(tiny_config):
    assert "tuning" not in tiny_config.to_dict()
    assert "allow_tuning_seeds" not in tiny_config.to_dict()
    allowed = tiny_config.replace(allow_tuning_seeds=True)
    assert "allow_tuning_seeds" not in allowed.to_dict()  # nothing was reused


def test_by_default_methods_without_a_space_are_left_out_with_a_note(tmp_path, capsys):
    from dataclasses import dataclass

    from ftunlearn.methods.base import METHODS, Hyperparameters, Unlearner, register
    from ftunlearn.tuning.cli import configs_from

    @dataclass(frozen=True)
    class NoConfig(Hyperparameters):
        pass

    with METHODS.scope():
        @register
        class Spaceless(Unlearner):
            name = "test-spaceless"
            Config = NoConfig

            def run(self, model, retain, forget, context):
                return model

        args = build_parser().parse_args(["tune", "--out", str(tmp_path)])
        [(_, config)] = configs_from(args)
        assert "test-spaceless" not in config.methods and "retrain" not in config.methods
        note = capsys.readouterr().err
        assert "left out " in note and "test-spaceless" in note
        named = build_parser().parse_args(["tune", "--out", str(tmp_path), "--methods",
                                           "ft,test-spaceless"])
        assert main(["tune", "--out", str(tmp_path / "o"), "--methods", "ft,test-spaceless",
                     "--no-progress"]) == 2
        assert "declares no search space" in capsys.readouterr().err
        assert configs_from(named)[0][1].methods == ("ft", "test-spaceless")
