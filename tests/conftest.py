"""Shared test helpers."""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from figure_helpers import figure_formats

RAM_TEMPROOT = Path("/dev/shm")
RAM_TEMPROOT_FREE = 1 << 30
"""Free bytes /dev/shm must have to hold the test session's folders (a whole run writes
about 60 MB)."""


def _on_tmpfs(path: Path) -> bool:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[1:3] == [str(path), "tmpfs"] for line in mounts
               if len(line.split()) >= 3)


def pytest_configure(config: pytest.Config) -> None:
    """Put ``tmp_path`` and ``tmp_path_factory`` folders in RAM (/dev/shm) where it is a roomy
    tmpfs, unless ``--basetemp`` or ``PYTEST_DEBUG_TEMPROOT`` says where they go.

    The stores, caches and Optuna studies the tests write sync every commit to disk; on a
    disk busy with other work those syncs made tuning and bench tests up to half as slow
    again. Nothing a test checks depends on the disk: a power cut is not something it can
    simulate, and the tests that fake a full disk raise the error themselves.
    """
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    try:
        roomy = (_on_tmpfs(RAM_TEMPROOT) and os.access(RAM_TEMPROOT, os.W_OK | os.X_OK)
                 and shutil.disk_usage(RAM_TEMPROOT).free >= RAM_TEMPROOT_FREE)
    except OSError:
        roomy = False
    if roomy:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(RAM_TEMPROOT)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what collection imported (torch, scikit-learn, matplotlib, the tests: about a million
    objects that live to the end) out of the garbage collector's sight with ``gc.freeze``.

    Each full collection otherwise walks them all again (docs/performance.md, "The test
    suite"). Frozen objects are not collected as cycles, so a collection first clears what
    collection left over; refcounting still frees them.
    """
    gc.collect()
    gc.freeze()


@pytest.hookimpl(trylast=True)  # after the module's fixtures are torn down
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """At the end of each test module, clear its garbage and freeze what outlives it (what
    the tests imported lazily: torch's compiler stack, Optuna, MLflow, Ray)."""
    if nextitem is None or nextitem.module is not item.module:
        gc.collect()
        gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def png_figures() -> Iterator[None]:
    """Every test's reports and figures as PNG alone: SVG and PDF double a report's cost and
    show the same drawing. Tests of those formats ask for ``all_figure_formats`` (module
    fixtures use ``figure_helpers.figure_formats``)."""
    with figure_formats(("png",)):
        yield


@pytest.fixture
def all_figure_formats() -> Iterator[None]:
    """Reports and figures in every format the library writes (PNG, SVG and PDF)."""
    from ftunlearn.experiments.plots import FORMATS

    with figure_formats(FORMATS):
        yield


@pytest.fixture
def tiny_bench_argv(tmp_path: Path):
    """``ftunlearn bench`` argv of a one-seed, one-method digits run into ``tmp_path/run``
    (the cache beside it) computing the main table's metrics only, plus the caller's extra
    flags (``--metrics all`` for every metric, as test_cli.py's end-to-end run)."""

    def argv(*extra: str) -> list[str]:
        return ["bench", "--dataset", "digits", "--model", "mlp:hidden=16,depth=1", "--methods",
                "ft", "--seeds", "1", "--recipe", "epochs=2", "--hp", "ft.epochs=1", "--out",
                str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
                "--device", "cpu", "--metrics", "primary", *extra]

    return argv


@pytest.fixture
def few_null_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight re-splits per test in the audit's permutation null instead of 100 (normal tests)
    and at least 200 (rank tests), for tests of what an audit writes or reuses, not of its
    p-values: the null's draws are most of an audit's time at the tests' sizes. The real counts
    are checked by test_audit.py's acceptance run."""
    from ftunlearn.experiments import audit

    monkeypatch.setattr(audit, "NULL_PERMUTATIONS", 8)
    monkeypatch.setattr(audit, "rank_permutations", lambda tests: 8)


@pytest.fixture
def no_report_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write run reports without their plots (a second or more per report), for tests that
    read only a report's text, tables or exports of an ordinary tiny run. The plots are drawn
    and checked by test_cli.py's end-to-end run, test_report_outputs.py, test_camera_ready.py
    and by every test of unusual results (failed cells, missing or infinite metrics)."""
    from ftunlearn.experiments import report

    monkeypatch.setattr(report, "render_plots", lambda summary, formats=None: {})
