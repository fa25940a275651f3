"""Seed noise: replicates collapse to their log-space mean, sigma(D) is recovered from them, and the
bootstrap resamples seeds within points. Synthetic sets with known noise."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transfer_laws.tasks.fitting.analysis import AnalysisOptions, Runs, analyse, collapse
from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
from transfer_laws.tasks.fitting.noise import (
    group_replicates,
    measure_noise,
    point_log_means,
    resample_point_means,
)
from transfer_laws.tasks.fitting.synthetic import SweepSpec, make_sweep


def replicated(spec: SweepSpec, seeds: int) -> Runs:
    """`seeds` draws of the same sweep: replicates of every point."""
    draws = [make_sweep(s, spec) for s in range(seeds)]
    return Runs(*(np.concatenate([getattr(r, k) for r in draws]) for k in ("n", "d", "loss", "init")))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3), st.sampled_from(["scratch", "a"]),
                          st.floats(0.5, 5.0)), min_size=1, max_size=30))
def test_points_are_first_seen_groups_and_their_loss_the_geometric_mean(rows):
    n, d, init, loss = (np.array(c) for c in zip(*rows))
    runs = Runs(n.astype(float), d.astype(float), loss, init.astype(str))
    reps = group_replicates(runs.n, runs.d, runs.init)
    points = collapse(runs, reps)
    keys = list(dict.fromkeys(zip(n.tolist(), d.tolist(), init.tolist())))
    assert list(zip(points.n.tolist(), points.d.tolist(), points.init.tolist())) == [
        (float(a), float(b), c) for a, b, c in keys]
    assert reps.count.sum() == len(rows)
    for p, (a, b, c) in enumerate(keys):
        sel = (n == a) & (d == b) & (init == c)
        expected = loss[sel][0] if sel.sum() == 1 else np.exp(np.log(loss[sel]).mean())
        assert points.loss[p] == expected if sel.sum() == 1 else np.isclose(points.loss[p], expected)


def test_without_replicates_nothing_changes_to_the_last_bit():
    runs = make_sweep(3)
    reps = group_replicates(runs.n, runs.d, runs.init)
    assert not reps.any
    assert np.array_equal(collapse(runs, reps).loss, runs.loss)
    means = resample_point_means(np.log(runs.loss), reps, 20, seed=0)
    assert np.array_equal(means, np.tile(np.log(runs.loss), (20, 1)))


def test_within_point_resampling_has_the_variance_of_a_mean_of_m_draws():
    rng = np.random.default_rng(1)
    m, sigma = 5, 0.02
    ln = np.log(3.0) + sigma * rng.standard_normal(m)
    reps = group_replicates(np.ones(m), np.ones(m), np.array(["scratch"] * m))
    draws = resample_point_means(ln, reps, 20000, seed=4)[:, 0]
    s2 = np.var(ln, ddof=0)  # the bootstrap's plug-in variance
    assert abs(draws.mean() - point_log_means(ln, reps)[0]) < 3 * np.sqrt(s2 / m / 20000)
    assert np.isclose(draws.var(), s2 / m, rtol=0.05)


def test_sigma_by_d_is_recovered_within_20_percent():
    """sigma(D) = 0.02 (D / 1e4)^-0.25 on scratch runs, 0.01 flat on fine-tunes, 4 seeds a point."""
    rng = np.random.default_rng(7)
    spec = SweepSpec()
    clean = make_sweep(0, SweepSpec(noise=0.0))
    sigma_true = np.where(clean.init == "scratch", 0.02 * (clean.d / 1e4) ** -0.25, 0.01)
    rows = [clean.take(np.arange(len(clean.n))) for _ in range(4)]
    runs = Runs(*(np.concatenate([getattr(r, k) for r in rows]) for k in ("n", "d", "loss", "init")))
    sig = np.tile(sigma_true, 4)
    runs = runs.with_loss(runs.loss * np.exp(sig * rng.standard_normal(len(sig))))
    model = measure_noise(runs.n, runs.d, np.log(runs.loss), runs.init)
    assert model.source == "replicates"
    for d in (1e4, 1e6, 1e8):
        assert abs(model.sigma("scratch", d) / (0.02 * (d / 1e4) ** -0.25) - 1) < 0.2, d
    assert abs(model.kinds[spec.source].pooled / 0.01 - 1) < 0.2
    assert abs(model.kinds["scratch"].b + 0.25) < 0.1


@pytest.mark.refit
def test_replicated_fit_reports_noise_and_resamples_seeds():
    spec = SweepSpec(noise=0.01)
    runs = replicated(spec, 3)
    opts = AnalysisOptions(bootstrap=BootstrapOptions(n_resamples=40, n_jobs=1), other_form=False)
    a = analyse(runs, opts)
    assert len(a.points.n) * 3 == len(runs.n) and a.noise.source == "replicates"
    assert abs(a.noise.kinds["scratch"].pooled / 0.01 - 1) < 0.2
    single = analyse(make_sweep(0, spec), opts)
    assert single.noise.source == "residuals" and "only noise estimate" in single.noise.note
    # averaging three seeds narrows the law's interval (noise / sqrt(3) at every point)
    width = lambda an: np.subtract(*an.ci95[f"transfer.{spec.source}.alpha"][::-1])  # noqa: E731
    assert width(a) < width(single)
