"""The benchmark driver: plan cells, skip finished ones, run the rest, store every result.

Only this driver writes ``results.sqlite``. Each finished cell is committed before the next
one's result is awaited, so an interrupted run keeps everything already finished and the same
command resumes it. A failed cell is stored with its error and the others go on.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ftunlearn.data import load_dataset, make_split
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.cells import Cell, plan_cells
from ftunlearn.experiments.config import BenchConfig, config_from_mapping
from ftunlearn.experiments.executors import ExecutorOptions, make_executor
from ftunlearn.experiments.store import RESULTS_FILENAME, CellResult, ResultStore
from ftunlearn.models import build_model
from ftunlearn.training import resolve_device

RUN_FILENAME = "run.json"


@dataclass(frozen=True)
class BenchOutcome:
    """What a ``bench`` call did."""

    out_dir: Path
    planned: int
    skipped: int
    finished: int
    failed: int


def _claim_out_dir(config: BenchConfig, out_dir: Path) -> None:
    """Record the run's shared configuration; refuse a folder that holds a different run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / RUN_FILENAME
    base = json.loads(json.dumps(config.base(), default=str))
    if marker.exists():
        try:
            recorded = json.loads(marker.read_text())
        except json.JSONDecodeError as error:
            raise UnlearnError(f"{marker} is not valid JSON ({error}); remove it or use "
                               "another --out") from error
        if recorded.get("base") != base:
            raise UnlearnError(
                f"{out_dir} holds a run with another dataset, model, forget spec or recipe "
                f"({recorded.get('base')}); use another --out to keep both"
            )
    marker.write_text(json.dumps({"base": base, "config": config.to_dict()}, indent=2,
                                  default=str))


def preflight(config: BenchConfig, *, check_device: bool = True) -> None:
    """Fail before anything is written when the run's shared inputs are wrong: the dataset,
    every seed's forget spec, the model spec, every method's hyperparameters and (for work
    that runs here) the device."""
    plan_cells(config)
    data = load_dataset(config.dataset, config.data_dir)
    for seed in config.seeds:
        make_split(data, config.forget, seed=seed)
    build_model(config.model, data.input_shape, data.num_classes, seed=0)
    if check_device:
        resolve_device(config.device)


def pending_cells(config: BenchConfig, store: ResultStore) -> tuple[list[Cell], int]:
    """The cells still to run, and how many were skipped because they already finished."""
    cells = plan_cells(config)
    done = store.finished_keys()
    todo = [cell for cell in cells if cell.key(config) not in done]
    return todo, len(cells) - len(todo)


def bench(
    config: BenchConfig,
    out_dir: str | Path,
    *,
    executor: str = "local",
    options: ExecutorOptions,
) -> BenchOutcome:
    """Run (or resume) the benchmark ``config`` into ``out_dir``."""
    out = Path(out_dir)
    preflight(config, check_device=executor == "local")
    _claim_out_dir(config, out)
    finished = failed = 0
    with ResultStore(out / RESULTS_FILENAME) as store:
        todo, skipped = pending_cells(config, store)
        planned = len(todo) + skipped
        runner = make_executor(executor, options)
        bar = tqdm(total=planned, initial=skipped, desc="cells", unit="cell",
                   disable=not options.progress, file=sys.stderr, dynamic_ncols=True)

        def on_epoch(method: str, epoch: int, epochs: int) -> None:
            bar.set_postfix_str(f"{method} epoch {epoch}/{epochs}")

        with bar:
            try:
                for result in runner.run(config, todo, on_epoch):
                    store.write(result)
                    if result.status == "ok":
                        finished += 1
                    else:
                        failed += 1
                        first_line = (result.error or "").splitlines()[0]
                        bar.write(f"cell {result.method} seed {result.seed} failed: {first_line}")
                    bar.set_postfix_str(f"{result.method} seed {result.seed} done")
                    bar.update(1)
            except KeyboardInterrupt:
                bar.write(f"interrupted: {finished + failed} cell(s) saved in {out}; run the "
                          "same command again to resume")
                raise
    return BenchOutcome(out, planned, skipped, finished, failed)


def run_results(out_dir: str | Path) -> list[CellResult]:
    """The stored cells (finished and failed) of the run's latest configuration, in plan order
    (so reports list methods as the configuration does, whenever each cell ran).

    Cells of an earlier configuration of the same folder (other hyperparameters, dropped
    methods or seeds) stay in the database but are left out of the report.
    """
    out = Path(out_dir)
    marker = out / RUN_FILENAME
    if not (out / RESULTS_FILENAME).exists() or not marker.exists():
        raise UnlearnError(f"{out} holds no benchmark run (results.sqlite and {RUN_FILENAME}); "
                           f"run `ftunlearn bench --out {out}` first")
    config = config_from_mapping(json.loads(marker.read_text())["config"])
    position = {cell.key(config): index for index, cell in enumerate(plan_cells(config))}
    with ResultStore(out / RESULTS_FILENAME, create=False) as store:
        stored = [result for result in store.results(status=None) if result.cell_key in position]
    return sorted(stored, key=lambda result: position[result.cell_key])
