"""The transfer law D_T = k * D_F^alpha * N^beta, fitted on low-data-regime points.

(i) The paper's way (App. C, paper.md §1.6): for each D_F, least squares of
    logit(D_T/D_E) = ln(D_T/D_F) on ln N; a common slope beta over the D_F groups; then the group
    intercepts regressed on ln D_F give alpha - 1 (slope) and ln k (intercept): "fit the fits".
(ii) One joint least squares of ln D_T = ln k + alpha ln D_F + beta ln N.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .status import FitStatus

# Why a point was left out of the law fit, in the order the rules are applied.
REASONS = ("unreachable", "ossified", "not_low_data", "extrapolated")


@dataclass(frozen=True)
class TransferOptions:
    """Which fine-tuned points enter the law."""

    exclude_extrapolated: bool = False  # drop points whose D_E lies outside the scratch D range


@dataclass
class TransferFit:
    """(k, alpha, beta) by both methods, with R^2 on ln D_T and the points used."""

    k: float  # headline: fit-the-fits when possible, else the joint fit
    alpha: float
    beta: float
    method: str  # "fit_the_fits" or "joint" (the headline's method)
    joint: dict[str, float]  # k, alpha, beta of the joint least squares
    per_d_f: list[dict] = field(default_factory=list)  # D_F, slope, intercept, n_points per group
    r2_log: float = float("nan")  # R^2 of ln D_T under the headline law
    r2_log_joint: float = float("nan")
    n_points: int = 0
    used: np.ndarray | None = None  # mask over the input points
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> count
    status: FitStatus = FitStatus.OK
    message: str = ""


def select_points(eff, options: TransferOptions = TransferOptions()) -> tuple[np.ndarray, np.ndarray]:
    """Mask of usable points and, per point, the reason it was excluded ("" when used)."""
    reason = np.full(len(eff.d_f), "", dtype=object)
    rules = [("unreachable", eff.unreachable | ~np.isfinite(eff.d_t)),
             ("ossified", eff.d_t <= 0),
             ("not_low_data", ~eff.low_data),
             ("extrapolated", eff.extrapolated if options.exclude_extrapolated
              else np.zeros(len(eff.d_f), bool))]
    for name, mask in rules:
        reason[(reason == "") & mask] = name
    return reason == "", reason


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def fit_transfer_arrays(n: np.ndarray, d_f: np.ndarray, d_t: np.ndarray) -> TransferFit:
    """Both fits on points already selected (all D_T > 0)."""
    ln_n, ln_f, ln_t = np.log(n), np.log(d_f), np.log(d_t)
    nan = float("nan")
    if len(ln_t) < 3 or len(np.unique(n)) < 2 or len(np.unique(d_f)) < 2:
        return TransferFit(nan, nan, nan, "none", {}, n_points=len(ln_t), status=FitStatus.TOO_FEW_POINTS,
                           message=(f"{len(ln_t)} usable points, {len(np.unique(n))} sizes, "
                                    f"{len(np.unique(d_f))} D_F values: need >= 3 points, "
                                    ">= 2 sizes and >= 2 D_F values"))
    X = np.column_stack([np.ones_like(ln_n), ln_f, ln_n])
    (c0, a_j, b_j), *_ = np.linalg.lstsq(X, ln_t, rcond=None)
    joint = {"k": float(np.exp(c0)), "alpha": float(a_j), "beta": float(b_j)}
    r2_joint = _r2(ln_t, X @ np.array([c0, a_j, b_j]))
    y = ln_t - ln_f  # logit(D_T / D_E) = ln(D_T / D_F)
    groups = [g for g in np.unique(d_f) if len(np.unique(n[d_f == g])) >= 2]
    per = []
    for g in np.unique(d_f):
        sel = d_f == g
        if len(np.unique(n[sel])) >= 2:
            slope, icpt = np.polyfit(ln_n[sel], y[sel], 1)
            per.append({"D_F": float(g), "slope": float(slope), "intercept": float(icpt),
                        "n_points": int(sel.sum())})
    if len(groups) < 2:
        return TransferFit(joint["k"], joint["alpha"], joint["beta"], "joint", joint, per,
                           r2_joint, r2_joint, len(ln_t), status=FitStatus.OK,
                           message="fewer than 2 D_F values with >= 2 sizes: headline = joint fit")
    sel = np.isin(d_f, groups)
    onehot = (d_f[sel][:, None] == np.array(groups)[None, :]).astype(float)
    coef, *_ = np.linalg.lstsq(np.column_stack([onehot, ln_n[sel]]), y[sel], rcond=None)
    beta, icpts = float(coef[-1]), coef[:-1]
    am1, ln_k = np.polyfit(np.log(groups), icpts, 1)
    for row, c in zip([p for p in per if p["D_F"] in groups], icpts):
        row["intercept_common_slope"] = float(c)
    pred = ln_k + (am1 + 1) * ln_f + beta * ln_n
    return TransferFit(float(np.exp(ln_k)), float(am1 + 1), beta, "fit_the_fits", joint, per,
                       _r2(ln_t, pred), r2_joint, len(ln_t))


def fit_transfer(eff, options: TransferOptions = TransferOptions()) -> TransferFit:
    """Select low-data points of an EffectiveData table and fit the law both ways."""
    used, reason = select_points(eff, options)
    fit = fit_transfer_arrays(eff.n[used], eff.d_f[used], eff.d_t[used])
    fit.used = used
    fit.excluded = {r: int(np.sum(reason == r)) for r in REASONS if np.any(reason == r)}
    return fit


def k_in_other_units(k: float, alpha: float, units_per_d: float) -> float:
    """k for D measured in other units, u = units_per_d * D: k_u = k * c^(1 - alpha).

    D_T = k D_F^alpha N^beta with both D in the new units scales as c*D_T = k' (c D_F)^alpha N^beta.
    """
    return k * units_per_d ** (1.0 - alpha)
