"""Each method's run time (RTE) against the retrain's: a ratio table from a bench run.

A cell's ``rte_ratio`` is its unlearning seconds over the seconds its seed's golden model took
to train (the retrain every method is measured against). Given ``--run-dir``, the table is read
from that bench run's ``results.sqlite`` (a preset's folder with one sub-folder per forget spec
works too); otherwise the bench runs first, by default the ``paper`` preset. ``--seeds``,
``--forget``, ``--methods``, ``--limit-train`` and ``--limit-test`` make it cheaper; a limited
dataset is a seeded random subset written as an ``npz`` file in the work folder. The default
checkpoint cache lives in the work folder, so the golden models are timed in the same session
as the methods. Writes JSON (default ``benchmarks/results/methods_rte.json``) and prints a
Markdown table.

    .venv/bin/python benchmarks/bench_methods_rte.py --preset paper --seeds 1 --limit-train 10000
    .venv/bin/python benchmarks/bench_methods_rte.py --run-dir runs/paper
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from ftunlearn.data import load_dataset
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.catalog import is_reference
from ftunlearn.experiments.config import BenchConfig, all_methods, parse_methods
from ftunlearn.experiments.executors import ExecutorOptions
from ftunlearn.experiments.presets import preset
from ftunlearn.experiments.pseudo import GOLDEN, pseudo_method
from ftunlearn.experiments.runner import RUN_FILENAME, bench, run_results
from ftunlearn.experiments.store import RESULTS_FILENAME, CellResult


def limited_dataset(config: BenchConfig, limit_train: int | None, limit_test: int | None,
                    folder: Path) -> BenchConfig:
    """``config`` on a seeded random subset of its dataset, saved as ``npz`` in ``folder``."""
    if limit_train is None and limit_test is None:
        return config
    data = load_dataset(config.dataset, config.data_dir)
    generator = np.random.default_rng(0)

    def subset(x: torch.Tensor, y: torch.Tensor, limit: int | None):
        if limit is None or limit >= len(y):
            return x.numpy(), y.numpy()
        keep = np.sort(generator.choice(len(y), size=limit, replace=False))
        return x[keep].numpy(), y[keep].numpy()

    x_train, y_train = subset(data.x_train, data.y_train, limit_train)
    x_test, y_test = subset(data.x_test, data.y_test, limit_test)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data.name}-train{len(y_train)}-test{len(y_test)}.npz"
    if not path.exists():
        np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                 class_names=np.array(data.class_names))
    return dataclasses.replace(config, dataset="npz", data_dir=str(path.resolve()))


def run_folders(run_dir: Path) -> dict[str, Path]:
    """The bench runs in ``run_dir``: itself, or each sub-folder that holds one."""
    if (run_dir / RESULTS_FILENAME).exists():
        return {run_dir.name: run_dir}
    found = {p.name: p for p in sorted(run_dir.iterdir())
             if (p / RESULTS_FILENAME).exists() and (p / RUN_FILENAME).exists()}
    if not found:
        raise UnlearnError(f"{run_dir} holds no bench run ({RESULTS_FILENAME}); run "
                           "`ftunlearn bench --out DIR` first or leave out --run-dir")
    return found


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _epochs(rows: list[CellResult]) -> str:
    """The passes over the data the rows' method made (the recipe's for golden and retrain)."""
    values = sorted({
        row.config["recipe"]["epochs"] if is_reference(row.method)
        else row.hyperparameters.get("epochs", "-") for row in rows}, key=str)
    return ",".join(str(v) for v in values)


def _timed(method: str) -> bool:
    """Methods and the retraining reference; the original row's 0 s is not a procedure's."""
    pseudo = pseudo_method(method)
    return pseudo is None or pseudo.reference


def ratio_table(rows: list[CellResult]) -> dict[str, object]:
    """Per method (the golden row first), mean ± std over seeds: seconds, the ratio to the
    golden model's training time (``rte_ratio``) and, when ``retrain`` ran, the ratio to the
    same seed's ``retrain`` cell (timed in the same session as the other methods)."""
    ok = [row for row in rows if row.status == "ok" and "rte_seconds" in row.metrics
          and _timed(row.method)]
    order = [GOLDEN, *all_methods()]
    methods = sorted({row.method for row in ok},
                     key=lambda m: (order.index(m) if m in order else len(order), m))
    retrain_cell = {row.seed: row.metrics["rte_seconds"] for row in ok if row.method == "retrain"}
    nan = (float("nan"), float("nan"))
    table = []
    for method in methods:
        mine = [row for row in ok if row.method == method]
        seconds = _mean_std([row.metrics["rte_seconds"] for row in mine])
        ratios = [row.metrics["rte_ratio"] for row in mine if "rte_ratio" in row.metrics]
        ratio = _mean_std(ratios) if ratios else nan
        to_cell = [row.metrics["rte_seconds"] / retrain_cell[row.seed] for row in mine
                   if row.seed in retrain_cell]
        cell_ratio = _mean_std(to_cell) if to_cell else nan
        table.append({"method": method, "seeds": len(mine), "epochs": _epochs(mine),
                      "seconds_mean": seconds[0], "seconds_std": seconds[1],
                      "ratio_mean": ratio[0], "ratio_std": ratio[1],
                      "ratio_to_retrain_cell_mean": cell_ratio[0],
                      "ratio_to_retrain_cell_std": cell_ratio[1]})
    config = ok[0].config if ok else {}
    failed = sorted({(row.method, row.seed) for row in rows if row.status != "ok"})
    return {"dataset": config.get("dataset"), "data_dir": config.get("data_dir"),
            "model": config.get("model"), "forget": config.get("forget"),
            "recipe": config.get("recipe"), "methods": table, "failed_cells": failed}


