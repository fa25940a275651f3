"""Regression target: the Chinchilla runs refitted by Besiroglu et al. 2024 (docs/data/chinchilla).

Published refit (Huber 1e-3 on log loss, summed; 5 highest-loss runs excluded): A = 482.01,
B = 2085.43, E = 1.817, alpha = 0.3478, beta = 0.3658; bootstrap 95 % intervals alpha 0.317-0.373,
beta 0.331-0.415.  Hoffmann et al.'s own values (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28)
fit this data poorly, and a correct fitter must not reproduce them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transfer_laws.tasks.fitting.analysis import AnalysisOptions, Runs, analyse
from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
from transfer_laws.tasks.fitting.forms import Chinchilla, features
from transfer_laws.tasks.fitting.robust import FitOptions, fit_form, huber_objective

DATA = Path(__file__).resolve().parents[2] / "docs/data/chinchilla/svg_extracted_data.csv"
PUBLISHED = {"A": 482.01, "B": 2085.43, "E": 1.817, "alpha": 0.3478, "beta": 0.3658}
TOLERANCE = {"A": 0.03, "B": 0.03, "E": 0.01, "alpha": 0.01, "beta": 0.01}
PUBLISHED_CI = {"alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


def chinchilla_runs() -> Runs:
    raw = pd.read_csv(DATA).sort_values("loss", kind="stable")
    raw = raw.iloc[: len(raw) - 5]  # the source drops the 5 highest-loss runs
    n = raw["Model Size"].to_numpy(float)
    return Runs(n, raw["Training FLOP"].to_numpy(float) / (6 * n), raw["loss"].to_numpy(float),
                np.array(["scratch"] * len(n)))


@pytest.fixture(scope="module")
def analysis():
    return analyse(chinchilla_runs(), AnalysisOptions(
        form="chinchilla", bootstrap=BootstrapOptions(n_resamples=1000, seed=0), other_form=False))


def test_data_has_245_runs():
    assert len(pd.read_csv(DATA)) == 245


@pytest.mark.refit
def test_point_estimate_matches_published_refit(analysis):
    fit = analysis.estimate.surface
    assert fit.ok, fit.message
    for k, v in PUBLISHED.items():
        assert fit.params[k] == pytest.approx(v, rel=TOLERANCE[k]), k


@pytest.mark.refit
def test_bootstrap_interval_widths_match_published(analysis):
    assert analysis.n_failed <= 10
    for k, (lo, hi) in PUBLISHED_CI.items():
        mine = analysis.ci95[f"scratch.{k}"]
        assert mine[1] - mine[0] == pytest.approx(hi - lo, rel=0.25), (k, mine)
        assert mine[0] < analysis.estimate.surface.params[k] < mine[1]


@pytest.mark.refit
def test_variable_projection_cross_check_agrees(analysis):
    """Polishing the Huber fit from the VarPro optimum lands on the grid's optimum."""
    pol, best = analysis.varpro_polished, analysis.estimate.surface
    assert pol.objective >= best.objective - 1e-9
    for k in ("alpha", "beta", "E"):
        assert pol.params[k] == pytest.approx(best.params[k], rel=1e-4)
    assert analysis.varpro.params["alpha"] == pytest.approx(best.params["alpha"], abs=0.05)


@pytest.mark.refit
def test_hoffmann_published_values_fit_worse(analysis):
    runs = chinchilla_runs()
    X, y = features(runs.n, runs.d), np.log(runs.loss)
    hoff = Chinchilla().from_natural({"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34,
                                      "beta": 0.28})
    assert huber_objective(hoff, Chinchilla(), X, y, 1e-3)[0] > 2 * analysis.estimate.surface.objective


@pytest.mark.refit
def test_warm_started_resample_refit_reaches_the_grid_optimum(analysis):
    """The §4.5 item 9 pitfall: a warm-started bootstrap refit must move to the resample's own
    optimum (the one a fresh grid finds), not stop at once next to the full-data optimum."""
    runs = chinchilla_runs()
    X, y = features(runs.n, runs.d), np.log(runs.loss)
    best = analysis.estimate.surface
    for seed in (3,):
        rows = np.random.default_rng(seed).integers(0, len(y), len(y))
        warm = fit_form(Chinchilla(), X[:, rows], y[rows], FitOptions(n_jobs=1),
                        starts=best.theta)
        fresh = fit_form(Chinchilla(), X[:, rows], y[rows], FitOptions(n_jobs=1))
        assert warm.ok and fresh.ok
        assert abs(warm.params["alpha"] - best.params["alpha"]) > 1e-3
        assert warm.objective == pytest.approx(fresh.objective, rel=1e-9)
        assert warm.params["alpha"] == pytest.approx(fresh.params["alpha"], rel=1e-5)


@pytest.mark.slow
def test_full_grid_gives_the_screened_optimum():
    runs = chinchilla_runs()
    X, y = features(runs.n, runs.d), np.log(runs.loss)
    screened = fit_form(Chinchilla(), X, y, FitOptions())
    full = fit_form(Chinchilla(), X, y, FitOptions(grid_mode="full"))
    assert full.n_starts == 4500
    assert screened.objective == pytest.approx(full.objective, rel=1e-9)
    for k in PUBLISHED:
        assert screened.params[k] == pytest.approx(full.params[k], rel=1e-5)
