"""Per-N scratch-curve forms from the related work, beside the surface's own (forms.CURVES).

D_E comes from inverting each size's from-scratch curve L_N(D), so the curve's shape where it is
inverted is what the transfer law rests on. Every form here predicts ln L from ln D (X's last
row) with an analytic Jacobian, bounded parameters and an inversion L -> D, like forms.KaplanCurve:

- `current`: the surface's own per-N curve (KaplanCurve or ChinchillaCurve, forms.py).
- `bansal`: Bansal et al. 2022, "Data Scaling Laws in NMT" (arXiv 2202.01994), Eq. 1, in the
  notation of Alabdulmohsin et al. 2022 (arXiv 2209.06640, "M3"): L(D) = beta (1/D + gamma)^p.
  It is the Kaplan curve reparametrised (beta = d^p, gamma = L_f^(1/p) / d), so under the Kaplan
  surface it is the same family as `current`, and `auto` says so instead of choosing between them.
- `piecewise`: Jain et al. 2023, "A Meta-Learning Approach to Predicting Performance and Data
  Requirements" (arXiv 2303.01598): a piecewise power law, linear in log-log above a transition
  D_0 and bending (quadratic in ln D) below it, value and slope continuous at D_0. See
  `PiecewiseCurve` for the parametrisation used here.

Choosing the form (`choose_curve`, `curve_form: auto`): which per-N scratch-curve form to invert: chosen by how well each predicts held-out data.

For each candidate form and each size, the curve is fitted on that size's scratch runs without
its largest D and predicts the loss there (leave-the-largest-D-out rollout); a form's error is
the median over sizes of |ln L_predicted - ln L_observed|. The global surface gets the same
rollout (fitted on every size's points but the largest D, predicting those) as a reference. With
`curve_form: auto` the form with the lowest median error over the sizes every candidate could be
rolled out on is chosen (ties go to `current`; a form needs its parameters + 1 distinct D below the
largest); a
form that coincides with another under this surface (`bansal` is the Kaplan curve
reparametrised) is reported but not chosen over it.

The choice is made once, on the full data; the bootstrap holds it fixed, so its intervals are
conditional on the form. Re-choosing per resample would turn a discrete, non-smooth selection
(one held-out point per size) into part of every resample's noise, and the rollout table already
shows how far apart the forms are.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .forms import CURVES, RULE_99, SURFACES, Form, _grid, _safe_pow, _softmax_lse, features
from .robust import FitOptions, fit_form


@dataclass(frozen=True)
class BansalCurve(Form):
    """L(D) = beta (1/D + gamma)^p, as ln L = ln beta + p LSE(-ln D, ln gamma).

    beta, gamma > 0 (as logs), 0 < p <= 10. The floor (D -> inf) is beta gamma^p.
    """

    name: str = "bansal"
    names: tuple[str, ...] = ("ln_beta", "ln_gamma", "p")
    bounds: tuple = ((None, None), (None, None), (1e-4, 10.0))

    def log_loss_jac(self, theta, X):
        lb, lg, p = theta
        ln_d = X[-1]
        s, (w_d, w_g) = _softmax_lse(-ln_d, np.full_like(ln_d, lg))
        return lb + p * s, np.vstack([np.ones_like(ln_d), p * w_g, s])

    def grid(self):
        return _grid(np.arange(-2, 8, 2.0), np.arange(-40, 0, 5.0), [0.025, 0.05, 0.1, 0.2, 0.4, 0.8])

    def natural(self, theta):
        lb, lg, p = (float(t) for t in theta)
        return {"beta": float(np.exp(lb)), "gamma": float(np.exp(lg)), "p": p}

    def from_natural(self, q):
        return np.array([np.log(q["beta"]), np.log(q["gamma"]), q["p"]])

    @staticmethod
    def _root(x, q: dict):
        """(x / beta)^(1/p), overflow-safe (forms._safe_pow)."""
        return _safe_pow(np.asarray(x, np.float64) / q["beta"], 1 / q["p"])

    @staticmethod
    def loss(q: dict, d) -> np.ndarray:
        return q["beta"] * (1 / np.asarray(d, float) + q["gamma"]) ** q["p"]

    @classmethod
    def invert(cls, q: dict, loss) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = cls._root(loss, q) - q["gamma"]
            d = 1 / gap
        return np.where(gap > 0, d, np.inf)

    @staticmethod
    def floor(q: dict) -> float:
        return float(q["beta"] * q["gamma"] ** q["p"])

    @classmethod
    def d_99(cls, q: dict) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(1 / (cls._root(cls.floor(q) / RULE_99, q) - q["gamma"]))


@dataclass(frozen=True)
class PiecewiseCurve(Form):
    """A piecewise power law after Jain et al. 2023's description (log error against log data
    size: nonlinear in the few-shot regime, then linear). Their own equations could not be read
    here, so this parametrisation is ours, and says so: with u = ln D - ln D_0,

        ln L = c - p u                      u >= 0          (the power law, slope -p)
        ln L = c - p u - q u^2              -p/(2q) < u < 0  (bending: flatter at smaller D)
        ln L = c + p^2 / (4 q)              u <= -p/(2q)     (the plateau it flattens into)

    value and slope continuous at both joins; 0 < p <= 10, 1e-6 <= q <= 10. No floor at large D.
    """

    name: str = "piecewise"
    names: tuple[str, ...] = ("c", "p", "q", "ln_D_0")
    bounds: tuple = ((None, None), (1e-4, 10.0), (1e-6, 10.0), (None, None))

    def log_loss_jac(self, theta, X):
        c, p, q, x0 = theta
        u = X[-1] - x0
        bend = (u < 0) & (u > -p / (2 * q))
        flat = u <= -p / (2 * q)
        val = np.where(flat, c + p * p / (4 * q), c - p * u - np.where(bend, q * u * u, 0.0))
        one = np.ones_like(u)
        d_p = np.where(flat, p / (2 * q), -u)
        d_q = np.where(flat, -p * p / (4 * q * q), np.where(bend, -u * u, 0.0))
        d_x0 = np.where(flat, 0.0, p + np.where(bend, 2 * q * u, 0.0))
        return val, np.vstack([one, d_p, d_q, d_x0])

    def grid(self):
        return _grid([-1.0, 0.0, 0.5, 1.0, 1.5], [0.025, 0.05, 0.1, 0.2, 0.4],
                     [0.001, 0.01, 0.05, 0.2], np.arange(5, 20, 3.0))

    def natural(self, theta):
        c, p, q, x0 = (float(t) for t in theta)
        return {"L_0": float(np.exp(c)), "p": p, "q": q, "D_0": float(np.exp(x0))}

    def from_natural(self, r):
        return np.array([np.log(r["L_0"]), r["p"], r["q"], np.log(r["D_0"])])

    @classmethod
    def loss(cls, r: dict, d) -> np.ndarray:
        d = np.asarray(d, float)
        theta = cls().from_natural(r)
        return np.exp(cls().log_loss(theta, np.log(np.atleast_1d(d))[None, :])).reshape(d.shape)

    @staticmethod
    def invert(r: dict, loss) -> np.ndarray:
        """The D that reaches `loss`: on the power law, else the bending root; at or above the
        plateau, the plateau's first D (the most data that loss can stand for)."""
        p, q = r["p"], r["q"]
        delta = np.log(np.asarray(loss, float)) - np.log(r["L_0"])  # ln L - c
        with np.errstate(invalid="ignore", divide="ignore"):
            u_bend = (-p + np.sqrt(np.maximum(p * p - 4 * q * delta, 0.0))) / (2 * q)
        u = np.where(delta <= 0, -delta / p, np.maximum(u_bend, -p / (2 * q)))
        return r["D_0"] * np.exp(u)

    @staticmethod
    def floor(r: dict) -> float:
        return 0.0

    @staticmethod
    def d_99(r: dict) -> float:
        return float("inf")


