"""Ensemble training throughput: K models in one vectorised pass against K sequential fits.

Both variants train the same K freshly built models (seeds 0..K-1) for one epoch with the same
recipe, on the same core, alternating, ``--repeats`` times; the best time of each counts (the
machine is shared, so read the ratio, not the seconds). Cases: the built-in ``mlp`` on digits
and the built-in ``cnn`` on ``--cnn-samples`` random 1x28x28 inputs. Writes JSON (default
``benchmarks/results/ensemble.json``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ensemble.py --models 16
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

import ftunlearn
from ftunlearn.ensemble import fit_many
from ftunlearn.models import build_model
from ftunlearn.training import Recipe, TensorBatches, fit


def sequential_seconds(models, batches, recipe: Recipe) -> float:
    return sum(
        fit(model, batches, recipe, seed=seed, device="cpu", progress=False).seconds
        for seed, model in enumerate(models)
    )


def vectorised_seconds(models, batches, recipe: Recipe) -> float:
    result = fit_many(models, batches, recipe, seeds=range(len(models)), device="cpu",
                      vectorise="always")
    if not result.vectorised:
        raise SystemExit(f"fit_many fell back to sequential: {result.reason}")
    return result.seconds


def measure(name: str, spec: str, x, y, num_classes: int, k: int, repeats: int) -> dict:
    recipe = Recipe(epochs=1)
    batches = TensorBatches(x, y, batch_size=recipe.batch_size)
    times: dict[str, list[float]] = {"sequential": [], "vectorised": []}
    for _ in range(repeats):
        for variant, run in (("sequential", sequential_seconds),
                             ("vectorised", vectorised_seconds)):
            models = [build_model(spec, tuple(x.shape[1:]), num_classes, seed=s)
                      for s in range(k)]
            times[variant].append(run(models, batches, recipe))
    samples = k * len(y) * recipe.epochs
    best = {variant: min(values) for variant, values in times.items()}
    row = {
        "case": name, "model": spec, "models": k, "samples_per_model": len(y),
        "batch_size": recipe.batch_size, "repeats": repeats, "seconds": times,
        "sequential_samples_per_s": samples / best["sequential"],
        "vectorised_samples_per_s": samples / best["vectorised"],
        "speedup_best": best["sequential"] / best["vectorised"],
        "speedup_median": statistics.median(times["sequential"])
        / statistics.median(times["vectorised"]),
    }
    print(f"{name}: sequential {row['sequential_samples_per_s']:.0f} samples/s, vectorised "
          f"{row['vectorised_samples_per_s']:.0f} samples/s, speed-up {row['speedup_best']:.2f}x "
          f"(median {row['speedup_median']:.2f}x)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cnn-samples", type=int, default=2048)
    parser.add_argument("--skip-cnn", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ensemble.json"))
    args = parser.parse_args()
    digits = ftunlearn.load_dataset("digits")
    rows = [measure("mlp on digits", "mlp", digits.x_train, digits.y_train, digits.num_classes,
                    args.models, args.repeats)]
    if not args.skip_cnn:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(args.cnn_samples, 1, 28, 28, generator=generator)
        y = torch.randint(0, 10, (args.cnn_samples,), generator=generator)
        rows.append(measure("cnn on 28x28", "cnn", x, y, 10, args.models, args.repeats))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.machine(), "results": rows,
    }, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
