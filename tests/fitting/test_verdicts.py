"""Every verdict rule on a constructed case: a degenerate surface (too few points, E ~ 0, an
exponent at the fitter's edge, a runaway scale), a law that does not describe its points, a law
with too few points, a wide k, an exponent whose interval spans 0, a resolved law, no law."""
from __future__ import annotations

import pytest

from transfer_laws.tasks.fitting.verdicts import (
    MAX_INTERVAL_DECADES,
    MIN_R2_LOG,
    POINTS_PER_PARAMETER,
    Verdict,
    judge_law,
    judge_surface,
)

CHINCHILLA = {"E": 1.5, "A": 400.0, "B": 410.0, "alpha": 0.34, "beta": 0.28}
CHINCHILLA_CI = {"E": [1.4, 1.6], "A": [200.0, 800.0], "B": [300.0, 600.0], "alpha": [0.3, 0.4],
                 "beta": [0.2, 0.35]}
LAW = {"status": "ok", "k": 1.9e4, "alpha": 0.18, "beta": 0.38, "n_points": 20, "r2_log": 0.9,
       "ci95": {"k": [2e3, 2e5], "alpha": [0.1, 0.26], "beta": [0.3, 0.46]}}


def test_a_sound_surface_is_resolved():
    j = judge_surface("chinchilla", CHINCHILLA, CHINCHILLA_CI, 30)
    assert j.verdict is Verdict.RESOLVED and "30 points" in j.reason


@pytest.mark.parametrize("change,n_points,needle", [
    ({}, POINTS_PER_PARAMETER * 5 - 1, "14 points for 5 parameters"),
    ({"E": 2.8e-26}, 30, "E = 2.8e-26: an irreducible loss of ~0 nats"),
    ({"A": 3.2e70}, 30, "A = 3.2e+70: beyond 1e+30"),
    ({"alpha": 9.99}, 30, "alpha = 9.99: outside 0.001-5, not a power law"),
    ({"beta": 1e-4}, 30, "beta = 0.0001: outside 0.001-5"),
    ({"A": None}, 30, "A ran off to infinity"),  # fit.json writes inf as null
])
def test_an_absurd_or_thin_surface_is_degenerate(change, n_points, needle):
    j = judge_surface("chinchilla", {**CHINCHILLA, **change}, CHINCHILLA_CI, n_points)
    assert j.verdict is Verdict.DEGENERATE and needle in j.reason


def test_a_surface_without_intervals_or_with_an_exponent_spanning_zero_is_unresolved():
    assert judge_surface("chinchilla", CHINCHILLA, {}, 30).verdict is Verdict.UNRESOLVED
    j = judge_surface("kaplan", {"alpha_N": 0.07, "alpha_D": 0.09, "N_c": 8.8e13, "D_c": 5.4e13},
                      {"alpha_N": [-0.01, 0.2], "alpha_D": [0.05, 0.1]}, 30)
    assert j.verdict is Verdict.UNRESOLVED and "alpha_N's 95 % interval -0.01 to 0.2 includes 0" in j.reason
    j = judge_surface("kaplan", {"alpha_N": 0.07, "alpha_D": 0.09, "N_c": 8.8e13, "D_c": 5.4e13}, {}, 30,
                      optimiser_status="gradient", optimiser_message="gradient 3 > 1e-3")
    assert j.verdict is Verdict.DEGENERATE and "did not converge (gradient 3 > 1e-3)" in j.reason


def test_a_sound_law_is_resolved_in_every_parameter():
    law, each = judge_law(LAW)
    assert law.verdict is Verdict.RESOLVED
    assert {p: j.verdict for p, j in each.items()} == dict.fromkeys(("k", "alpha", "beta"), Verdict.RESOLVED)


@pytest.mark.parametrize("change,needle", [
    ({"r2_log": MIN_R2_LOG - 0.01}, "R² of ln D_T 0.49 is below 0.5"),
    ({"r2_log": None}, "R² of ln D_T n/a"),
    ({"n_points": 8}, "8 points for 3 parameters"),
])
def test_a_law_that_does_not_describe_its_points_is_degenerate_in_every_parameter(change, needle):
    law, each = judge_law({**LAW, **change})
    assert law.verdict is Verdict.DEGENERATE and needle in law.reason
    assert all(j.verdict is Verdict.DEGENERATE for j in each.values())


def test_a_wide_k_or_an_exponent_spanning_zero_leaves_the_law_unresolved():
    wide = {**LAW, "ci95": {**LAW["ci95"], "k": [3e-5, 6e7]}}  # the Perl sweep: 12 decades
    law, each = judge_law(wide)
    assert law.verdict is Verdict.UNRESOLVED and each["k"].verdict is Verdict.UNRESOLVED
    assert f"spans 12.3 decades (more than {MAX_INTERVAL_DECADES:g})" in each["k"].reason
    assert each["alpha"].verdict is Verdict.RESOLVED
    law, each = judge_law({**LAW, "ci95": {**LAW["ci95"], "beta": [-0.1, 0.8]}})
    assert law.verdict is Verdict.UNRESOLVED and "beta: 95 % interval -0.1 to 0.8 includes 0" in law.reason
    assert (each["beta"].verdict, each["alpha"].verdict) == (Verdict.UNRESOLVED, Verdict.RESOLVED)
    law, each = judge_law({**LAW, "ci95": {}})  # --bootstrap 0
    assert law.verdict is Verdict.UNRESOLVED and each["alpha"].reason == "no bootstrap interval"


def test_no_law_is_not_measured():
    law, each = judge_law({"status": "too_few_points", "k": None, "alpha": None, "beta": None,
                           "message": "2 usable points"})
    assert law.verdict is Verdict.NOT_MEASURED and "2 usable points" in law.reason
    assert law.to_json() == {"verdict": "not measured", "reason": "no law: 2 usable points"}
