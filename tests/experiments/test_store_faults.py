"""Reported faults, one table each: hand-corrupted rows of results.sqlite (skipped with a
warning naming the cell, the rest reported) and hand-edited cache entries (rebuilt, or served
where no check can tell: a plausible training time, a forged checksum)."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from cache_helpers import PARTS, build, make_train
from safetensors.torch import load_file, save_file

from ftunlearn.cli import main
from ftunlearn.experiments import runner
from ftunlearn.experiments.cache import CheckpointCache, cache_key
from ftunlearn.experiments.store import RESULTS_FILENAME, ResultStore

STORE_LOG = "ftunlearn.experiments.store"
CACHE_LOG = "ftunlearn.experiments.cache"
SKIP_ALL_CHECKS = "PRAGMA ignore_check_constraints = 1; "


def corrupt(run: Path, sql: str) -> None:
    connection = sqlite3.connect(run / RESULTS_FILENAME)
    try:
        connection.executescript(sql)
    finally:
        connection.close()


def summary_rows(run: Path) -> dict[str, dict[str, str]]:
    with (run / "summary.csv").open() as handle:
        return {row["method"]: row for row in csv.DictReader(handle)}


def store_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == STORE_LOG and r.levelno == logging.WARNING]


def _ft1(assignment: str, *, unchecked: bool = False) -> str:
    prefix = SKIP_ALL_CHECKS if unchecked else ""
    return f"{prefix}UPDATE cells SET {assignment} WHERE cell_key = 'ft-1'"


def _ft1_ua(value: str) -> str:
    return f"UPDATE metric SET value = {value} WHERE cell_key = 'ft-1' AND name = 'UA'"


STORE_FAULTS = {
    # id: (the hand edit, what the warning says after "skipped the damaged row of ")
    "hyperparameters-not-json": (
        _ft1("hyperparameters = '{bad'"),
        "cell 'ft-1': its hyperparameters column is not valid JSON (Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1))"),
    "hyperparameters-an-array": (
        _ft1("hyperparameters = '[1, 2]'"),
        "cell 'ft-1': its hyperparameters column is a JSON array, not an object"),
    "config-a-number": (
        _ft1("config = '3'"), "cell 'ft-1': its config column is a JSON number, not an object"),
    "config-not-strict-json": (
        _ft1("""config = '{"lr": NaN}'"""),
        "cell 'ft-1': its config column is not valid JSON (NaN is not strict JSON)"),
    "versions-null-json": (
        _ft1("versions = 'null'"),
        "cell 'ft-1': its versions column is a JSON null, not an object"),
    "metric-text": (
        _ft1_ua("'high'"), "cell 'ft-1': its metric 'UA' is the text 'high', not a number"),
    "metric-blob": (
        _ft1_ua("x'00ff'"), "cell 'ft-1': its metric 'UA' is the blob b'\\x00\\xff', not a number"),
    "status-unknown": (
        _ft1("status = 'done'", unchecked=True),
        "cell 'ft-1': its status is 'done', not one of 'ok', 'failed'"),
    "status-failed-without-error": (
        _ft1("status = 'failed'"),
        "cell 'ft-1': its status is 'failed' but it has no error message"),
    "status-ok-with-error": (
        _ft1("error = 'boom'"), "cell 'ft-1': its status is 'ok' but it has an error message"),
    "key-null": (
        _ft1("cell_key = NULL"),
        "the cell with no key at rowid 4 (method 'ft', seed 1): its cell_key is NULL"),
    "method-empty": (
        _ft1("method = ''"), "cell 'ft-1': its method is '', not a non-empty text"),
    "seed-text-cut-to-one-line": (
        _ft1("seed = 'one' || char(10) || printf('%.60c', 'x')"),
        # the value's repr, cut to 40 characters: 'one\n then 33 x and the ellipsis
        "cell 'ft-1': its seed is 'one\\n" + "x" * 33 + "…, not an integer"),
    "unlearn-seconds-negative": (
        _ft1("unlearn_seconds = -2.5"),
        "cell 'ft-1': its unlearn_seconds is -2.5, not a finite number >= 0"),
    "eval-seconds-text": (
        _ft1("eval_seconds = 'slow'"),
        "cell 'ft-1': its eval_seconds is 'slow', not a finite number >= 0"),
    "two-defects-in-one-row": (
        _ft1("seed = 1.5, config = '[]'"),
        "cell 'ft-1': its config column is a JSON array, not an object; its seed is 1.5, not "
        "an integer"),
}


@pytest.mark.parametrize("fault", sorted(STORE_FAULTS))
def test_a_damaged_row_is_skipped_with_one_warning_naming_it(stored_run, caplog, fault):
    sql, warning = STORE_FAULTS[fault]
    corrupt(stored_run, sql)
    results = runner.run_results(stored_run)
    database = stored_run / RESULTS_FILENAME
    assert store_warnings(caplog) == [f"{database}: skipped the damaged row of {warning}"]
    assert [c.cell_key for c in results] == ["golden-0", "ft-0", "golden-1"]


@pytest.mark.usefixtures("no_report_plots")  # the skipped row leaves ordinary data to draw
@pytest.mark.parametrize("fault", ["metric-text", "status-unknown", "key-null"])
def test_the_report_of_a_store_with_a_damaged_row_shows_only_the_others(
    stored_run, caplog, capsys, fault
):
    corrupt(stored_run, STORE_FAULTS[fault][0])
    assert main(["report", str(stored_run)]) == 0
    assert len(store_warnings(caplog)) == 1
    rows = summary_rows(stored_run)
    assert (rows["golden"]["n_seeds"], rows["ft"]["n_seeds"]) == ("2", "1")
    assert rows["ft"]["UA_mean"] == "1.0"  # seed 0's alone: nothing of the damaged row
    long_rows = (stored_run / "results_long.csv").read_text()
    assert "ft-1" not in long_rows and "ft-0" in long_rows
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out.startswith("report: ")
    assert "1 damaged row(s) skipped, each named in a warning" in (
        stored_run / "report.md").read_text()


@pytest.mark.slow
def test_two_damaged_rows_print_one_warning_line_each_and_no_traceback(stored_run):
    corrupt(stored_run, _ft1("hyperparameters = 'not json'") + "; UPDATE metric SET value = "
            "'high' WHERE cell_key = 'golden-0' AND name = 'UA'")
    done = subprocess.run([sys.executable, "-m", "ftunlearn", "report", str(stored_run)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    database = stored_run / RESULTS_FILENAME
    prefix = f"WARNING {STORE_LOG}: {database}: skipped the damaged row of "
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        prefix + "cell 'golden-0': its metric 'UA' is the text 'high', not a number",
        prefix + "cell 'ft-1': its hyperparameters column is not valid JSON (Expecting value: "
                 "line 1 column 1 (char 0))",
    ]
    rows = summary_rows(stored_run)
    assert (rows["golden"]["n_seeds"], rows["ft"]["n_seeds"]) == ("1", "1")


def test_a_store_whose_every_row_is_damaged_is_refused_in_one_line(stored_run, capsys):
    corrupt(stored_run, SKIP_ALL_CHECKS + "UPDATE cells SET status = 'done'")
    assert main(["report", str(stored_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    database = stored_run / RESULTS_FILENAME
    assert err == [
        f"ftunlearn report: error: {database}: every stored row is damaged (4 row(s); the "
        "first, cell 'golden-0': its status is 'done', not one of 'ok', 'failed'); restore it "
        "from a copy, or start a new run in another --out folder"]
    assert not (stored_run / "report.md").exists()


@pytest.mark.usefixtures("no_report_plots")  # the refusal is of the cells, not the figures
def test_a_damaged_row_makes_the_report_smaller_so_it_needs_force(stored_run, capsys, caplog):
    from ftunlearn.experiments.report import write_report

    write_report(stored_run, runner.run_results(stored_run))
    before = (stored_run / "report.md").read_bytes()
    corrupt(stored_run, _ft1_ua("'high'"))
    assert main(["report", str(stored_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "4 finished cells" in err[0] and "--force" in err[0]
    assert (stored_run / "report.md").read_bytes() == before
    assert main(["report", "--force", str(stored_run)]) == 0
    assert summary_rows(stored_run)["ft"]["n_seeds"] == "1"
    assert len(store_warnings(caplog)) == 2  # once per read: the refused one and the forced one


def test_a_damaged_row_is_not_finished_so_bench_runs_it_again_and_replaces_it(stored_run,
                                                                           make_cell):
    corrupt(stored_run, _ft1("status = 'done'", unchecked=True))
    with ResultStore(stored_run / RESULTS_FILENAME) as store:
        assert store.finished_keys() == {"golden-0", "golden-1", "ft-0"}
        assert len(store.damaged) == 1 and store.damaged[0].startswith("cell 'ft-1': ")
        store.write(make_cell("ft", 1, 3.0))
        assert [c.cell_key for c in store.results()] == ["golden-0", "ft-0", "golden-1", "ft-1"]
        assert store.damaged == ()


def test_an_infinite_metric_is_a_number_and_is_kept(stored_run):
    corrupt(stored_run, _ft1_ua("9e999"))
    with ResultStore(stored_run / RESULTS_FILENAME, read_only=True) as store:
        cells = {c.cell_key: c for c in store.results()}
    assert store.damaged == () and cells["ft-1"].metrics["UA"] == float("inf")
    assert main(["report", str(stored_run)]) == 0  # summary.json writes inf as null
    assert json.loads((stored_run / "summary.json").read_text())["methods"]["ft"]["metrics"][
        "UA"]["mean"] is None




def _set(field: str, value: object) -> Callable[[Path, Path], None]:
    def edit(weights: Path, meta: Path) -> None:
        record = json.loads(meta.read_text())
        record[field] = value
        meta.write_text(json.dumps(record))

    return edit


def _set_raw(field: str, text: str) -> Callable[[Path, Path], None]:
    """Write ``text`` as the field's JSON value as it is (``Infinity`` is not strict JSON)."""
    def edit(weights: Path, meta: Path) -> None:
        record = json.loads(meta.read_text())
        record[field] = "@"
        meta.write_text(json.dumps(record).replace('"@"', text))

    return edit


