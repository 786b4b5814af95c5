"""Two per-cell and per-report costs against what they replaced, side by side in one process.

1. The cross-validated attacks (loss-MIA: 10 folds of a standardised logistic regression;
   MIA_attack_acc: 5 folds of the SVC) by ``mia.cross_validated_accuracy`` against
   scikit-learn's ``cross_val_score`` on the same splits; the numbers must be equal.
2. A report figure saved as PNG, SVG and PDF with its constrained layout left on (matplotlib
   lays it out and draws it twice per format) against ``figure_style.fix_layout`` first (one
   draw per format); the PNGs must be byte-identical.

Best of ``--repeats``. Writes JSON (default ``benchmarks/results/evaluation_overheads.json``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_evaluation_overheads.py
"""

from __future__ import annotations

import argparse
import io
import json
import timeit
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score

from ftunlearn import figure_style
from ftunlearn.experiments.plots import PNG_DPI, plot_figure, save_figure
from ftunlearn.experiments.report import summarize
from ftunlearn.experiments.store import CellResult
from ftunlearn.metrics.mia import cross_validated_accuracy, get_attack, loss_attack


def best_seconds(call, repeats: int) -> float:
    return min(timeit.repeat(call, number=1, repeat=repeats))


def attack_case(name: str, folds: int, per_side: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.beta(3, 2, per_side), rng.beta(2, 2, per_side)])[:, None]
    y = np.repeat([1, 0], per_side)
    def new():
        return loss_attack() if name == "loss_mia" else get_attack("svc")(1, 0)

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)

    def before() -> float:
        return 100.0 * float(np.mean(cross_val_score(new(), x, y, cv=cv, scoring="accuracy")))

    def after() -> float:
        return cross_validated_accuracy(new, x, y, folds, 0)

    if before() != after():
        raise SystemExit(f"{name}: the fold loop and cross_val_score disagree")
    old, new_s = best_seconds(before, repeats), best_seconds(after, repeats)
    return {"per_side": per_side, "folds": folds, "cross_val_score_seconds": old,
            "fold_loop_seconds": new_s, "speedup": old / new_s}


def report_summary():
    cells = [CellResult(cell_key=f"{method}-{seed}", method=method, seed=seed, status="ok",
                        error=None, config={"dataset": "digits", "model": "mlp",
                                            "forget": "random:0.1", "seed": seed},
                        hyperparameters={},
                        metrics={"UA": 90.0 - 10 * k + seed, "RA": 99.0 - k, "TA": 96.0 - seed,
                                 "MIA": 80.0 + 5 * k, "avg_gap": 2.0 + k + seed,
                                 "rte_seconds": 0.01 * (k + 1) * (1 + seed / 5)},
                        unlearn_seconds=1.0, eval_seconds=0.5,
                        started_at="2025-01-01T00:00:00+00:00",
                        finished_at="2025-01-01T00:00:30+00:00", versions={}, git_commit=None)
             for k, method in enumerate(("golden", "original", "ft", "rbm"))
             for seed in range(3)]
    return summarize(cells)


def figure_case(repeats: int) -> dict[str, float]:
    summary = report_summary()

    def engine_on() -> bytes:
        figure = plot_figure("avg_gap_vs_rte", summary)
        files = {}
        for fmt in ("png", "svg", "pdf"):
            buffer = io.BytesIO()
            figure_style.save(figure, buffer, fmt=fmt, dpi=PNG_DPI,
                              metadata={"Software": None} if fmt == "png" else None)
            files[fmt] = buffer.getvalue()
        return files["png"]

    def fixed() -> bytes:
        return save_figure(plot_figure("avg_gap_vs_rte", summary))["png"]

    if engine_on() != fixed():
        raise SystemExit("the PNG with a fixed layout differs from the laid-out save")
    old, new = best_seconds(engine_on, repeats), best_seconds(fixed, repeats)
    return {"figure": "avg_gap_vs_rte", "formats": 3, "layout_on_seconds": old,
            "fixed_layout_seconds": new, "speedup": old / new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/evaluation_overheads.json"))
    args = parser.parse_args()
    result = {"loss_mia": attack_case("loss_mia", 10, 200, args.repeats),
              "mia_attack_acc": attack_case("mia_attack_acc", 5, 200, args.repeats),
              "report_figure": figure_case(max(2, args.repeats // 3))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
