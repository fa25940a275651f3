"""Does the analysis cost less than the sweep? Wall time of the three analysis commands a researcher
runs on the demo, beside the demo sweep's own measured time, each as the CLI runs it (issue 29.5).

Goals on 2 cores: the demo's aggregate (fit, 1000 resamples, curve forms, planner verdict, figures)
<= 60 s; `plan configs/demo.yaml` <= 10 s; `plan configs/demo.yaml --budget-minutes 30` <= 60 s.
The demo's fit is `transfer-laws fit` on the committed runs (docs/results/demo/runs.csv) with the
sweep report's settings (1000 resamples, 48 planner draws, figures), which is what the aggregate
flow runs after the sweep.

Run: python benchmarks/analysis_speed.py [--quick]   (--quick: 50 resamples, no budget search)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, load_line

DEMO = REPO / "docs" / "results" / "demo"
# The v3 demo sweep's training as measured (docs/results.md, 2026-12-06): its 48 runs from the first
# start to the last end, 6.1 min on 2 cores (its log: 05:41:47 to 05:47:52); fetching the corpora
# before and the fit after are not in it.
SWEEP_S = 6.1 * 60


def timed(*args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-P", "-m", "transfer_laws.flows.cli", *args], cwd=REPO,
                          capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a check that the script runs, not a measurement")
    args = ap.parse_args()
    print(load_line())
    resamples = 50 if args.quick else 1000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fit_s = timed("fit", str(DEMO / "runs.csv"), "--out", str(Path(tmp) / "fit"), "--bootstrap",
                      str(resamples), "--plan-draws", "48")
        rows.append((f"demo aggregate: fit, {resamples} resamples, curve forms, planner verdict, figures",
                     fit_s, 60.0))
        prior = json.loads((DEMO / "fit.json").read_text())
        assert prior["transfer"], "the committed demo fit has a law to plan with"
        rows.append(("plan configs/demo.yaml", timed("plan", "configs/demo.yaml", "--home", tmp), 10.0))
        if not args.quick:
            rows.append(("plan configs/demo.yaml --budget-minutes 30",
                         timed("plan", "configs/demo.yaml", "--budget-minutes", "30", "--home", tmp), 60.0))
    for what, seconds, goal in rows:
        verdict = "met" if seconds <= goal else "NOT met"
        print(f"{what}: {seconds:.1f} s (goal <= {goal:g} s: {verdict}); "
              f"{seconds / SWEEP_S:.2f} x the demo sweep's training, measured ({SWEEP_S:.0f} s)")


if __name__ == "__main__":
    main()