def _tamper(*, forge_checksum: bool) -> Callable[[Path, Path], None]:
    """Change the first tensor's values (same names, shapes, dtypes, all finite)."""
    def edit(weights: Path, meta: Path) -> None:
        state = load_file(str(weights))
        first = next(iter(state))
        save_file({**state, first: state[first] + 5.0}, str(weights))
        if forge_checksum:
            _set("sha256", hashlib.sha256(weights.read_bytes()).hexdigest())(weights, meta)

    return edit


SERVED = "served"
CACHE_FAULTS = {
    # id: (the hand edit, SERVED or the reason in the rebuild warning)
    "train-seconds-999-plausible": (_set("train_seconds", 999), SERVED),
    "train-seconds-negative": (
        _set("train_seconds", -1), "train_seconds is -1, not a finite number > 0"),
    "train-seconds-zero": (_set("train_seconds", 0), "train_seconds is 0, not a finite number > 0"),
    "train-seconds-infinity": (
        _set_raw("train_seconds", "Infinity"), "train_seconds is inf, not a finite number > 0"),
    "train-seconds-text": (_set("train_seconds", "999"), "train_seconds is '999', not a number"),
    "train-seconds-bool": (_set("train_seconds", True), "train_seconds is True, not a number"),
    "format-bool": (_set("format", True), "format True, expected 1"),
    "parts-an-array": (_set("parts", []), "its key parts are [], not an object"),
    "sha256-missing": (_set("sha256", None), "sha256 is None, not 64 lowercase hex digits"),
    "sha256-short": (_set("sha256", "abc"), "sha256 is 'abc', not 64 lowercase hex digits"),
    "created-at-garbage": (
        _set("created_at", "yesterday"),
        "created_at is 'yesterday', not an ISO-8601 time with its zone"),
    "created-at-without-zone": (
        _set("created_at", "2026-01-01T00:00:00"),
        "created_at is '2026-01-01T00:00:00', not an ISO-8601 time with its zone"),
    "weights-tampered": (_tamper(forge_checksum=False), "the weights' checksum does not match"),
    "weights-tampered-checksum-forged": (_tamper(forge_checksum=True), SERVED),
}


