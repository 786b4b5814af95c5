"""A bench run mirrored to an experiment tracker (``bench --log mlflow|tensorboard``).

Beside ``results.sqlite`` (which stays the record reports read), every finished cell is logged
with its parameters (method, seed, cell key, the run's configuration, the method's
hyperparameters), its metrics and its record as ``cell.json``; after the report, its files
(report.md/.html, summary.csv, the exports and figures) are logged with the run. A cell run
again (it failed before, or its inputs changed) replaces its earlier entry, so the tracker
holds what the store holds.

- ``mlflow``: a local MLflow store, no server: ``OUT/mlruns/mlflow.db`` (SQLite; MLflow's plain
  file store is in maintenance mode) with the files under ``OUT/mlruns/artifacts``; one parent
  run for the bench folder, a child run per cell. Read it with ``MlflowClient(tracking_uri=
  "sqlite:///OUT/mlruns/mlflow.db")`` or ``mlflow ui --backend-store-uri`` the same URI (the UI
  needs the full ``mlflow`` package).
- ``tensorboard``: event files under ``OUT/tensorboard/METHOD/seed-SEED`` (metrics as scalars
  and in the HParams dashboard with the parameters, ``cell.json`` as text) and
  ``OUT/tensorboard/report`` (report.md as text, the figures as images).

Weights & Biases is not offered: its offline mode writes runs that only ``wandb sync`` to a
W&B server makes readable (its reader, ``wandb.Api``, reads from a server), so a run could not
be read back, nor tested, without an account.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import math
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.store import CellResult
from ftunlearn.registry import Registry

CELL_FILE = "cell.json"
REPORT_FILES = ("report.md", "report.html", "summary.csv", "table.tex", "summary.json",
                "results_long.csv")
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


class Tracker(Protocol):
    """Where a bench run's cells and report go besides ``results.sqlite``."""

    def log_cell(self, result: CellResult) -> None:
        """Log one finished (or failed) cell, replacing an earlier entry of the same key."""

    def log_report(self, out_dir: Path) -> None:
        """Log the report's files found in ``out_dir`` and close the run."""


@dataclass(frozen=True)
class TrackerEntry:
    """A tracker: its ``--log`` name, the package it needs and the extra that installs it."""

    name: str
    package: str
    extra: str
    open: Callable[[Path], Tracker]
    folder: str
    """Where in the bench folder it writes."""


TRACKERS: Registry[TrackerEntry] = Registry("tracker")


def check_available(name: str) -> TrackerEntry:
    """The tracker ``name``, or one clean error naming the extra to install (before any work)."""
    entry = TRACKERS.get(name)
    if importlib.util.find_spec(entry.package) is None:
        raise UnlearnError(f"--log {name} needs the {entry.extra} extra: pip install "
                           f"'ftunlearn[{entry.extra}]'")
    return entry


def open_tracker(name: str, out_dir: Path) -> Tracker:
    """The tracker ``name`` writing beside ``out_dir/results.sqlite``."""
    return check_available(name).open(Path(out_dir))


def cell_params(result: CellResult) -> dict[str, str | int | float | bool]:
    """Flat parameters of a cell: method, seed, key, ``config.*`` and ``hp.*`` (nested values and
    lists as JSON)."""
    params: dict[str, Any] = {"method": result.method, "seed": result.seed,
                              "cell_key": result.cell_key, "status": result.status}

    def flatten(prefix: str, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, Mapping):
                flatten(f"{prefix}{key}.", value)
            elif value is not None:
                params[f"{prefix}{key}"] = value if isinstance(value, str | int | float | bool) \
                    else json.dumps(value, sort_keys=True, default=str)

    flatten("config.", result.config)
    flatten("hp.", result.hyperparameters)
    return params


def cell_metrics(result: CellResult) -> dict[str, float]:
    """The cell's finite metrics (trackers store no NaN)."""
    return {k: float(v) for k, v in result.metrics.items() if math.isfinite(v)}


def cell_json(result: CellResult) -> str:
    return json.dumps(asdict(result), indent=2, sort_keys=True, default=str,
                      allow_nan=True) + "\n"


def report_paths(out_dir: Path) -> list[Path]:
    """The report's files in ``out_dir``: the pages, tables, exports and figures."""
    files = [out_dir / name for name in REPORT_FILES]
    files += sorted(p for p in out_dir.iterdir() if p.suffix in FIGURE_SUFFIXES)
    return [p for p in files if p.is_file()]


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """The trackers' own INFO lines (database migrations) are noise on the bench's terminal."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


MLFLOW_EXPERIMENT = "ftunlearn bench"
RUN_TAG = "ftunlearn.run"
KEY_TAG = "ftunlearn.cell_key"
PARAM_LIMIT = 6000
"""Characters MLflow keeps of a parameter's value."""


