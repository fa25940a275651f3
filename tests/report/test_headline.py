"""The report's headline: every figure with its interval, and a sign that spans 0 never a finding."""
from __future__ import annotations

from transfer_laws.tasks.report.fit import headline_md


def _fit(alpha_ci, beta_ci, mult_ci):
    law = {"status": "ok", "k": 2.0, "alpha": 0.4, "beta": 0.3, "r2_log": 0.9,
           "ci95": {"alpha": alpha_ci, "beta": beta_ci}}
    mult = {"D_F": 300.0, "estimate": 4.0, "ci95": mult_ci, "n_sizes": 4,
            "resolved": mult_ci[0] is not None and mult_ci[0] > 1}
    return {"transfer": {"code": law}, "multiplier": {"code": mult},
            "noise": {"source": "replicates", "kinds": {"scratch": {"pooled_sigma": 0.0063}}}}


def test_resolved_figures_are_stated_as_such():
    text = "\n".join(headline_md(_fit([0.2, 0.6], [0.1, 0.5], [2.5, 6.0])))
    assert "**4x**" in text and "2.5 – 6" in text and "resolved above 1" in text
    assert "alpha = 0.4 (0.2 – 0.6, width 0.4, resolved)" in text
    assert "beta = 0.3 (0.1 – 0.5, width 0.4, resolved)" in text
    assert "noise from replicates: sd of ln(loss) scratch 0.63 %" in text


def test_an_interval_spanning_zero_or_one_is_unresolved():
    text = "\n".join(headline_md(_fit([0.2, 0.6], [-0.1, 0.7], [0.9, 6.0])))
    assert "beta = 0.3 (-0.1 – 0.7, width 0.8, unresolved: spans 0)" in text
    assert "unresolved (interval reaches 1)" in text
    assert "alpha = 0.4 (0.2 – 0.6, width 0.4, resolved)" in text


def test_a_law_that_failed_says_why():
    fit = _fit([0.2, 0.6], [0.1, 0.5], [2.5, 6.0])
    fit["transfer"]["code"] = {"status": "too_few_points", "message": "2 points in the low-data regime"}
    assert any("not fitted (2 points" in line for line in headline_md(fit))


def test_no_interval_where_the_bootstrap_gave_none():
    """fit.json writes a NaN end as null (a sweep whose resamples all failed, say)."""
    fit = _fit([None, None], [0.1, float("nan")], [None, None])
    fit["multiplier"]["code"]["resolved"] = False
    text = "\n".join(headline_md(fit))
    assert "alpha = 0.4 (no interval, no interval)" in text
    assert "beta = 0.3 (no interval, no interval)" in text
    assert "95 % interval no interval): unresolved (no interval)." in text
