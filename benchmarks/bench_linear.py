"""Benchmark of the linear lab's solvers; writes JSON (default benchmarks/results/linear.json).

1. The default sweep of ``ftunlearn theory`` (overlap, alpha, trajectory): the time ``fit_models``
   spends on all its (trial, swept value) points, against one ``numpy.linalg.lstsq`` per distinct
   matrix those points factorise (the least any least-squares approach must do). Scenario draws
   and metrics are outside both timings. Ratio = solver / lstsq; the aim is <= 1.5.
2. Finite-step gradient descent on the default scenario: the closed form against explicit
   iteration, for one run of K steps and for the trajectory's checkpoints (one explicit run to the
   last checkpoint, recording on the way, against one closed form per checkpoint).

Run: ``.venv/bin/python benchmarks/bench_linear.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ftunlearn.linear.experiments import DEFAULT_SWEEP, EXPERIMENTS, Experiment
from ftunlearn.linear.models import MethodSpec, fit_models, step_size
from ftunlearn.linear.scenarios import Scenario
from ftunlearn.linear.solvers import FactorCache, LeastSquares, gradient_descent

DEFAULT_OUT = Path(__file__).parent / "results" / "linear.json"


def best_of(repeats: int, work: Callable[[], float]) -> float:
    """The smallest of ``repeats`` measurements (each returned by ``work`` in seconds)."""
    return min(work() for _ in range(repeats))


def sweep_tasks(experiments: list[Experiment]) -> list[tuple[Scenario, list[MethodSpec]]]:
    """Per (experiment, trial, scenario): the drawn scenario and the methods fitted on it."""
    tasks = []
    for experiment in experiments:
        points = experiment.points()
        for trial in range(experiment.trials):
            by_scenario: dict[object, list[MethodSpec]] = {}
            for scenario_spec, method in points:
                by_scenario.setdefault(scenario_spec, []).append(method)
            for scenario_spec, methods in by_scenario.items():
                scenario = scenario_spec.build(np.random.default_rng([experiment.seed, trial]))
                tasks.append((scenario, methods))
    return tasks


def time_solver(tasks: list[tuple[Scenario, list[MethodSpec]]]) -> tuple[float, list[np.ndarray]]:
    """Seconds of ``fit_models`` over every point, and the matrices it factorised."""
    matrices: list[np.ndarray] = []
    elapsed = 0.0
    for scenario, methods in tasks:
        cache = FactorCache()
        start = time.perf_counter()
        for method in methods:
            fit_models(scenario, method, cache, np.random.default_rng(0))
        elapsed += time.perf_counter() - start
        matrices += cache.matrices
    return elapsed, matrices


def time_lstsq(matrices: list[np.ndarray]) -> float:
    """Seconds of one ``numpy.linalg.lstsq`` per matrix."""
    targets = [np.ones(a.shape[0]) for a in matrices]
    start = time.perf_counter()
    for a, b in zip(matrices, targets, strict=True):
        np.linalg.lstsq(a, b, rcond=None)
    return time.perf_counter() - start


def benchmark_sweep(trials: int | None, repeats: int) -> dict[str, object]:
    experiments = [EXPERIMENTS[name] for name in DEFAULT_SWEEP]
    if trials is not None:
        experiments = [dataclasses.replace(e, trials=trials) for e in experiments]
    tasks = sweep_tasks(experiments)
    _, matrices = time_solver(tasks)
    solver = best_of(repeats, lambda: time_solver(tasks)[0])
    lstsq = best_of(repeats, lambda: time_lstsq(matrices))
    return {
        "experiments": list(DEFAULT_SWEEP),
        "trials": [e.trials for e in experiments],
        "points": sum(len(methods) for _, methods in tasks),
        "distinct_matrices": len(matrices),
        "matrix_shapes": sorted({f"{a.shape[0]}x{a.shape[1]}" for a in matrices}),
        "solver_seconds": solver,
        "lstsq_seconds": lstsq,
        "ratio": solver / lstsq,
    }


def benchmark_gradient_descent(repeats: int) -> dict[str, object]:
    experiment = EXPERIMENTS["trajectory"]
    scenario = experiment.scenario.build(np.random.default_rng([experiment.seed, 0]))
    checkpoints = [k for k in experiment.sweep.values if isinstance(k, int)]  # type: ignore[union-attr]
    a = scenario.x_r / np.sqrt(scenario.n_r)
    b = scenario.y_r / np.sqrt(scenario.n_r)
    remain = LeastSquares(a)
    lr = step_size(scenario, remain, MethodSpec())
    start_w = np.random.default_rng(1).standard_normal(scenario.d) / np.sqrt(scenario.d)
    last = max(checkpoints)

    def closed_one() -> float:
        begin = time.perf_counter()
        LeastSquares(a).solve(b, start_w, steps=last, lr=lr)
        return time.perf_counter() - begin

    def explicit_one() -> float:
        begin = time.perf_counter()
        gradient_descent(a, b, start_w, steps=last, lr=lr)
        return time.perf_counter() - begin

    def closed_path() -> float:
        begin = time.perf_counter()
        factor = LeastSquares(a)
        for k in checkpoints:
            factor.solve(b, start_w, steps=k, lr=lr)
        return time.perf_counter() - begin

    def explicit_path() -> float:
        begin = time.perf_counter()
        w, done = start_w.copy(), 0
        for k in sorted(checkpoints):
            w = gradient_descent(a, b, w, steps=k - done, lr=lr)
            done = k
        return time.perf_counter() - begin

    closed = LeastSquares(a).solve(b, start_w, steps=last, lr=lr)
    explicit = gradient_descent(a, b, start_w, steps=last, lr=lr)
    agreement = float(np.linalg.norm(closed - explicit) / np.linalg.norm(explicit))
    one = (best_of(repeats, explicit_one), best_of(repeats, closed_one))
    path = (best_of(repeats, explicit_path), best_of(repeats, closed_path))
    return {
        "matrix_shape": list(a.shape),
        "steps": last,
        "checkpoints": checkpoints,
        "relative_difference": agreement,
        "explicit_seconds": one[0],
        "closed_form_seconds": one[1],
        "speedup": one[0] / one[1],
        "trajectory_explicit_seconds": path[0],
        "trajectory_closed_form_seconds": path[1],
        "trajectory_speedup": path[0] / path[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    parser.add_argument("--repeats", type=int, default=5, help="measurements; the best is kept")
    parser.add_argument("--trials", type=int, help="override the default sweep's trials")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (CLI default)")
    args = parser.parse_args()
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        result = {
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "cpus": os.cpu_count(),
                "load_average_1min": os.getloadavg()[0],
            },
            "blas_threads": args.blas_threads,
            "repeats": args.repeats,
            "default_sweep": benchmark_sweep(args.trials, args.repeats),
            "gradient_descent": benchmark_gradient_descent(args.repeats),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
