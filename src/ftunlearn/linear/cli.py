"""The ``ftunlearn theory`` subcommand: run a named experiment or sweep of the linear lab."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ftunlearn.cli_options import bounded
from ftunlearn.errors import UnlearnError
from ftunlearn.linear.experiments import (
    DEFAULT_SWEEP,
    EXPERIMENTS,
    TOTAL_SAMPLES_KEY,
    Experiment,
    Row,
    Sweep,
    run_experiments,
    summarise,
)
from ftunlearn.linear.models import DR_TARGETS, MASK_RULES, MethodSpec
from ftunlearn.linear.real import FEATURE_MAPS, FORGET_KINDS, RealFeatureSpec
from ftunlearn.linear.scenarios import SyntheticSpec
from ftunlearn.params import SEED_LIMIT
from ftunlearn.values import parse_scalar

DEFAULT_OUT = "runs/theory"
LIMIT = "limit"
SYNTHETIC_ONLY = ("d_f", "d_r", "d_lap", "d_extra", "sigma", "w_star")
REAL_ONLY = (
    "dataset",
    "data_dir",
    "features",
    "n_features",
    "forget",
    "forget_class",
    "target_class",
)
SHARED_SCENARIO = ("n_f", "n_r", "n_test", "interpolate")
METHOD_FIELDS = tuple(f.name for f in dataclasses.fields(MethodSpec))
MAX_DIMENSION = 100_000
"""The most features one block (d_f, d_r, d_lap, d_extra) or feature map may have."""
MAX_SAMPLES = 1_000_000
"""The most samples n_f, n_r or n_test may ask for."""
MAX_ENTRIES = 2**26
"""The most float64 entries a trial's drawn sets may hold, (n_r + n_f + 2 n_test) x d: 512 MiB,
refused before anything is drawn (the built-in experiments stay under 2.1 million)."""
# upper bounds only: a value too low gets the scenario's own message, naming the field
DIMENSION = bounded(int, None, strict=False, high=MAX_DIMENSION)
SAMPLES = bounded(int, None, strict=False, high=MAX_SAMPLES)

EPILOG = """\
experiments:
{listing}

Without an experiment name the default sweep runs: {default}.
Outputs in --out: results.json (one flat row per experiment, swept value, trial and model, with
every parameter as its own key), results.csv (the same rows), summary.csv (mean and std over
trials), and <experiment>.png per experiment.

examples:
  ftunlearn theory                                  # default sweep, figures in runs/theory
  ftunlearn theory overlap --trials 20 --out runs/overlap
  ftunlearn theory alpha --steps 200 --dr-targets permuted
  ftunlearn theory illustrative --sweep mask_threshold=0,0.5,0.9
  ftunlearn theory digits --features cos --n-features 1000 --forget random
