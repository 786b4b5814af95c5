"""``ftunlearn unlearn``: unlearn a forget set from the user's own checkpoint, from the shell.

Writes ``OUT/model.safetensors`` (the unlearned weights, with the model's architecture, the
method, its hyperparameters and the input hashes as metadata, so ``ftunlearn.load`` rebuilds
it), ``OUT/manifest.json`` (the architecture, the sha256 of every input file and of the forget
indices (docs/protocol.md, "What the hashes cover"), the method and every hyperparameter, the
recipe, the seed, seconds, versions, the command line, the metrics) and ``OUT/report.md`` /
``report.html`` (the bench report's layout; with ``--golden`` the golden-relative metrics and a
golden column too). ``ftunlearn.load_run(OUT)`` reads the folder back.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import torch

from ftunlearn.cli_options import RUNS_CODE, SEED_TYPE
from ftunlearn.unlearn_outputs import MODEL_FILENAME, indices_sha256


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "unlearn", help="unlearn a forget set from your own checkpoint",
        description="Load --weights into --model, unlearn the --forget set of --dataset with "
                    "--method, and write OUT/model.safetensors, manifest.json, report.md and "
                    "report.html.",
    )
    parser.add_argument("--model", required=True,
                        help="model spec: a built-in name[:key=value,...] or "
                             f"package.module:factory[:key=value,...]; {RUNS_CODE}")
    parser.add_argument("--weights", required=True, type=Path,
                        help="the trained weights: .safetensors, or a .pt/.pth state dict "
                             "(read with torch.load(weights_only=True))")
    parser.add_argument("--dataset", required=True,
                        help="a dataset name (ftunlearn list) or package.module:factory; "
                             f"{RUNS_CODE}")
    parser.add_argument("--data-dir", type=Path, help="the dataset's files")
    parser.add_argument("--forget", required=True,
                        help="forget spec: random:F, class:C, class:C@R, indices:FILE")
    parser.add_argument("--method", required=True, help="unlearning method (ftunlearn list)")
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                        help="a hyperparameter of the method (repeatable)")
    parser.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        help="a field of the original's training recipe (used by retrain and "
                             "--golden retrain; repeatable)")
    parser.add_argument("--golden", help="'retrain' (retrain on D_r with the recipe) or a "
                                         "weights file of your own retrained model")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--seed", type=SEED_TYPE, default=0,
                        help="seed of the split and the method")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--force", action="store_true",
                        help="overwrite the model.safetensors an earlier run left in --out")
    parser.set_defaults(func=run_unlearn)


def preflight(args: argparse.Namespace) -> Any:
    """Refuse, before any data is read or model trained, what needs neither: an unusable or
    occupied ``--out``, a bad ``--recipe``, ``--hp`` or ``--device``, and a retraining
    (``--golden retrain`` or ``--method retrain``) without ``--recipe``. Returns the recipe."""
    from ftunlearn.cli_options import check_writable_folder
    from ftunlearn.errors import UnlearnError
    from ftunlearn.methods.base import make_config, method_class, reference_method
    from ftunlearn.training import Recipe, resolve_device

    check_writable_folder(args.out, "--out")
    if (args.out / MODEL_FILENAME).exists() and not args.force:
        raise UnlearnError(f"--out {args.out} already holds {MODEL_FILENAME} from an earlier "
                           "run; give --force to overwrite it, or another --out")
    recipe = Recipe.from_values(key_values(args.recipe, "--recipe"), where="--recipe") \
        if args.recipe else None
    make_config(args.method, key_values(args.hp, "--hp"))
    retrains = [f"--golden {args.golden}"] if args.golden == reference_method() else []
    if method_class(args.method).needs_recipe:
        retrains.insert(0, f"--method {args.method}")
    if recipe is None and retrains:
        verb = "retrains from scratch and needs" if len(retrains) == 1 else \
            "retrain from scratch and need"
        raise UnlearnError(
            f"{' and '.join(retrains)} {verb} the original's training recipe: add one "
            "--recipe KEY=VALUE per field it was trained with, e.g. --recipe epochs=20 "
            "--recipe lr=0.05 --recipe batch_size=128")
    resolve_device(args.device)
    _probe_writable(args.out)
    return recipe


def _probe_writable(out: Path) -> None:
    """Create ``out`` and a scratch file in it: permission bits do not bind root, /proc does."""
    import tempfile

    from ftunlearn.errors import UnlearnError

    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise UnlearnError(f"--out {out} cannot be written ({error.strerror or error}); give "
                           "a folder you may write to") from error


def key_values(items: list[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict (values stay text; the typed fields read them)."""
    from ftunlearn.errors import UnlearnError

    values = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UnlearnError(f"{flag} {item!r}: write KEY=VALUE")
        values[key.strip()] = value.strip()
    return values


