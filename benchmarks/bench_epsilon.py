"""The audit's per-example ε (``metrics.audit.epsilon``) at an audit's size: ``--models`` φ
draws a side (unlearned and golden) over ``--examples`` forget examples, best of
``--repeats``. The permutation null calls it once per re-split (100 of them by default).

It times the ``ftunlearn`` that Python imports, so two revisions compare by running it under
each, back to back; the digest of the ε array must then be the same (the rules are exact)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_epsilon.py
    git worktree add /tmp/before REV
    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/bench_epsilon.py \\
        --out /tmp/before.json

Writes JSON (default ``benchmarks/results/epsilon.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import timeit
from pathlib import Path

import numpy as np

import ftunlearn
from ftunlearn.metrics.audit import epsilon


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/epsilon.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shift = rng.normal(0, 2, args.examples)  # examples differ in where their φ lie
    u = rng.normal(2, 1.5, (args.models, args.examples)) + shift
    g = rng.normal(0, 1.5, (args.models, args.examples)) + shift
    g[:, ::10] = np.round(g[:, ::10], 1)  # ties and values on threshold grids
    eps = epsilon(u, g)
    seconds = min(timeit.repeat(lambda: epsilon(u, g), number=1, repeat=args.repeats))
    source = Path(ftunlearn.__file__).resolve().parents[2]
    commit = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    result = {"models": args.models, "examples": args.examples, "source": str(source),
              "commit": commit, "epsilon_seconds": seconds,
              "epsilon_sha256": hashlib.sha256(eps.tobytes()).hexdigest()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
