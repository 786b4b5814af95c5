"""The ``ftunlearn`` command: thin argument parsing over the library's API.

Errors a user can cause are printed without a traceback and exit with status 2; an interrupt
exits with 130 after saying how to resume.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import logging
import sqlite3
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ftunlearn.cli_options import (
    add_machine_options,
    add_run_inputs,
    bench_configs,
    bounded,
    check_writable_folder,
)
from ftunlearn.disk import OutOfSpace, causes, out_of_space
from ftunlearn.errors import UnlearnError

INTERRUPTED = 130
"""The exit status after Ctrl-C (128 + SIGINT, as shells report it)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``PROG: error: MESSAGE`` (no usage block),
    like every other user error of the command; ``--help`` still shows the usage."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


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
    from ftunlearn.experiments.tracking import TRACKERS
    from ftunlearn.metrics.mia import ATTACK_SAMPLES
    from ftunlearn.metrics.registry import MetricSelection, NonMembers

    add_run_inputs(parser, methods_help="comma-separated method names, or all (default)")
    parser.add_argument("--seeds", help="a count (3 means 0,1,2) or a list (0,5,9); default 3")
    parser.add_argument("--device", help="auto (CUDA when present, default), cpu or cuda")
    parser.add_argument("--out", type=Path, required=True, help="output folder of the run")
    parser.add_argument("--original", help="start from these trained weights (.safetensors or "
                        "a .pt state dict) instead of training the original model")
    parser.add_argument("--executor", default="local", choices=("local", "ray"),
                        help="local (in-process, default) or ray")
    parser.add_argument("--ray-address", help="address of a running Ray cluster (default: start "
                        "a local one)")
    parser.add_argument("--cpus-per-cell", type=bounded(float, 0, strict=True), default=1.0,
                        help="Ray CPUs per cell")
    parser.add_argument("--gpus-per-cell", type=bounded(float, 0, strict=False), default=0.0,
                        help="Ray GPUs per cell")
    parser.add_argument("--cell-retries", type=bounded(int, 0, strict=False), default=1,
                        help="Ray: re-runs of a cell "
                        "whose worker died before it is recorded as failed (default 1)")
    add_machine_options(parser, progress_help="no progress bars (one line per finished cell)")
    parser.add_argument("--mia-non-members", choices=typing.get_args(NonMembers),
                        help="class-wise splits: the MIA attacks' non-members, the whole test "
                        "set (default) or its kept classes only (the reference code's choice)")
    parser.add_argument("--eval-retain-samples", metavar="N|all",
                        help="RA and the MIA members on all of D_r (default) or on a seeded, "
                        "label-stratified subsample of at most N retain samples (cheaper, with "
                        "RA's sampling error)")
    parser.add_argument("--attack-samples", metavar="N|all|auto",
                        help="members and non-members each MIA attack is fitted on: at most N a "
                        "side, all, or auto (default: all where the SVC is solved exactly, else "
                        f"{ATTACK_SAMPLES})")
    parser.add_argument("--metrics", choices=typing.get_args(MetricSelection),
                        help="every metric (default), or only the main table's (primary: "
                        "quicker, without the attack-quality check, loss-MIA and diagnostics)")
    parser.add_argument("--no-report", action="store_true", help="skip the report at the end")
    parser.add_argument("--log", choices=TRACKERS.names(), help="also log every cell "
                        "and the report to MLflow (OUT/mlruns) or TensorBoard (OUT/tensorboard)")
    parser.add_argument("--audit", type=bounded(int, 4, strict=False), metavar="K",
                        help="after the cells, run `ftunlearn audit` with ensembles of K models "
                        "(K >= 4) on the same dataset, model, forget spec, methods, recipe, "
                        "hyperparameters and cache, its default mode and examples, into each "
                        "run's folder (audit.csv, audit.md/.html, the table audit_examples of "
                        "results.sqlite); the report then shows it")
    parser.add_argument("--allow-tuning-seeds", action="store_true",
                        help="run a tuned config (ftunlearn tune) on seeds it was tuned on; for "
                             "debugging only, and the report says so")
    parser.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from ftunlearn.experiments import tracking
    from ftunlearn.experiments.cache import default_cache_dir
    from ftunlearn.experiments.executors import ExecutorOptions
    from ftunlearn.experiments.runner import bench, run_results

    options = ExecutorOptions(
        cache_dir=args.cache_dir or default_cache_dir(), progress=not args.no_progress,
        ray_address=args.ray_address, cpus_per_cell=args.cpus_per_cell,
        gpus_per_cell=args.gpus_per_cell, threads=args.threads, cell_retries=args.cell_retries,
    )
    check_writable_folder(args.out, "--out")
    if args.cache_dir is not None:
        check_writable_folder(args.cache_dir, "--cache-dir")
    if args.audit is not None:
        from ftunlearn.experiments.audit import UNLEARNED_SEED_OFFSET

        # refused before the cells run, not after them
        if 2 * args.audit > UNLEARNED_SEED_OFFSET:
            raise UnlearnError(f"--audit K must be at most {UNLEARNED_SEED_OFFSET // 2}, got "
                               f"{args.audit}")
        if args.original is not None:
            raise UnlearnError("--audit trains its own K originals, so it cannot audit the "
                               "weights of --original; run the bench without --audit")
    if args.log is not None:
        tracking.check_available(args.log)  # a missing extra is refused before any work
    failures = 0
    for out_dir, config in bench_configs(args):
        print(f"bench: {config.dataset} / {config.model} / forget {config.forget} / "
              f"{len(config.methods)} methods x {len(config.seeds)} seeds -> {out_dir}")
        tracker = tracking.open_tracker(args.log, out_dir) if args.log else None
        outcome = bench(config, out_dir, executor=args.executor, options=options,
                        tracker=tracker)
        failures += outcome.failed
        print(f"cells: {outcome.finished} run, {outcome.skipped} already done, "
              f"{outcome.failed} failed (of {outcome.planned})")
        if args.audit is not None:
            _bench_audit(config, out_dir, args)
        if not args.no_report:
            from ftunlearn.experiments.report import write_report

            results = run_results(out_dir)
            paths = write_report(out_dir, results)
            if tracker is not None:
                tracker.log_report(out_dir)
            _print_main_table(results)
            print(f"report: {paths.report_md}  {paths.report_html}")
            if results.ignored:
                print(f"report: left out {results.ignored} stored row(s) of earlier inputs or "
                      "configurations")
    return 1 if failures else 0


