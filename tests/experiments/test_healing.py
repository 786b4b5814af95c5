"""Stores and caches that heal: bad cache entries rebuilt, damaged stores refused, reports
never replaced by worse ones, one writer per --out, atomic run.json and readable file modes."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from cache_helpers import PARTS, build, make_train
from safetensors.torch import load_file, save_file

from ftunlearn import atomic
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments import runner
from ftunlearn.experiments.cache import CheckpointCache, cache_key
from ftunlearn.experiments.lock import LOCK_FILENAME, OutDirLock
from ftunlearn.experiments.store import RESULTS_FILENAME, ResultStore


def _edit_meta(change: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    def corrupt(weights: Path, meta: Path) -> None:
        record = json.loads(meta.read_text())
        meta.write_text(json.dumps(change(record)))

    return corrupt


def _without(key: str) -> Callable[[dict], dict]:
    return lambda record: {k: v for k, v in record.items() if k != key}


def _resealed(edit: Callable[[Path], None]) -> Callable[[Path, Path], None]:
    """Change the weights file and write its new checksum, so only a deeper check can tell."""
    def corrupt(weights: Path, meta: Path) -> None:
        edit(weights)
        import hashlib

        record = json.loads(meta.read_text())
        record["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
        meta.write_text(json.dumps(record))

    return corrupt


def _retensor(change: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]):
    def edit(weights: Path) -> None:
        save_file(change(load_file(str(weights))), str(weights))

    return _resealed(edit)


def _nan_first(state):
    first = next(iter(state))
    return {**state, first: torch.full_like(state[first], math.nan)}


def _meta_as_folder(weights: Path, meta: Path) -> None:
    meta.unlink()
    meta.mkdir()
    (meta / "stray").write_text("x")


CORRUPTIONS = {
    "json-not-object": lambda weights, meta: meta.write_text("[1, 2, 3]"),
    "missing-train-seconds": _edit_meta(_without("train_seconds")),
    "train-seconds-text": _edit_meta(lambda r: {**r, "train_seconds": "fast"}),
    "train-seconds-null": _edit_meta(lambda r: {**r, "train_seconds": None}),
    "train-seconds-nan": lambda weights, meta: meta.write_text(
        meta.read_text().replace('"train_seconds": ', '"train_seconds": NaN, "was": ')),
    "unreadable-header": _resealed(lambda w: w.write_bytes(b"\xff" * 64)),
    "truncated-weights": _resealed(lambda w: w.write_bytes(w.read_bytes()[:40])),
    "non-finite-weights": _retensor(_nan_first),
    "wrong-dtype": _retensor(lambda s: {k: v.double() for k, v in s.items()}),
    "meta-is-a-folder": _meta_as_folder,
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_every_unusable_cache_entry_is_rebuilt_with_a_warning_naming_it(tmp_path, caplog, kind):
    cache = CheckpointCache(tmp_path)
    calls: list[int] = []
    cache.get_or_train(PARTS, build, make_train(calls))
    weights, meta = cache.paths(cache_key(PARTS))
    CORRUPTIONS[kind](weights, meta)
    rebuilt = cache.get_or_train(PARTS, build, make_train(calls))
    assert not rebuilt.hit and len(calls) == 2
    assert str(meta) in caplog.text and "rebuilt" in caplog.text
    assert math.isfinite(rebuilt.train_seconds)
    # the rebuilt entry is whole again: the next request reads it, with trained weights
    again = cache.get_or_train(PARTS, build, make_train(calls))
    assert again.hit and len(calls) == 2
    for a, b in zip(again.model.state_dict().values(), rebuilt.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b) and a.dtype == torch.float32


def test_cache_files_and_folder_are_readable_by_group_and_others(tmp_path):
    previous = os.umask(0o077)  # a private umask must not make a shared cache private
    try:
        cache = CheckpointCache(tmp_path / "shared" / "cache")
        cache.get_or_train(PARTS, build, make_train([]))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(cache.root.stat().st_mode) == 0o755
    for path in cache.paths(cache_key(PARTS)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list(cache.root.glob(".*.tmp"))


@pytest.fixture
def reported_run(stored_run) -> Path:
    """The stored run with its report written."""
    from ftunlearn.experiments.report import write_report

    write_report(stored_run, runner.run_results(stored_run))
    return stored_run


def test_report_of_a_store_without_its_metric_table_is_refused_and_the_report_kept(
    reported_run,
):
    from ftunlearn.experiments.report import write_report

    before = (reported_run / "report.md").read_bytes()
    with sqlite3.connect(reported_run / RESULTS_FILENAME) as connection:
        connection.execute("DROP TABLE metric")
    with pytest.raises(UnlearnError, match=r"damaged results store: table\(s\) \['metric'\]"):
        write_report(reported_run, runner.run_results(reported_run))
    assert (reported_run / "report.md").read_bytes() == before
    # a writer (bench) refuses it too, instead of recreating an empty metric table
    with pytest.raises(UnlearnError, match="damaged"):
        ResultStore(reported_run / RESULTS_FILENAME)
    with sqlite3.connect(reported_run / RESULTS_FILENAME) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "metric" not in names


def test_report_of_a_store_with_a_corrupt_page_is_one_clean_error(stored_run):
    database = stored_run / RESULTS_FILENAME
    data = bytearray(database.read_bytes())
    page = 4096
    assert len(data) > 2 * page  # a few pages: overwrite the second and later ones
    data[page:] = b"\xa5" * (len(data) - page)
    database.write_bytes(bytes(data))
    with pytest.raises(UnlearnError, match=str(database)):
        runner.run_results(stored_run)


@pytest.mark.usefixtures("no_report_plots")  # the refusal is of the cells, not the figures
def test_a_report_with_fewer_cells_of_the_same_run_is_refused_unless_forced(
    reported_run, capsys
):
    from ftunlearn.cli import main

    before = (reported_run / "report.md").read_bytes()
    assert json.loads((reported_run / "report.json").read_text())["finished"] == 4
    with sqlite3.connect(reported_run / RESULTS_FILENAME) as connection:
        connection.execute("DELETE FROM cells WHERE cell_key = 'ft-1'")
    assert main(["report", str(reported_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ftunlearn report: error:")
    assert "4 finished cells" in err[0] and "--force" in err[0]
    assert (reported_run / "report.md").read_bytes() == before
    assert main(["report", "--force", str(reported_run)]) == 0
    assert json.loads((reported_run / "report.json").read_text())["finished"] == 3
    assert (reported_run / "report.md").read_bytes() != before


def test_report_opens_the_store_read_only_and_leaves_no_journal(stored_run):
    database = stored_run / RESULTS_FILENAME
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    before = database.read_bytes()
    with ResultStore(database, read_only=True) as store:
        assert len(store.results()) == 4
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store._conn.execute("DELETE FROM cells")
    assert runner.run_results(stored_run).ignored == 0
    assert database.read_bytes() == before
    assert not [p.name for p in stored_run.iterdir()
                if p.name.startswith(RESULTS_FILENAME + "-")]
    uri = ResultStore.read_only_uri(database, immutable=False)
    assert uri.startswith("file:") and uri.endswith("?mode=ro")


def test_report_works_on_a_read_only_folder(stored_run):
    os.chmod(stored_run / RESULTS_FILENAME, 0o444)
    os.chmod(stored_run, 0o555)
    try:
        results = runner.run_results(stored_run)
    finally:
        os.chmod(stored_run, 0o755)
    assert sorted((r.method, r.seed) for r in results) == [
        ("ft", 0), ("ft", 1), ("golden", 0), ("golden", 1)]


HOLDER = """
import sys, time
from ftunlearn.experiments.lock import OutDirLock
lock = OutDirLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_writer_is_refused_naming_the_first_and_the_lock_dies_with_it(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UnlearnError, match=f"another ftunlearn process \\(pid {holder.pid} on"):
            OutDirLock(tmp_path).acquire()
        from ftunlearn.experiments.config import BenchConfig
        from ftunlearn.experiments.executors import ExecutorOptions
        from ftunlearn.training import Recipe

        config = BenchConfig(model="mlp:hidden=8,depth=1", methods=("ft",), seeds=(0,),
                             recipe=Recipe(epochs=1), device="cpu", mia_extras=False)
        with pytest.raises(UnlearnError, match=f"pid {holder.pid}"):
            runner.bench(config, tmp_path, options=ExecutorOptions(tmp_path / "c", False))
        assert not (tmp_path / RESULTS_FILENAME).exists()
        assert not (tmp_path / runner.RUN_FILENAME).exists()
    finally:
        holder.kill()  # a crash: the OS releases the lock
        holder.wait()
    with OutDirLock(tmp_path) as lock:
        assert json.loads((tmp_path / LOCK_FILENAME).read_text())["pid"] == os.getpid()
    assert lock._fd is None


def test_run_json_is_replaced_atomically(tmp_path, monkeypatch):
    path = tmp_path / runner.RUN_FILENAME
    runner.write_json_atomic(path, {"cells": ["a"]})
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

    def fail_before_the_rename(*_):
        raise OSError("disk full")

    # the temporary file is written; the write fails before it replaces run.json
    monkeypatch.setattr(atomic.os, "replace", fail_before_the_rename)
    with pytest.raises(OSError, match="disk full"):
        runner.write_json_atomic(path, {"cells": ["b"]})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"cells": ["a"]}
    assert [p.name for p in tmp_path.iterdir()] == [runner.RUN_FILENAME]
