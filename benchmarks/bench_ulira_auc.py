"""U-LiRA's AUC by rank (``metrics.audit.rank_auc``) against scikit-learn's ``roc_auc_score``.

The permutation null re-computes ``ulira_auc`` for every re-split (360 of them for 3 rows and
3 rules), each over ``ULIRA_SPLITS`` shadow/target splits. Both AUCs are timed side by side in
one process on one split's decisions (``--models`` targets × ``--examples`` forget examples,
a tenth of the scores rounded to make ties), best of ``--repeats``; they must agree to 1e-12.
Then the whole ``ulira_auc`` against ``ulira(...).auc``. Writes JSON (default
``benchmarks/results/ulira_auc.json``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ulira_auc.py
"""

from __future__ import annotations

import argparse
import json
import timeit
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from ftunlearn.metrics.audit import rank_auc, ulira, ulira_auc


def best_seconds(call, repeats: int) -> float:
    return min(timeit.repeat(call, number=1, repeat=repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--examples", type=int, default=180)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ulira_auc.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(args.models) < args.models // 2, args.examples)
    scores = rng.normal(size=labels.size) + 0.3 * labels
    scores[: labels.size // 10] = np.round(scores[: labels.size // 10], 1)
    difference = abs(rank_auc(labels, scores) - roc_auc_score(labels, scores))
    if difference > 1e-12:
        raise SystemExit(f"the AUCs differ by {difference}")
    sklearn_s = best_seconds(lambda: roc_auc_score(labels, scores), args.repeats)
    rank_s = best_seconds(lambda: rank_auc(labels, scores), args.repeats)
    u = rng.normal(0.1, 1, size=(args.models, args.examples))
    g = rng.normal(0, 1, size=(args.models, args.examples))
    full_s = best_seconds(lambda: ulira(u, g), max(1, args.repeats // 10))
    auc_only_s = best_seconds(lambda: ulira_auc(u, g), max(1, args.repeats // 10))
    result = {"models": args.models, "examples": args.examples, "auc_difference": difference,
              "roc_auc_score_seconds": sklearn_s, "rank_auc_seconds": rank_s,
              "auc_speedup": sklearn_s / rank_s, "ulira_seconds": full_s,
              "ulira_auc_seconds": auc_only_s, "null_draw_speedup": full_s / auc_only_s}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
