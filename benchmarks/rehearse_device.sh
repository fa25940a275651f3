#!/usr/bin/env bash
# `make rehearse-device`: the GPU machine's check, rehearsed here with the network off.
#
# 1. a fresh venv holding only packages the GPU machine has (benchmarks/device_has.txt) that the
#    product's dependency closure uses (CPU torch, the pinned wheel on disk), installed from the
#    index here;
# 2. the device kit for this machine's Python (benchmarks/device_kit.py --python 3.11);
# 3. `unshare -n` (no network): benchmarks/device_check.sh OUT --cpu-smoke, which installs the kit
#    with --no-index --no-deps and runs the MFU/packing smoke and a toy sweep to its report.
# A wheel missing from the kit fails step 3 here, not on a paid GPU minute.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
WORK=${REHEARSAL_DIR:-/tmp/tl-rehearsal}
rm -rf "$WORK" && mkdir -p "$WORK"
t0=$SECONDS
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --upgrade pip
"$VPY" -m pip install -q torch==2.13.0
"$PY" benchmarks/device_kit.py --python "$VER" --base-out "$WORK/base.txt"
"$VPY" -m pip install -q -r "$WORK/base.txt"
echo "rehearse-device: venv with $(wc -l <"$WORK/base.txt") of the machine's packages, $((SECONDS - t0)) s"
# The machine lacks the kit's packages even where one of its own would pull them in here (typer's
# newest release needs pydantic): take them out again, so only the kit can provide them.
KIT_NAMES=$(sed -n 's/==.*//p' benchmarks/device_kit_py312.txt)
"$VPY" -m pip uninstall -q -y $KIT_NAMES 2>/dev/null || true
for m in pydantic prefect mlflow datasets; do
  if "$VPY" -c "import $m" 2>/dev/null; then
    echo "rehearse-device: $m is in the base venv; the rehearsal would prove nothing"; exit 1
  fi
done
# corpora fetched and packed with the network on, as they are for the GPU machine
.venv/bin/python benchmarks/device_corpora.py configs/device-smoke.yaml --out "$WORK/corpora.tar.xz"
# a new network namespace has only a loopback, and it starts down: the services need it up
unshare -n sh -c "ip link set lo up && PYTHON='$VPY' bash benchmarks/device_check.sh '$WORK/out' \
  --cpu-smoke --corpora '$WORK/corpora.tar.xz'"
echo "rehearse-device: passed in $((SECONDS - t0)) s; files: $(ls "$WORK/out" | tr '\n' ' ')"
