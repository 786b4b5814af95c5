"""The benchmark driver: plan cells, skip finished ones, run the rest, store every result.

Only this driver writes ``results.sqlite``. Each finished cell is committed before the next
one's result is awaited, so an interrupted run keeps everything already finished and the same
command resumes it. A failed cell is stored with its error and the others go on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ftunlearn.atomic import write_atomic
from ftunlearn.data import Dataset, SplitSizes, load_dataset, make_split
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.cells import Cell, plan_cells
from ftunlearn.experiments.config import BenchConfig, digest
from ftunlearn.experiments.executors import ExecutorOptions, make_executor
from ftunlearn.experiments.identity import RunIdentity, run_identity
from ftunlearn.experiments.lock import OutDirLock
from ftunlearn.experiments.store import RESULTS_FILENAME, CellResult, ResultStore
from ftunlearn.experiments.tracking import Tracker
from ftunlearn.experiments.workspace import load_weights
from ftunlearn.methods.base import Samples
from ftunlearn.methods.overlap import check_disjoint
from ftunlearn.models import build_model
from ftunlearn.models.checks import check_model
from ftunlearn.training import resolve_device

RUN_FILENAME = "run.json"
MIN_FORGET = 2
"""Fewest forget samples a run accepts (MIA and the forget-loss gap need more than one)."""


@dataclass(frozen=True)
class BenchOutcome:
    """What a ``bench`` call did."""

    out_dir: Path
    planned: int
    skipped: int
    finished: int
    failed: int


def _claim_out_dir(config: BenchConfig, out_dir: Path, identity: RunIdentity,
                   cells: list[Cell]) -> None:
    """Record the run's configuration, identity, planned cells and each seed's split sizes
    in ``run.json`` (atomically); refuse a folder that holds another kind of run (dataset,
    model, forget spec or recipe). A changed identity (the same names, other content) is not
    refused: its cells re-run."""
    marker = out_dir / RUN_FILENAME
    base = json.loads(json.dumps(config.base(), default=str))
    if marker.exists():
        recorded = _read_record(marker, "remove it or use another --out")
        if recorded.get("base") != base:
            raise UnlearnError(
                f"{out_dir} holds a run with another dataset, model, forget spec or recipe "
                f"({recorded.get('base')}); use another --out to keep both"
            )
    # reports show them without loading the data again
    sizes = {str(seed): asdict(counts) for seed, counts in identity.sizes.items()}
    record = {"base": base, "config": config.to_dict(), "identity": identity.to_dict(),
              "cells": [cell.key(config) for cell in cells], "split_sizes": sizes}
    write_json_atomic(marker, record)


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON via a temporary sibling and a rename (a reader never sees half a file),
    readable by group and others."""
    write_atomic(path, json.dumps(data, indent=2, default=str).encode())


def preflight(config: BenchConfig, *, check_device: bool = True) -> Dataset:
    """Fail before anything is written when the run's shared inputs are wrong: the dataset,
    every seed's forget spec, the model spec, every method's hyperparameters and (for work
    that runs here) the device. Returns the dataset it loaded, for the run to reuse."""
    plan_cells(config)
    data = load_dataset(config.dataset, config.data_dir)
    present = int(torch.unique(data.y_train).numel())
    if present < 2:
        raise UnlearnError(f"{config.dataset}: the training set holds {present} class; a "
                           "classifier needs at least two")
    for seed in config.seeds:
        split = make_split(data, config.forget, seed=seed)
        if split.forget.numel() < MIN_FORGET:
            raise UnlearnError(
                f"forget spec {config.forget} (seed {seed}) selects {split.forget.numel()} "
                f"sample(s); the forget metrics need at least {MIN_FORGET}"
            )
        check_disjoint(Samples(data.x_train[split.retain], data.y_train[split.retain]),
                       Samples(data.x_train[split.forget], data.y_train[split.forget]))
    # one dry forward pass, so that a model that cannot fit the data fails here, not per cell
    model = build_model(config.model, data.input_shape, data.num_classes, seed=0)
    check_model(model, data.x_train[0], data.num_classes, config.model)
    if config.original_weights is not None:
        # its layout must fit the model spec, its values be finite
        load_weights(config.original_weights, lambda: model, "--original")
    if check_device:
        resolve_device(config.device)
    return data


def pending_cells(
    config: BenchConfig, store: ResultStore, cells: list[Cell] | None = None
) -> tuple[list[Cell], int]:
    """The cells still to run, and how many were skipped because they already finished."""
    cells = plan_cells(config) if cells is None else cells
    done = store.finished_keys()
    todo = [cell for cell in cells if cell.key(config) not in done]
    return todo, len(cells) - len(todo)