def _bench_audit(config: Any, out_dir: Path, args: argparse.Namespace) -> None:
    """``bench --audit K``: the audit of ``ftunlearn audit`` with its defaults, in process."""
    import torch

    from ftunlearn.experiments.audit import run_audit
    from ftunlearn.experiments.terminal import print_audit_table

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"audit: K = {args.audit} -> {out_dir}")
    outcome = run_audit(config, out_dir, args.audit, cache_dir=args.cache_dir,
                        progress=not args.no_progress)
    print_audit_table(outcome)


def _print_main_table(results: Any) -> None:
    from ftunlearn.experiments.reading import reading_lines
    from ftunlearn.experiments.report import summarize
    from ftunlearn.experiments.terminal import print_main_table

    summary = summarize(results)
    print_main_table(summary)
    for line in reading_lines(summary):
        print(f"reading: {line}")


def _add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="write report.md, report.html, summary.csv and plots for a run, or "
                       "compare several runs",
        description="Summarise OUT/results.sqlite of a `bench` run (mean, 95 % t-interval "
                    "over seeds). With several runs and --out, put them side by side "
                    "(OUT/comparison.md, comparison.html, comparison.csv: a table per metric, "
                    "a column per run, and Avg Gap against RTE).",
    )
    parser.add_argument("run_dir", type=Path, nargs="+", help="the --out folder(s) of bench runs")
    parser.add_argument("--out", type=Path, help="folder of the comparison (several runs)")
    parser.add_argument("--labels", help="comma-separated run names for the comparison "
                        "(default: the folder names)")
    parser.add_argument("--allow-different-golden", action="store_true",
                        help="compare runs whose golden models differ (other dataset, model, "
                             "forget spec or recipe)")
    parser.add_argument("--force", action="store_true",
                        help="write the report even if it counts fewer finished cells of the "
                             "same run than the existing one (rows were lost)")
    parser.add_argument("--paired", default="ft", metavar="METHOD[,METHOD..]",
                        help="the paired comparisons' baselines: every other method's Avg Gap "
                             "against each (default ft), e.g. ft,salun")
    parser.add_argument("--tex-columns", metavar="COL[,COL..]", help="table.tex's metric "
                        "columns, in order, e.g. UA,TA,MIA,AvgGap (default: the main table's)")
    parser.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from ftunlearn.experiments.exports import parse_tex_columns
    from ftunlearn.experiments.report import write_report
    from ftunlearn.experiments.runner import run_results

    if len(args.run_dir) > 1 or args.out is not None:
        return _run_compare(args)
    args.run_dir = args.run_dir[0]
    results = run_results(args.run_dir)
    baselines = tuple(name.strip() for name in args.paired.split(",") if name.strip())
    columns = parse_tex_columns(args.tex_columns) if args.tex_columns is not None else None
    paths = write_report(args.run_dir, results, force=args.force, baselines=baselines or ("ft",),
                         tex_columns=columns)
    print(f"report: {paths.report_md}  {paths.report_html}  {paths.summary_csv}")
    if results.ignored:
        print(f"report: left out {results.ignored} stored row(s) of earlier inputs or "
              "configurations")
    if getattr(results, "damaged", 0):
        print(f"report: skipped {results.damaged} damaged stored row(s), named above")
    return 0


