"""Effective data transferred: D_E by inverting scratch curves, D_T, fraction, multiplier, flags.

Primary method: invert the scratch curve of the same N (paper.md §1.5 method 1; the curve has the
shape of the global form with its N-term freed, see forms.KaplanCurve / ChinchillaCurve).
Secondary: invert the global fitted surface.  D(N) and the low-data regime come from the surface.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .forms import SURFACES, Form
from .robust import FitOptions, FitResult, fit_form

SURFACE_CLASSES = {"chinchilla": type(SURFACES["chinchilla"]), "kaplan": type(SURFACES["kaplan"])}


@dataclass
class PerNCurves:
    """One fitted L(D) curve per model size that has enough scratch runs."""

    form: Form  # the curve form
    fits: dict[float, FitResult]  # N -> fit (only sizes whose fit is ok)
    d_range: dict[float, tuple[float, float]]  # N -> (min D, max D) of its scratch runs
    skipped: dict[float, str] = field(default_factory=dict)  # N -> why it has no curve


def min_points_per_curve(form: Form) -> int:
    """Scratch runs of distinct D needed for one per-N curve: its parameters + 1."""
    return len(form.names) + 1


def fit_per_n_curves(form: Form, n: np.ndarray, d: np.ndarray, loss: np.ndarray,
                     options: FitOptions, warm: dict[float, np.ndarray] | None = None
                     ) -> PerNCurves:
    """Fit the per-N curve `form` (forms.CURVES, curve_forms) at every N; `warm` (N -> theta)
    replaces the grid by one start."""
    out = PerNCurves(form, {}, {})
    need = min_points_per_curve(form)
    for size in np.unique(n):
        sel = n == size
        out.d_range[float(size)] = (float(d[sel].min()), float(d[sel].max()))
        if len(np.unique(d[sel])) < need:
            out.skipped[float(size)] = f"{len(np.unique(d[sel]))} distinct D < {need} needed"
            continue
        starts = None if warm is None or float(size) not in warm else warm[float(size)]
        fit = fit_form(form, np.log(d[sel])[None, :], np.log(loss[sel]),
                       replace(options, n_jobs=1), starts=starts)
        if fit.ok:
            out.fits[float(size)] = fit
        else:
            out.skipped[float(size)] = fit.message
    return out


@dataclass
class EffectiveData:
    """Per fine-tuned run: effective data and its flags (all arrays have one entry per run)."""

    n: np.ndarray
    d_f: np.ndarray
    loss: np.ndarray
    d_e_per_n: np.ndarray  # inversion of the same-N scratch curve (NaN where no curve)
    d_e_global: np.ndarray  # inversion of the global surface
    d_e: np.ndarray  # the one used: per-N where available, else global
    method: np.ndarray  # "per_n" or "global"
    d_t: np.ndarray  # D_E - D_F (negative = ossified, kept with its sign)
    fraction: np.ndarray  # D_F / D_E
    multiplier: np.ndarray  # D_E / D_F
    d_n: np.ndarray  # D(N) by the 99 % rule, from the surface
    low_data: np.ndarray  # D_F <= low_data_fraction * D(N)
    extrapolated: np.ndarray  # D_E outside the scratch D range of that N (or of all runs)
    unreachable: np.ndarray  # loss at or below the N-limited floor: D_E = inf
    ossified: np.ndarray  # D_T < 0

    def as_columns(self) -> dict[str, np.ndarray]:
        return dict(self.__dict__)


def effective_data(surface_form: str, surface_params: dict, curves: PerNCurves, n: np.ndarray,
                   d_f: np.ndarray, loss: np.ndarray, scratch_d_range: tuple[float, float],
                   low_data_fraction: float = 0.1) -> EffectiveData:
    """D_E, D_T, fraction, multiplier and flags for fine-tuned runs (n, d_f, loss)."""
    n, d_f, loss = (np.asarray(a, float) for a in (n, d_f, loss))
    surf = SURFACE_CLASSES[surface_form]
    d_e_global = surf.invert(surface_params, n, loss)
    d_e_per_n = np.full_like(d_f, np.nan)
    floor_hit = np.zeros(len(n), bool)
    lo = np.full_like(d_f, scratch_d_range[0])
    hi = np.full_like(d_f, scratch_d_range[1])
    for size, fit in curves.fits.items():
        sel = n == size
        d_e_per_n[sel] = curves.form.invert(fit.params, loss[sel])
        floor_hit[sel] = loss[sel] <= curves.form.floor(fit.params)
        lo[sel], hi[sel] = curves.d_range[size]
    has_curve = ~np.isnan(d_e_per_n)
    d_e = np.where(has_curve, d_e_per_n, d_e_global)
    unreachable = np.where(has_curve, floor_hit, ~np.isfinite(d_e_global))
    d_t = d_e - d_f
    with np.errstate(all="ignore"):
        fraction = d_f / d_e
        multiplier = d_e / d_f
    d_n = surf.d_99(surface_params, n)
    return EffectiveData(
        n=n, d_f=d_f, loss=loss, d_e_per_n=d_e_per_n, d_e_global=d_e_global, d_e=d_e,
        method=np.where(has_curve, "per_n", "global"), d_t=d_t, fraction=fraction,
        multiplier=multiplier, d_n=d_n, low_data=d_f <= low_data_fraction * d_n,
        extrapolated=np.isfinite(d_e) & ((d_e < lo) | (d_e > hi)), unreachable=unreachable,
        ossified=np.isfinite(d_t) & (d_t < 0))
