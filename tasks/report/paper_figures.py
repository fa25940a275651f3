"""Figures of a finished transfer sweep, after Hernandez et al. 2021 (notes/paper.md §3.2).

Why these figures: fit.json compresses a sweep into (k, alpha, beta); these let a reader check by
eye that the numbers rest on the phenomenon. Fig. 1 shows what D_T *is* (the horizontal gap from
a fine-tuned run to the scratch curve of the same size); Fig. 3 the headline shape (scratch
flattens with N at small D, fine-tuned keeps improving); Fig. 5 ossification (small pre-trained
models losing to scratch at large D, D_T < 0); the compute figure whether fine-tuning is cheaper,
with and without its pre-training bill; Fig. 15 early-stopping epochs (fine-tuned runs stop sooner
on small data); the pre-training curves how far from converged each starting point was. (Fig. 2,
D_F/D_E against N with the fitted law, belongs with the fitter's report.)

Each figure function takes the runs table (docs/interface.md "Runs CSV" plus `best_epoch`, `flops`,
`pretrain_flops`) and the fitter's points table (or None), writes one PNG and returns its path.
A figure whose data is missing raises `MissingData`; `draw_all` skips it. Numbers a test may want
(how many D_T arrows Fig. 1 drew, which N it used) go into the PNG's text chunks: `figure_meta`.
Drawing uses `matplotlib.figure.Figure` directly (Agg, no pyplot state), so it is thread-safe.
"""
from __future__ import annotations

import itertools
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

SCRATCH = "scratch"
DPI = 120
YLABEL = "best held-out target loss (nats/token)"
SCRATCH_STYLE, FT_STYLE = ("--", "o", "from scratch"), ("-", "s", "fine-tuned")
log = logging.getLogger(__name__)


class MissingData(ValueError):
    """The tables lack what this figure needs; `draw_all` skips the figure."""


def figure_meta(path: Path) -> dict[str, str]:
    """The text chunks a figure function wrote into its PNG (e.g. `dt_segments`, `N`)."""
    from PIL import Image
    with Image.open(path) as im:
        return dict(getattr(im, "text", {}))


def _e(x: float) -> str:
    return f"{x:.1e}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def _split(runs: pd.DataFrame | None, *cols: str, need_both: bool = True):
    """(all, scratch, fine-tuned) rows with finite positive N, D and finite loss."""
    missing = {"N", "D", "init", "loss", *cols} - set([] if runs is None else runs.columns)
    if runs is None or runs.empty or missing:
        raise MissingData(f"runs table is empty or lacks columns {sorted(missing)}")
    df = runs.copy()
    df["init"] = df["init"].astype(str)
    for c in ["N", "D", "loss", *cols]:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df = df[np.isfinite(df[["N", "D", "loss"]]).all(axis=1) & (df["N"] > 0) & (df["D"] > 0)]
    scratch, ft = df[df["init"] == SCRATCH], df[df["init"] != SCRATCH]
    if need_both and (scratch.empty or ft.empty):
        raise MissingData("needs both from-scratch and fine-tuned runs")
    return df, scratch, ft


def _palette(values) -> dict[float, tuple]:
    """Colour per value, spaced by log value along viridis (dark = small)."""
    vals, cmap = sorted(set(float(v) for v in values)), matplotlib.colormaps["viridis"]
    if len(vals) == 1:
        return {vals[0]: cmap(0.4)}
    lo, hi = np.log(vals[0]), np.log(vals[-1])
    return {v: cmap(0.9 * (np.log(v) - lo) / (hi - lo)) for v in vals}


def _keys(colours: dict, name: str, *styles: tuple[str, str, str]) -> list[Line2D]:
    """Legend proxies: one colour per value of `name`, then (linestyle, marker, label) styles."""
    out = [Line2D([], [], color=c, lw=3, label=f"{name}={_e(v)}") for v, c in colours.items()]
    return out + [Line2D([], [], color="k", ls=ls, marker=m, label=lab,
                         mfc="none" if ls == "--" else "k") for ls, m, lab in styles]


def _points_at(points: pd.DataFrame | None, n: float) -> pd.DataFrame:
    """The fitter's rows at size n, with numeric D_E and D_T (empty if there is no table)."""
    cols = ["N", "D_F", "init", "loss", "D_E", "D_T"]
    if points is None or points.empty or not set(cols[:5]) <= set(points.columns):
        return pd.DataFrame(columns=cols)
    p = points[np.isclose(points["N"].astype(float), n, rtol=1e-6)].copy()
    p["init"] = p["init"].astype(str)
    p["D_E"] = pd.to_numeric(p["D_E"], errors="coerce")
    if "D_T" not in p.columns:
        p["D_T"] = p["D_E"] - p["D_F"]
    return p


