"""A pytest plugin that sums, over the test suite, the seconds spent in a few known-costly parts.

    PYTHONPATH=benchmarks OMP_NUM_THREADS=1 .venv/bin/pytest -q -p suite_parts

`pytest --durations` says which tests are slow; this says what in them is: each part's total
and the tests that spent the most in it, written as JSON to ``--suite-parts-out`` (default
``benchmarks/results/suite_parts.json``). A part is counted once per outermost call, so a part
that calls itself (or a child process's ``wait`` inside ``communicate``) is not counted twice.
"""

from __future__ import annotations

import functools
import gc
import importlib
import json
import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

PARTS = {
    "MIA cross-validated attacks (loss-MIA, MIA_attack_acc)": [
        ("ftunlearn.metrics.mia", "cross_validated_accuracy")],
    "MIA-efficacy attack fits": [("ftunlearn.metrics.mia", "mia_efficacy_from_features")],
    "figure saves (every format)": [("ftunlearn.figure_style", "save")],
    "figure layout, method labels and tick-label check": [
        ("ftunlearn.experiments.plots", "finish_figure")],
    "report plots (drawn and saved)": [("ftunlearn.experiments.report", "render_plots")],
    "digits loads (scikit-learn's CSV)": [("sklearn.datasets", "load_digits")],
    "reference models (trained, or read from the checkpoint cache)": [
        ("ftunlearn.experiments.cache:CheckpointCache", "get_or_train")],
    "child processes (waiting for them)": [(subprocess.Popen, "communicate"),
                                           (subprocess.Popen, "wait")],
}
GC_PART = "garbage collection (every generation, gc.callbacks)"
TOP = 30
"""Tests listed per part, the costliest first."""




class PartTimer:
    """Seconds per part and test, counting only the outermost call of each part."""

    def __init__(self) -> None:
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.depth: dict[str, int] = defaultdict(int)

    def add(self, part: str, seconds: float) -> None:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        self.seconds[part][test] += seconds

    def gc_callback(self):
        """A ``gc.callbacks`` entry adding each collection's seconds to :data:`GC_PART`."""
        started = [0.0]

        def on_collection(phase: str, _info: dict) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                self.add(GC_PART, time.perf_counter() - started[0])
        return on_collection

    def wrap(self, part: str, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            self.depth[part] += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.depth[part] -= 1
                if self.depth[part] == 0:
                    self.add(part, time.perf_counter() - started)
        return timed

    def report(self) -> dict[str, dict]:
        out = {}
        for part, per_test in self.seconds.items():
            ranked = sorted(per_test.items(), key=lambda item: -item[1])
            out[part] = {"seconds": round(sum(per_test.values()), 2), "tests": len(per_test),
                         "costliest": {test: round(s, 2) for test, s in ranked[:TOP]}}
        return out


TIMER = pytest.StashKey[PartTimer]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--suite-parts-out", type=Path,
                     default=Path("benchmarks/results/suite_parts.json"),
                     help="where suite_parts writes its JSON")


def _resolve(owner):
    """A place's owner: an object, a module's name, or ``module:Class``."""
    if not isinstance(owner, str):
        return owner
    module, _, attribute = owner.partition(":")
    target = importlib.import_module(module)
    return getattr(target, attribute) if attribute else target


def pytest_configure(config: pytest.Config) -> None:
    timer = PartTimer()
    config.stash[TIMER] = timer
    gc.callbacks.append(timer.gc_callback())
    for part, places in PARTS.items():
        for owner, name in places:
            target = _resolve(owner)
            setattr(target, name, timer.wrap(part, getattr(target, name)))


def pytest_unconfigure(config: pytest.Config) -> None:
    report = config.stash[TIMER].report()
    path = config.getoption("--suite-parts-out")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    for part, numbers in report.items():
        print(f"suite_parts: {numbers['seconds']:7.1f} s in {numbers['tests']:3d} tests: {part}")

