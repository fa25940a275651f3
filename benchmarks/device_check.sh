#!/usr/bin/env bash
# The one prepared check for an offline GPU machine (issue 19): install the device kit, then
#   (a) the MFU and packing check (benchmarks/gpu_check.py),
#   (b) a sweep with its fit and report,
# writing at most 8 files into OUT_DIR. --cpu-smoke does both at toy sizes on CPU, in a minute or
# two: `make rehearse-device` runs it here, network off, in a venv that holds only what the GPU
# machine has, so a missing wheel shows up here and not on a paid GPU minute.
#
#   bash benchmarks/device_check.sh OUT_DIR [--cpu-smoke] [--sweep CONFIG] [--corpora DIR] [--pythia]
#
# --pythia adds (c): dry-run of configs/pythia-python.yaml, each of Pythia's five shapes (stand-ins
# from the published configs: no weights reach the machine) timed on this GPU, so the suite's cost
# on it is measured (pythia_dry_run.txt; ~2 min more; not timed under --cpu-smoke).
#
# Kit: .whl/py<major><minor>/*.whl for the running Python, transfer-laws' own wheel among them
# (python benchmarks/device_kit.py makes it), installed with --no-index --no-deps into a temporary
# target on PYTHONPATH: the product runs as installed, never from this checkout.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: device_check.sh OUT_DIR [--cpu-smoke] [--sweep CONFIG]}"; shift
SMOKE=0; SWEEP=configs/gpu-small.yaml; CORPORA=""; PYTHIA=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-smoke) SMOKE=1 ;;
    --sweep) SWEEP="$2"; shift ;;
    --corpora) CORPORA="$2"; shift ;;
    --pythia) PYTHIA=1 ;;
    *) echo "device_check.sh: unknown option $1 (use --cpu-smoke or --sweep CONFIG)"; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
VER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
echo "device_check.sh: $("$PY" --version 2>&1) at $(command -v "$PY"), $(date -u +%FT%TZ)"
SITE=$(mktemp -d /tmp/tl-site.XXXXXX)
if compgen -G ".whl/py$VER/*.whl" >/dev/null; then
  t0=$SECONDS
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
    .whl/py"$VER"/*.whl || { echo "device_check.sh: the kit did not install"; exit 3; }
  echo "device_check.sh: kit .whl/py$VER installed in $((SECONDS - t0)) s ($(ls .whl/py"$VER"/*.whl | wc -l) wheels)"
else
  echo "device_check.sh: no kit in .whl/py$VER; using what $PY has"
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$PWD/.transfer-laws/inductor-cache}"
# Every library the product imports, before any minute is spent on the GPU.
"$PY" -P - <<'EOF' || { echo "device_check.sh: the product does not import; see above"; exit 4; }
import importlib
for m in ("torch", "transformers", "accelerate", "pydantic", "prefect", "mlflow", "datasets",
          "transfer_laws.flows.cli", "transfer_laws.tasks.sweep.config", "transfer_laws.tasks.train.entry",
          "transfer_laws.tasks.tracking.mlflow_store", "transfer_laws.tasks.report.fit"):
    importlib.import_module(m)
import mlflow, prefect, torch
print(f"imports ok: torch {torch.__version__} (cuda {torch.cuda.is_available()}), "
      f"prefect {prefect.__version__}, mlflow {mlflow.__version__}")
EOF
status=0
if [ $SMOKE = 1 ]; then
  timeout -k 10 120 "$PY" benchmarks/gpu_check.py --cpu-smoke 2>&1 | tee "$OUT/gpu_check.txt" || status=$?
  SWEEP=configs/device-smoke.yaml
  BOOT=50; LIMIT=300
else
  timeout -k 10 260 "$PY" benchmarks/gpu_check.py --budget 240 2>&1 | tee "$OUT/gpu_check.txt" || status=$?
  BOOT=200; LIMIT=270
fi
HOME_DIR=$(mktemp -d /tmp/tl-home.XXXXXX)
# The machine reaches no network: corpora built from Debian packages or hubs must travel, prepared
# here (`transfer-laws dry-run CONFIG --home H` builds them into H/cache/corpora).
# A folder (a project's cache/corpora) or the tarball benchmarks/device_corpora.py packs.
[ -z "$CORPORA" ] && [ -f .whl/corpora.tar.xz ] && CORPORA=.whl/corpora.tar.xz
if [ -n "$CORPORA" ]; then
  mkdir -p "$HOME_DIR/cache/corpora"
  case "$CORPORA" in
    *.tar.xz) tar -xJf "$CORPORA" -C "$HOME_DIR/cache/corpora" ;;
    *) cp -r "$CORPORA"/. "$HOME_DIR/cache/corpora/" ;;
  esac
  echo "device_check.sh: corpora from $CORPORA: $(ls "$HOME_DIR/cache/corpora" | tr '\n' ' ')"
fi
# the cost model's estimate on this machine, beside the measured time below
timeout -k 10 120 "$PY" -P -m transfer_laws.flows.cli dry-run "$SWEEP" --home "$HOME_DIR" 2>&1 | tail -1
t_sweep=$SECONDS
timeout -k 10 $LIMIT "$PY" -P -m transfer_laws.flows.cli run "$SWEEP" --home "$HOME_DIR" --bootstrap $BOOT \
  >"$OUT/sweep.log" 2>&1 || { s=$?; echo "device_check.sh: sweep failed ($s); tail of sweep.log:"; tail -20 "$OUT/sweep.log"; status=$s; }
echo "device_check.sh: sweep + fit took $((SECONDS - t_sweep)) s"
if [ $PYTHIA = 1 ]; then  # (c) the open suite's cost model on this machine
  TIMING=""; [ $SMOKE = 1 ] && TIMING="--no-timing"
  timeout -k 10 150 "$PY" -P -m transfer_laws.flows.cli dry-run pythia-python --home "$HOME_DIR" $TIMING \
    >"$OUT/pythia_dry_run.txt" 2>&1 || echo "device_check.sh: pythia dry-run failed ($?)"
  tail -2 "$OUT/pythia_dry_run.txt"
fi
REPORT=$(ls -d "$HOME_DIR"/reports/*/latest 2>/dev/null | head -1)
if [ -n "$REPORT" ]; then
  for f in runs.csv fit.json report.md fig1_effective_data.png scratch_surface.png; do
    [ -f "$REPORT/$f" ] && cp "$REPORT/$f" "$OUT/"
  done
  echo "device_check.sh: report in $OUT: $(ls "$OUT" | tr '\n' ' ')"
  sed -n '/## Headline/,/## Scratch/p' "$REPORT/report.md" | head -8
else
  echo "device_check.sh: no report written"; [ $status = 0 ] && status=5
fi
exit $status
