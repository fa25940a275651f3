"""The fit's figures (matplotlib, Agg): scratch surface with data; D_F/D_E against N with the fitted
lines (paper Fig. 2); per-D_F logit fits (Fig. 10); multiplier D_E/D_F against D_F; the candidate
scratch-curve forms over each size's points.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # headless files everywhere; a notebook keeps its inline backend
    matplotlib.use("Agg")
import matplotlib.colors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from transfer_laws.tasks.fitting.analysis import Analysis, Runs, subset  # noqa: E402
from transfer_laws.tasks.fitting.curve_forms import curve_for  # noqa: E402
from transfer_laws.tasks.fitting.forms import SURFACES, features  # noqa: E402
from transfer_laws.tasks.fitting.transfer import select_points  # noqa: E402


def _colors(values) -> dict:
    vals = sorted(set(np.asarray(values).tolist()))
    cmap = plt.get_cmap("viridis")
    return {v: cmap(i / max(1, len(vals) - 1)) for i, v in enumerate(vals)}


def scratch_surface(analysis: Analysis, runs: Runs) -> Figure:
    """Every scratch run coloured by log N, with fitted curves at up to 8 sizes."""
    est, form = analysis.estimate, SURFACES[analysis.options.form]
    sc = runs.scratch
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    norm = matplotlib.colors.LogNorm(runs.n[sc].min(), runs.n[sc].max())
    cmap = plt.get_cmap("viridis")
    pts = ax.scatter(runs.d[sc], runs.loss[sc], c=runs.n[sc], norm=norm, cmap=cmap, s=12)
    sizes = np.unique(runs.n[sc])
    dd = np.geomspace(runs.d[sc].min(), runs.d[sc].max(), 100)
    for n in sizes[np.unique(np.linspace(0, len(sizes) - 1, min(8, len(sizes))).astype(int))]:
        ax.plot(dd, np.exp(form.log_loss(est.surface.theta, features(np.full_like(dd, n), dd))),
                color=cmap(norm(n)), lw=1)
    fig.colorbar(pts, ax=ax, label="N (non-embedding parameters)")
    ax.set(xscale="log", yscale="log", xlabel=f"D (target training {runs.d_unit})", ylabel="loss (nats/token)",
           title=f"Scratch runs and the fitted {analysis.options.form} surface")
    fig.tight_layout()
    return fig


def _law_panels(analysis: Analysis, runs: Runs, kind: str) -> Figure:
    est = analysis.estimate
    srcs = list(est.transfer)
    fig, axes = plt.subplots(1, len(srcs), figsize=(6.5 * len(srcs), 4.5), squeeze=False)
    for ax, src in zip(axes[0], srcs):
        eff = subset(est.effective, est.source == src)
        law = est.transfer[src]
        used, _ = select_points(eff, analysis.options.transfer)
        by = eff.n if kind == "multiplier" else eff.d_f
        col = _colors(by)
        hidden = shown = 0
        for v in col:
            sel = by == v
            x = eff.d_f[sel] if kind == "multiplier" else eff.n[sel]
            with np.errstate(all="ignore"):
                y = {"fraction": eff.fraction, "logit": np.log(eff.d_t / eff.d_f),
                     "multiplier": eff.multiplier}[kind][sel]
                # unreachable points (D_E = inf) and non-positive ones cannot be drawn on a log axis
                drawable = np.isfinite(y) & ((y > 0) if kind != "logit" else True)
            hidden += int((~drawable).sum())
            shown += int(drawable.sum())
            on, off = used[sel] & drawable, ~used[sel] & drawable
            ax.scatter(x[on], y[on], color=col[v], s=16,
                       label=("N" if kind == "multiplier" else "D_F") + f"={v:.3g}")
            ax.scatter(x[off], y[off], color=col[v], s=16, facecolors="none")
            if law.status != "ok":
                continue
            grid = np.geomspace(x.min(), x.max(), 50)
            if kind == "fraction":
                ln_r = np.log(law.k) + (law.alpha - 1) * np.log(v) + law.beta * np.log(grid)
                ax.plot(grid, 1 / (1 + np.exp(ln_r)), color=col[v], lw=1)
            elif kind == "logit":
                g = next((p for p in law.per_d_f if p["D_F"] == v), None)
                if g is not None:
                    ax.plot(grid, g["intercept"] + g["slope"] * np.log(grid), color=col[v], lw=1)
            else:
                ln_r = np.log(law.k) + (law.alpha - 1) * np.log(grid) + law.beta * np.log(v)
                ax.plot(grid, 1 + np.exp(ln_r), color=col[v], lw=1)
        ylabel = {"fraction": "D_F / D_E (fraction of effective data from fine-tuning)",
                  "logit": "logit(D_T/D_E) = ln(D_T/D_F)", "multiplier": "D_E / D_F"}[kind]
        if not shown:  # nothing finite to draw: a log axis would have no valid limits
            ax.text(0.5, 0.5, "no point with a finite effective data size", ha="center",
                    transform=ax.transAxes)
        ax.set(xscale="log" if shown else "linear",
               yscale="linear" if kind == "logit" or not shown else "log", ylabel=ylabel,
               xlabel=f"D_F (fine-tuning {runs.d_unit})" if kind == "multiplier" else "N (non-embedding parameters)",
               title=f"{src}: k={law.k:.3g}, alpha={law.alpha:.3g}, beta={law.beta:.3g} "
                     "(open = not used)" + (f"; {hidden} unreachable not drawn" if hidden else ""))
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def curve_forms(analysis: Analysis, runs: Runs) -> Figure:
    """One panel per size: its scratch runs (the held-out largest D hollow) and each candidate
    form fitted on all of them; the legend gives each form's rollout error."""
    choice, sc = analysis.curve_choice, runs.scratch
    sizes = sorted(choice.held_out_d)
    cols = min(3, len(sizes))
    rows = -(-len(sizes) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    styles = {"current": "-", "bansal": ":", "piecewise": "--"}
    for ax, n in zip(axes.ravel(), sizes):
        sel = sc & (runs.n == n)
        top = runs.d[sel] == choice.held_out_d[n]
        ax.scatter(runs.d[sel][~top], runs.loss[sel][~top], s=14, color="k", zorder=3)
        ax.scatter(runs.d[sel][top], runs.loss[sel][top], s=30, facecolors="none", edgecolors="k",
                   zorder=3, label="largest D (held out)")
        dd = np.geomspace(runs.d[sel].min() / 2, runs.d[sel].max() * 2, 120)
        for name, r in choice.forms.items():
            if n not in r.full:
                continue
            form = curve_for(name, analysis.options.form)
            err = r.per_size.get(n)
            ax.plot(dd, np.exp(form.log_loss(r.full[n], np.log(dd)[None, :])), styles.get(name, "-"),
                    lw=2.2 if name == choice.chosen else 1.2,
                    label=f"{name}" + (f" (rollout {err:.3f})" if err is not None else ""))
        ax.set(xscale="log", yscale="log", title=f"N = {n:.3g}", xlabel=f"D ({runs.d_unit})", ylabel="loss (nats/token)")
        for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            axis(matplotlib.ticker.FormatStrFormatter("%.2g"))
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(sizes):]:
        ax.axis("off")
    fig.suptitle(f"Scratch-curve forms (used: {choice.chosen}); rollout = abs(ln error) at the "
                 "held-out largest D", fontsize=10)
    fig.tight_layout()
    return fig


def build_figures(analysis: Analysis, runs: Runs) -> dict[str, Figure]:
    """The figures by file name, open (a notebook shows them; write_figures saves and closes them)."""
    figs = {"scratch_surface.png": scratch_surface(analysis, runs)}
    if analysis.curve_choice is not None and analysis.curve_choice.held_out_d:
        figs["curve_forms.png"] = curve_forms(analysis, runs)
    if analysis.estimate.transfer:
        for kind, name in (("fraction", "fraction_vs_N.png"), ("logit", "logit_fits.png"),
                           ("multiplier", "multiplier_vs_D_F.png")):
            figs[name] = _law_panels(analysis, runs, kind)
    return figs


def write_figures(analysis: Analysis, runs: Runs, out: Path) -> list[str]:
    """Write the PNGs into out; returns their file names."""
    figs = build_figures(analysis, runs)
    for name, fig in figs.items():
        fig.savefig(out / name, dpi=110 if name == "curve_forms.png" else 120)
        plt.close(fig)
    return list(figs)
