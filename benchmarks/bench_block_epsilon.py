"""The per-example ε (``metrics.audit.epsilon``) before and after a change, side by side in one
process: the library's ``metrics/audit.py`` at ``--before`` (a git revision, loaded from
``git show`` as its own module) against the working tree's, on the audit's shapes, asserting
bit-identical ε (the rules are exact) and timing each, best of ``--repeats``.

Cases: the acceptance audit's (K = 8 a side, a digits class's ~180 forget examples), a
K = 16 audit of 500 examples, the metrics tests' K = 32 × 500, ties (values rounded to a
threshold grid), each a call of its own, and 20 re-splits of a permutation null (the F null of
the acceptance audit takes 100), where the single thresholds' rows repeat (one ``memo``)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_block_epsilon.py

Writes JSON (default ``benchmarks/results/block_epsilon.json``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from types import ModuleType

import numpy as np

from ftunlearn.metrics import audit as after

ROOT = Path(__file__).resolve().parents[1]
MODULE = "src/ftunlearn/metrics/audit.py"
CASES = {  # name: (models a side, examples, round to this many decimals or None)
    "acceptance_k8": (8, 180, None),
    "k16_500": (16, 500, None),
    "k32_500": (32, 500, None),
    "ties_k8": (8, 180, 1),
}


def load_before(revision: str) -> ModuleType:
    """The ε module as it was at ``revision``, imported under its own name."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:{MODULE}"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "audit_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("audit_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def statistics(models: int, examples: int, decimals: int | None, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """φ-like draws: examples differ in where their values lie; u is shifted off g."""
    rng = np.random.default_rng(seed)
    shift = rng.normal(0, 2, examples)
    u = rng.normal(0.5, 1.0, (models, examples)) + shift
    g = rng.normal(0, 1.0, (models, examples)) + shift
    if decimals is not None:
        u, g = np.round(u, decimals), np.round(g, decimals)
    return u, g


def timed(repeats: int, before, after_, *arguments, **keywords) -> dict[str, float]:
    """Best of ``repeats`` seconds of each side on the same arguments."""
    return {label: min(timeit.repeat(lambda f=f: f(*arguments, **keywords), number=1,
                                     repeat=repeats))
            for label, f in (("before_s", before), ("after_s", after_))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="d4d55b1")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "block_epsilon.json")
    args = parser.parse_args()
    before = load_before(args.before)
    result: dict = {"before": args.before, "cases": {}}
    for name, (models, examples, decimals) in CASES.items():
        u, g = statistics(models, examples, decimals)
        old, new = before.epsilon(u, g), after.epsilon(u, g)
        assert np.array_equal(old, new), f"{name}: ε differs from {args.before}'s"
        times = timed(args.repeats, before.epsilon, after.epsilon, u, g)
        record(result, name, {"models": models, "examples": examples, "decimals": decimals},
               times)
    # the permutation null: 20 re-splits of one pool of 2K = 16 (rows repeat: the memo's case)
    pool = np.concatenate(statistics(8, 180, None, seed=1))
    old = before.permutation_forget_scores(pool, 8, 20, seed=0)
    assert np.array_equal(old, after.permutation_forget_scores(pool, 8, 20, seed=0))
    times = timed(max(1, args.repeats // 2), before.permutation_forget_scores,
                  after.permutation_forget_scores, pool, 8, 20, seed=0)
    record(result, "null_k8_20_resplits", {"models": 8, "examples": 180, "decimals": None},
           times)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


def record(result: dict, name: str, case: dict, times: dict) -> None:
    result["cases"][name] = {**case, **times, "speedup": times["before_s"] / times["after_s"],
                             "identical": True}
    print(name, json.dumps(result["cases"][name]), flush=True)


if __name__ == "__main__":
    main()
