"""The ``ftunlearn`` command: thin argument parsing over the library's API.

Errors a user can cause are printed without a traceback and exit with status 2; an interrupt
exits with 130 after saying how to resume.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ftunlearn.errors import UnlearnError
from ftunlearn.values import parse_scalar


def _add_bench_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run unlearning methods against the golden model and write a report",
        description=(
            "Train (or take from the cache) the original and golden models per seed, run every "
            "method, evaluate it with the protocol's metrics and store one row per (method, "
            "seed) in OUT/results.sqlite; then write the report. Re-running the same command "
            "skips finished cells. Precedence: --preset, then --config, then the flags."
        ),
    )
    parser.add_argument("--preset", choices=("quick", "paper"),
                        help="quick: digits+mlp, random 10%%, every method, 3 seeds; paper: "
                             "Fashion-MNIST+cnn, random 10%% and class 3, 3 seeds")
    parser.add_argument("--config", type=Path, help="a TOML file (keys as these flags, tables "
                        "[recipe] and [hyperparameters.METHOD])")
    parser.add_argument("--dataset", help="dataset name (see `ftunlearn list`); default digits")
    parser.add_argument("--data-dir", help="folder holding the dataset's files")
    parser.add_argument("--model", help="model spec, e.g. mlp, cnn:width=16, resnet18:width=32, "
                        "or package.module:factory; default mlp")
    parser.add_argument("--forget", help="forget spec: random:R, class:C[,C..], class:C@R, "
                        "indices:FILE; default random:0.1")
    parser.add_argument("--methods", help="comma-separated method names, or all (default)")
    parser.add_argument("--seeds", help="a count (3 means 0,1,2) or a list (0,5,9); default 3")
    parser.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        help="original/golden training recipe field, e.g. epochs=20 (repeatable)")
    parser.add_argument("--hp", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help="a method hyperparameter, e.g. dr-ft.alpha=0.5 (repeatable)")
    parser.add_argument("--device", help="auto (CUDA when present, default), cpu or cuda")
    parser.add_argument("--out", type=Path, required=True, help="output folder of the run")
    parser.add_argument("--cache-dir", type=Path, help="checkpoint cache (default "
                        "$FTUNLEARN_CACHE or ~/.cache/ftunlearn)")
    parser.add_argument("--executor", default="local", choices=("local", "ray"),
                        help="local (in-process, default) or ray")
    parser.add_argument("--ray-address", help="address of a running Ray cluster (default: start "
                        "a local one)")
    parser.add_argument("--cpus-per-cell", type=float, default=1.0, help="Ray CPUs per cell")
    parser.add_argument("--gpus-per-cell", type=float, default=0.0, help="Ray GPUs per cell")
    parser.add_argument("--cell-retries", type=int, default=1, help="Ray: re-runs of a cell "
                        "whose worker died before it is recorded as failed (default 1)")
    parser.add_argument("--threads", type=int, help="torch threads per process for the local "
                        "executor (default: torch's choice; 1 is fastest on a busy machine)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-report", action="store_true", help="skip the report at the end")
    parser.set_defaults(func=_run_bench)


def _recipe_overrides(items: Sequence[str]) -> dict[str, Any]:
    from ftunlearn.training import Recipe

    hints = {f.name: f.type for f in dataclasses.fields(Recipe)}
    result: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key not in hints:
            raise UnlearnError(f"bad --recipe {item!r}: write KEY=VALUE with KEY one of "
                               f"{sorted(hints)}")
        result[key] = _literal(value)
    return result


def _literal(value: str) -> Any:
    if value.strip().lower() in ("none", "null"):
        return None
    return parse_scalar(value)


def _bench_configs(args: argparse.Namespace) -> list[tuple[Path, Any]]:
    from ftunlearn.experiments import config as cfg
    from ftunlearn.experiments.presets import preset

    runs = [(sub, c.to_dict() | {"recipe": c.recipe.to_dict()}) for sub, c in preset(args.preset)
            ] if args.preset else [("", {})]
    file_values = cfg.load_toml(args.config) if args.config else {}
    flags: dict[str, Any] = {
        key: value for key, value in {
            "dataset": args.dataset, "data_dir": args.data_dir, "model": args.model,
            "forget": args.forget, "methods": args.methods, "seeds": args.seeds,
            "device": args.device,
        }.items() if value is not None
    }
    configs = []
    for sub, values in runs:
        merged = {**values, **file_values, **flags}
        recipe = {**values.get("recipe", {}), **file_values.get("recipe", {}),
                  **_recipe_overrides(args.recipe)}
        if recipe:
            merged["recipe"] = recipe
        chosen = set(cfg.parse_methods(merged.get("methods", "all")))
        # a preset's settings for methods the file or flags dropped do not apply
        hyper = {m: dict(h) for m, h in values.get("hyperparameters", {}).items() if m in chosen}
        for method, items in file_values.get("hyperparameters", {}).items():
            hyper.setdefault(method, {}).update(items)
        for method, items in cfg.parse_overrides(args.hp).items():
            hyper.setdefault(method, {}).update(items)
        merged["hyperparameters"] = hyper
        configs.append((args.out / sub if sub else args.out, cfg.config_from_mapping(merged)))
    return configs


def _run_bench(args: argparse.Namespace) -> int:
    from ftunlearn.experiments.cache import default_cache_dir
    from ftunlearn.experiments.executors import ExecutorOptions
    from ftunlearn.experiments.report import write_report
    from ftunlearn.experiments.runner import bench, run_results

    options = ExecutorOptions(
        cache_dir=args.cache_dir or default_cache_dir(), progress=not args.no_progress,
        ray_address=args.ray_address, cpus_per_cell=args.cpus_per_cell,
        gpus_per_cell=args.gpus_per_cell, threads=args.threads, cell_retries=args.cell_retries,
    )
    if args.threads is not None and args.threads < 1:
        raise UnlearnError(f"--threads must be >= 1, got {args.threads}")
    failures = 0
    for out_dir, config in _bench_configs(args):
        print(f"bench: {config.dataset} / {config.model} / forget {config.forget} / "
              f"{len(config.methods)} methods x {len(config.seeds)} seeds -> {out_dir}")
        outcome = bench(config, out_dir, executor=args.executor, options=options)
        failures += outcome.failed
        print(f"cells: {outcome.finished} run, {outcome.skipped} already done, "
              f"{outcome.failed} failed (of {outcome.planned})")
        if not args.no_report:
            paths = write_report(out_dir, run_results(out_dir))
            print(f"report: {paths.report_md}  {paths.report_html}")
    return 1 if failures else 0


def _add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="write report.md, report.html, summary.csv and plots for a run",
        description="Summarise OUT/results.sqlite of a `bench` run: mean ± std over seeds.",
    )
    parser.add_argument("run_dir", type=Path, help="the --out folder of a bench run")
    parser.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from ftunlearn.experiments.report import write_report
    from ftunlearn.experiments.runner import run_results

    paths = write_report(args.run_dir, run_results(args.run_dir))
    print(f"report: {paths.report_md}  {paths.report_html}  {paths.summary_csv}")
    return 0


def _add_list_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="list datasets, models, methods and presets")
    parser.set_defaults(func=_run_list)


def _run_list(args: argparse.Namespace) -> int:
    from ftunlearn.data import available_datasets
    from ftunlearn.experiments.presets import PRESETS
    from ftunlearn.methods import available_methods
    from ftunlearn.models import available_models

    print("datasets:", ", ".join(available_datasets()))
    print("models:  ", ", ".join(available_models()), "(or package.module:factory)")
    print("methods: ", ", ".join(available_methods()))
    print("presets: ", ", ".join(PRESETS))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ftunlearn import __version__
    from ftunlearn.linear.cli import add_parser as add_theory_parser

    parser = argparse.ArgumentParser(
        prog="ftunlearn",
        description="Machine unlearning by fine-tuning: the linear lab (theory), unlearning "
                    "methods for PyTorch classifiers and their evaluation (bench, report).",
    )
    parser.add_argument("--version", action="version", version=f"ftunlearn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_theory_parser(subparsers)
    _add_bench_parser(subparsers)
    _add_report_parser(subparsers)
    _add_list_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except UnlearnError as error:
        print(f"ftunlearn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ftunlearn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
