"""The SQLite results store: round trip, replacement, filtering, schema checks, durability."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.store import (
    RESULTS_FILENAME,
    SCHEMA_VERSION,
    CellResult,
    ResultStore,
)


def make_cell(key: str = "k0", **changes: object) -> CellResult:
    cell = CellResult(
        cell_key=key,
        method="ft",
        seed=3,
        status="ok",
        error=None,
        config={
            "dataset": "digits",
            "model": {"name": "mlp", "hidden": [64, 32]},
            "forget": "random:0.1",
            "recipe": {"epochs": 2, "lr": 0.05, "nesterov": True, "schedule": None},
        },
        hyperparameters={"lr": 0.01, "epochs": 5, "select": "largest"},
        metrics={"UA": 4.25, "RA": 99.5, "TA": 93.0, "MIA": math.nan, "rte_ratio": math.inf},
        unlearn_seconds=1.5,
        eval_seconds=0.25,
        started_at="2025-01-02T03:04:05+00:00",
        finished_at="2025-01-02T03:04:07+00:00",
        versions={"python": "3.11.7", "torch": "2.13.0", "ftunlearn": "0.1.0"},
        git_commit="0123456789abcdef0123456789abcdef01234567",
    )
    return replace(cell, **changes)


def assert_same_cell(actual: CellResult, expected: CellResult) -> None:
    """Field-by-field equality, with NaN equal to NaN and the metric order checked."""
    got, want = asdict(actual), asdict(expected)
    got_metrics, want_metrics = got.pop("metrics"), want.pop("metrics")
    assert got == want
    assert list(got_metrics) == list(want_metrics)
    for name, value in want_metrics.items():
        if math.isnan(value):
            assert math.isnan(got_metrics[name]), name
        else:
            assert got_metrics[name] == value, name


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    first = make_cell("a")
    second = make_cell(
        "b",
        method="golden",
        seed=0,
        status="failed",
        error="RuntimeError: loss is NaN\n  at epoch 3",
        metrics={},
        unlearn_seconds=None,
        eval_seconds=None,
        hyperparameters={},
        git_commit=None,
    )
    with ResultStore(tmp_path / RESULTS_FILENAME) as store:
        store.write(first)
        store.write(second)
        stored = store.results(status=None)
        assert store.damaged == ()  # NaN, infinity and a failed cell are sound rows
    assert [c.cell_key for c in stored] == ["a", "b"]
    assert_same_cell(stored[0], first)
    assert_same_cell(stored[1], second)


def test_a_folder_path_opens_results_sqlite_inside_it(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        store.write(make_cell())
    assert (tmp_path / RESULTS_FILENAME).is_file()
    with ResultStore(tmp_path / RESULTS_FILENAME) as store:
        assert store.finished_keys() == {"k0"}


def test_rewriting_a_failed_cell_replaces_its_row_and_metrics(tmp_path: Path) -> None:
    failed = make_cell("x", status="failed", error="ValueError: boom", metrics={"stale": 1.0})
    ok = make_cell("x", metrics={"UA": 1.0, "TA": 2.0})
    with ResultStore(tmp_path / RESULTS_FILENAME) as store:
        store.write(make_cell("first"))
        store.write(failed)
        store.write(make_cell("last"))
        assert store.finished_keys() == {"first", "last"}
        store.write(ok)
        rows = store.results(status=None)
    assert [c.cell_key for c in rows] == ["first", "x", "last"]  # keeps its first-written place
    assert_same_cell(rows[1], ok)
    with sqlite3.connect(tmp_path / RESULTS_FILENAME) as raw:
        names = raw.execute("SELECT name FROM metric WHERE cell_key = 'x' ORDER BY position")
        assert [n for (n,) in names] == ["UA", "TA"]
        assert raw.execute("SELECT COUNT(*) FROM cells").fetchone() == (3,)


def test_finished_keys_and_results_filter_by_status(tmp_path: Path) -> None:
    with ResultStore(tmp_path / RESULTS_FILENAME) as store:
        store.write(make_cell("ok1"))
        store.write(make_cell("bad", status="failed", error="KeyError: 'x'"))
        store.write(make_cell("ok2", seed=4))
        assert store.finished_keys() == {"ok1", "ok2"}
        assert [c.cell_key for c in store.results()] == ["ok1", "ok2"]
        assert [c.cell_key for c in store.results("failed")] == ["bad"]
        assert len(store.results(None)) == 3
        with pytest.raises(UnlearnError, match="status must be one of"):
            store.results("done")


def test_close_and_reopen_keeps_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "run" / RESULTS_FILENAME
    store = ResultStore(path)
    written = [make_cell(f"k{i}", seed=i, metrics={"UA": float(i)}) for i in range(3)]
    for cell in written:
        store.write(cell)
    store.close()
    with ResultStore(path, create=False) as reopened:
        assert reopened.finished_keys() == {"k0", "k1", "k2"}
        for got, want in zip(reopened.results(), written, strict=True):
            assert_same_cell(got, want)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILENAME
    ResultStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.close()
    with pytest.raises(UnlearnError, match=r"schema version '99'.*reads version 1"):
        ResultStore(path)
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM meta")
    raw.close()
    with pytest.raises(UnlearnError, match="schema version None"):
        ResultStore(path)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE users (name TEXT)")
    raw.close()
    before = other.read_bytes()
    with pytest.raises(UnlearnError, match="not an ftunlearn results store"):
        ResultStore(other)
    assert other.read_bytes() == before
    text = tmp_path / "notes.sqlite"
    text.write_text("this is not a database, just some text that is long enough " * 20)
    with pytest.raises(UnlearnError, match="not a readable SQLite database"):
        ResultStore(text)


def test_missing_database_is_an_error_without_create(tmp_path: Path) -> None:
    with pytest.raises(UnlearnError, match="run `ftunlearn bench` first"):
        ResultStore(tmp_path / "nowhere" / RESULTS_FILENAME, create=False)
    assert not (tmp_path / "nowhere").exists()


def test_invalid_cells_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnlearnError, match="status must be one of"):
        make_cell(status="done")
    with pytest.raises(UnlearnError, match="no error message"):
        make_cell(status="failed", error=None)
    with pytest.raises(UnlearnError, match="but an error"):
        make_cell(error="oops")
    with pytest.raises(UnlearnError, match="metric 'UA' must be a real number"):
        make_cell(metrics={"UA": "high"})
    with pytest.raises(UnlearnError, match="seed must be an int"):
        make_cell(seed=True)
    with ResultStore(tmp_path / RESULTS_FILENAME) as store:
        with pytest.raises(UnlearnError, match="config cannot be stored as JSON"):
            store.write(make_cell(config={"path": Path("x")}))
        assert store.results(None) == []


def test_metrics_are_plain_floats_after_validation() -> None:
    cell = make_cell(metrics={"UA": 3, "TA": np.float32(2.5)}, unlearn_seconds=np.float64(0.5))
    assert cell.metrics == {"UA": 3.0, "TA": 2.5}
    assert all(type(v) is float for v in cell.metrics.values())
    assert type(cell.unlearn_seconds) is float
    with pytest.raises(UnlearnError, match="metric 'RA' must be a real number"):
        make_cell(metrics={"RA": True})


def test_metric_view_answers_sql_queries(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILENAME
    with ResultStore(path) as store:
        for seed, gap in enumerate([1.0, 3.0]):
            store.write(make_cell(f"ft{seed}", seed=seed, metrics={"avg_gap": gap}))
        store.write(make_cell("ga0", method="ga", metrics={"avg_gap": 7.0, "MIA": math.nan}))
        store.write(make_cell("ga1", method="ga", status="failed", error="E", metrics={}))
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT method, AVG(value), COUNT(*) FROM cell_metric "
            "WHERE status = 'ok' AND name = 'avg_gap' GROUP BY method ORDER BY method"
        ).fetchall()
        assert rows == [("ft", 2.0, 2), ("ga", 7.0, 1)]
        assert raw.execute("SELECT value FROM metric WHERE name = 'MIA'").fetchone() == (None,)
    raw.close()


_WRITER = """
import sys
from ftunlearn.experiments.store import CellResult, ResultStore

store = ResultStore(sys.argv[1])
metrics = {f"m{i}": float(i) for i in range(3000)}
i = 0
while True:
    store.write(CellResult(
        cell_key=f"c{i}", method="ft", seed=i, status="ok", error=None, config={"i": i},
        hyperparameters={}, metrics=metrics, unlearn_seconds=1.0, eval_seconds=1.0,
        started_at="2025-01-01T00:00:00+00:00", finished_at="2025-01-01T00:00:01+00:00",
        versions={}, git_commit=None,
    ))
    i += 1
"""


def test_a_killed_writer_leaves_only_complete_cells(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILENAME
    ResultStore(path).close()
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with sqlite3.connect(path, timeout=5) as raw:
                (count,) = raw.execute("SELECT COUNT(*) FROM cells").fetchone()
            raw.close()
            if count >= 5:
                break
            time.sleep(0.05)
        assert writer.poll() is None, "the writer process died on its own"
    finally:
        writer.kill()
        writer.wait()
    with ResultStore(path, create=False) as store:
        cells = store.results(None)
    assert len(cells) >= 5
    assert all(len(c.metrics) == 3000 for c in cells)
    assert sorted(c.seed for c in cells) == list(range(len(cells)))
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()
