"""Law forms: analytic Jacobians against finite differences, inversions, the 99 % rule."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transfer_laws.tasks.fitting.curve_forms import BansalCurve, PiecewiseCurve
from transfer_laws.tasks.fitting.forms import (
    RULE_99,
    Chinchilla,
    ChinchillaCurve,
    Kaplan,
    KaplanCurve,
    features,
)
from transfer_laws.tasks.fitting.robust import huber_objective

RNG = np.random.default_rng(0)


def approx_fprime(theta, f, h):
    """Central differences (forward ones are too coarse for the Huber objective's 1/delta curvature)."""
    out = np.empty(len(theta))
    for i in range(len(theta)):
        e = np.zeros(len(theta))
        e[i] = h
        out[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return out
N = np.geomspace(1e4, 1e9, 7).repeat(3)
D = np.tile([1e5, 1e7, 1e9], 7)
X2 = features(N, D)
X1 = np.log(D)[None, :]

CASES = [
    (Chinchilla(), X2, np.array([6.0, 7.5, 0.6, 0.34, 0.37])),
    (Kaplan(), X2, np.array([31.0, 30.0, 0.076, 0.103])),
    (KaplanCurve(), X1, np.array([0.3, 25.0, 0.12])),
    (ChinchillaCurve(), X1, np.array([7.0, 0.5, 0.3])),
    (BansalCurve(), X1, np.array([3.0, -20.0, 0.15])),
    # D = 1e5 on the plateau, 1e7 on the bend, 1e9 on the power law: every branch, no kink
    (PiecewiseCurve(), X1, np.array([0.8, 0.1, 0.02, np.log(1e8)])),
]


@pytest.mark.parametrize("form,X,theta", CASES, ids=lambda c: getattr(c, "name", ""))
def test_jacobian_matches_finite_differences(form, X, theta):
    _, jac = form.log_loss_jac(theta, X)
    for i in range(X.shape[1]):
        fd = approx_fprime(theta, lambda t: form.log_loss(t, X)[i], 1e-6)
        np.testing.assert_allclose(jac[:, i], fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("form,X,theta", CASES, ids=lambda c: getattr(c, "name", ""))
def test_huber_gradient_matches_finite_differences(form, X, theta):
    # residuals on both sides of delta (both Huber branches), none near the kink at |r| = delta
    r = np.resize([-3e-3, -4e-4, 2e-4, 5e-3, 7e-4, -2e-3], X.shape[1])
    y = form.log_loss(theta, X) + r * (1 + 0.1 * RNG.random(X.shape[1]))
    _, grad = huber_objective(theta, form, X, y, 1e-3)
    fd = approx_fprime(theta, lambda t: huber_objective(t, form, X, y, 1e-3)[0], 1e-6)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_huber_objective_is_summed_and_divided_by_delta():
    form, theta = Chinchilla(), CASES[0][2]
    pred = form.log_loss(theta, X2)
    r = np.where(np.arange(len(pred)) % 2, 5e-4, -3e-2)  # quadratic and linear branches
    val, _ = huber_objective(theta, form, X2, pred - r, 1e-3)
    expected = np.sum(np.where(np.abs(r) <= 1e-3, 0.5 * r**2, 1e-3 * (np.abs(r) - 5e-4))) / 1e-3
    assert val == pytest.approx(expected, rel=1e-12)


def test_natural_parameters_round_trip():
    for form, _, theta in CASES:
        np.testing.assert_allclose(form.from_natural(form.natural(theta)), theta, rtol=1e-12)


KAPLAN = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}
CHIN = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
sizes = st.floats(1e3, 1e11)
datas = st.floats(1e3, 1e13)


@given(n=sizes, d=datas)
def test_surface_inversion_round_trips(n, d):
    for cls, p in ((Kaplan, KAPLAN), (Chinchilla, CHIN)):
        loss = cls.loss(p, n, d)
        assert cls.invert(p, n, loss) == pytest.approx(d, rel=1e-6)


@given(d=datas, lf=st.floats(0.2, 5.0), p=st.floats(0.03, 0.8))
def test_curve_inversion_round_trips(d, lf, p):
    q = {"L_f": lf, "d": 1e10 * lf ** (1 / p), "p": p}
    loss = KaplanCurve.loss(q, d)
    if loss > lf * (1 + 1e-9):  # otherwise the loss is indistinguishable from the floor
        assert KaplanCurve.invert(q, loss) == pytest.approx(d, rel=1e-4)
    c = {"E_N": lf, "B": 400.0, "beta": p}
    assert ChinchillaCurve.invert(c, ChinchillaCurve.loss(c, d)) == pytest.approx(d, rel=1e-4)


@given(n=sizes, l1=st.floats(0.0, 3.0), l2=st.floats(0.0, 3.0))
def test_effective_data_is_monotone_in_loss(n, l1, l2):
    """A lower loss never means less effective data; at or below the floor it is infinite."""
    for cls, p in ((Kaplan, KAPLAN), (Chinchilla, CHIN)):
        floor = float(cls.floor(p, n))
        lo, hi = sorted([floor + l1, floor + l2])
        assert cls.invert(p, n, lo) >= cls.invert(p, n, hi)
        assert np.isinf(cls.invert(p, n, floor * 0.999))


@pytest.mark.parametrize("cls,p", [(Kaplan, KAPLAN), (Chinchilla, CHIN)])
def test_d99_rule(cls, p):
    n = np.geomspace(1e4, 1e10, 5)
    d_n = cls.d_99(p, n)
    np.testing.assert_allclose(cls.floor(p, n), RULE_99 * cls.loss(p, n, d_n), rtol=1e-10)


def test_curve_d99_rule():
    q = {"L_f": 2.0, "d": 1e12, "p": 0.1}
    assert KaplanCurve.floor(q) == pytest.approx(RULE_99 * KaplanCurve.loss(q, KaplanCurve.d_99(q)))
    c = {"E_N": 2.0, "B": 400.0, "beta": 0.3}
    assert ChinchillaCurve.floor(c) == pytest.approx(
        RULE_99 * ChinchillaCurve.loss(c, ChinchillaCurve.d_99(c)))


def test_kaplan_form_matches_its_formula():
    p = Kaplan().natural(CASES[1][2])
    direct = ((p["N_c"] / N) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / D) ** p["alpha_D"]
    np.testing.assert_allclose(np.exp(Kaplan().log_loss(CASES[1][2], X2)), direct, rtol=1e-12)
    c = Chinchilla().natural(CASES[0][2])
    direct = c["E"] + c["A"] / N ** c["alpha"] + c["B"] / D ** c["beta"]
    np.testing.assert_allclose(np.exp(Chinchilla().log_loss(CASES[0][2], X2)), direct, rtol=1e-12)


def test_a_wild_curve_inverts_to_unreachable_not_an_overflow():
    """A bootstrap resample can fit p near 0; L_f^(1/p) then overflows. Seen crashing a whole
    bootstrap (Python's OverflowError on float ** float); now those points are unreachable."""
    from transfer_laws.tasks.fitting.forms import KaplanCurve

    q = {"L_f": 5.0, "p": 0.001, "d": 1e3}
    assert np.all(np.isinf(KaplanCurve.invert(q, np.array([5.1, 4.9]))))
    assert np.isinf(KaplanCurve.loss(q, np.array([1e3]))).all()
