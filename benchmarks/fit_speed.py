"""Wall time of the Chinchilla-form fit with 1000 bootstrap resamples (goal: <= 60 s on 2 cores).

Run: python benchmarks/fit_speed.py [--bootstrap 1000] [--jobs 2]
Data: docs/data/chinchilla/svg_extracted_data.csv (245 runs, the 5 highest-loss dropped).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from transfer_laws.tasks.fitting.analysis import AnalysisOptions, Runs, analyse
from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
from transfer_laws.tasks.fitting.robust import FitOptions

DATA = Path(__file__).resolve().parents[1] / "docs/data/chinchilla/svg_extracted_data.csv"


def chinchilla_runs(exclude_top_loss: int = 5) -> Runs:
    raw = pd.read_csv(DATA).sort_values("loss", kind="stable")
    raw = raw.iloc[: len(raw) - exclude_top_loss]
    n = raw["Model Size"].to_numpy(float)
    return Runs(n, raw["Training FLOP"].to_numpy(float) / (6 * n), raw["loss"].to_numpy(float),
                np.array(["scratch"] * len(n)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    runs = chinchilla_runs()
    opts = AnalysisOptions(form="chinchilla", fit=FitOptions(n_jobs=args.jobs),
                           bootstrap=BootstrapOptions(args.bootstrap, seed=0, n_jobs=args.jobs),
                           other_form=False, varpro=False)
    t0 = time.perf_counter()
    analyse(runs, AnalysisOptions(form="chinchilla", bootstrap=BootstrapOptions(0),
                  other_form=False, varpro=False))
    t_point = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = analyse(runs, opts)
    t_all = time.perf_counter() - t1
    p = res.estimate.surface.params
    print(f"point fit (screened grid): {t_point:.1f} s; E={p['E']:.5g} A={p['A']:.5g} "
          f"B={p['B']:.5g} alpha={p['alpha']:.5g} beta={p['beta']:.5g}")
    print(f"fit + {args.bootstrap} bootstrap resamples on {args.jobs} processes: {t_all:.1f} s "
          f"({res.n_failed} failed resamples); goal <= 60 s")
    for k in ("alpha", "beta"):
        lo, hi = res.ci95[f"scratch.{k}"]
        print(f"  {k} 95 % interval: {lo:.4f} - {hi:.4f}")


if __name__ == "__main__":
    main()
