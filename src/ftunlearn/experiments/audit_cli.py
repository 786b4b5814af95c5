"""The ``ftunlearn audit`` subcommand: argument parsing over :func:`experiments.audit.run_audit`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ftunlearn.cli_options import SEED_TYPE, add_machine_options, add_run_inputs, bounded


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="per-example audit of methods against an ensemble of golden models",
        description=(
            "Train (or take from the cache) K goldens (seeds 0..K-1), K originals and K "
            "unlearned models per method (seeds 10000..10000+K-1, disjoint from the goldens'), "
            "plus K held-out goldens (seeds K..2K-1) scored as the null row, and score "
            "every forget example: epsilon and the forget score F, U-LiRA, KLOM. Writes "
            "OUT/audit.csv, audit.md, audit.html, audit_epsilon.png/.svg/.pdf, audit_examples.npy, "
            "audit_outputs.npz (every scored model's per-example outputs, layout in "
            "docs/protocol.md) and the table audit_examples of OUT/results.sqlite, then prints "
            "the table. Precedence: --preset, then --config, then the flags."
        ),
    )
    add_run_inputs(parser, methods_help="comma-separated method names, or all (default)",
                   preset_help="a bench preset's settings (paper: both runs, into "
                               "OUT/random-10 and OUT/class-3)")
    parser.add_argument("--ensemble", type=bounded(int, 4, strict=False), default=16,
                        metavar="K", help="models per ensemble, K >= 4 (default 16)")
    parser.add_argument("--mode", choices=("seeds", "one-original"), default="seeds",
                        help="seeds: K originals, each unlearned with its own seed (default); "
                             "one-original: one original and K unlearning seeds")
    parser.add_argument("--examples", type=bounded(int, 1, strict=False), default=500,
                        metavar="N", help="audited forget examples: all of D_f up to N "
                        "(default 500), else a seeded stratified subsample")
    parser.add_argument("--seed", type=SEED_TYPE, default=0,
                        help="split and subsample seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_machine_options(parser, progress_help="no progress bars")
    parser.set_defaults(func=run, seeds=None, device=None)


def run(args: argparse.Namespace) -> int:
    import torch

    from ftunlearn.cli_options import bench_configs
    from ftunlearn.experiments.audit import run_audit
    from ftunlearn.experiments.terminal import print_audit_table

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    for out_dir, config in bench_configs(args):
        print(f"audit: {config.dataset} / {config.model} / forget {config.forget} / "
              f"{len(config.methods)} methods, K = {args.ensemble} -> {out_dir}")
        outcome = run_audit(config, out_dir, args.ensemble, mode=args.mode,
                            examples=args.examples, seed=args.seed, cache_dir=args.cache_dir,
                            progress=not args.no_progress)
        print_audit_table(outcome)
        print(f"report: {out_dir / 'audit.md'}  {out_dir / 'audit.html'}")
    return 0