CURVE_FORMS = ("current", "bansal", "piecewise")
OTHER_CURVES: dict[str, Form] = {"bansal": BansalCurve(), "piecewise": PiecewiseCurve()}


def curve_for(curve_form: str, surface_form: str) -> Form:
    """The per-N curve a fit inverts: `current` is the surface's own (forms.CURVES)."""
    if curve_form == "current":
        return CURVES[surface_form]
    return OTHER_CURVES[curve_form]


def same_family(curve_form: str, surface_form: str) -> str | None:
    """The form `curve_form` coincides with under this surface (None: a family of its own)."""
    return "current" if curve_form == "bansal" and surface_form == "kaplan" else None


# ---- choosing the form ------------------------------------------------------------------------------

@dataclass
class FormRollout:
    """One form's leave-the-largest-D-out errors."""

    form: str
    per_size: dict[float, float] = field(default_factory=dict)  # N -> |ln error| at the largest D
    skipped: dict[float, str] = field(default_factory=dict)  # N -> why it has no error
    same_as: str | None = None  # the form it coincides with under this surface
    full: dict[float, np.ndarray] = field(default_factory=dict)  # N -> theta on all its D (figure)

    @property
    def median(self) -> float:
        return float(np.median(list(self.per_size.values()))) if self.per_size else float("nan")


