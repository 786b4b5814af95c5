"""Channels-last against contiguous convolution weights in ``fit`` and ``predict`` (the CPU).

``training.fast_memory_format`` puts a model's 4-d weights in channels-last order for the
duration of a fit or a prediction. This measures both orders side by side in one process on the
built-in ``cnn`` (28x28 inputs, like Fashion-MNIST): one epoch of ``fit`` and one ``predict``
pass per order, alternating, ``--repeats`` times; the best time of each counts. Then
``predict`` (channels-last) at each of ``--batch-sizes``, to choose ``PREDICT_BATCH["cpu"]``.
Writes JSON
(default ``benchmarks/results/memory_format.json``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_memory_format.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from unittest import mock

import torch

from ftunlearn import training
from ftunlearn.models import build_model


@contextlib.contextmanager
def contiguous(model, device):
    yield model  # the weights' order is left as built


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-sizes", default="128,256,1024")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/memory_format.json"))
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.samples, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (args.samples,), generator=generator)
    recipe = training.Recipe(epochs=1, batch_size=128)
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for order, patch in (("channels_last", contextlib.nullcontext()),
                             ("contiguous", mock.patch.object(training, "fast_memory_format",
                                                              contiguous))):
            with patch:
                model = build_model("cnn", (1, 28, 28), 10, seed=0)
                batches = training.TensorBatches(x, y, batch_size=recipe.batch_size)
                fit_s = timed(lambda m=model, b=batches: training.fit(
                    m, b, recipe, device="cpu", progress=False))
                predict_s = timed(lambda m=model: training.predict(m, x, y, device="cpu"))
            for key, value in ((f"fit_{order}", fit_s), (f"predict_{order}", predict_s)):
                best[key] = min(best.get(key, float("inf")), value)
    model = build_model("cnn", (1, 28, 28), 10, seed=0)
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    by_batch: dict[int, float] = {}
    for _ in range(args.repeats):
        for size in sizes:
            took = timed(lambda s=size: training.predict(model, x, batch_size=s, device="cpu"))
            by_batch[size] = min(by_batch.get(size, float("inf")), took)
    row = {"samples": args.samples, "predict_seconds_by_batch": by_batch,
           "threads": torch.get_num_threads(), "best_seconds": best,
           "fit_speedup": best["fit_contiguous"] / best["fit_channels_last"],
           "predict_speedup": best["predict_contiguous"] / best["predict_channels_last"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=2) + "\n")
    print(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
