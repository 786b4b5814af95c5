"""The ``ftunlearn tune`` subcommand: argument parsing over :func:`ftunlearn.tuning.study.tune`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ftunlearn.cli_options import SEED_TYPE, add_machine_options, add_run_inputs, bounded
from ftunlearn.errors import UnlearnError

DESCRIPTION = (
    "Tune every method's hyperparameters with Optuna: one study per method (TPE sampler, "
    "seeded), the same trial budget for every method, each trial scored on the tuning seeds "
    "against their golden models. Studies live in Optuna's storage (default "
    "sqlite:///OUT/optuna.db), so the same command run again resumes them. Writes "
    "OUT/tuned.toml (for `ftunlearn bench --config OUT/tuned.toml`), summary.csv, report.md, "
    "report.html and figures/. Hyperparameters set by the preset, the config or --hp are held "
    "fixed. Precedence: --preset, then --config, then the flags. See docs/tuning.md."
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ftunlearn.tuning.objective import OBJECTIVES, PRUNE_RA_DROP
    from ftunlearn.tuning.outcome import DEFAULT_TUNE_SEEDS

    parser = subparsers.add_parser(
        "tune", help="per-method hyperparameter search with Optuna, on tuning seeds kept apart "
                     "from the report's", description=DESCRIPTION)
    add_run_inputs(parser, methods_help="comma-separated method names (default: every "
                   "method that is not a reference, i.e. all but retrain)",
                   hp_help="hold a method hyperparameter fixed (repeatable)",
                   preset_help="a bench preset's settings (paper: both runs, into "
                               "OUT/random-10 and OUT/class-3)")
    parser.add_argument("--trials", type=int, default=20, metavar="N",
                        help="trials per method, the same for every method (default 20)")
    parser.add_argument("--tune-seeds", default=",".join(map(str, DEFAULT_TUNE_SEEDS)),
                        metavar="S,S", help="comma-separated seeds the trials are scored on; "
                        "never the report's seeds (default "
                        f"{','.join(map(str, DEFAULT_TUNE_SEEDS))})")
    parser.add_argument("--objective", default="avg-gap", metavar="NAME",
                        help=f"one of {', '.join(OBJECTIVES)}: mean Avg Gap (minimised, "
                             "default) or the per-example audit's final score (maximised)")
    parser.add_argument("--audit-ensemble", type=int, default=8, metavar="K",
                        help="models per audit ensemble with --objective audit (default 8)")
    parser.add_argument("--prune-ra-drop", default=str(PRUNE_RA_DROP), metavar="POINTS",
                        help="prune a trial whose RA on its first tuning seed is more than "
                             f"POINTS below the golden's (default {PRUNE_RA_DROP:g}; off: "
                             "never prune)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="seconds per method after which no new trial starts")
    parser.add_argument("--seed", type=SEED_TYPE, default=0,
                        help="sampler seed (default 0): the same seed draws the same trials")
    parser.add_argument("--storage", metavar="URL",
                        help="Optuna storage URL, e.g. postgresql://... shared by several "
                             "machines (default sqlite:///OUT/optuna.db)")
    parser.add_argument("--device", help="auto (CUDA when present, default), cpu or cuda")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--executor", default="local", metavar="NAME",
                        help="local (trials one after another, default) or ray (trials in "
                             "parallel as Ray tasks)")
    parser.add_argument("--ray-address", help="address of a running Ray cluster (default: "
                        "start a local one)")
    parser.add_argument("--cpus-per-trial", type=bounded(float, 0, strict=True), default=1.0,
                        help="Ray CPUs per trial (default 1)")
    add_machine_options(parser, progress_help="no progress bars (one line per trial instead)")
    parser.set_defaults(func=run, seeds=None, original=None)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"100,101"`` as ``(100, 101)``; anything but whole numbers >= 0 is refused."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise UnlearnError(f"--tune-seeds must be comma-separated whole numbers >= 0, e.g. "
                           f"100,101; got {text!r}")
    return tuple(int(p) for p in parts)


def _prune(text: str) -> float | None:
    if str(text).strip().lower() in ("off", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise UnlearnError(f"--prune-ra-drop must be a number of points or off, got "
                           f"{text!r}") from None
    if not 0 <= value <= 100:
        raise UnlearnError(f"--prune-ra-drop must be in [0, 100] or off, got {text!r}")
    return value


def settings_from(args: argparse.Namespace) -> Any:
    from ftunlearn.experiments.cache import default_cache_dir
    from ftunlearn.tuning.outcome import TuneSettings

    return TuneSettings(
        trials=args.trials, seeds=parse_seeds(args.tune_seeds), objective=args.objective,
        timeout=args.timeout, executor=args.executor, sampler_seed=args.seed,
        storage=args.storage, audit_ensemble=args.audit_ensemble,
        prune_ra_drop=_prune(args.prune_ra_drop),
        cache_dir=args.cache_dir or default_cache_dir(), threads=args.threads,
        progress=not args.no_progress, ray_address=args.ray_address,
        cpus_per_trial=args.cpus_per_trial)


def configs_from(args: argparse.Namespace) -> list[tuple[Path, Any]]:
    """The runs to tune. Unless the user named the methods (then each must be tunable), the
    references and methods without a search space (plug-ins) are left out, with a note."""
    import sys

    from ftunlearn.cli_options import bench_configs
    from ftunlearn.methods.base import METHODS

    named = args.methods is not None and args.methods.strip() != "all"
    runs = []
    for out_dir, config in bench_configs(args):
        if not named:
            methods = tuple(m for m in config.methods if not METHODS.get(m).reference
                            and METHODS.get(m).search_space)
            spaceless = [m for m in config.methods if not METHODS.get(m).reference
                         and not METHODS.get(m).search_space]
            if spaceless:
                print(f"tune: left out {', '.join(spaceless)}: no search space declared",
                      file=sys.stderr)
            config = config.replace(methods=methods, hyperparameters={
                m: h for m, h in config.hyperparameters.items() if m in methods})
        runs.append((out_dir, config))
    return runs


def run(args: argparse.Namespace) -> int:
    from ftunlearn.cli_options import check_writable_folder
    from ftunlearn.tuning.outputs import REPORT_HTML, REPORT_MD, TUNED_TOML, print_table
    from ftunlearn.tuning.study import tune

    settings = settings_from(args)
    check_writable_folder(args.out, "--out")
    if args.cache_dir is not None:
        check_writable_folder(args.cache_dir, "--cache-dir")
    for out_dir, config in configs_from(args):
        print(f"tune: {config.dataset} / {config.model} / forget {config.forget} / "
              f"{len(config.methods)} methods x {settings.trials} trials on seeds "
              f"{','.join(map(str, settings.seeds))} ({settings.objective}) -> {out_dir}")
        outcome = tune(config, out_dir, settings)
        print_table(outcome)
        print(f"tuned: {out_dir / TUNED_TOML}  report: {out_dir / REPORT_MD}  "
              f"{out_dir / REPORT_HTML}")
    return 0
