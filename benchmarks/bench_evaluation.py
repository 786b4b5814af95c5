"""A cell's evaluation time against its unlearning time, with the MIA attack fitted on all
members and non-members ("before") and on the capped subsample ``ATTACK_SAMPLES`` ("after").

Fashion-MNIST (``--dataset``), ``cnn``, random 10 % forgetting: an original trained
``--original-epochs`` epochs, then ``ft`` for one epoch (the unlearning time). Evaluation is
timed in parts on the unlearned model: the outputs of the three sets (one pass each), every
MIA-efficacy feature the evaluation computes (full fit vs subsample), the attack's own
cross-validated accuracy (subsample only) and loss-MIA. Then the same MIA-efficacy with the
full fit and with subsamples drawn by several seeds, to compare the subsample's effect with
the spread over member-sample seeds. Writes JSON (default ``benchmarks/results/evaluation.json``).

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
from ftunlearn.metrics.evaluate import EXTRA_MIA_FEATURES
from ftunlearn.metrics.mia import ATTACK_SAMPLES, loss_mia, mia_attack_accuracy, mia_efficacy
from ftunlearn.models import build_model
from ftunlearn.training import Recipe, TensorBatches, fit, predict


def timed(call):
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--original-epochs", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--caps", default="2000", help="more attack_samples caps to compare")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/evaluation.json"))
    args = parser.parse_args()
    data = ftunlearn.load_dataset(args.dataset)
    split = ftunlearn.make_split(data, "random:0.1", seed=0)
    forget = (data.x_train[split.forget], data.y_train[split.forget])
    retain = (data.x_train[split.retain], data.y_train[split.retain])
    original = build_model("cnn", data.input_shape, data.num_classes, seed=0)
    fit(original, TensorBatches(data.x_train, data.y_train, batch_size=128),
        Recipe(epochs=args.original_epochs), device="cpu", progress=False)
    result = ftunlearn.unlearn(original, retain, forget, "ft", epochs=1, device="cpu")
    model = result.model
    sets = {}
    seconds_outputs = 0.0
    for name, (x, y) in (("forget", forget), ("retain", retain),
                         ("test", (data.x_test, data.y_test))):
        outputs, took = timed(lambda x=x, y=y: predict(model, x, y, device="cpu"))
        sets[name] = (outputs.logits, y, outputs.losses)
        seconds_outputs += took

    def efficacy(feature: str, seed: int, cap: int | None) -> float:
        return mia_efficacy(sets["retain"][0], sets["retain"][1], sets["test"][0],
                            sets["test"][1], sets["forget"][0], sets["forget"][1],
                            feature=feature, seed=seed, attack_samples=cap)

    features = ("confidence", *EXTRA_MIA_FEATURES)
    mia_seconds = {"full": 0.0, "subsample": 0.0}
    for feature in features:
        for label, cap in (("full", None), ("subsample", ATTACK_SAMPLES)):
            mia_seconds[label] += timed(lambda f=feature, c=cap: efficacy(f, 0, c))[1]
    attack_acc, attack_seconds = timed(lambda: mia_attack_accuracy(
        sets["retain"][0], sets["retain"][1], sets["test"][0], sets["test"][1]))
    _, loss_seconds = timed(lambda: loss_mia(sets["forget"][2], sets["test"][2]))
    before = seconds_outputs + mia_seconds["full"] + loss_seconds
    after = seconds_outputs + mia_seconds["subsample"] + attack_seconds + loss_seconds
    full = [efficacy("confidence", seed, None) for seed in range(args.seeds)]
    sub = [efficacy("confidence", seed, ATTACK_SAMPLES) for seed in range(args.seeds)]
    row = {
        "dataset": args.dataset, "n_retain": len(retain[1]), "n_forget": len(forget[1]),
        "n_test": data.n_test, "attack_samples": ATTACK_SAMPLES, "mia_features": features,
        "unlearn_seconds": result.seconds, "outputs_seconds": seconds_outputs,
        "mia_seconds": mia_seconds, "attack_accuracy_seconds": attack_seconds,
        "loss_mia_seconds": loss_seconds, "evaluation_seconds_before": before,
        "evaluation_seconds_after": after,
        "evaluation_share_before": before / (before + result.seconds),
        "evaluation_share_after": after / (after + result.seconds),
        "MIA_attack_acc": attack_acc, "MIA_full_by_seed": full, "MIA_subsample_by_seed": sub,
        "MIA_full_spread": statistics.pstdev(full), "MIA_subsample_spread": statistics.pstdev(sub),
        "MIA_mean_shift": statistics.mean(sub) - statistics.mean(full),
        "threads": torch.get_num_threads(),
    }
    for cap in (int(c) for c in args.caps.split(",") if c):
        values, took = timed(lambda c=cap: [efficacy("confidence", seed, c)
                                            for seed in range(args.seeds)])
        row[f"MIA_cap{cap}_by_seed"] = values
        row[f"MIA_cap{cap}_spread"] = statistics.pstdev(values)
        row[f"MIA_cap{cap}_seconds_per_fit"] = took / args.seeds
    print(json.dumps(row, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
