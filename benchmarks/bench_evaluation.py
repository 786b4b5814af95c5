"""A cell's evaluation time against its unlearning time, before and after the exact MIA solver.

The paper preset's cell: Fashion-MNIST (``--dataset``), ``cnn``, ``--forget`` (random 10 %),
an original trained with the paper recipe (``--original-epochs``), then ``ft`` for one epoch
(the unlearning time). The unlearned model is evaluated with ``metrics.evaluate`` side by
side, on the metric seeds ``0..--seeds−1``, in three settings:

- ``before``: the previous implementation, libsvm's SVC fitted on at most 5000 members and
  5000 non-members (``mia_attack="libsvm"``, ``attack_samples=5000``), RA on all of D_r;
- ``default``: the exact explicit-feature SVC (``metrics.rbf_svc``) on every member and
  non-member, RA on all of D_r;
- ``retain-sample``: as ``default`` with RA and the members on a stratified 10 000-sample
  subsample of D_r (``retain_samples``).

Also timed, on seed 0: the default evaluation's parts, and MIA-efficacy of libsvm's SVC fitted
on everything (the reference code's fit) against the exact solver's, per seed. Writes JSON
(default ``benchmarks/results/evaluation.json``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_evaluation.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import ftunlearn
from ftunlearn.experiments.presets import PAPER_RECIPE
from ftunlearn.metrics.evaluate import evaluate, model_outputs
from ftunlearn.metrics.mia import loss_mia, mia_attack_accuracy, mia_efficacy
from ftunlearn.models import build_model
from ftunlearn.training import TensorBatches, fit

SETTINGS = {
    "before": {"mia_attack": "libsvm", "attack_samples": 5000},
    "default": {},
    "retain-sample": {"retain_samples": 10_000},
}


def timed(call):
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--forget", default="random:0.1")
    parser.add_argument("--original-epochs", type=int, default=PAPER_RECIPE.epochs)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/evaluation.json"))
    args = parser.parse_args()
    data = ftunlearn.load_dataset(args.dataset)
    split = ftunlearn.make_split(data, args.forget, seed=0)
    forget = (data.x_train[split.forget], data.y_train[split.forget])
    retain = (data.x_train[split.retain], data.y_train[split.retain])
    original = build_model("cnn", data.input_shape, data.num_classes, seed=0)
    fit(original, TensorBatches(data.x_train, data.y_train, batch_size=PAPER_RECIPE.batch_size),
        PAPER_RECIPE.replace(epochs=args.original_epochs), device="cpu", progress=False)
    result = ftunlearn.unlearn(original, retain, forget, "ft", epochs=1, device="cpu",
                               recipe=PAPER_RECIPE)
    model, seeds = result.model, range(args.seeds)
    settings = {}
    for name, options in SETTINGS.items():
        runs = [timed(lambda s=s, o=options: evaluate(model, data, split, seed=s, device="cpu",
                                                      extra_mia_features=(), **o))
                for s in seeds]
        seconds = statistics.median(took for _, took in runs)
        settings[name] = {
            "options": options, "seconds_by_seed": [took for _, took in runs],
            "seconds_median": seconds, "share_of_cell": seconds / (seconds + result.seconds),
            **{key: [row[key] for row, _ in runs] for key in ("RA", "MIA", "MIA_attack_acc")},
        }
    outputs, outputs_seconds = timed(lambda: model_outputs(
        model, data, split, device="cpu", extra_mia_features=()))
    sets = (outputs.retain.logits, outputs.retain.labels, outputs.test.logits,
            outputs.test.labels)
    forget_outputs = (outputs.forget.logits, outputs.forget.labels)
    parts = {
        "outputs_and_metrics": outputs_seconds,
        "mia_exact_all": timed(lambda: mia_efficacy(*sets, *forget_outputs))[1],
        "mia_libsvm_all": timed(lambda: mia_efficacy(*sets, *forget_outputs, attack="libsvm",
                                                     attack_samples=None))[1],
        "attack_accuracy": timed(lambda: mia_attack_accuracy(*sets))[1],
        "loss_mia": timed(lambda: loss_mia(outputs.forget.losses, outputs.test.losses))[1],
    }
    agreement = {
        solver: [mia_efficacy(*sets, *forget_outputs, attack=attack, seed=s,
                              attack_samples=None) for s in seeds]
        for solver, attack in (("exact", "svc"), ("libsvm", "libsvm"))
    }
    row = {
        "dataset": args.dataset, "forget": args.forget, "n_retain": len(retain[1]),
        "n_forget": len(forget[1]), "n_test": data.n_test,
        "original_epochs": args.original_epochs, "unlearn_seconds": result.seconds,
        "settings": settings, "default_parts_seconds": parts,
        "MIA_all_members_by_solver": agreement, "threads": torch.get_num_threads(),
    }
    print(json.dumps(row, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