def mlflow_uri(out_dir: Path) -> str:
    return f"sqlite:///{(Path(out_dir) / 'mlruns' / 'mlflow.db').resolve()}"


class MlflowTracker:
    """A parent MLflow run per bench folder, a child run per cell (:mod:`mlflow`'s client API:
    no active-run state)."""

    def __init__(self, out_dir: Path) -> None:
        from mlflow.tracking import MlflowClient

        root = Path(out_dir) / "mlruns"
        root.mkdir(parents=True, exist_ok=True)
        with _quiet("mlflow", "alembic"):
            self.client = MlflowClient(tracking_uri=mlflow_uri(out_dir))
            experiment = self.client.get_experiment_by_name(MLFLOW_EXPERIMENT)
        self.experiment = (experiment.experiment_id if experiment is not None else
                           self.client.create_experiment(
                               MLFLOW_EXPERIMENT,
                               artifact_location=(root / "artifacts").resolve().as_uri()))
        # one parent per folder: a resumed bench logs into the run it started
        found = self.client.search_runs([self.experiment], f"tags.`{RUN_TAG}` = 'bench'",
                                        max_results=1)
        self.parent = (found[0].info.run_id if found else self.client.create_run(
            self.experiment, run_name=Path(out_dir).resolve().name,
            tags={RUN_TAG: "bench"}).info.run_id)

    def log_cell(self, result: CellResult) -> None:
        from mlflow.entities import Metric, Param, RunTag

        for old in self.client.search_runs(
                [self.experiment], f"tags.`{KEY_TAG}` = '{result.cell_key}'"):
            self.client.delete_run(old.info.run_id)
        run = self.client.create_run(
            self.experiment, run_name=f"{result.method} seed {result.seed}",
            tags={"mlflow.parentRunId": self.parent, KEY_TAG: result.cell_key,
                  RUN_TAG: "cell", **({"error": result.error[:5000]} if result.error else {})})
        run_id = run.info.run_id
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, 0, 0) for k, v in cell_metrics(result).items()],
            params=[Param(k, str(v)[:PARAM_LIMIT]) for k, v in cell_params(result).items()],
            tags=[RunTag("status", result.status)])
        self.client.log_text(run_id, cell_json(result), CELL_FILE)
        self.client.set_terminated(run_id, "FINISHED" if result.status == "ok" else "FAILED")

    def log_report(self, out_dir: Path) -> None:
        for path in report_paths(Path(out_dir)):
            self.client.log_artifact(self.parent, str(path))
        self.client.set_terminated(self.parent, "FINISHED")


def tensorboard_dir(out_dir: Path) -> Path:
    return Path(out_dir) / "tensorboard"


class TensorboardTracker:
    """Event files per cell (``torch.utils.tensorboard``), one folder per method and seed."""

    def __init__(self, out_dir: Path) -> None:
        self.root = tensorboard_dir(out_dir)

    def log_cell(self, result: CellResult) -> None:
        from torch.utils.tensorboard import SummaryWriter

        folder = self.root / result.method / f"seed-{result.seed}"
        shutil.rmtree(folder, ignore_errors=True)  # a cell run again replaces its entry
        with SummaryWriter(log_dir=str(folder)) as writer:
            # run_name "." keeps the HParams entry (and its metric scalars) in this folder
            writer.add_hparams(cell_params(result), cell_metrics(result), run_name=".")
            writer.add_text(CELL_FILE, f"```json\n{cell_json(result)}```")

    def log_report(self, out_dir: Path) -> None:
        from matplotlib import image
        from torch.utils.tensorboard import SummaryWriter

        folder = self.root / "report"
        shutil.rmtree(folder, ignore_errors=True)
        with SummaryWriter(log_dir=str(folder)) as writer:
            for path in report_paths(Path(out_dir)):
                if path.suffix == ".md":
                    writer.add_text(path.name, path.read_text())
                elif path.suffix == ".png":
                    pixels = image.imread(io.BytesIO(path.read_bytes()), format="png")
                    writer.add_image(path.stem, pixels[..., :3], dataformats="HWC")


TRACKERS.add(TrackerEntry("mlflow", "mlflow", "mlflow", MlflowTracker, "mlruns"))
TRACKERS.add(TrackerEntry("tensorboard", "tensorboard", "tensorboard", TensorboardTracker,
                          "tensorboard"))