def run_unlearn(args: argparse.Namespace) -> int:
    from ftunlearn import __version__
    from ftunlearn.checkpoints import save, sha256_of
    from ftunlearn.data import load_dataset, make_split
    from ftunlearn.disk import writing
    from ftunlearn.experiments.workspace import load_weights
    from ftunlearn.methods.base import reference_method, unlearn
    from ftunlearn.metrics.evaluate import evaluate, model_outputs
    from ftunlearn.models import Architecture, ModelSpec, build_model
    from ftunlearn.unlearn_outputs import input_records, write_manifest

    started = time.perf_counter()
    recipe = preflight(args)
    data = load_dataset(args.dataset, args.data_dir)
    split = make_split(data, args.forget, seed=args.seed)

    def fresh() -> torch.nn.Module:
        return build_model(args.model, data.input_shape, data.num_classes, seed=args.seed)

    # every input file is read and checked before any training
    original = load_weights(args.weights, fresh, "--weights")
    reference = reference_method()
    golden_file = (load_weights(args.golden, fresh, "--golden")
                   if args.golden and args.golden != reference else None)
    retain = (data.x_train[split.retain], data.y_train[split.retain])
    forget = (data.x_train[split.forget], data.y_train[split.forget])
    result = unlearn(original, retain, forget, args.method, seed=args.seed, device=args.device,
                     recipe=recipe, num_classes=data.num_classes, n_test=data.n_test,
                     **key_values(args.hp, "--hp"))
    golden_outputs = None
    if args.golden == reference:
        golden = unlearn(original, retain, forget, reference, seed=args.seed,
                         device=args.device, recipe=recipe, num_classes=data.num_classes).model
        golden_outputs = model_outputs(golden, data, split, seed=args.seed, device=args.device)
    elif golden_file is not None:
        golden_outputs = model_outputs(golden_file, data, split, seed=args.seed,
                                       device=args.device)
    metrics = evaluate(result.model, data, split, golden=golden_outputs, seed=args.seed,
                       device=args.device, rte_seconds=result.seconds)
    original_metrics = evaluate(original, data, split, golden=golden_outputs, seed=args.seed,
                                device=args.device)
    architecture = Architecture(ModelSpec.parse(args.model), data.input_shape, data.num_classes)
    manifest: dict[str, Any] = {
        "command": command_line(args),
        "model": args.model, "dataset": args.dataset, "forget": split.spec,
        "architecture": architecture.to_dict(),
        # weights, golden_weights, data_file, forget_file: path and sha256 of each input file
        **input_records(weights=args.weights, data_dir=args.data_dir, forget=args.forget,
                        golden_weights=args.golden if golden_file is not None else None),
        "forget_indices": {"count": len(split.forget), "sha256": indices_sha256(split.forget),
                           "encoding": "sorted, comma-joined ASCII decimal"},
        "method": result.method, "hyperparameters": result.hyperparameters,
        "recipe": recipe.to_dict() if recipe is not None else None,
        "golden": args.golden, "seed": args.seed, "unlearn_seconds": result.seconds,
        "total_seconds": time.perf_counter() - started,
        "versions": {"ftunlearn": __version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "metrics": metrics, "original_metrics": original_metrics,
        "golden_metrics": dict(golden_outputs.metrics) if golden_outputs is not None else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    # via a temporary name: a write cut short (a full disk) leaves no model.safetensors
    partial = args.out / f".{MODEL_FILENAME}.partial"
    try:
        with writing(args.out / MODEL_FILENAME):
            save(result.model, partial, architecture=architecture, method=result.method,
                 hyperparameters=result.hyperparameters, dataset=args.dataset,
                 forget=split.spec, seed=args.seed,
                 forget_sha256=manifest["forget_indices"]["sha256"],
                 weights_sha256=manifest["weights"]["sha256"])
        partial.replace(args.out / MODEL_FILENAME)
    finally:
        partial.unlink(missing_ok=True)
    manifest["output_sha256"] = sha256_of(args.out / MODEL_FILENAME)
    write_manifest(args.out, manifest)
    write_reports(args.out, manifest)
    print(f"wrote {args.out}/model.safetensors, manifest.json, report.md, report.html")
    return 0


def command_line(args: argparse.Namespace) -> list[str]:
    """The command that repeats this run (every option as parsed)."""
    words = ["ftunlearn", "unlearn"]
    for flag in ("model", "weights", "dataset", "data_dir", "forget", "method", "golden",
                 "device", "seed", "out"):
        value = getattr(args, flag)
        if value is not None:
            words += [f"--{flag.replace('_', '-')}", str(value)]
    for flag in ("hp", "recipe"):
        for item in getattr(args, flag):
            words += [f"--{flag}", item]
    return words


def write_reports(out: Path, manifest: dict[str, Any]) -> None:
    """``report.md`` and ``report.html``: the original, unlearned (and golden) models' metrics,
    laid out as the bench report (``experiments.unlearn_report``)."""
    from ftunlearn.experiments.unlearn_report import write_unlearn_reports

    write_unlearn_reports(out, manifest)
