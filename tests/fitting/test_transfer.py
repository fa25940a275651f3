"""Transfer law, effective data and the calculator: exact recovery, exclusions, §6.2 figures."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transfer_laws.tasks.fitting.analysis import AnalysisOptions, _estimate
from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions, resample_indices, run_bootstrap
from transfer_laws.tasks.fitting.effective_data import PerNCurves, effective_data
from transfer_laws.tasks.fitting.forms import CURVES, Kaplan
from transfer_laws.tasks.fitting.predict import law_prediction, loss_interval, predict_from_fit
from transfer_laws.tasks.fitting.robust import FitOptions
from transfer_laws.tasks.fitting.synthetic import KAPLAN_2020, SweepSpec, make_sweep
from transfer_laws.tasks.fitting.transfer import fit_transfer, fit_transfer_arrays, k_in_other_units

N_GRID, DF_GRID = (a.ravel() for a in np.meshgrid(np.geomspace(1e4, 3e6, 5),
                                                  np.geomspace(1e4, 1e6, 5), indexing="ij"))


def law(n, d_f, k=2e3, alpha=0.18, beta=0.38):
    return k * d_f ** alpha * n ** beta


@pytest.mark.parametrize("keep", [slice(None), np.arange(25) % 3 != 0])
def test_noise_free_law_is_recovered_by_both_methods(keep):
    fit = fit_transfer_arrays(N_GRID[keep], DF_GRID[keep], law(N_GRID, DF_GRID)[keep])
    assert fit.method == "fit_the_fits" and fit.status == "ok"
    for est in ({"k": fit.k, "alpha": fit.alpha, "beta": fit.beta}, fit.joint):
        assert est["k"] == pytest.approx(2e3, rel=1e-8)
        assert est["alpha"] == pytest.approx(0.18, abs=1e-10)
        assert est["beta"] == pytest.approx(0.38, abs=1e-10)
    assert fit.r2_log == pytest.approx(1.0)
    assert all(g["slope"] == pytest.approx(0.38) for g in fit.per_d_f)


def test_too_few_points_is_an_explicit_status():
    fit = fit_transfer_arrays(np.array([1e4, 1e5]), np.array([1e4, 1e4]), np.array([1e6, 2e6]))
    assert fit.status == "too_few_points" and "need" in fit.message


def _true_effective(noise=0.0):
    spec = SweepSpec(noise=noise)
    d_e = DF_GRID + law(N_GRID, DF_GRID)
    loss = Kaplan.loss(KAPLAN_2020, N_GRID, d_e)
    curves = PerNCurves(CURVES["kaplan"], {}, {})
    return effective_data("kaplan", KAPLAN_2020, curves, N_GRID, DF_GRID, loss,
                          (min(spec.scratch_d), max(spec.scratch_d))), d_e


def test_global_inversion_recovers_true_effective_data():
    eff, d_e = _true_effective()
    np.testing.assert_allclose(eff.d_e, d_e, rtol=1e-8)
    np.testing.assert_allclose(eff.multiplier, d_e / DF_GRID, rtol=1e-8)
    np.testing.assert_allclose(eff.fraction * eff.multiplier, 1.0)
    assert eff.low_data.all() and not eff.ossified.any() and not eff.unreachable.any()
    assert np.all(eff.d_e <= 0.3 * eff.d_n)  # the acceptance grid's design condition
    fit = fit_transfer(eff)
    assert fit.n_points == 25 and fit.alpha == pytest.approx(0.18, abs=1e-6)


def test_flags_and_exclusion_reasons():
    n = np.full(4, 1e5)
    d_f = np.array([1e4, 1e4, 1e9, 1e4])
    floor = Kaplan.floor(KAPLAN_2020, 1e5)
    loss = np.array([floor * 0.99,  # below the N-limited floor: unreachable
                     Kaplan.loss(KAPLAN_2020, 1e5, 5e3),  # worse than scratch at D_F: ossified
                     Kaplan.loss(KAPLAN_2020, 1e5, 2e9),  # D_F above 10 % D(N)
                     Kaplan.loss(KAPLAN_2020, 1e5, 1e6)])
    eff = effective_data("kaplan", KAPLAN_2020, PerNCurves(CURVES["kaplan"], {}, {}), n, d_f,
                         loss, (1e4, 1e9))
    assert eff.unreachable.tolist() == [True, False, False, False]
    assert np.isinf(eff.d_e[0])
    assert eff.ossified.tolist() == [False, True, False, False] and eff.d_t[1] < 0
    assert eff.low_data.tolist() == [True, True, False, True]
    fit = fit_transfer(eff)
    assert fit.excluded == {"unreachable": 1, "ossified": 1, "not_low_data": 1}
    assert fit.used.tolist() == [False, False, False, True]


def test_per_n_curves_recover_effective_data_without_noise():
    runs = make_sweep(0, SweepSpec(noise=0.0))
    est = _estimate(runs, AnalysisOptions(bootstrap=BootstrapOptions(0)))
    eff = est.effective
    assert (eff.method == "per_n").all()
    truth = eff.d_f + law(eff.n, eff.d_f)
    np.testing.assert_allclose(eff.d_e, truth, rtol=0.02)
    t = est.transfer["text"]
    assert t.alpha == pytest.approx(0.18, abs=0.005) and t.beta == pytest.approx(0.38, abs=0.005)


ORDER_OPTS = AnalysisOptions(bootstrap=BootstrapOptions(0), fit=FitOptions(n_jobs=1))


@functools.lru_cache(maxsize=1)
def _base_estimate():
    return _estimate(make_sweep(7), ORDER_OPTS)


@settings(max_examples=3, deadline=None)
@given(perm=st.permutations(range(80)))
@pytest.mark.refit
def test_fits_are_invariant_to_row_order(perm):
    runs, opts, base = make_sweep(7), ORDER_OPTS, _base_estimate()
    shuffled = _estimate(runs.take(np.array(perm)), opts)
    for k, v in base.surface.params.items():
        assert shuffled.surface.params[k] == pytest.approx(v, rel=1e-6)
    for k in ("k", "alpha", "beta"):
        assert getattr(shuffled.transfer["text"], k) == pytest.approx(
            getattr(base.transfer["text"], k), rel=1e-6)


def test_stratified_resamples_stay_in_their_stratum():
    strata = np.array(list("aabbbc"))
    idx = resample_indices(6, 50, seed=1, strata=strata)
    assert idx.shape == (50, 6)
    assert np.all(strata[idx] == np.sort(strata)[None, :])
    assert np.array_equal(idx, resample_indices(6, 50, seed=1, strata=strata))


# Hernandez et al. 2021, Table 1 (characters) and the §6.2 extrapolation at GPT-3 size.
TABLE_1 = {"text": (1.9e4, 0.18, 0.38), "text+code": (2.1e5, 0.096, 0.38)}


@pytest.mark.parametrize("source,d_t_at_1,growth_300,lo,hi", [
    ("text", 3.6e8, 2.8, 3.5e8, 3.75e8), ("text+code", 4.0e9, 1.7, 3.85e9, 4.15e9)])
def test_section_6_2_figures(source, d_t_at_1, growth_300, lo, hi):
    fit = {"transfer": {s: {"k": k, "alpha": a, "beta": b} for s, (k, a, b) in TABLE_1.items()}}
    one = predict_from_fit(fit, 1.75e11, 1.0, source)
    three_hundred = predict_from_fit(fit, 1.75e11, 300.0, source)
    assert lo <= one.d_t <= hi
    assert three_hundred.d_t / one.d_t == pytest.approx(growth_300, abs=0.05)
    assert one.multiplier == pytest.approx(1 + one.d_t)
    assert one.d_t_ci95 is None


def test_prediction_interval_from_covariance():
    cov = np.diag([0.04, 1e-4, 1e-4])
    d_t, mult, ci, mci = law_prediction(2e3, 0.18, 0.38, 1e5, 1e4, cov)
    assert ci[0] < d_t < ci[1] and mci[0] < mult < mci[1]
    sd = np.sqrt(0.04 + 1e-4 * np.log(1e4) ** 2 + 1e-4 * np.log(1e5) ** 2)
    assert np.log(ci[1] / d_t) == pytest.approx(1.959964 * sd, rel=1e-5)


def test_k_unit_conversion_is_consistent():
    c, k, a, b = 3.7, 2e3, 0.18, 0.38
    d_t_tokens = law(1e6, 1e5, k, a, b)
    k_chars = k_in_other_units(k, a, c)
    assert law(1e6, c * 1e5, k_chars, a, b) == pytest.approx(c * d_t_tokens, rel=1e-12)


@pytest.mark.refit
def test_bootstrap_does_not_depend_on_the_number_of_workers():
    data = np.arange(12.0)
    idx = resample_indices(12, 30, seed=5)
    one = run_bootstrap(np.take, data, idx, BootstrapOptions(30, n_jobs=1, n_chunks=4))
    two = run_bootstrap(np.take, data, idx, BootstrapOptions(30, n_jobs=2, n_chunks=4))
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, data[idx])


def test_loss_prediction_interval_brackets_the_fit():
    rng = np.random.default_rng(0)
    samples = {k: v * np.exp(0.01 * rng.standard_normal(500)) for k, v in KAPLAN_2020.items()}
    lo, hi = loss_interval("kaplan", samples, 1e6, 1e8)
    assert lo < Kaplan.loss(KAPLAN_2020, 1e6, 1e8) < hi


@pytest.mark.refit
def test_measured_multiplier_at_smallest_d_f_recovers_truth_with_an_interval():
    """The headline figure: the median over sizes of D_E/D_F at the smallest D_F, measured from the
    points (no law in between), and its bootstrap interval, against the known truth."""
    from transfer_laws.tasks.fitting.analysis import analyse, measured_multiplier

    spec = SweepSpec()
    runs = make_sweep(3, spec)
    a = analyse(runs, AnalysisOptions(bootstrap=BootstrapOptions(n_resamples=40, seed=0, n_jobs=1),
                                      other_form=False))
    d_f = min(spec.d_f)
    truth = float(np.median([1 + spec.k * d_f ** (spec.alpha - 1) * n ** spec.beta for n in spec.sizes]))
    got = measured_multiplier(a.estimate, spec.source, d_f)
    lo, hi = a.ci95[f"multiplier.{spec.source}.at_smallest_D_F"]
    assert abs(got / truth - 1) < 0.1
    assert lo < truth < hi and lo > 1
    assert np.isnan(measured_multiplier(a.estimate, "no-such-source", d_f))
