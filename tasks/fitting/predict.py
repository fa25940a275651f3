"""The transfer calculator: D_T and the effective-data multiplier for a given N and D_F.

D_T = k D_F^alpha N^beta (Eq. 1.1) and D_E/D_F = 1 + D_T/D_F (Eq. 1.2).  The interval is normal
on ln D_T = ln k + alpha ln D_F + beta ln N with the bootstrap covariance of (ln k, alpha, beta)
that fit.json stores (key "cov_lnk_alpha_beta"); without it no interval is given.

The law is a straight line in log space fitted over the N and D_F of its points (fit.json's
`fitted_range`); an answer outside them is an extrapolation, said with its distance in
decades, and refused beyond EXTRAPOLATION_LIMIT_DECADES unless asked for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

# A power law measured over one or two decades says little three decades out: Kaplan et al. and
# Hernandez et al. warn of exactly this break-down. Beyond two decades the answer is a guess.
EXTRAPOLATION_LIMIT_DECADES = 2.0


@dataclass
class Prediction:
    """One calculator answer, in the D units of the fit."""

    source: str
    n: float
    d_f: float
    d_t: float  # effective data transferred
    multiplier: float  # D_E / D_F
    d_t_ci95: tuple[float, float] | None  # None when the fit has no covariance
    multiplier_ci95: tuple[float, float] | None
    low_data: bool | None  # D_F <= 10 % of D(N), when the fit knows D(N); else None
    note: str = ""
    fitted_n: tuple[float, float] | None = None  # the range of N the law was fitted on (None: unrecorded)
    fitted_d_f: tuple[float, float] | None = None
    extrapolation_decades: float | None = None  # 0 inside both ranges; None when they are unrecorded


def law_prediction(k: float, alpha: float, beta: float, n: float, d_f: float,
                   cov: np.ndarray | None = None, level: float = 0.95) -> tuple:
    """(D_T, multiplier, D_T interval or None, multiplier interval or None)."""
    ln_dt = math.log(k) + alpha * math.log(d_f) + beta * math.log(n)
    d_t = math.exp(ln_dt)
    if cov is None:
        return d_t, 1.0 + d_t / d_f, None, None
    g = np.array([1.0, math.log(d_f), math.log(n)])
    sd = float(np.sqrt(max(g @ np.asarray(cov, float) @ g, 0.0)))
    z = float(norm.ppf(0.5 + level / 2))
    lo, hi = math.exp(ln_dt - z * sd), math.exp(ln_dt + z * sd)
    return d_t, 1.0 + d_t / d_f, (lo, hi), (1.0 + lo / d_f, 1.0 + hi / d_f)


def predict_from_fit(fit: dict, n: float, d_f: float, source: str | None = None,
                     extrapolate: bool = False) -> Prediction:
    """Prediction from a fit.json dict; `source` may be omitted when the fit has only one.

    Raises KeyError(flag, problem, fix[, value]) when the fit cannot answer, or when (n, d_f) lies
    more than EXTRAPOLATION_LIMIT_DECADES outside the fitted ranges and `extrapolate` is False.
    """
    laws = fit.get("transfer") or {}
    if not laws:
        raise KeyError("--fit", "the fit has no transfer law (it was fitted on scratch runs only)",
                       "fit a runs CSV that has fine-tuned runs")
    if source is None:
        if len(laws) != 1:
            raise KeyError("--source", f"the fit has several sources {sorted(laws)}",
                           "name one with --source")
        source = next(iter(laws))
    if source not in laws:
        raise KeyError("--source", f"not in the fit (it has {sorted(laws)})",
                       f"use one of {sorted(laws)}")
    law = laws[source]
    if law.get("k") is None or law.get("alpha") is None or law.get("beta") is None:
        raise KeyError("--source", f"{source!r} has no fitted law (status {law.get('status')!r}: "
                       f"{law.get('message', '')})", "add fine-tuned runs in the low-data regime and refit")
    fitted_n, fitted_d_f, decades = fitted_ranges(law, n, d_f)
    if decades is not None and decades > EXTRAPOLATION_LIMIT_DECADES and not extrapolate:
        flag, value, (lo, hi) = ("--n", n, fitted_n) if _outside(n, fitted_n) >= _outside(d_f, fitted_d_f) \
            else ("--d-f", d_f, fitted_d_f)
        raise KeyError(flag, f"is {decades:.1f} decades outside the {lo:.3g}-{hi:.3g} the law of {source!r} "
                       f"was fitted on (the limit is {EXTRAPOLATION_LIMIT_DECADES:g})",
                       "ask within the fitted range, or pass --extrapolate (extrapolate=True) to answer anyway",
                       value)
    cov = law.get("cov_lnk_alpha_beta")
    d_t, mult, ci, mci = law_prediction(law["k"], law["alpha"], law["beta"], n, d_f,
                                        None if cov is None else np.array(cov))
    low = None
    scratch = fit.get("scratch") or {}
    if scratch.get("form") in ("kaplan", "chinchilla") and scratch.get("params"):
        from .effective_data import SURFACE_CLASSES

        d_n = float(SURFACE_CLASSES[scratch["form"]].d_99(scratch["params"], n))
        frac = fit.get("checklist", {}).get("conventions", {}).get("low_data_fraction", 0.1)
        low = bool(d_f <= frac * d_n)
    notes = [] if low in (None, True) else ["D_F is outside the low-data regime: the law breaks down"]
    if decades:
        notes.append(f"an extrapolation {decades:.1f} decades beyond the fitted N {fitted_n[0]:.3g}-"
                     f"{fitted_n[1]:.3g} and D_F {fitted_d_f[0]:.3g}-{fitted_d_f[1]:.3g}")
    return Prediction(source, n, d_f, d_t, mult, ci, mci, low, "; ".join(notes), fitted_n, fitted_d_f, decades)


def fitted_ranges(law: dict, n: float, d_f: float) -> tuple:
    """(N range, D_F range, decades outside them) of the points the law was fitted on (`fitted_range`;
    a fit.json older than it: the points with a usable D_T, a little wider); Nones when the fit.json
    records neither (a law typed in by hand, e.g. the paper's Table 1)."""
    recorded = law.get("fitted_range")
    if recorded:
        fitted_n, fitted_d_f = tuple(recorded["N"]), tuple(recorded["D_F"])
    else:
        points = (law.get("d_t_observed") or {}).get("usable") or []
        if not points:
            return None, None, None
        ns, ds = [float(p[0]) for p in points], [float(p[1]) for p in points]
        fitted_n, fitted_d_f = (min(ns), max(ns)), (min(ds), max(ds))
    return fitted_n, fitted_d_f, max(_outside(n, fitted_n), _outside(d_f, fitted_d_f))


def _outside(x: float, span: tuple[float, float]) -> float:
    """Decades from x to the span (0 inside it)."""
    return max(0.0, math.log10(span[0] / x), math.log10(x / span[1]))


def loss_interval(form: str, samples: dict[str, np.ndarray], n: float, d: float,
                  level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the scratch loss L(N, D) over bootstrap parameter samples.

    `samples` maps each natural parameter of the form to its bootstrap draws (one per resample,
    as in bootstrap_samples.csv); failed resamples (NaN) are ignored.
    """
    from .effective_data import SURFACE_CLASSES

    draws = np.asarray(SURFACE_CLASSES[form].loss(samples, n, d), float)
    draws = draws[np.isfinite(draws)]
    lo = 100 * (1 - level) / 2
    return tuple(float(x) for x in np.percentile(draws, [lo, 100 - lo]))
