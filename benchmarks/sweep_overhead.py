"""Orchestration overhead of a sweep: (sweep wall - sum of run walls / slots) / sweep wall.

Runs CONFIG (default configs/demo.yaml) from nothing in a fresh temporary project folder (the data
cache is shared, so corpus downloads are not counted), then reads every run's own wall time from its
run.json. Everything that is not a run training counts as overhead: Prefect's ephemeral server, data
preparation, MLflow, process starts, and slots left idle while fine-tunes wait for their pre-train.

    .venv/bin/python benchmarks/sweep_overhead.py [CONFIG] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", default=str(REPO / "configs" / "demo.yaml"))
    p.add_argument("--keep", help="project folder to use (kept) instead of a temporary one")
    a = p.parse_args()
    home = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="sweep-overhead-"))
    env = {**os.environ,
           "TRANSFER_LAWS_CACHE_DIR": os.environ.get("TRANSFER_LAWS_CACHE_DIR",
                                                     str(REPO / ".transfer-laws" / "cache"))}
    print(f"load average before: {os.getloadavg()[0]:.2f} (run on a quiet machine)")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "transfer_laws.flows.cli", "run", a.config, "--home", str(home),
                           "--no-aggregate"], env=env, cwd=REPO, capture_output=True, text=True)
    sweep_wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(proc.stdout[-3000:] + proc.stderr[-3000:])
    t_end = time.time()
    files = list((home / "runs").glob("*/run.json"))
    walls = [json.loads(f.read_text())["result"]["wall_seconds"] for f in files]
    starts = [f.stat().st_mtime - w for f, w in zip(files, walls)]
    ends = [f.stat().st_mtime for f in files]
    slots_line = next((ln for ln in (proc.stdout + proc.stderr).splitlines() if "slot(s)" in ln), "")
    n_slots = int(slots_line.split(" slot(s)")[0].split()[-2]) if slots_line else 1
    busy = sum(walls) / n_slots
    print(f"runs: {len(walls)}, slots: {n_slots}")
    print(f"sweep wall: {sweep_wall:.1f} s; sum of run walls / slots: {busy:.1f} s")
    print(f"before the first run: {min(starts) - (t_end - sweep_wall):.1f} s; runs span "
          f"{max(ends) - min(starts):.1f} s; after the last run: {t_end - max(ends):.1f} s")
    print(f"orchestration overhead: {(sweep_wall - busy) / sweep_wall:.1%} (goal <= 5 %)")


if __name__ == "__main__":
    main()