def _new(ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(6.4 * ncols if ncols > 1 else 7.5, 5.2), layout="constrained")
    axes = list(fig.subplots(1, ncols, sharey=True, squeeze=False)[0])
    for ax in axes:
        ax.grid(True, which="both", alpha=0.25)
    return fig, axes


def _label(ax, xlabel: str, title: str | None = None, ylabel: str | None = YLABEL) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or "")
    ax.set_title(title or "", fontsize=10)


def _save(fig: Figure, out_dir: Path, name: str, **meta) -> Path:
    path = Path(out_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={k: str(v) for k, v in meta.items()})
    return path


def _loss_vs_d(runs: pd.DataFrame, n: float | None, smallest: bool = False):
    """Shared frame of Figs. 1 and 5: scratch and each source's fine-tuned loss vs D at one N."""
    _, scratch, ft = _split(runs)
    sizes = sorted(set(scratch["N"]) & set(ft["N"]))
    if not sizes:
        raise MissingData("no model size has both scratch and fine-tuned runs")
    if smallest or n is None:
        n_sel = sizes[0] if smallest else sizes[len(sizes) // 2]
    else:
        n_sel = min(sizes, key=lambda s: abs(np.log(s / n)))
    fig, (ax,) = _new()
    s = scratch[scratch["N"] == n_sel].sort_values("D")
    ax.plot(s["D"], s["loss"], "k-o", label="from scratch")
    lines = {}
    for i, src in enumerate(sorted(ft["init"].unique())):
        f = ft[(ft["N"] == n_sel) & (ft["init"] == src)].sort_values("D")
        ax.plot(f["D"], f["loss"], "-s", color=f"C{i % 10}", label=f"fine-tuned from {src}")
        lines[src] = (f"C{i % 10}", f)
    return fig, ax, n_sel, s, lines


def fig1_effective_data(runs: pd.DataFrame, points: pd.DataFrame | None, out_dir: Path,
                        n: float | None = None, zero_shot: pd.DataFrame | None = None) -> Path:
    """Loss vs D at one N (middle size by default); each D_T drawn as an arrow D_F → D_E; each
    source's zero-shot loss (the pre-trained model before fine-tuning) as a dotted level."""
    fig, ax, n_sel, _, lines = _loss_vs_d(runs, n)
    pts, unreachable, labels = _points_at(points, n_sel), 0, []
    for src, (c, _) in lines.items():
        level = zero_shot[(zero_shot["N"] == n_sel) & (zero_shot["init"] == src)] if zero_shot is not None else []
        if len(level):
            ax.axhline(float(np.exp(np.log(level["loss"]).mean())), color=c, ls=":", lw=1.3,
                       label=f"zero-shot from {src} (before fine-tuning)")
        for _, p in pts[pts["init"] == src].iterrows():
            d_f, d_e, loss = float(p["D_F"]), float(p["D_E"]), float(p["loss"])
            if not (np.isfinite(d_e) and d_e > 0 and np.isfinite(loss)):
                unreachable += 1
                continue
            dashed = bool(p.get("extrapolated", False) == True)  # noqa: E712 (NaN -> False)
            ax.annotate("", xy=(d_e, loss), xytext=(d_f, loss), gid="D_T",
                        arrowprops=dict(arrowstyle="->", color=c, lw=1.4,
                                        linestyle="--" if dashed else "-"))
            ax.plot([d_e], [loss], "|", color=c, ms=10)  # also keeps D_E inside the axes
            labels.append((d_e, loss, f"×{d_e / d_f:.3g}", c))
    _place_labels(fig, ax, labels)
    n_arrows = sum(1 for t in ax.texts if t.get_gid() == "D_T")
    handles = ax.get_legend_handles_labels()[0] + [Line2D(
        [], [], color="grey", marker=r"$\rightarrow$", ls="none", ms=14,
        label="D_T: D_F → D_E, label D_E/D_F (dashed: extrapolated)")]
    ax.legend(handles=handles, fontsize=9)
    note = f"; {unreachable} point(s) beyond any scratch loss, no arrow" if unreachable else ""
    _label(ax, "target training tokens D (D_F for fine-tuned)",
           f"Fig. 1 — N={_e(n_sel)}: pre-training is worth D_T extra target tokens\n"
           f"arrow = scratch data needed to match the fine-tuned loss{note}")
    return _save(fig, out_dir, "fig1_effective_data.png", N=n_sel, dt_segments=n_arrows)


def _place_labels(fig: Figure, ax, labels: list[tuple[float, float, str, str]]) -> None:
    """Each arrow's multiplier beside its head, moved down a line at a time until it overlaps no
    label placed before it (arrows of nearby D_F often end at the same D_E and loss)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # the constrained layout first: extents are final
    renderer = fig.canvas.get_renderer()
    placed = []
    for d_e, loss, text, colour in sorted(labels, key=lambda t: -t[1]):
        label = ax.annotate(text, xy=(d_e, loss), xytext=(3, 2), textcoords="offset points",
                            color=colour, fontsize=8, va="bottom")
        for step in range(1, 16):
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            label.set_position((3, 2 - 9 * step))
        placed.append(label.get_window_extent(renderer))


def fig3_loss_vs_n(runs: pd.DataFrame, points: pd.DataFrame | None, out_dir: Path) -> Path:
    """Loss vs N, one colour per D; scratch dashed, fine-tuned solid, one panel per source."""
    df, scratch, ft = _split(runs)
    sources, colours = sorted(ft["init"].unique()), _palette(df["D"])
    fig, axes = _new(len(sources))
    for ax, src in zip(axes, sources):
        for d, c in colours.items():
            s = scratch[scratch["D"] == d].sort_values("N")
            f = ft[(ft["D"] == d) & (ft["init"] == src)].sort_values("N")
            ax.plot(s["N"], s["loss"], "--o", color=c, mfc="none")
            ax.plot(f["N"], f["loss"], "-s", color=c)
        _label(ax, "non-embedding parameters N", f"fine-tuned from {src}",
               YLABEL if ax is axes[0] else None)
    axes[-1].legend(handles=_keys(colours, "D", SCRATCH_STYLE, FT_STYLE), fontsize=8, ncol=2)
    fig.suptitle("Fig. 3 — loss vs N per dataset size D: from scratch (dashed) flattens with N "
                 "at small D,\nfine-tuned (solid) keeps improving", fontsize=10)
    return _save(fig, out_dir, "fig3_loss_vs_n.png")


def fig5_ossification(runs: pd.DataFrame, points: pd.DataFrame | None, out_dir: Path) -> Path:
    """Smallest N: loss vs D, scratch vs each source; fine-tuned runs worse than scratch marked."""
    fig, ax, n_sel, s, lines = _loss_vs_d(runs, None, smallest=True)
    pts, worse = _points_at(points, n_sel), 0
    for src, (_, f) in lines.items():
        p = pts[pts["init"] == src]
        if not p.empty:  # the fitter's verdict: D_T < 0 (or flagged ossified)
            flag = p["ossified"] if "ossified" in p.columns else False
            bad = (p["D_T"] < 0) | (pd.Series(flag, index=p.index) == True)  # noqa: E712
            wx, wy = p.loc[bad, "D_F"], p.loc[bad, "loss"]
        else:  # no points table: compare with a scratch run at the same D
            ref = dict(zip(s["D"], s["loss"]))
            bad = [d in ref and loss > ref[d] for d, loss in zip(f["D"], f["loss"])]
            wx, wy = f.loc[bad, "D"], f.loc[bad, "loss"]
        worse += len(wx)
        ax.plot(wx, wy, "x", color="red", ms=12, mew=2.5)
    if worse:
        ax.plot([], [], "x", color="red", ms=10, mew=2.5, label="fine-tuned worse than scratch")
    ax.legend(fontsize=9)
    verdict = (f"{worse} fine-tuned run(s) lose to scratch (red ×, D_T < 0): ossification"
               if worse else "no fine-tuned run loses to scratch here: no ossification seen")
    _label(ax, "target training tokens D",
           f"Fig. 5 — smallest model N={_e(n_sel)}, scratch vs fine-tuned as D grows\n{verdict}")
    return _save(fig, out_dir, "fig5_ossification.png", N=n_sel, worse=worse)


def fig_compute(runs: pd.DataFrame, points: pd.DataFrame | None, out_dir: Path) -> Path:
    """Loss vs training FLOPs coloured by N: scratch, fine-tune FLOPs, pre-train + fine-tune."""
    df, scratch, _ = _split(runs, "flops", need_both=False)
    df["pretrain_flops"] = pd.to_numeric(df.get("pretrain_flops", np.nan), errors="coerce")
    ft = df[(df["init"] != SCRATCH) & (df["flops"] > 0)]
    if not (df["flops"] > 0).any():
        raise MissingData("no positive flops")
    sources, colours = sorted(ft["init"].unique()) or [None], _palette(df["N"])
    fig, axes = _new(len(sources))
    for ax, src in zip(axes, sources):
        for n, c in colours.items():
            s = scratch[(scratch["N"] == n) & (scratch["flops"] > 0)].sort_values("flops")
            ax.plot(s["flops"], s["loss"], "--o", color=c, mfc="none")
            f = ft[(ft["N"] == n) & (ft["init"] == src)].sort_values("flops")
            ax.plot(f["flops"], f["loss"], "-s", color=c)
            f = f[f["pretrain_flops"] > 0]
            ax.plot(f["flops"] + f["pretrain_flops"], f["loss"], ":^", color=c, alpha=0.8)
        _label(ax, "training compute (FLOPs = 6·N·tokens)",
               "from scratch only" if src is None else f"fine-tuned from {src}",
               YLABEL if ax is axes[0] else None)
    axes[-1].legend(handles=_keys(colours, "N", SCRATCH_STYLE, ("-", "s", "fine-tuned: own FLOPs"),
                                  (":", "^", "fine-tuned: + pre-train FLOPs")), fontsize=8)
    fig.suptitle("Loss vs compute: fine-tuning reaches a given loss with fewer of its own FLOPs;\n"
                 "the dotted curves show what it costs once pre-training is counted", fontsize=10)
    return _save(fig, out_dir, "fig_compute.png")


def fig15_best_epoch(runs: pd.DataFrame, points: pd.DataFrame | None, out_dir: Path) -> Path:
    """Best (early-stopping) epoch vs D, log-log, by N; scratch dashed, fine-tuned solid."""
    df, _, _ = _split(runs, "best_epoch", need_both=False)
    df = df[df["best_epoch"] > 0]
    if df.empty:
        raise MissingData("no positive best_epoch")
    colours, markers = _palette(df["N"]), "osD^v"
    kinds = [k for k in [SCRATCH] + sorted(set(df["init"]) - {SCRATCH}) if (df["init"] == k).any()]
    fig, (ax,) = _new()
    for (i, kind), (n, c) in itertools.product(enumerate(kinds), colours.items()):
        r = df[(df["init"] == kind) & (df["N"] == n)].sort_values("D")
        ax.plot(r["D"], r["best_epoch"], "--" if kind == SCRATCH else "-", marker=markers[i % 5],
                color=c, mfc="none" if kind == SCRATCH else c)
    styles = [("--", markers[i % 5], "from scratch") if k == SCRATCH
              else ("-", markers[i % 5], f"fine-tuned from {k}") for i, k in enumerate(kinds)]
    ax.legend(handles=_keys(colours, "N", *styles), fontsize=8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    _label(ax, "target training tokens D",
           "Fig. 15 — best early-stopping epoch vs D: fine-tuned runs should stop\n"
           "after fewer epochs than scratch on small data (paper App. G)",
           "epochs (passes over D) at the best held-out step")
    return _save(fig, out_dir, "fig15_best_epoch.png")


def draw_pretrain_curves(curves: dict[str, list[tuple[int, float]]], out_dir: Path,
                         x_label: str = "step") -> Path:
    """Held-out loss vs step per pre-training run (log x); legend: change over the last 2×."""
    fig, (ax,) = _new()
    drawn = 0
    for label, pts in sorted((curves or {}).items()):
        a = np.asarray(pts, dtype=float).reshape(-1, 2)
        a = a[np.isfinite(a).all(axis=1) & (a[:, 0] > 0)]  # log x: step 0 cannot be shown
        if len(a) == 0:
            continue
        x, y = a[np.argsort(a[:, 0])].T
        tail = ""
        if x[0] <= x[-1] / 2:
            drop = y[-1] - np.interp(np.log(x[-1] / 2), np.log(x), y)
            tail = f" (last 2× of steps: {drop:+.3f} nats)"
        ax.plot(x, y, "-", marker="." if len(a) < 40 else None, label=label + tail)
        drawn += 1
    if not drawn:
        raise MissingData("no pre-training curve with positive steps")
    ax.legend(fontsize=8)
    _label(ax, f"{x_label} (log)",
           "Pre-training runs: held-out loss vs step — a curve still falling at the end\n"
           "(large negative change over the last 2×) was stopped short of convergence",
           "held-out loss on the source (nats/token)")
    return _save(fig, out_dir, "pretrain_curves.png", curves=drawn)


FIGURES = [fig1_effective_data, fig3_loss_vs_n, fig5_ossification, fig_compute, fig15_best_epoch]


def draw_all(runs: pd.DataFrame, points: pd.DataFrame | None, out_dir: Path, *,
             curves: dict[str, list[tuple[int, float]]] | None = None) -> list[Path]:
    """Every figure the data allows (plus the pre-training curves if given); skips the rest. Zero-shot
    rows (D = 0) appear in Fig. 1 as their level, nowhere on a log axis of D."""
    zero_shot, runs = runs[runs["D"] == 0], runs[runs["D"] > 0]
    jobs = [(f.__name__, lambda f=f: f(runs, points, out_dir)) for f in FIGURES if f is not fig1_effective_data]
    jobs.insert(0, ("fig1_effective_data", lambda: fig1_effective_data(runs, points, out_dir, zero_shot=zero_shot)))
    if curves:
        jobs.append(("pretrain_curves", lambda: draw_pretrain_curves(curves, out_dir)))
    written = []
    for name, job in jobs:
        try:
            written.append(job())
        except MissingData as e:
            log.info("figure %s skipped: %s", name, e)
    return written
