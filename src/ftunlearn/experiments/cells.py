"""A run's unit of work, the (method, seed) cell, and the function that runs one.

``run_cell`` is what every executor calls, in-process or on a Ray worker: it returns a
:class:`CellResult` and never raises for a failure of the method itself (the failure is the
result), so one broken cell cannot stop the others.
"""

from __future__ import annotations

import platform
import subprocess
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ftunlearn
from ftunlearn.disk import out_of_space
from ftunlearn.experiments.config import BenchConfig, digest
from ftunlearn.experiments.identity import RunIdentity
from ftunlearn.experiments.pseudo import PSEUDO_METHODS, pseudo_method
from ftunlearn.experiments.store import CellResult
from ftunlearn.experiments.workspace import Workspace
from ftunlearn.methods import make_config, unlearn
from ftunlearn.metrics.evaluate import evaluate, outputs_metrics
from ftunlearn.metrics.registry import MetricSelection
from ftunlearn.models.difference import changed_entries


@dataclass(frozen=True)
class Cell:
    """One (method, seed) pair of a run, with the method's resolved hyperparameters.

    ``identity`` is the run's identity digest (the content of its shared inputs) and ``inputs``
    the digest of the cell's own (its seed's forget set, its method's version); both are empty
    for a cell planned without the data (validation only).
    """

    method: str
    seed: int
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    identity: str = ""
    inputs: str = ""

    def key(self, config: BenchConfig) -> str:
        """A content key: the same cell of the same inputs always gets the same key."""
        return digest({"base": config.base(), "method": self.method, "seed": self.seed,
                       "hyperparameters": dict(self.hyperparameters),
                       "identity": self.identity, "inputs": self.inputs})

    def row_config(self, config: BenchConfig) -> dict[str, Any]:
        """The configuration stored with the cell's row, with the run identity it ran under."""
        return {**config.to_dict(), "identity": self.identity}


def plan_cells(config: BenchConfig, identity: RunIdentity | None = None) -> list[Cell]:
    """The golden row and every method for each seed, seeds outermost (so a seed's original
    and golden models are reused by consecutive cells). Validates every method's overrides.
    With ``identity`` each cell's key is content-addressed."""
    resolved = {
        method: make_config(method, config.hyperparameters.get(method, {})).to_dict()
        for method in config.methods
    }

    def cell(method: str, seed: int, hyperparameters: Mapping[str, Any]) -> Cell:
        if identity is None:
            return Cell(method, seed, hyperparameters)
        return Cell(method, seed, hyperparameters, identity.digest,
                    identity.cell_inputs(method, seed))

    cells = []
    for seed in config.seeds:
        cells.extend(cell(pseudo.name, seed, {}) for pseudo in PSEUDO_METHODS)
        cells.extend(cell(method, seed, resolved[method]) for method in config.methods)
    return cells


@cache
def software_versions() -> dict[str, str]:
    import sklearn  # here, not at start-up: commands that never key a cell skip its second

    return {
        "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "sklearn": sklearn.__version__,
        "ftunlearn": ftunlearn.__version__,
    }


@cache
def git_commit() -> str | None:
    """The project's commit when it runs from a git checkout, else ``None``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


EpochReporter = Callable[[str, int, int], None]
"""``report(method, epoch, epochs)`` for a progress display."""


def run_cell(
    workspace: Workspace, cell: Cell, *, on_epoch: EpochReporter | None = None,
    metrics: MetricSelection | None = None,
) -> CellResult:
    """Run one cell: unlearn (timed) and evaluate (``metrics``: all, or the main table's; by
    default the config's choice) against the golden model of its seed."""
    config = workspace.config
    if metrics is None:
        metrics = config.metrics
    started_at = _now()
    common = {
        "cell_key": cell.key(config), "method": cell.method, "seed": cell.seed,
        "config": cell.row_config(config), "hyperparameters": dict(cell.hyperparameters),
        "started_at": started_at, "versions": software_versions(), "git_commit": git_commit(),
    }
    try:
        reference = workspace.reference(cell.seed)
        retrain_seconds = reference.golden.train_seconds
        pseudo = pseudo_method(cell.method)
        if pseudo is not None:
            model = getattr(reference, pseudo.role).model
            seconds = retrain_seconds if pseudo.reference else 0.0
            changed = None
        else:
            epochs = int(cell.hyperparameters.get("epochs", config.recipe.epochs))

            def epoch_done(epoch: int, _loss: float) -> None:
                if on_epoch is not None:
                    on_epoch(cell.method, epoch, epochs)

            data = workspace.dataset
            split = reference.split
            result = unlearn(
                workspace.original_copy(cell.seed),
                (data.x_train[split.retain], data.y_train[split.retain]),
                (data.x_train[split.forget], data.y_train[split.forget]),
                cell.method, seed=cell.seed, device=config.device, recipe=config.recipe,
                num_classes=data.num_classes, n_test=data.n_test, on_epoch_end=epoch_done,
                **cell.hyperparameters,
            )
            model, seconds = result.model, result.seconds
            changed = changed_entries(reference.original.model, model)
        eval_started = time.perf_counter()
        row = {"rte_seconds": seconds, "retrain_seconds": retrain_seconds,
               "weights_changed": changed, "metrics": metrics}
        if pseudo is not None and pseudo.role == "golden":
            # the reference computed the golden's outputs with these very options: not twice
            values = outputs_metrics(reference.golden_outputs, golden=reference.golden_outputs,
                                     **row)
        else:
            values = evaluate(
                model, workspace.dataset, reference.split, golden=reference.golden_outputs,
                seed=cell.seed, device=config.device, **workspace.evaluation_options, **row,
            )
        eval_seconds = time.perf_counter() - eval_started
    except KeyboardInterrupt:
        raise
    except Exception as error:
        if out_of_space(error) is not None:  # every later cell would fail the same way: stop
            raise
        lines = traceback.format_exception(error)
        return CellResult(
            **common, status="failed", error=f"{type(error).__name__}: {error}\n"
            + "".join(lines[-6:]), metrics={}, unlearn_seconds=None, eval_seconds=None,
            finished_at=_now(),
        )
    return CellResult(
        **common, status="ok", error=None, metrics=values, unlearn_seconds=seconds,
        eval_seconds=eval_seconds, finished_at=_now(),
    )
