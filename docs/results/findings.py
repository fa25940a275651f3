"""Print the comparison of a sweep's report with the paper (Table 1 and the five findings) as
markdown, from the report folder alone (runs.csv, points.csv, fit.json):

    python docs/results/findings.py docs/results/paper-cpu > /tmp/findings.md

docs/results.md quotes its output; rerun it after a new sweep instead of editing numbers by hand.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PAPER = {"text": (1.9e4, 0.18, 0.38), "text+code": (2.1e5, 0.096, 0.38)}  # Table 1, characters


def _ci(law: dict, key: str) -> str:
    lo, hi = (law.get("ci95") or {}).get(key) or (None, None)
    return "n/a" if lo is None else f"{lo:.3g} – {hi:.3g}"


def table_1(fit: dict) -> list[str]:
    out = ["| source | k (tokens) | 95 % | k (chars) | α | 95 % | β | 95 % | R² (log) | points | paper k / α / β (chars) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for src, law in fit["transfer"].items():
        k, a, b = PAPER.get(src, (math.nan,) * 3)
        out.append(f"| {src} | {law['k']:.3g} | {_ci(law, 'k')} | {law.get('k_chars', math.nan):.3g} | "
                   f"{law['alpha']:.3f} | {_ci(law, 'alpha')} | {law['beta']:.3f} | {_ci(law, 'beta')} | "
                   f"{law.get('r2_log', math.nan):.2f} | {law['n_points']} | {k:.2g} / {a} / {b} |")
    return out


def slopes(runs: pd.DataFrame) -> pd.DataFrame:
    """d ln L / d ln N over the two largest sizes, per init and D: finding (a) (Fig. 3)."""
    rows = []
    sizes = sorted(runs.N.unique())[-2:]
    for (init, d), g in runs[runs.N.isin(sizes)].groupby(["init", "D"]):
        if g.N.nunique() == 2:
            g = g.sort_values("N")
            rows.append({"init": init, "D": d, "slope": float(np.diff(np.log(g.loss))[0]
                                                          / np.diff(np.log(g.N))[0])})
    return pd.DataFrame(rows)


def findings(runs: pd.DataFrame, points: pd.DataFrame, fit: dict) -> list[str]:
    out = []
    s = slopes(runs)
    small = sorted(runs[runs.init != "scratch"].D.unique())[:3]
    sc = s[(s.init == "scratch") & s.D.isin(small)].slope
    ft = s[(s.init != "scratch") & s.D.isin(small)].slope
    out.append(f"(a) d ln L / d ln N between the two largest sizes at the 3 smallest D_F: scratch "
               f"{', '.join(f'{x:+.3f}' for x in sc)}; fine-tuned {', '.join(f'{x:+.3f}' for x in ft)}")
    for src, law in fit["transfer"].items():
        out.append(f"(b) {src}: R² of the law in log space {law.get('r2_log', math.nan):.3f} on "
                   f"{law['n_points']} points ({law['method']}); joint least squares R² "
                   f"{(law.get('joint') or {}).get('r2_log', math.nan):.3f}")
        a, b = law["alpha"], law["beta"]
        out.append(f"(c) {src}: α = {a:.3f} ({_ci(law, 'alpha')}), β = {b:.3f} ({_ci(law, 'beta')}); "
                   f"0 < α < 1: {0 < a < 1}, β > 0: {b > 0}")
    flag = lambda col: points[col].fillna(False).astype(bool)  # noqa: E731 - NaN on scratch rows
    low = points[(points.init != "scratch") & flag("low_data") & ~flag("unreachable")]
    for src, g in low.groupby("init"):
        m = g.multiplier_D_E_over_D_F
        out.append(f"(d) {src}: D_E/D_F > 1 at {int((m > 1).sum())} of {len(m)} low-data points "
                   f"(median {m.median():.3g}, range {m.min():.3g} – {m.max():.3g})")
    n_min, d_max = runs.N.min(), runs[runs.init != "scratch"].D.max()
    for src, g in runs[(runs.N == n_min) & (runs.D == d_max) & (runs.init != "scratch")].groupby("init"):
        scratch = runs[(runs.N == n_min) & (runs.D == d_max) & (runs.init == "scratch")].loss
        if len(scratch):
            gap = float(g.loss.iloc[0] - scratch.iloc[0])
            out.append(f"(e) {src}: at the smallest N ({n_min:.3g}) and largest D_F ({d_max:.3g}) "
                       f"fine-tuned − scratch = {gap:+.4f} nats/token ({'ossified' if gap > 0 else 'not ossified'}); "
                       f"ossified points overall: {int(flag('ossified')[points.init == src].sum())}")
    return out


def main(folder: str) -> None:
    root = Path(folder)
    fit = json.loads((root / "fit.json").read_text())
    runs = pd.read_csv(root / "runs.csv")
    points = pd.read_csv(root / "points.csv")
    print("\n".join(table_1(fit)))
    print()
    print("\n".join(f"- {line}" for line in findings(runs, points, fit)))
    r = fit.get("rollout", {})
    print(f"\nRollout (fit N <= {r.get('train_max_N')}, predict the rest): "
          + json.dumps({k: v for k, v in r.items() if k in ("scratch_loss", "transfer")}, indent=None))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/results/paper-cpu")
