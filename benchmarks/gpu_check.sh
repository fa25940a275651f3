#!/usr/bin/env bash
# The GPU check of the performance issue, in one go on a fresh copy of the repository on an
# H100/H200 box (torch with CUDA already installed): matmul peak, MFU at N ~ 1e6, 1e7, 1e8, and
# 8 small runs packed on the GPU. About 5 minutes; everything it prints is the result.
#
#   bash benchmarks/gpu_check.sh [extra gpu_check.py options, e.g. --no-compile --budget 200]
#
# Python: $PYTHON, else .venv/bin/python when present (unless its torch is CPU-only and python3's
# has CUDA), else python3. When the project's imports fail, it runs `pip install -e .` first (needs
# the package index; its time is not in the budget).
set -uo pipefail
cd "$(dirname "$0")/.."
CUDA_OK="import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  PY=python3
  # the project's venv, unless it holds a CPU-only torch and python3 has a CUDA one
  if [ -x .venv/bin/python ] && { .venv/bin/python -c "$CUDA_OK" 2>/dev/null || ! python3 -c "$CUDA_OK" 2>/dev/null; }; then
    PY=.venv/bin/python
  fi
fi
echo "gpu_check.sh: $("$PY" --version 2>&1) at $(command -v "$PY" || echo "$PY"), $(date -u +%FT%TZ)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm \
  --format=csv,noheader
IMPORTS="import torch, numpy, pydantic, yaml, safetensors, transformers, accelerate"
if ! "$PY" -c "$IMPORTS" 2>/dev/null; then
  echo "gpu_check.sh: missing packages; running pip install -e . (torch is kept as installed)"
  "$PY" -m pip install -q -e . || echo "gpu_check.sh: pip install failed; trying anyway"
fi
if ! "$PY" -c "$CUDA_OK"; then
  echo "gpu_check.sh: torch sees no CUDA device ($("$PY" -c 'import torch; print(torch.__version__)' 2>&1))"
  exit 2
fi
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$PWD/.transfer-laws/inductor-cache}"
# the Python side keeps to --budget (270 s by default); this is the hard stop
timeout -k 10 300 "$PY" benchmarks/gpu_check.py "$@"
status=$?
[ $status -eq 124 ] && echo "gpu_check.sh: stopped after 300 s; the figures above are what was measured"
exit $status
