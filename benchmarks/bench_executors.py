"""Sweep wall time: the in-process executor against Ray with N workers, on the same sweep.

Every run starts from an empty checkpoint cache, so each trains its own original and golden
models; the Ray instance is started before its run is timed (its start-up is reported apart).
The local executor runs once per ``--local-threads`` count: torch's default (as a user gets
it) and 1 thread (what each Ray cell uses). Also reports how far each local run's metrics are
from Ray's (timings excluded): torch CPU kernels round differently with other thread counts,
so only the 1-thread run is expected to match exactly. Writes JSON (default
``benchmarks/results/executors.json``).

    .venv/bin/python benchmarks/bench_executors.py --workers 2
    .venv/bin/python benchmarks/bench_executors.py --dataset npz --data-dir FILE.npz \
        --model cnn --recipe paper --methods ft,dr-ft,rl --local-threads 1 \
        --out benchmarks/results/executors_cnn.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from ftunlearn.experiments.config import BenchConfig, parse_methods
from ftunlearn.experiments.executors import ExecutorOptions
from ftunlearn.experiments.presets import PAPER_RECIPE, QUICK_RECIPE
from ftunlearn.experiments.runner import bench
from ftunlearn.experiments.store import ResultStore

TIMING_KEYS = ("rte_seconds", "rte_ratio")


def timed_bench(config: BenchConfig, root: Path, executor: str, cpus_per_cell: float) -> float:
    options = ExecutorOptions(cache_dir=root / "cache", progress=False,
                              cpus_per_cell=cpus_per_cell)
    started = time.perf_counter()
    outcome = bench(config, root / "run", executor=executor, options=options)
    seconds = time.perf_counter() - started
    if outcome.failed:
        sys.exit(f"{executor}: {outcome.failed} cell(s) failed; see {root / 'run'}")
    return seconds


def metrics_by_cell(run_dir: Path) -> dict[str, dict[str, float]]:
    with ResultStore(run_dir / "results.sqlite", create=False) as store:
        return {row.cell_key: row.metrics for row in store.results()}


def largest_difference(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> float:
    """The largest absolute difference of a non-timing metric between the two runs' cells."""
    if a.keys() != b.keys():
        sys.exit(f"the runs hold different cells: {sorted(a.keys() ^ b.keys())}")
    worst = 0.0
    for key, metrics in a.items():
        for name, value in metrics.items():
            if name in TIMING_KEYS or (math.isnan(value) and math.isnan(b[key][name])):
                continue
            worst = max(worst, abs(value - b[key][name]))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", help="the dataset's files (an npz file for --dataset npz)")
    parser.add_argument("--recipe", default="quick", choices=("quick", "paper"),
                        help="the original/golden recipe of that preset")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--methods", default="ft,dr-ft,ga,neggrad+,rl,l1-sparse")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="Ray CPUs (one cell each)")
    parser.add_argument("--local-threads", default="0,1",
                        help="torch threads of each local run, comma-separated; 0 means "
                             "torch's own choice (default 0,1: two local runs)")
    parser.add_argument("--work-dir", type=Path, help="where the runs go (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/executors.json"))
    args = parser.parse_args()

    import ray

    default_threads = torch.get_num_threads()
    thread_counts = [int(v) or default_threads for v in args.local_threads.split(",")]
    config = BenchConfig(dataset=args.dataset, data_dir=args.data_dir, model=args.model,
                         forget="random:0.1", methods=parse_methods(args.methods),
                         seeds=tuple(range(args.seeds)),
                         recipe=QUICK_RECIPE if args.recipe == "quick" else PAPER_RECIPE,
                         device="cpu")
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as scratch:
        root = args.work_dir or Path(scratch)
        load_before = os.getloadavg()
        started = time.perf_counter()
        ray.init(address="local", num_cpus=args.workers, include_dashboard=False,
                 logging_level="ERROR")
        ray_startup = time.perf_counter() - started
        try:
            ray_seconds = timed_bench(config, root / "ray", "ray", 1.0)
        finally:
            ray.shutdown()
        ray_metrics = metrics_by_cell(root / "ray" / "run")
        local_runs = []
        for threads in thread_counts:
            torch.set_num_threads(threads)
            folder = root / f"local-{threads}-threads"
            seconds = timed_bench(config, folder, "local", 1.0)
            local_runs.append({
                "torch_threads": threads, "seconds": seconds,
                "ray_speedup": seconds / ray_seconds,
                "ray_speedup_with_startup": seconds / (ray_seconds + ray_startup),
                "largest_metric_difference_to_ray": largest_difference(
                    metrics_by_cell(folder / "run"), ray_metrics),
            })
        torch.set_num_threads(default_threads)
        load_after = os.getloadavg()
    result = {
        "benchmark": "executors_local_vs_ray",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "dataset": config.dataset, "data_dir": config.data_dir, "model": config.model,
        "methods": list(config.methods),
        "seeds": len(config.seeds), "cells": len(config.seeds) * (len(config.methods) + 1),
        "recipe": config.recipe.to_dict(), "ray_workers": args.workers,
        "ray_torch_threads_per_cell": 1, "ray_seconds": ray_seconds,
        "ray_startup_seconds": ray_startup, "local": local_runs,
        "cpu_count": os.cpu_count(), "load_average_before": load_before,
        "load_average_after": load_after, "torch": torch.__version__,
        "ray": ray.__version__, "machine": platform.processor() or platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in (
        "cells", "ray_seconds", "ray_startup_seconds", "local", "load_average_before",
        "load_average_after")}, indent=2))


if __name__ == "__main__":
    main()
