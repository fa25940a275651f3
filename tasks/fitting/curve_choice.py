"""Which per-N scratch-curve form to invert: chosen by how well each predicts held-out data.

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

from .curve_forms import CURVE_FORMS, curve_for, same_family
from .forms import SURFACES, Form, features
from .robust import FitOptions, fit_form


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