@pytest.mark.parametrize("fault", sorted(CACHE_FAULTS))
def test_a_hand_edited_cache_entry_is_rebuilt_unless_no_check_can_tell(tmp_path, caplog, fault):
    edit, outcome = CACHE_FAULTS[fault]
    cache = CheckpointCache(tmp_path)
    calls: list[int] = []
    trained = cache.get_or_train(PARTS, build, make_train(calls))
    weights, meta = cache.paths(cache_key(PARTS))
    edit(weights, meta)
    edited = json.loads(meta.read_text().replace("Infinity", "1e999"))
    served = load_file(str(weights))
    again = cache.get_or_train(PARTS, build, make_train(calls))
    warnings = [r.getMessage() for r in caplog.records if r.name == CACHE_LOG]
    if outcome == SERVED:  # the documented limit: a well-formed forgery passes every check
        assert again.hit and len(calls) == 1 and warnings == []
        assert again.train_seconds == edited["train_seconds"]
        for name, value in again.model.state_dict().items():
            assert torch.equal(value, served[name])
    else:
        assert not again.hit and len(calls) == 2
        assert warnings == [f"cache entry {meta} is unusable (ValueError: {outcome}); "
                            "it will be rebuilt"]
        for a, b in zip(again.model.state_dict().values(), trained.model.state_dict().values(),
                        strict=True):
            assert torch.equal(a, b)  # retrained from scratch: the model the edit replaced
        record = json.loads(meta.read_text())
        assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
        assert record["train_seconds"] == again.train_seconds > 0


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan"), float("inf"), "1", None])
def test_the_cache_never_writes_seconds_its_reader_would_reject(tmp_path, seconds):
    cache = CheckpointCache(tmp_path)
    with pytest.raises(ValueError, match="train_seconds is "):
        cache.store(PARTS, build(), seconds)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_cache_folder_every_user_can_write_is_named_in_a_warning(tmp_path, caplog):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o775)
    CheckpointCache(shared)
    assert [r.getMessage() for r in caplog.records if r.name == CACHE_LOG] == []
    shared.chmod(0o777)
    CheckpointCache(shared)
    assert [r.getMessage() for r in caplog.records if r.name == CACHE_LOG] == [
        f"the cache folder {shared} is writable by every user, so anyone can change the models "
        "and training times it serves; keep it in a folder only you (or your group) can write"]
