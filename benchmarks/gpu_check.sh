#!/usr/bin/env bash
# GPU check (about 2 minutes on one recent GPU; budget 8): ResNet-18 (CIFAR stem) fit-loop
# throughput on 32x32 inputs and one dr-ft run, then the fit loop against a bare PyTorch loop on
# the same network (benchmarks/gpu_check.py, one process: PyTorch and the GPU start once).
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
else
  suffix=
  check_args=()
fi

started=$(date +%s)
timeout 450 "$PYTHON" benchmarks/gpu_check.py "${check_args[@]}" \
  --out "$OUT_DIR/gpu_check$suffix.json" --fit-loop-out "$OUT_DIR/fit_loop_gpu$suffix.json"
echo "gpu_check.sh: done in $(( $(date +%s) - started )) s; results in" \
  "$OUT_DIR/gpu_check$suffix.json and $OUT_DIR/fit_loop_gpu$suffix.json"
