#!/usr/bin/env bash
# The prepared GPU check (issue 16), for the device machine: the CUDA provider really engaged, parity with CPU
# outputs, batch-1 and batch-32 latency of every model of the default set, and a latency profile
# (nodes/latency_profiles/gpu-measured.json). On a machine without a working CUDA provider it says so in one
# line and exits 2. Results land in benchmarks/results/gpu-profile.{json,md}, copied to $OUT when it is set.
#
#   benchmarks/device/gpu_profile.sh [--repeats 50] [--batches 1,32]     (options of gpu_profile.py)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
if ! "$PY" -c "import onnxruntime, onnx, numpy" 2>/dev/null; then
  echo "gpu_profile: $PY cannot import onnxruntime, onnx and numpy: run ./setup.sh first" >&2
  exit 2
fi
"$PY" benchmarks/device/gpu_profile.py --check-only   # no working CUDA: one line, exit 2, nothing built
MODELS=.cache/models
if [ ! -f "$MODELS/manifest.json" ]; then
  # the default set is built here (trained and exported, a few minutes) unless it was carried along
  "$PY" -m models build --quiet --cache "$MODELS"
fi
rc=0
"$PY" benchmarks/device/gpu_profile.py --models-dir "$MODELS" "$@" || rc=$?
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
  cp -f benchmarks/results/gpu-profile.json benchmarks/results/gpu-profile.md nodes/latency_profiles/gpu-measured.json \
     "$OUT"/ 2>/dev/null || true
fi
exit "$rc"
