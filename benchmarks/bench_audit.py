"""Wall time of `ftunlearn audit --preset quick --ensemble 32` (digits, mlp, random 10 %, every
method) from an empty checkpoint cache, per torch thread setting, with the time per stage.

Each run is the command itself in a subprocess with a fresh, empty ``--cache-dir``; its ``-v``
log lines ("audit: METHOD x K") are time-stamped as they arrive, which splits the wall time into
the ensembles of goldens and originals (until the first method) and each method (its K
unlearnings and the outputs of its K models). Writes JSON (default
``benchmarks/results/audit_quick.json``). The target is 5 minutes on 2 CPU cores.

    .venv/bin/python benchmarks/bench_audit.py --threads 1,default
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

MARK = "ftunlearn.experiments.audit: audit: "
TARGET_SECONDS = 300.0


def run_once(k: int, threads: str, out: Path, extra: list[str], timeout: float) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="bench-audit-cache-"))
    command = [str(Path(sys.executable).with_name("ftunlearn")), "-v", "audit", "--preset",
               "quick", "--ensemble", str(k), "--out", str(out), "--cache-dir", str(cache),
               "--no-progress", *extra]
    if threads != "default":
        command += ["--threads", threads]
    env = {**os.environ}
    if threads != "default":
        env["OMP_NUM_THREADS"] = threads
    marks: list[tuple[str, float]] = []
    load_before = os.getloadavg()[0]  # other jobs on a shared machine slow the run
    started = time.perf_counter()
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env=env) as process:
        assert process.stderr is not None and process.stdout is not None
        # a run past the limit is stopped and recorded as such, not waited for
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        for line in process.stderr:
            if MARK in line:
                marks.append((line.split(MARK, 1)[1].split(" x ")[0].strip(),
                              time.perf_counter() - started))
        stdout = process.stdout.read()
        code = process.wait()
        watchdog.cancel()
    wall = time.perf_counter() - started
    models = sum(1 for _ in cache.glob("*.safetensors"))
    shutil.rmtree(cache, ignore_errors=True)
    timed_out = code != 0 and wall >= timeout
    if code != 0 and not timed_out:
        raise SystemExit(f"the audit failed ({code}):\n{stdout}")
    stages = {"goldens and originals": marks[0][1] if marks else wall}
    ends = [t for _, t in marks[1:]] + ([wall] if marks else [])
    for (name, start), end in zip(marks, ends, strict=True):
        stages[name] = end - start
    shown = " ".join(["ftunlearn", *command[1:]]).replace(str(cache), "EMPTY")
    verdict = [line.strip() for line in stdout.strip().splitlines()[-2:]]
    return {"threads": threads, "command": shown, "wall_seconds": wall,
            "timed_out": timed_out, "models_in_cache": models,
            "within_target": not timed_out and wall <= TARGET_SECONDS, "stage_seconds": stages,
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
            "verdict": verdict}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ensemble", type=int, default=32)
    parser.add_argument("--threads", default="1", help="comma-separated: a count or default")
    parser.add_argument("--out", type=Path, default=None,
                        help="the audit's folder (default: a temporary one, removed)")
    parser.add_argument("--timeout", type=float, default=2 * TARGET_SECONDS,
                        help="seconds after which a run is stopped (recorded as timed out)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/audit_quick.json"))
    args = parser.parse_args()
    runs = []
    for threads in args.threads.split(","):
        out = args.out or Path(tempfile.mkdtemp(prefix="bench-audit-out-"))
        runs.append(run_once(args.ensemble, threads.strip(), out / f"threads-{threads}", [],
                             args.timeout))
        print(json.dumps(runs[-1], indent=1), flush=True)
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    report = {"torch": torch.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
              "ensemble": args.ensemble, "target_seconds": TARGET_SECONDS, "runs": runs}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