def markdown(name: str, summary: dict[str, object]) -> str:
    data = summary["dataset"]
    if data == "npz" and summary["data_dir"]:
        data = f"{data} ({Path(str(summary['data_dir'])).stem})"
    lines = [f"### {name}: {data} / {summary['model']} / forget {summary['forget']}", "",
             "| method | epochs | seeds | seconds | RTE ratio (to the golden's training) | "
             "to the `retrain` cell |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in summary["methods"]:  # type: ignore[union-attr]
        pseudo = pseudo_method(row["method"])
        label = row["method"] if pseudo is None else f"{row['method']} (its training)"
        lines.append(f"| {label} | {row['epochs']} | {row['seeds']} | "
                     f"{row['seconds_mean']:.2f} ± "
                     f"{row['seconds_std']:.2f} | {row['ratio_mean']:.3f} ± "
                     f"{row['ratio_std']:.3f} | {row['ratio_to_retrain_cell_mean']:.3f} ± "
                     f"{row['ratio_to_retrain_cell_std']:.3f} |")
    failed = summary["failed_cells"]
    if failed:
        lines += ["", "Failed cells (not in the table): "
                  + ", ".join(f"{method} seed {seed}" for method, seed in failed)]
    return "\n".join(lines)


def run_preset(args: argparse.Namespace) -> Path:
    """Run (or resume) the chosen bench into the work folder and return it."""
    work = args.work_dir
    options = ExecutorOptions(cache_dir=args.cache_dir or work / "cache",
                              progress=not args.no_progress)
    for sub, config in preset(args.preset):
        if args.forget and config.forget not in args.forget:
            continue
        changes: dict[str, object] = {}
        if args.seeds:
            changes["seeds"] = tuple(range(args.seeds))
        if args.methods:
            changes["methods"] = parse_methods(args.methods)
        config = dataclasses.replace(config, **changes)
        config = limited_dataset(config, args.limit_train, args.limit_test, work / "data")
        out = work / (sub or "run")
        print(f"bench: {config.dataset} / {config.model} / {config.forget} -> {out}",
              file=sys.stderr)
        bench(config, out, executor=args.executor, options=options)
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="read this bench run instead of running")
    parser.add_argument("--preset", default="paper", choices=("paper", "quick"))
    parser.add_argument("--forget", action="append", help="only the preset's runs with this "
                        "forget spec (repeatable), e.g. random:0.1")
    parser.add_argument("--seeds", type=int, help="number of seeds (default: the preset's)")
    parser.add_argument("--methods", help="comma-separated methods (default: the preset's)")
    parser.add_argument("--limit-train", type=int, help="a random subset of N training samples")
    parser.add_argument("--limit-test", type=int, help="a random subset of N test samples")
    parser.add_argument("--work-dir", type=Path, help="bench output (default runs/bench-rte-"
                        "PRESET; a rerun resumes)")
    parser.add_argument("--cache-dir", type=Path, help="checkpoint cache (default WORK/cache)")
    parser.add_argument("--executor", default="local", choices=("local", "ray"))
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/methods_rte.json"))
    args = parser.parse_args()
    args.work_dir = args.work_dir or Path(f"runs/bench-rte-{args.preset}")

    try:
        run_dir = args.run_dir or run_preset(args)
        runs = {name: ratio_table(run_results(path))
                for name, path in run_folders(run_dir).items()}
    except UnlearnError as error:
        sys.exit(f"bench_methods_rte: {error}")
    result = {
        "benchmark": "methods_rte_vs_retrain",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "run_dir": str(run_dir), "runs": runs, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(), "machine": platform.processor() or platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("\n\n".join(markdown(name, summary) for name, summary in runs.items()))


if __name__ == "__main__":
    main()
