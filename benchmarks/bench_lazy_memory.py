"""Peak RSS of unlearning with a lazily generated 3x32x32 dataset (never materialised).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lazy_memory.py --samples 200000

prints one JSON line: samples, methods, seconds per method, the RSS before any method ran (with
every module the methods import loaded) and the peak RSS (MiB, from ``ru_maxrss``). The issue's
bound is a peak below 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
import torch._dynamo  # torch's Optimizer imports it on first use: ~70 MB, in the baseline
from torch import nn
from torch.utils.data import Dataset

from ftunlearn.methods.base import unlearn

FAST = {"ft": {"epochs": 1}, "dr-ft": {"epochs": 1}, "rbm": {"epochs": 1, "saliency_samples": 64},
        "salun": {"epochs": 1}, "iu": {"samples": 64}, "ssd": {}}


class LazyImages(Dataset):
    """Sample ``i`` is generated from ``i`` on demand: nothing is stored."""

    def __init__(self, n: int, offset: int = 0) -> None:
        self.n, self.offset = n, offset

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        # a fresh tensor per call, filled from the index (a seeded torch.rand costs 7x more and
        # the memory measured is the same)
        key = self.offset + index
        return torch.full((3, 32, 32), (key % 251) / 251), key % 10


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--forget", type=int, default=500)
    parser.add_argument("--methods", default=",".join(FAST))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    retain, forget = LazyImages(args.samples - args.forget), LazyImages(args.forget, args.samples)
    baseline = peak_mib()
    seconds = {}
    for method in args.methods.split(","):
        started = time.perf_counter()
        unlearn(model, retain, forget, method, device="cpu", batch_size=256, **FAST[method])
        seconds[method] = round(time.perf_counter() - started, 2)
    print(json.dumps({"samples": args.samples, "methods": seconds,
                      "baseline_rss_mib": round(baseline, 1),
                      "peak_rss_mib": round(peak_mib(), 1)}))


if __name__ == "__main__":
    main()