def bench(
    config: BenchConfig,
    out_dir: str | Path,
    *,
    executor: str = "local",
    options: ExecutorOptions,
    tracker: Tracker | None = None,
) -> BenchOutcome:
    """Run (or resume) the benchmark ``config`` into ``out_dir``; ``tracker`` also logs every
    stored cell (``bench --log``)."""
    out = Path(out_dir)
    data = preflight(config, check_device=executor == "local")
    identity = run_identity(config, data)
    cells = plan_cells(config, identity)
    out.mkdir(parents=True, exist_ok=True)
    finished = failed = 0
    with OutDirLock(out), ResultStore(out / RESULTS_FILENAME) as store:
        _claim_out_dir(config, out, identity, cells)
        todo, skipped = pending_cells(config, store, cells)
        planned = len(todo) + skipped
        runner = make_executor(executor, replace(options, dataset=data))
        # bars only on a terminal; otherwise (and with --no-progress) one line per cell
        live = options.progress and sys.stderr.isatty()
        bar = tqdm(total=planned, initial=skipped, desc="cells", unit="cell",
                   disable=not live, file=sys.stderr, dynamic_ncols=True)

        def on_epoch(method: str, epoch: int, epochs: int) -> None:
            bar.set_postfix_str(f"{method} epoch {epoch}/{epochs}")

        with bar:
            try:
                for result in runner.run(config, todo, on_epoch):
                    store.write(result)
                    if tracker is not None:
                        tracker.log_cell(result)
                    if result.status == "ok":
                        finished += 1
                    else:
                        failed += 1
                        first_line = (result.error or "").splitlines()[0]
                        bar.write(f"cell {result.method} seed {result.seed} failed: {first_line}")
                    bar.set_postfix_str(f"{result.method} seed {result.seed} done")
                    bar.update(1)
                    if not live:
                        print(cell_log_line(result, skipped + finished + failed, planned),
                              file=sys.stderr, flush=True)
            except KeyboardInterrupt:
                bar.write(f"interrupted: {finished + failed} cell(s) saved in {out}; run the "
                          "same command again to resume")
                raise
    return BenchOutcome(out, planned, skipped, finished, failed)


class RunResults(list[CellResult]):
    """The cells a report shows, with how many stored rows it ``ignored`` (rows of earlier
    inputs or configurations of the folder), how many were ``damaged`` (skipped by the store),
    the ``plan`` digest they answer and the ``split_sizes`` the bench recorded per seed."""

    def __init__(self, cells: list[CellResult], *, ignored: int = 0, damaged: int = 0,
                 plan: str | None = None, split_sizes: Mapping[int, SplitSizes] | None = None):
        super().__init__(cells)
        self.ignored = ignored
        self.damaged = damaged
        self.plan = plan
        self.split_sizes = dict(split_sizes or {})


def _recorded_sizes(record: Mapping[str, Any]) -> dict[int, SplitSizes]:
    """``run.json``'s split sizes per seed; none where absent (an earlier ftunlearn's record)
    or malformed (the report then computes them from the data)."""
    sizes = record.get("split_sizes")
    if not isinstance(sizes, dict):
        return {}
    try:
        names = [field.name for field in fields(SplitSizes)]
        return {int(seed): SplitSizes(**{name: int(counts[name]) for name in names})
                for seed, counts in sizes.items()}
    except (TypeError, ValueError, KeyError):
        return {}


def read_run_record(out_dir: str | Path) -> dict[str, Any]:
    """The folder's ``run.json`` as a mapping, or one clean error saying what is wrong."""
    out = Path(out_dir)
    marker = out / RUN_FILENAME
    if not (out / RESULTS_FILENAME).exists() or not marker.exists():
        raise UnlearnError(f"{out} holds no benchmark run (results.sqlite and {RUN_FILENAME}); "
                           f"run `ftunlearn bench --out {out}` first")
    return _read_record(marker, "run the bench again to rewrite it")


def _read_record(marker: Path, advice: str) -> dict[str, Any]:
    """``run.json`` as a dict, or one clean error that ends with ``advice``."""
    try:
        record = json.loads(marker.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnlearnError(f"{marker} is not valid JSON ({error}); {advice}") from error
    if not isinstance(record, dict):
        raise UnlearnError(f"{marker} is not a JSON object; {advice}")
    return record


def cell_log_line(result: CellResult, done: int, planned: int) -> str:
    """One line for a finished cell when no progress bar is shown."""
    if result.status != "ok":
        return f"cell {done}/{planned}: {result.method} seed {result.seed} failed"
    timing = ", ".join(f"{label} {seconds:.2f} s" for label, seconds in
                       (("unlearn", result.unlearn_seconds), ("eval", result.eval_seconds))
                       if seconds is not None)
    gap = result.metrics.get("avg_gap")
    gap_text = f", Avg Gap {gap:.2f}" if gap is not None else ""
    return f"cell {done}/{planned}: {result.method} seed {result.seed} ok ({timing}{gap_text})"


def run_results(out_dir: str | Path) -> RunResults:
    """The stored cells (finished and failed) of the run's current plan, in plan order (so
    reports list methods as the configuration does, whenever each cell ran).

    The plan is the list of content-addressed cell keys the latest ``bench`` recorded in
    ``run.json``. Cells of earlier inputs (other data, model code, forget indices, versions) or
    configurations (other hyperparameters, dropped methods or seeds) stay in the database, are
    left out and counted in ``ignored``. The store is opened read-only.
    """
    out = Path(out_dir)
    record = read_run_record(out)
    keys = record.get("cells")
    with ResultStore(out / RESULTS_FILENAME, read_only=True) as store:
        stored = store.results(status=None)
        damaged = len(store.damaged)  # skipped rows, each already warned about by name
    if not isinstance(keys, list):  # a run.json of an ftunlearn before identities: every row
        return RunResults(stored, damaged=damaged)
    position = {key: index for index, key in enumerate(keys)}
    current = sorted((r for r in stored if r.cell_key in position),
                     key=lambda result: position[result.cell_key])
    return RunResults(current, ignored=len(stored) - len(current), damaged=damaged,
                      plan=digest({"cells": keys}), split_sizes=_recorded_sizes(record))
