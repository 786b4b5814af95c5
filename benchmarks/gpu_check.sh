#!/usr/bin/env bash
# GPU check (about 2 minutes on one recent GPU; budget 8): ResNet-18 (CIFAR stem) fit-loop
# throughput on 32x32 inputs and one dr-ft run (benchmarks/gpu_check.py), then the fit loop
# against a bare PyTorch loop on the same network (benchmarks/bench_fit_loop.py).
#
#   benchmarks/gpu_check.sh [--tiny] [--out-dir DIR]
#
# --tiny (or GPU_CHECK_TINY=1): a width-4 network on a few samples, on the CPU when there is no
# GPU, in seconds; the files then end in _tiny.json. Results go to DIR (default
# benchmarks/results): gpu_check[_tiny].json and fit_loop_gpu[_tiny].json. PYTHON picks the
# interpreter (default .venv/bin/python, else python3).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PYTHON" ]; then PYTHON=python3; fi
TINY="${GPU_CHECK_TINY:-0}"
OUT_DIR=benchmarks/results

while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) TINY=1 ;;
    --out-dir) OUT_DIR="${2:?--out-dir needs a folder}"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (use --tiny, --out-dir DIR)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT_DIR"

if [ "$TINY" = 1 ]; then
  suffix=_tiny
  check_args=(--tiny)
  loop_args=(--model resnet18:width=4 --samples 32 --batch-size 8 --repeats 1 --device auto)
else
  suffix=
  check_args=()
  loop_args=(--model resnet18 --samples 25600 --batch-size 128 --repeats 3 --device cuda)
fi

started=$(date +%s)
timeout 300 "$PYTHON" benchmarks/gpu_check.py "${check_args[@]}" \
  --out "$OUT_DIR/gpu_check$suffix.json"
timeout 150 "$PYTHON" benchmarks/bench_fit_loop.py --shape 3,32,32 "${loop_args[@]}" \
  --out "$OUT_DIR/fit_loop_gpu$suffix.json"
echo "gpu_check.sh: done in $(( $(date +%s) - started )) s; results in" \
  "$OUT_DIR/gpu_check$suffix.json and $OUT_DIR/fit_loop_gpu$suffix.json"
