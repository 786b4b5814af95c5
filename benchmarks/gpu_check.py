"""GPU check: ResNet-18 (CIFAR stem) fit-loop throughput on 32x32 inputs, and one dr-ft run.

Both use the library's own code paths (``ftunlearn.training.fit`` and ``ftunlearn.unlearn``)
with ``device="auto"``, on seeded random data (labels from a fixed random linear teacher, so
there is something to learn). Needs CUDA unless ``--tiny``, which runs a width-4 network on a
few samples on whatever device there is, in seconds (what the tests run). Writes JSON and
prints it. With ``--fit-loop-out`` it then compares the fit loop with a bare loop on the same
network (``bench_fit_loop.py``) in the same process, so the check starts Python, PyTorch and the
GPU once; ``benchmarks/gpu_check.sh`` runs it that way.

    .venv/bin/python benchmarks/gpu_check.py --out benchmarks/results/gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import ftunlearn
from bench_fit_loop import compare_loops, write
from ftunlearn.models import build_model
from ftunlearn.training import Recipe, TensorBatches, evaluate_accuracy, fit, resolve_device

NUM_CLASSES = 10
INPUT_SHAPE = (3, 32, 32)


@dataclass(frozen=True)
class CheckSize:
    """How big the check is: network width, batch, steps and the dr-ft run's data."""

    width: int
    batch_size: int
    warmup_steps: int
    timed_batches: int
    """Distinct batches of the throughput data; the timed fit cycles over them."""
    timed_epochs: int
    train_samples: int
    pretrain_epochs: int
    unlearn_epochs: int
    loop_model: str
    """The fit-loop-vs-bare-loop comparison's network, samples and repeats (best of)."""
    loop_samples: int
    loop_repeats: int

    @property
    def timed_steps(self) -> int:
        return self.timed_batches * self.timed_epochs


FULL = CheckSize(width=64, batch_size=128, warmup_steps=30, timed_batches=100, timed_epochs=4,
                 train_samples=20_000, pretrain_epochs=2, unlearn_epochs=5,
                 loop_model="resnet18", loop_samples=25_600, loop_repeats=3)
"""About a minute on one recent GPU (the budget is 8 minutes)."""

TINY = CheckSize(width=4, batch_size=8, warmup_steps=1, timed_batches=2, timed_epochs=2,
                 train_samples=80, pretrain_epochs=1, unlearn_epochs=1,
                 loop_model="resnet18:width=4", loop_samples=32, loop_repeats=1)
"""Seconds on a CPU: checks that the script runs end to end, measures nothing useful."""


def teacher_data(samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian 32x32 RGB inputs labelled by a fixed random linear map's arg-max."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, *INPUT_SHAPE, generator=generator)
    teacher = torch.randn(x[0].numel(), NUM_CLASSES, generator=generator)
    return x, (x.flatten(1) @ teacher).argmax(1)


def throughput(size: CheckSize, device: torch.device) -> dict[str, float | int]:
    """Samples per second of the fit loop on ResNet-18, after a warm-up fit."""
    model = build_model(f"resnet18:width={size.width}", INPUT_SHAPE, NUM_CLASSES, seed=0)
    x, y = teacher_data(size.timed_batches * size.batch_size, seed=1)
    batches = TensorBatches(x, y, batch_size=size.batch_size)
    warm = TensorBatches(x[: size.warmup_steps * size.batch_size],
                         y[: size.warmup_steps * size.batch_size], batch_size=size.batch_size)
    recipe = Recipe(epochs=1, batch_size=size.batch_size, lr=0.05, schedule="constant")
    fit(model, warm, recipe, device=device, progress=False, desc="warm-up")
    timed = fit(model, batches, recipe.replace(epochs=size.timed_epochs), device=device,
                progress=False, desc="throughput")
    return {"steps": timed.steps, "batch_size": size.batch_size, "seconds": timed.seconds,
            "samples_per_second": timed.steps * size.batch_size / timed.seconds,
            "final_epoch_loss": timed.epoch_losses[-1]}


def dr_ft_run(size: CheckSize, device: torch.device) -> dict[str, float | int]:
    """Train an original ResNet-18, then unlearn a random 10 % with ``dr-ft``."""
    x, y = teacher_data(size.train_samples, seed=2)
    order = torch.randperm(size.train_samples, generator=torch.Generator().manual_seed(3))
    n_forget = size.train_samples // 10
    forget, retain = order[:n_forget], order[n_forget:]
    model = build_model(f"resnet18:width={size.width}", INPUT_SHAPE, NUM_CLASSES, seed=0)
    recipe = Recipe(epochs=size.pretrain_epochs, batch_size=size.batch_size, lr=0.05)
    pretrain = fit(model, TensorBatches(x, y, batch_size=size.batch_size), recipe,
                   device=device, progress=False, desc="original")
    result = ftunlearn.unlearn(
        model, (x[retain], y[retain]), (x[forget], y[forget]), "dr-ft", seed=0, device=device,
        recipe=recipe, num_classes=NUM_CLASSES, epochs=size.unlearn_epochs,
        batch_size=size.batch_size,
    )
    on = next(result.model.parameters()).device
    return {
        "train_samples": size.train_samples, "forget_samples": n_forget,
        "pretrain_epochs": size.pretrain_epochs, "pretrain_seconds": pretrain.seconds,
        "unlearn_epochs": size.unlearn_epochs, "unlearn_seconds": result.seconds,
        "unlearn_over_pretrain_epoch": result.seconds / (pretrain.seconds / size.pretrain_epochs),
        "model_device": str(on),
        "forget_accuracy_before": evaluate_accuracy(model, x[forget], y[forget], device=device),
        "forget_accuracy_after": evaluate_accuracy(result.model, x[forget], y[forget],
                                                   device=device),
        "retain_accuracy_after": evaluate_accuracy(result.model, x[retain], y[retain],
                                                   device=device),
    }


def environment(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {
        "device": str(device), "torch": torch.__version__, "ftunlearn": ftunlearn.__version__,
        "python": platform.python_version(), "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update({"gpu": props.name, "gpu_memory_gib": props.total_memory / 2**30,
                     "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                     "cudnn_benchmark": torch.backends.cudnn.benchmark})
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a seconds-long check on any device")
    parser.add_argument("--device", default="auto", help="auto (default), cuda[:N] or cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check.json"))
    parser.add_argument("--fit-loop-out", type=Path,
                        help="then compare the fit loop with a bare loop; write that JSON here")
    args = parser.parse_args()

    device = resolve_device(args.device)
    if device.type != "cuda" and not args.tiny:
        print("gpu_check: no CUDA device here; run it where there is one, or add --tiny to "
              "check the script itself on the CPU", file=sys.stderr)
        return 2
    size = TINY if args.tiny else FULL
    started = time.perf_counter()
    result: dict[str, object] = {"benchmark": "gpu_check", "tiny": args.tiny,
                                 "size": asdict(size), "environment": environment(device)}
    result["resnet18_throughput"] = throughput(size, device)
    result["dr_ft"] = dr_ft_run(size, device)
    if device.type == "cuda":
        result["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    result["total_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"gpu_check: wrote {args.out}")
    if args.fit_loop_out is not None:
        write(compare_loops(size.loop_model, INPUT_SHAPE, size.loop_samples, size.batch_size,
                            epochs=1, repeats=size.loop_repeats, device=device),
              args.fit_loop_out)
        print(f"gpu_check: wrote {args.fit_loop_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