def _run_compare(args: argparse.Namespace) -> int:
    from ftunlearn.experiments.compare import compare_runs

    if args.out is None:
        raise UnlearnError("comparing several runs needs --out DIR for the comparison")
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    paths = compare_runs(args.run_dir, args.out, labels=labels,
                         allow_different_golden=args.allow_different_golden)
    print(f"comparison: {paths.markdown}  {paths.html}  {paths.csv}  "
          + "  ".join(map(str, paths.figures)))
    return 0


def _add_list_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="list datasets, models, methods and presets")
    parser.set_defaults(func=_run_list)


def _run_list(args: argparse.Namespace) -> int:
    from ftunlearn.data import available_datasets
    from ftunlearn.experiments.presets import PRESETS
    from ftunlearn.methods import available_methods
    from ftunlearn.models.registry import available_models, model_descriptions

    print("datasets:", ", ".join(available_datasets()))
    print("models:  ", ", ".join(available_models()), "(or package.module:factory)")
    for name, description in model_descriptions():
        print(f"  {name:<9} {description}")
    print("methods: ", ", ".join(available_methods()))
    print("presets: ", ", ".join(PRESETS.names()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ftunlearn import __version__
    from ftunlearn.experiments.audit_cli import add_parser as add_audit_parser
    from ftunlearn.linear.cli import add_parser as add_theory_parser
    from ftunlearn.tuning.cli import add_parser as add_tune_parser
    from ftunlearn.unlearn_command import add_parser as add_unlearn_parser

    parser = _Parser(
        prog="ftunlearn",
        description="Machine unlearning by fine-tuning: the linear lab (theory), unlearning "
                    "methods for PyTorch classifiers and their evaluation (bench, report).",
    )
    parser.add_argument("--version", action="version", version=f"ftunlearn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE", help="import a Python module first (repeatable), e.g. "
                        "one that registers your own method with @register; this runs its code")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_theory_parser(subparsers)
    _add_bench_parser(subparsers)
    _add_report_parser(subparsers)
    _add_list_parser(subparsers)
    add_audit_parser(subparsers)
    add_tune_parser(subparsers)
    add_unlearn_parser(subparsers)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an unknown option is reported by the subcommand's parser (so the message
    names the subcommand)."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def _user_message(error: BaseException, args: argparse.Namespace) -> str | None:
    """The one-line message for an error the user's input or machine caused, else ``None`` (a
    bug of ours, which keeps its traceback)."""
    where = getattr(args, "out", None) or getattr(args, "run_dir", None)
    if out_of_space(error) is not None:  # first: a full disk also surfaces as a store error
        return _space_message(error, args, where)
    if isinstance(error, UnlearnError):
        return str(error)
    if isinstance(error, OSError):
        target = f" {error.filename}" if error.filename else ""
        return f"cannot use{target}: {error.strerror or error}; check the path and its permissions"
    if isinstance(error, sqlite3.DatabaseError) and not isinstance(
            error, sqlite3.ProgrammingError | sqlite3.IntegrityError):
        return (f"the results store in {where} cannot be read ({error}); it is damaged or not "
                "an ftunlearn results.sqlite: restore it or use another folder")
    if isinstance(error, json.JSONDecodeError):
        return (f"a JSON file in {where} is not valid JSON ({error}); restore it, or remove it "
                "and use another folder")
    return None


def _space_message(error: BaseException, args: argparse.Namespace, where: Any) -> str:
    """Out of space, once: what ran out writing which file, and what was kept."""
    named = next((e for e in causes(error) if isinstance(e, OutOfSpace)), None)
    if named is None:
        number = out_of_space(error)
        filename = next((e.filename for e in causes(error)
                         if isinstance(e, OSError) and e.filename), None)
        named = OutOfSpace(number or errno.ENOSPC, filename or where or Path.cwd())
    kept = {"bench": f"every finished cell is kept in {where}",
            "audit": f"every finished model is kept in the cache and {where}",
            "tune": "every finished trial is kept in its study"}.get(args.command)
    advice = (", or point --cache-dir at another disk"
              if hasattr(args, "cache_dir") and named.errno != errno.EFBIG else "")
    return (f"{named}{advice}, then run the same command again"
            + (f" to resume; {kept}" if kept else ""))


def _import_user_modules(names: Sequence[str]) -> None:
    """Import the ``--import`` modules, whose registrations then extend every list."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise UnlearnError(f"--import {name}: cannot import it ({error})") from error


def main(argv: Sequence[str] | None = None) -> int:
    """The ``ftunlearn`` console entry point: the command's exit status; an interrupt at any
    moment, the first seconds of imports and parsing included, is one line and status 130."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("ftunlearn: interrupted", file=sys.stderr)
        return INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as stop:  # argparse has printed its one-line error (or --help)
        if stop.code in (0, None):
            raise
        return int(stop.code) if isinstance(stop.code, int) else 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        _import_user_modules(args.imports)
        return int(args.func(args) or 0)
    except Exception as error:  # _user_message tells the user's from our own bugs
        message = _user_message(error, args)
        if message is None:
            raise
        one_line = " ".join(message.split())
        print(f"ftunlearn {args.command}: error: {one_line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
