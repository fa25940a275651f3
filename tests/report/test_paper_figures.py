"""Sweep figures on a synthetic sweep drawn from a known surface and a known transfer law.

Scratch losses come from Kaplan's L(N, D); fine-tuned losses are L(N, D_E) with
D_E = D_F + k·D_F^0.3·N^0.4, except one small-model, large-D run made worse than scratch
(ossification). The points table is what the fitter would give: D_E by inverting the same surface.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from transfer_laws.tasks.report import paper_figures as sf

A_N, A_D, N_C, D_C = 0.076, 0.103, 1e11, 4e10
K, ALPHA, BETA = 100.0, 0.3, 0.4
SIZES, DATA = [1e5, 1e6, 1e7], [1e5, 1e6, 1e7, 1e8]
SRC = "code-other"
FIGS = {"fig1_effective_data.png", "fig3_loss_vs_n.png", "fig5_ossification.png",
        "fig_compute.png", "fig15_best_epoch.png"}


def surface(n, d):
    return ((N_C / n) ** (A_N / A_D) + D_C / d) ** A_D


def invert(n, loss):
    gap = loss ** (1 / A_D) - (N_C / n) ** (A_N / A_D)
    return D_C / gap if gap > 0 else np.inf


def synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, pts = [], []
    for n in SIZES:
        pre = 6 * n * 3e8
        for d in DATA:
            ls = surface(n, d)
            rows.append(dict(N=n, D=d, init="scratch", loss=ls, best_epoch=20 / np.log10(d),
                             flops=6 * n * d * 20 / np.log10(d), pretrain_flops=np.nan,
                             run_key=f"s-{n:g}-{d:g}"))
            lf = surface(n, d + K * d ** ALPHA * n ** BETA)
            if n == SIZES[0] and d == DATA[-1]:
                lf = ls * 1.01  # ossified: worse than scratch
            rows.append(dict(N=n, D=d, init=SRC, loss=lf, best_epoch=5 / np.log10(d),
                             flops=6 * n * d * 5 / np.log10(d), pretrain_flops=pre,
                             run_key=f"f-{n:g}-{d:g}"))
            d_e = invert(n, lf)
            pts.append(dict(N=n, D_F=d, init=SRC, loss=lf, D_E=d_e, D_T=d_e - d, fraction=d / d_e,
                            multiplier=d_e / d, extrapolated=d_e > max(DATA),
                            unreachable=not np.isfinite(d_e), ossified=d_e < d, low_data=d <= 1e6))
    return pd.DataFrame(rows), pd.DataFrame(pts)


@pytest.fixture(scope="module")
def tables():
    return synthetic()


@pytest.fixture(scope="module")
def drawn(tables, tmp_path_factory):
    runs, points = tables
    out = tmp_path_factory.mktemp("figs")
    curves = {"N=1.0e5 src=code-other": [(0, 5.5), (100, 4.0), (1000, 3.2), (4000, 3.1)],
              "N=1.0e6 src=code-other": [(100, 3.8), (1000, 2.9), (4000, 2.5)]}
    return sf.draw_all(runs, points, out, curves=curves), out


def assert_png(path: Path):
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", path
    assert len(raw) > 15_000, (path, len(raw))
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 400 and img.shape[1] > 600, img.shape
    assert img[..., :3].std() > 0.05  # something is drawn, not a blank canvas


def test_synthetic_losses_in_range(tables):
    runs, points = tables
    assert runs["loss"].between(1.5, 4.0).all()
    assert (points["D_T"] > 0).sum() == len(points) - 1  # all but the ossified run


def test_every_figure_written_and_valid(drawn):
    paths, out = drawn
    assert {p.name for p in paths} == FIGS | {"pretrain_curves.png"}
    for p in paths:
        assert p.parent == out and p.exists()
        assert_png(p)


def test_fig1_draws_one_arrow_per_finite_point(drawn, tables):
    _, points = tables
    meta = sf.figure_meta(drawn[1] / "fig1_effective_data.png")
    assert float(meta["N"]) == 1e6  # middle size by default
    expected = int((np.isclose(points["N"], 1e6) & np.isfinite(points["D_E"])).sum())
    assert expected == 4 and int(meta["dt_segments"]) == expected


def test_fig1_other_size_no_points_and_unreachable(tables, tmp_path):
    runs, points = tables
    p = sf.fig1_effective_data(runs, None, tmp_path, n=2e7)
    meta = sf.figure_meta(p)
    assert float(meta["N"]) == 1e7 and meta["dt_segments"] == "0"
    pts = points.copy()
    pts.loc[np.isclose(pts["N"], 1e7) & (pts["D_F"] == 1e5), "D_E"] = np.inf
    meta = sf.figure_meta(sf.fig1_effective_data(runs, pts, tmp_path, n=1e7))
    assert meta["dt_segments"] == "3"


def test_fig5_marks_ossified_run_with_and_without_points(drawn, tables, tmp_path):
    runs, _ = tables
    meta = sf.figure_meta(drawn[1] / "fig5_ossification.png")
    assert float(meta["N"]) == 1e5 and meta["worse"] == "1"
    assert sf.figure_meta(sf.fig5_ossification(runs, None, tmp_path))["worse"] == "1"
    unflagged = tables[1].drop(columns=["ossified"])  # D_T < 0 alone is enough
    assert sf.figure_meta(sf.fig5_ossification(runs, unflagged, tmp_path))["worse"] == "1"
    healthy = runs[~((runs["N"] == 1e5) & (runs["D"] == 1e8) & (runs["init"] == SRC))]
    assert sf.figure_meta(sf.fig5_ossification(healthy, None, tmp_path))["worse"] == "0"


def test_draw_all_skips_finetune_figures_for_scratch_only(tables, tmp_path):
    runs, _ = tables
    paths = sf.draw_all(runs[runs["init"] == "scratch"], None, tmp_path)
    assert {p.name for p in paths} == {"fig_compute.png", "fig15_best_epoch.png"}
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(p.name for p in paths)
    for p in paths:
        assert_png(p)


def test_draw_all_skips_what_is_missing(tables, tmp_path):
    runs, points = tables
    scratch = runs[runs["init"] == "scratch"].drop(columns=["best_epoch", "pretrain_flops"])
    paths = sf.draw_all(scratch, points, tmp_path / "a")
    assert [p.name for p in paths] == ["fig_compute.png"]
    assert sf.draw_all(runs.iloc[:0], None, tmp_path / "b") == []
    with pytest.raises(sf.MissingData):
        sf.draw_pretrain_curves({"x": [(0, 3.0)]}, tmp_path)
