"""Print the comparison of a sweep's report with the paper (Table 1 and the five findings) as
markdown, from the report folder alone (runs.csv, points.csv, fit.json, pretrain_curves.csv):

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


def loss_table(runs: pd.DataFrame) -> list[str]:
    """Best held-out loss per D (rows) and init × N (columns): the numbers behind Figs. 1, 3 and 5."""
    t = runs.pivot_table(index="D", columns=["init", "N"], values="loss")
    inits = ["scratch"] + sorted(i for i in runs.init.unique() if i != "scratch")
    cols = [(i, n) for i in inits for n in sorted(runs.N.unique()) if (i, n) in t.columns]
    head = [f"{i} {n:.2g}" if j == 0 or cols[j - 1][0] != i else f"{n:.2g}" for j, (i, n) in enumerate(cols)]
    out = ["| D | " + " | ".join(head) + " |", "|---" * (len(cols) + 1) + "|"]
    for d, row in t.iterrows():
        out.append(f"| {d:.4g} | " + " | ".join("" if pd.isna(row[c]) else f"{row[c]:.3f}" for c in cols) + " |")
    return out


def pretrain_table(curves: pd.DataFrame) -> list[str]:
    """How far from flat each pre-training run ended: its best held-out loss, and how much the loss
    fell over the second half of its steps (0 on a flat curve)."""
    out = ["| N | source | steps | best held-out loss (source) | fall over the second half |",
           "|---|---|---|---|---|"]
    for (n, src), g in curves.sort_values(["N", "source", "step"]).groupby(["N", "source"]):
        g = g[g.step > 0]
        last = g.step.max()
        mid = float(np.interp(np.log(last / 2), np.log(g.step), g.test_loss))
        best = g.test_loss.min()
        out.append(f"| {n:.3g} | {src} | {last} | {best:.4f} | {mid - best:.3f} |")
    return out


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
    print("\n".join(loss_table(runs)))
    print()
    if (root / "pretrain_curves.csv").exists():
        print("\n".join(pretrain_table(pd.read_csv(root / "pretrain_curves.csv"))))
        print()
    print("\n".join(table_1(fit)))
    print()
    print("\n".join(f"- {line}" for line in findings(runs, points, fit)))
    r = fit.get("rollout", {})
    print(f"\nRollout (fit N <= {r.get('train_max_N')}, predict the rest): "
          + json.dumps({k: v for k, v in r.items() if k in ("scratch_loss", "transfer")}, indent=None))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/results/paper-cpu")