@dataclass
class CurveChoice:
    """The requested form, the one used, and every candidate's rollout error."""

    requested: str
    chosen: str
    forms: dict[str, FormRollout]
    surface: FormRollout  # the global surface's rollout, for reference
    held_out_d: dict[float, float]  # N -> the largest D, left out


def _rollout(form: Form, n: np.ndarray, d: np.ndarray, loss: np.ndarray, options: FitOptions,
             name: str) -> FormRollout:
    out = FormRollout(name)
    need = len(form.names) + 1
    for size in np.unique(n):
        sel = n == size
        top = d[sel].max()
        train = sel & (d < top)
        if len(np.unique(d[train])) < need:
            out.skipped[float(size)] = f"{len(np.unique(d[train]))} distinct D below the largest < {need}"
            continue
        fit = fit_form(form, np.log(d[train])[None, :], np.log(loss[train]), replace(options, n_jobs=1))
        if not fit.ok:
            out.skipped[float(size)] = fit.message
            continue
        held = sel & (d == top)
        pred = form.log_loss(fit.theta, np.log(d[held])[None, :])
        out.per_size[float(size)] = float(np.median(np.abs(pred - np.log(loss[held]))))
        whole = fit_form(form, np.log(d[sel])[None, :], np.log(loss[sel]), replace(options, n_jobs=1),
                         starts=fit.theta)  # one more point: the rollout's optimum is a near start
        if whole.ok:
            out.full[float(size)] = whole.theta
    return out


def _surface_rollout(surface_form: str, n, d, loss, options: FitOptions) -> FormRollout:
    out = FormRollout(surface_form)
    top = {float(s): d[n == s].max() for s in np.unique(n)}
    held = np.array([x == top[float(s)] for s, x in zip(n, d)])
    fit = fit_form(SURFACES[surface_form], features(n[~held], d[~held]), np.log(loss[~held]), options)
    if not fit.ok:
        out.skipped = {s: fit.message for s in top}
        return out
    pred = SURFACES[surface_form].log_loss(fit.theta, features(n[held], d[held]))
    err = np.abs(pred - np.log(loss[held]))
    for s in top:
        out.per_size[s] = float(np.median(err[n[held] == s]))
    return out


def choose_curve(requested: str, surface_form: str, n: np.ndarray, d: np.ndarray, loss: np.ndarray,
                 options: FitOptions, curve_starts: int) -> CurveChoice:
    """Every form's rollout on the scratch runs (n, d, loss), and the form to use."""
    curve_opts = replace(options, n_screen=curve_starts)
    forms = {}
    for name in CURVE_FORMS:
        r = _rollout(curve_for(name, surface_form), n, d, loss, curve_opts, name)
        r.same_as = same_family(name, surface_form)
        forms[name] = r
    chosen = requested
    if requested == "auto":
        candidates = [f for f in CURVE_FORMS if forms[f].same_as is None and forms[f].per_size]
        common = set.intersection(*(set(forms[f].per_size) for f in candidates)) if candidates else set()

        def score(f: str) -> tuple[float, bool]:  # the same sizes for every form; ties to current
            return float(np.median([forms[f].per_size[s] for s in common])), f != "current"

        chosen = min(candidates, key=score) if common else "current"
    return CurveChoice(requested, chosen, forms, _surface_rollout(surface_form, n, d, loss, options),
                       {float(s): float(d[n == s].max()) for s in np.unique(n)})
