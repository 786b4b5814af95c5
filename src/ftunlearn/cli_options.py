"""Command-line options that several subcommands share, declared once.

``bench``, ``audit`` and ``tune`` all describe a run the same way (a preset, a TOML config, or
the dataset, model, forget spec, methods, recipe and hyperparameters as flags) and share the
checkpoint cache and the thread and progress options; each adds its own options after these.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any


def bounded(kind: type, low: float, strict: bool) -> Callable[[str], Any]:
    """An argparse ``type`` reading ``kind`` and refusing values below ``low`` (or equal to it
    when ``strict``), and non-finite ones."""
    relation = ">" if strict else ">="

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be {relation} {low:g}, got {text!r}")
        return value

    convert.__name__ = kind.__name__
    return convert


def add_run_inputs(parser: argparse.ArgumentParser, *, methods_help: str,
                   hp_help: str = "a method hyperparameter, e.g. dr-ft.alpha=0.5 (repeatable)",
                   preset_help: str | None = None) -> None:
    """What the run is: ``--preset``, ``--config`` and the flags that describe it."""
    from ftunlearn.experiments.presets import PRESETS

    described = "; ".join(f"{p.name}: {p.description}" for p in PRESETS).replace("%", "%%")
    parser.add_argument("--preset", choices=PRESETS.names(), help=preset_help or described)
    parser.add_argument("--config", type=Path, help="a TOML file (keys as these flags, tables "
                        "[recipe] and [hyperparameters.METHOD])")
    parser.add_argument("--dataset", help="dataset name (see `ftunlearn list`); default digits")
    parser.add_argument("--data-dir", help="folder holding the dataset's files")
    parser.add_argument("--model", help="model spec, e.g. mlp, cnn:width=16, resnet18:width=32, "
                        "or package.module:factory; default mlp")
    parser.add_argument("--forget", help="forget spec: random:R, class:C[,C..], class:C@R, "
                        "indices:FILE; default random:0.1")
    parser.add_argument("--methods", help=methods_help)
    parser.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        help="original/golden training recipe field, e.g. epochs=20 (repeatable)")
    parser.add_argument("--hp", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help=hp_help)


def add_machine_options(parser: argparse.ArgumentParser, *, progress_help: str) -> None:
    """Where models come from and how this process runs: cache, threads, progress display."""
    parser.add_argument("--cache-dir", type=Path, help="checkpoint cache (default "
                        "$FTUNLEARN_CACHE or ~/.cache/ftunlearn)")
    parser.add_argument("--threads", type=bounded(int, 1, strict=False),
                        help="torch threads of this process (default: torch's choice; 1 is "
                        "fastest on a busy machine)")
    parser.add_argument("--no-progress", action="store_true", help=progress_help)
