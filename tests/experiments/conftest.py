"""Fixtures shared by the experiments tests: a tiny stored run, no training."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ftunlearn.experiments import runner
from ftunlearn.experiments.store import RESULTS_FILENAME, CellResult, ResultStore


def _cell(method: str, seed: int, gap: float) -> CellResult:
    return CellResult(
        cell_key=f"{method}-{seed}", method=method, seed=seed, status="ok", error=None,
        config={"dataset": "digits", "identity": "abc"}, hyperparameters={},
        metrics={"UA": 1.0 + seed, "RA": 99.0, "TA": 90.0, "MIA": 5.0, "avg_gap": gap},
        unlearn_seconds=1.0, eval_seconds=0.5, started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:30+00:00", versions={"torch": "x"}, git_commit=None,
    )


@pytest.fixture
def make_cell() -> Callable[[str, int, float], CellResult]:
    """A finished cell of ``method`` and ``seed`` whose Avg Gap is ``gap``."""
    return _cell


@pytest.fixture
def stored_run(tmp_path) -> Path:
    """A run folder with four finished cells (golden and ft, seeds 0 and 1) and its plan."""
    cells = [_cell(m, s, 0.0 if m == "golden" else 2.0 + s)
             for s in (0, 1) for m in ("golden", "ft")]
    with ResultStore(tmp_path / RESULTS_FILENAME) as store:
        for cell in cells:
            store.write(cell)
    runner.write_json_atomic(tmp_path / runner.RUN_FILENAME,
                             {"cells": [c.cell_key for c in cells]})
    return tmp_path
