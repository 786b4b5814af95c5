"""Command-line options that several subcommands share, declared once.

``bench``, ``audit`` and ``tune`` all describe a run the same way (a preset, a TOML config, or
the dataset, model, forget spec, methods, recipe and hyperparameters as flags) and share the
checkpoint cache and the thread and progress options; each adds its own options after these.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ftunlearn.errors import UnlearnError
from ftunlearn.params import SEED_LIMIT

# A factory spec is code: `--dataset os:system --data-dir CMD` would run a shell command.
RUNS_CODE = "a module:factory spec imports and runs that code"


def bounded(kind: type, low: float | None, strict: bool, high: float | None = None
            ) -> Callable[[str], Any]:
    """An argparse ``type`` reading ``kind`` and refusing values below ``low`` (or equal to it
    when ``strict``; ``None``: no lower bound), above ``high`` when given, and non-finite ones."""
    relation = ">" if strict else ">="
    wanted = " and ".join(
        ([f"{relation} {_number(low)}"] if low is not None else [])
        + ([f"<= {_number(high)}"] if high is not None else []))

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {kind.__name__}{' ' + wanted if wanted else ''}, got {text!r}"
            ) from None
        if (not math.isfinite(value) or (low is not None and (
                value < low or (strict and value == low)))
                or (high is not None and value > high)):
            raise argparse.ArgumentTypeError(f"must be {wanted or 'finite'}, got {text!r}")
        return value

    convert.__name__ = kind.__name__
    return convert


def _number(value: float) -> str:
    """A bound in words: whole ones in full (1000000, not 1e+06)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def add_run_inputs(parser: argparse.ArgumentParser, *, methods_help: str,
                   hp_help: str = "a method hyperparameter, e.g. dr-ft.alpha=0.5 (repeatable)",
                   preset_help: str | None = None) -> None:
    """What the run is: ``--preset``, ``--config`` and the flags that describe it."""
    from ftunlearn.experiments.presets import PRESETS

    described = "; ".join(f"{p.name}: {p.description}" for p in PRESETS).replace("%", "%%")
    parser.add_argument("--preset", choices=PRESETS.names(), help=preset_help or described)
    parser.add_argument("--config", type=Path, help="a TOML file (keys as these flags, tables "
                        f"[recipe] and [hyperparameters.METHOD]); {RUNS_CODE}")
    parser.add_argument("--dataset", help="dataset name (see `ftunlearn list`) or "
                        f"package.module:factory; default digits; {RUNS_CODE}")
    parser.add_argument("--data-dir", help="folder holding the dataset's files")
    parser.add_argument("--model", help="model spec, e.g. mlp, cnn:width=16, resnet18:width=32, "
                        f"or package.module:factory; default mlp; {RUNS_CODE}")
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


def recipe_overrides(items: Sequence[str]) -> dict[str, str]:
    """``--recipe KEY=VALUE`` items as text; ``Recipe.from_values`` reads them by type."""
    result: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UnlearnError(f"bad --recipe {item!r}: write KEY=VALUE, e.g. epochs=20")
        result[key.strip()] = value
    return result


def bench_configs(args: argparse.Namespace) -> list[tuple[Path, Any]]:
    from ftunlearn.experiments import config as cfg
    from ftunlearn.experiments.presets import preset

    runs = [(sub, c.to_dict() | {"recipe": c.recipe.to_dict()}) for sub, c in preset(args.preset)
            ] if args.preset else [("", {})]
    file_values = cfg.load_toml(args.config) if args.config else {}
    flags: dict[str, Any] = {
        key: value for key, value in {
            "dataset": args.dataset, "data_dir": args.data_dir, "model": args.model,
            "forget": args.forget, "methods": args.methods, "seeds": args.seeds,
            "device": args.device, "original_weights": getattr(args, "original", None),
            "allow_tuning_seeds": getattr(args, "allow_tuning_seeds", None) or None,
            "mia_non_members": getattr(args, "mia_non_members", None),
            "eval_retain_samples": getattr(args, "eval_retain_samples", None),
            "attack_samples": getattr(args, "attack_samples", None),
            "metrics": getattr(args, "metrics", None),
        }.items() if value is not None
    }
    configs = []
    for sub, values in runs:
        merged = {**values, **file_values, **flags}
        recipe = {**values.get("recipe", {}), **file_values.get("recipe", {}),
                  **recipe_overrides(args.recipe)}
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


def check_writable_folder(path: Path, flag: str) -> None:
    """Refuse, before any work, a folder that cannot be created or written: an existing file,
    a path under a file, or a folder without write permission."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and not path.is_dir():
        raise UnlearnError(f"{flag} {path} is a file, not a folder; give a folder path")
    if not existing.is_dir():
        raise UnlearnError(f"{flag} {path} lies under {existing}, which is a file, not a folder; "
                           "give a folder path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UnlearnError(f"{flag} {path}: {existing} is not writable; give a folder you may "
                           "write to")


SEED_TYPE = bounded(int, 0, strict=False, high=SEED_LIMIT - 1)
"""The argparse ``type`` of every ``--seed``: a whole number the generators take."""