"""


def _steps(text: str) -> int | str:
    """An integer >= 0 or the word ``limit``."""
    if text.strip().lower() in (LIMIT, "inf", "none"):
        return LIMIT
    try:
        return int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of steps or 'limit', got {text!r}"
        ) from error


def _listing() -> str:
    return "\n".join(f"  {name:<14} {e.description}" for name, e in EXPERIMENTS.items())


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``theory`` subcommand (``func=run``) on ``subparsers``."""
    parser = subparsers.add_parser(
        "theory",
        help="the linear lab: why fine-tuning does not forget, in closed form",
        description=(
            "Run the linear lab of docs/theory.md (over-parameterised linear regression): "
            "pretrained, "
            "golden, fine-tuned, masked (Option A, Option B, data-driven) and discriminatively "
            "regularised models, exactly from one factorisation per matrix, averaged over "
            "seeded trials. Options left out keep the experiment's values."
        ),
        epilog=EPILOG.format(listing=_listing(), default=", ".join(DEFAULT_SWEEP)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``ftunlearn theory``; every default of None means 'the experiment's'."""
    parser.add_argument(
        "experiment",
        nargs="?",
        default="default",
        metavar="EXPERIMENT",
        choices=["default", *EXPERIMENTS],
        help="the experiment to run (default: the default sweep; see the list below)",
    )
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument(
        "--sweep",
        metavar="KEY=V1,V2,...",
        help=(
            "sweep one parameter instead of the experiment's sweep, e.g. d_lap=0,20,60 or "
            "alpha=0.1,1 or steps=0,10,limit; keys are the option names with '_' "
            f"(and {TOTAL_SAMPLES_KEY} = n_f + n_r at a fixed ratio)"
        ),
    )
    parser.add_argument("--trials", type=int, help="seeded trials per swept value")
    parser.add_argument("--seed", type=bounded(int, None, strict=False, high=SEED_LIMIT - 1),
                        help="base seed (trial t uses seed [SEED, t])")
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )

    synthetic = parser.add_argument_group("synthetic scenario (docs/theory.md's generator)")
    synthetic.add_argument("--d-f", type=DIMENSION, help="features used only by D_f (|F|)")
    synthetic.add_argument("--d-r", type=DIMENSION, help="features used only by D_r (|R|)")
    synthetic.add_argument("--d-lap", type=DIMENSION, help="features used by both (|O|)")
    synthetic.add_argument("--d-extra", type=DIMENSION, help="features used by neither (|Z|)")
    synthetic.add_argument("--sigma", type=float, help="label noise std σ")
    synthetic.add_argument(
        "--w-star",
        type=Path,
        metavar="FILE",
        help="true weights w* (.npy, or text with one number per entry; length d)",
    )

    shared = parser.add_argument_group("both scenario kinds")
    shared.add_argument("--n-f", type=SAMPLES, help="forgetting-set size n_f")
    shared.add_argument("--n-r", type=SAMPLES, help="remaining-set size n_r")
    shared.add_argument("--n-test", type=SAMPLES, help="test samples per distribution")
    shared.add_argument(
        "--no-interpolate",
        dest="interpolate",
        action="store_const",
        const=False,
        help="allow the under-parameterised regime (n > d); least squares instead of interpolation",
    )

    real = parser.add_argument_group("real-feature scenario (experiments digits, fashion-mnist)")
    real.add_argument("--dataset", help="dataset name for ftunlearn.data (digits, fashion-mnist)")
    real.add_argument("--data-dir", help="folder holding the dataset files")
    real.add_argument("--features", choices=FEATURE_MAPS, help="pixels or random features")
    real.add_argument("--n-features", type=DIMENSION, help="number of random features")
    real.add_argument("--forget", choices=FORGET_KINDS, help="forget one class or a random subset")
    real.add_argument("--forget-class", type=int, help="the class to forget")
    real.add_argument(
        "--target-class",
        type=int,
        help="class whose centred one-hot score is the regression target (default: forgotten)",
    )

    method = parser.add_argument_group("training and unlearning")
    method.add_argument(
        "--steps", type=_steps, help="fine-tuning GD steps, or 'limit' (GD run to convergence)"
    )
    method.add_argument(
        "--pretrain-steps", type=_steps, help="pretraining and retraining GD steps, or 'limit'"
    )
    method.add_argument(
        "--lr-scale",
        type=float,
        help="GD step as a fraction of 1/(2(‖X_r‖²/n_r + ‖X_f‖²/n_f + λ)), in (0, 2)",
    )
    method.add_argument("--ridge", type=float, help="ridge λ: each training adds λ‖w − w_start‖²")
    method.add_argument(
        "--alpha", type=float, help="weight α in (0, 1] of the forgetting term of dr"
    )
    method.add_argument("--dr-targets", choices=DR_TARGETS, help="replacement targets of dr")
    method.add_argument(
        "--mask-rule", choices=MASK_RULES, help="data-driven mask: keep D_r's or drop D_f's"
    )
    method.add_argument(
        "--mask-threshold",
        type=float,
        help="data-driven mask threshold, a fraction in [0, 1) of the largest feature activity",
    )

    output = parser.add_argument_group("output")
    output.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    output.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads while solving (default 1: the matrices are small)",
    )


def _parse_value(text: str) -> object:
    # the swept key's type is known only once its experiment is chosen (and ``n`` has no field),
    # so the value is read as a number here; ``replace`` then checks it against the field's hint
    if text.strip().lower() == LIMIT:
        return None
    return parse_scalar(text)


def parse_sweep(text: str) -> Sweep:
    """``KEY=V1,V2,...`` as a ``Sweep`` (numbers parsed, ``limit`` becomes None)."""
    key, sep, values = text.partition("=")
    key = key.strip().replace("-", "_")
    items = [v for v in values.split(",") if v.strip()]
    if not sep or not key or not items:
        raise UnlearnError(
            f"--sweep {text!r} is not of the form KEY=V1,V2,... (for example d_lap=0,20,60)"
        )
    return Sweep(key, tuple(_parse_value(v) for v in items))


def _load_w_star(path: Path) -> tuple[float, ...]:
    try:
        values = np.load(path, allow_pickle=False) if path.suffix == ".npy" else np.loadtxt(path)
    except (OSError, ValueError) as error:
        raise UnlearnError(f"cannot read w* from {path}: {error}") from error
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise UnlearnError(f"w* in {path} must hold finite numbers, one per coordinate")
    return tuple(float(v) for v in values)


