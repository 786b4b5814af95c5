"""The ``theory`` subcommand: help, errors, and the files it writes."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ftunlearn.errors import UnlearnError
from ftunlearn.linear.cli import add_parser, main
from ftunlearn.linear.metrics import METRIC_NAMES
from ftunlearn.linear.models import MODEL_NAMES

SCHEMA_KEYS = {
    "experiment", "trial", "model", *METRIC_NAMES,
    "d_f", "d_r", "d_lap", "d_extra", "n_f", "n_r", "sigma", "alpha", "steps",
}  # fmt: skip


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ftunlearn")
    add_parser(root.add_subparsers(dest="command", required=True))
    return root


def run(*argv: str) -> int:
    args = parser().parse_args(["theory", *argv])
    return args.func(args)


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    subparsers = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    theory = subparsers.choices["theory"]
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(["theory", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for action in theory._actions:
        assert action.help, f"{action.dest} has no help"
        for option in action.option_strings:
            assert option in text
    for name in ("overlap", "alpha", "trajectory", "digits", "results.json"):
        assert name in text


def test_named_experiment_writes_rows_csv_summary_and_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert run("illustrative", "--trials", "2", "--d-lap", "10", "--out", str(out), "--quiet") == 0
    rows = json.loads((out / "results.json").read_text())
    assert isinstance(rows, list) and len(rows) == 2 * len(MODEL_NAMES)
    assert all(set(row) >= SCHEMA_KEYS for row in rows)
    assert {row["model"] for row in rows} == set(MODEL_NAMES)
    assert {row["d_lap"] for row in rows} == {10} and {row["trial"] for row in rows} == {0, 1}
    with (out / "results.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)
    assert (out / "summary.csv").exists() and (out / "illustrative.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "illustrative: UL" in printed and "golden" in printed


def test_default_sweep_writes_the_three_figures(tmp_path: Path) -> None:
    assert run("--trials", "1", "--out", str(tmp_path), "--quiet") == 0
    for name in ("overlap", "alpha", "trajectory"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    rows = json.loads((tmp_path / "results.json").read_text())
    assert {row["experiment"] for row in rows} == {"overlap", "alpha", "trajectory"}
    assert {row["sweep"] for row in rows} == {"d_lap", "alpha", "steps"}


def test_sweep_option_and_limit_steps(tmp_path: Path) -> None:
    argv = ("trajectory", "--sweep", "steps=0,3,limit", "--trials", "1", "--no-plots", "--quiet")
    assert run(*argv, "--d-f", "20", "--d-r", "20", "--out", str(tmp_path)) == 0
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [row["steps"] for row in rows if row["model"] == "golden"] == [0, 3, None]


def test_w_star_from_a_file(tmp_path: Path) -> None:
    d = 5 + 5 + 2
    np.save(tmp_path / "w.npy", np.arange(d, dtype=float))
    argv = ["illustrative", "--d-f", "5", "--d-r", "5", "--d-lap", "2", "--n-f", "2", "--n-r", "3"]
    argv += ["--w-star", str(tmp_path / "w.npy"), "--trials", "1", "--no-plots", "--quiet"]
    assert run(*argv, "--out", str(tmp_path / "o")) == 0
    rows = json.loads((tmp_path / "o" / "results.json").read_text())
    assert {row["w_star"] for row in rows} == {"given"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["illustrative", "--n-r", "500"], "n_r = 500 exceeds d_r \\+ d_lap"),
        (["illustrative", "--alpha", "0"], "alpha must be in \\(0, 1\\]"),
        (["illustrative", "--alpha", "1.5"], "alpha must be in \\(0, 1\\]"),
        (["illustrative", "--d-f", "-3"], "d_f must be >= 0"),
        (["illustrative", "--n-f", "-1"], "n_f must be >= 1"),
        (["illustrative", "--lr-scale", "2"], "lr_scale must be in \\(0, 2\\)"),
        (["overlap", "--d-lap", "5"], "--d-lap is swept by experiment 'overlap'"),
        (["illustrative", "--dataset", "digits"], "--dataset does not apply"),
        (["digits", "--sigma", "0.1"], "--sigma does not apply"),
        (["--sweep", "alpha=0.1"], "name the experiment"),
        (["overlap", "--sweep", "d_lap"], "not of the form KEY=V1,V2"),
        (["overlap", "--sweep", "colour=1,2"], "cannot sweep 'colour'"),
        (["illustrative", "--trials", "0"], "trials must be >= 1"),
        (["illustrative", "--seed", "-1"], "seed must be >= 0"),
        (["illustrative", "--w-star", "/nonexistent/w.npy"], "cannot read w\\*"),
    ],
)
def test_bad_configurations_raise_one_clear_error(argv, message, tmp_path: Path) -> None:
    with pytest.raises(UnlearnError, match=message):
        run(*argv, "--out", str(tmp_path), "--quiet")
    assert not (tmp_path / "results.json").exists()


def test_stand_alone_main_prints_the_error_and_exits_2(capsys: pytest.CaptureFixture[str]):
    assert main(["theory", "illustrative", "--alpha", "0", "--quiet"]) == 2
    assert "alpha must be in (0, 1]" in capsys.readouterr().err


def test_unparseable_steps_are_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["theory", "--steps", "many"])
    assert "expected a whole number of steps or 'limit'" in capsys.readouterr().err
