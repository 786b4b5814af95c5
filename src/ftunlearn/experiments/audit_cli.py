"""The ``ftunlearn audit`` subcommand: argument parsing over :func:`experiments.audit.run_audit`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ftunlearn.errors import UnlearnError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ftunlearn.experiments.presets import PRESETS

    parser = subparsers.add_parser(
        "audit",
        help="per-example audit of methods against an ensemble of golden models",
        description=(
            "Train (or take from the cache) K goldens (seeds 0..K-1), K originals and K "
            "unlearned models per method (seeds 10000..10000+K-1, disjoint from the goldens'), "
            "plus K held-out goldens (seeds K..2K-1) scored as the null row, and score "
            "every forget example: epsilon and the forget score F, U-LiRA, KLOM. Writes "
            "OUT/audit.csv, audit.md, audit.html, audit_epsilon.png/.svg, audit_examples.npy "
            "and the table audit_examples of OUT/results.sqlite, then prints the table. "
            "Precedence: --preset, then "
            "--config, then the flags."
        ),
    )
    parser.add_argument("--preset", choices=PRESETS.names(), help="a bench preset's settings")
    parser.add_argument("--config", type=Path, help="a TOML file (keys as bench's flags)")
    parser.add_argument("--dataset", help="dataset name; default digits")
    parser.add_argument("--model", help="model spec; default mlp")
    parser.add_argument("--forget", help="forget spec; default random:0.1")
    parser.add_argument("--methods", help="comma-separated method names, or all (default)")
    parser.add_argument("--ensemble", type=int, default=16, metavar="K",
                        help="models per ensemble (default 16)")
    parser.add_argument("--mode", choices=("seeds", "one-original"), default="seeds",
                        help="seeds: original j and method seed j (default); one-original: one "
                             "original and K unlearning seeds")
    parser.add_argument("--examples", type=int, default=500, metavar="N",
                        help="audited forget examples: all of D_f up to N (default 500), else "
                             "a seeded stratified subsample")
    parser.add_argument("--seed", type=int, default=0,
                        help="split and subsample seed (default 0)")
    parser.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        help="original/golden training recipe field (repeatable)")
    parser.add_argument("--hp", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help="a method hyperparameter (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--cache-dir", type=Path, help="checkpoint cache (default "
                        "$FTUNLEARN_CACHE or ~/.cache/ftunlearn)")
    parser.add_argument("--threads", type=int, help="torch threads (1 is fastest on a busy "
                        "machine)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run, seeds=None, data_dir=None, device=None)


def run(args: argparse.Namespace) -> int:
    import torch

    from ftunlearn.cli import _bench_configs
    from ftunlearn.experiments.audit import run_audit
    from ftunlearn.experiments.terminal import print_audit_table

    if args.threads is not None:
        if args.threads < 1:
            raise UnlearnError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    for out_dir, config in _bench_configs(args):
        print(f"audit: {config.dataset} / {config.model} / forget {config.forget} / "
              f"{len(config.methods)} methods, K = {args.ensemble} -> {out_dir}")
        outcome = run_audit(config, out_dir, args.ensemble, mode=args.mode,
                            examples=args.examples, seed=args.seed, cache_dir=args.cache_dir,
                            progress=not args.no_progress)
        print_audit_table(outcome)
        print(f"report: {out_dir / 'audit.md'}  {out_dir / 'audit.html'}")
    return 0