def _given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, object]:
    values = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    for name in ("steps", "pretrain_steps"):
        if values.get(name) == LIMIT:
            values[name] = None
    if "w_star" in values:
        values["w_star"] = _load_w_star(values["w_star"])  # type: ignore[arg-type]
    return values


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def configure(experiment: Experiment, args: argparse.Namespace) -> Experiment:
    """``experiment`` with the command line's options applied; conflicts raise UnlearnError."""
    sweep = parse_sweep(args.sweep) if args.sweep else experiment.sweep
    scenario_values = _given(args, (*SYNTHETIC_ONLY, *REAL_ONLY, *SHARED_SCENARIO))
    method_values = _given(args, METHOD_FIELDS)
    kind = "synthetic" if isinstance(experiment.scenario, SyntheticSpec) else "real-feature"
    foreign = REAL_ONLY if kind == "synthetic" else SYNTHETIC_ONLY
    for name in scenario_values:
        if name in foreign:
            raise UnlearnError(
                f"{_option(name)} does not apply to experiment {experiment.name!r}, which uses a "
                f"{kind} scenario; pick a "
                f"{'real-feature (digits, fashion-mnist)' if kind == 'synthetic' else 'synthetic'}"
                " experiment or drop the option"
            )
    if sweep is not None:
        swept = {sweep.key} | ({"n_f", "n_r"} if sweep.key == TOTAL_SAMPLES_KEY else set())
        for name in swept & (set(scenario_values) | set(method_values)):
            raise UnlearnError(
                f"{_option(name)} is swept by experiment {experiment.name!r}; change its values "
                f"with --sweep {sweep.key}=V1,V2,... instead"
            )
    scenario: SyntheticSpec | RealFeatureSpec = experiment.scenario.replace(**scenario_values)
    method = experiment.method.replace(**method_values)
    trials = experiment.trials if args.trials is None else args.trials
    seed = experiment.seed if args.seed is None else args.seed
    return dataclasses.replace(
        experiment, scenario=scenario, method=method, sweep=sweep, trials=trials, seed=seed
    )


def selected_experiments(args: argparse.Namespace) -> list[Experiment]:
    """The configured experiments the command line asks for."""
    if args.experiment == "default" and args.sweep:
        raise UnlearnError(
            "--sweep replaces one experiment's sweep; name the experiment, for example "
            "'ftunlearn theory overlap --sweep d_lap=0,30,60'"
        )
    names = DEFAULT_SWEEP if args.experiment == "default" else (args.experiment,)
    return [configure(EXPERIMENTS[name], args) for name in names]


def check_size(experiment: Experiment) -> None:
    """Validate every swept configuration and refuse one whose drawn sets would exceed
    :data:`MAX_ENTRIES`, before anything is allocated (a sweep value is not bounded by the
    options' own limits)."""
    for scenario, _ in experiment.points():
        rows = scenario.n_r + scenario.n_f + 2 * scenario.n_test
        if isinstance(scenario, SyntheticSpec):
            d, what = scenario.d, "d"
        elif scenario.features != "pixels":
            d, what = scenario.n_features, "n_features"
        else:
            continue  # the images' own pixels: bounded by the dataset
        if rows * d > MAX_ENTRIES:
            raise UnlearnError(
                f"experiment {experiment.name!r}: (n_r + n_f + 2 n_test) x {what} is {rows} x "
                f"{d} = {rows * d} entries per trial, over the lab's bound of {MAX_ENTRIES} "
                f"({MAX_ENTRIES * 8 // 2**20} MiB of float64); use fewer features or samples"
            )


def write_outputs(
    rows: list[Row], experiments: Sequence[Experiment], out_dir: Path, plots: bool
) -> list[Path]:
    """results.json, results.csv, summary.csv and the figures; the paths written."""
    from ftunlearn.linear.report import write_csv, write_json

    written = [out_dir / "results.json", out_dir / "results.csv", out_dir / "summary.csv"]
    write_json(rows, written[0])
    write_csv(rows, written[1])
    write_csv(summarise(rows), written[2])
    if plots:
        from ftunlearn.linear.plots import plot_experiment

        for experiment in experiments:
            own = [row for row in rows if row["experiment"] == experiment.name]
            title = f"{experiment.name}: {experiment.description} ({experiment.trials} trials)"
            written.append(plot_experiment(own, out_dir, title))
    return written


def run(args: argparse.Namespace) -> int:
    """Run the selected experiments, print their tables and write every output."""
    from threadpoolctl import threadpool_limits

    from ftunlearn.linear.report import format_tables, prepare_output

    if args.list:
        print(_listing())
        return 0
    experiments = selected_experiments(args)
    for experiment in experiments:
        check_size(experiment)  # validates every swept configuration before any work
    if args.blas_threads < 1:
        raise UnlearnError(f"--blas-threads must be >= 1, got {args.blas_threads}")
    out_dir = prepare_output(Path(args.out))
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        rows = run_experiments(experiments, show_progress=not args.quiet)
    written = write_outputs(rows, experiments, out_dir, plots=not args.no_plots)
    print(format_tables(summarise(rows)))
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m ftunlearn.linear.cli``) with the same error handling."""
    import sys

    parser = argparse.ArgumentParser(prog="ftunlearn")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UnlearnError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
