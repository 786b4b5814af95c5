"""Fit-loop throughput against a bare PyTorch loop on the same model, data and batch size.

The bare loop is what a careful user writes by hand: a seeded permutation, ``index_select``
batches from in-memory tensors, forward, cross-entropy, backward, SGD step. Both loops run the
same number of steps; each is timed ``--repeats`` times, alternating, and the best time of each
counts. Writes JSON (default ``benchmarks/results/fit_loop.json``).

    .venv/bin/python benchmarks/bench_fit_loop.py --model cnn --samples 8192 --batch-size 128
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from ftunlearn.models import build_model
from ftunlearn.training import Recipe, TensorBatches, fit, resolve_device


def bare_loop(model, x, y, recipe: Recipe, device) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    x, y = x.to(device), y.to(device)
    generator = torch.Generator().manual_seed(0)
    model.to(device).train()
    started = time.perf_counter()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(y), generator=generator).to(device)
        for start in range(0, len(y), recipe.batch_size):
            index = order[start : start + recipe.batch_size]
            loss = F.cross_entropy(model(x.index_select(0, index)), y.index_select(0, index))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def fit_loop(model, x, y, recipe: Recipe, device) -> float:
    return fit(model, TensorBatches(x, y, batch_size=recipe.batch_size), recipe, device=device,
               progress=False).seconds


def compare_loops(model_spec: str, shape: tuple[int, ...], samples: int, batch_size: int,
                  epochs: int, repeats: int, device: torch.device) -> dict[str, object]:
    """Both loops on ``samples`` seeded random inputs, ``repeats`` times each, alternating."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(samples, *shape, generator=g)
    y = torch.randint(0, 10, (samples,), generator=g)
    recipe = Recipe(epochs=epochs, batch_size=batch_size, schedule="constant")
    times: dict[str, list[float]] = {"bare": [], "fit": []}
    for _ in range(repeats):
        for name, loop in (("bare", bare_loop), ("fit", fit_loop)):
            model = build_model(model_spec, shape, 10, seed=0)
            times[name].append(loop(model, x, y, recipe, device))
    best = {name: min(values) for name, values in times.items()}
    return {
        "benchmark": "fit_loop_vs_bare_pytorch",
        "model": model_spec, "input_shape": shape, "samples": samples,
        "batch_size": batch_size, "epochs": epochs, "steps": epochs * -(-samples // batch_size),
        "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "seconds": times,
        "samples_per_second": {n: epochs * samples / t for n, t in best.items()},
        "throughput_ratio_fit_over_bare": best["bare"] / best["fit"],
    }


def write(result: dict[str, object], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("samples_per_second",
                                             "throughput_ratio_fit_over_bare")}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--shape", default="1,28,28", help="input shape C,H,W")
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fit_loop.json"))
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    write(compare_loops(args.model, shape, args.samples, args.batch_size, args.epochs,
                        args.repeats, resolve_device(args.device)), args.out)


if __name__ == "__main__":
    main()
