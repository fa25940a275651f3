"""Seed noise: replicates of one point (same N, D, init) collapsed to one, and a noise model.

A point's loss is the geometric mean of its replicates' best losses (the mean of ln L), so D_E is
inverted once per point and a noisy seed cannot pull one replicate's D_E off the curve on its own.

The noise model is the standard deviation of one run's ln(best loss), per kind (`scratch`, or the
name of the pre-training source) and by data size, in the form

    ln sigma(D) = a + b ln D          (b = 0 when the replicates span fewer than 2 values of D)

fitted by weighted least squares on each replicated point's ln s, with weights nu = m - 1 (its
degrees of freedom) and ln s corrected for its bias under normal noise: E[ln s^2] = ln sigma^2 +
psi(nu/2) - ln(nu/2). Without replicates the scatter of the scratch surface's residuals is the only
noise estimate, and the model says so (`source = "residuals"`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import digamma


@dataclass
class Replicates:
    """Which point each run belongs to; points in order of their first run."""

    point: np.ndarray  # (n_runs,) point index of each run
    count: np.ndarray  # (n_points,) replicates per point
    first: np.ndarray  # (n_points,) index of each point's first run

    @property
    def any(self) -> bool:
        return bool(np.any(self.count > 1))

    def members(self, p: int) -> np.ndarray:
        return np.flatnonzero(self.point == p)


def group_replicates(n: np.ndarray, d: np.ndarray, init: np.ndarray) -> Replicates:
    """Runs with the same (N, D, init) are replicates of one point."""
    index: dict[tuple, int] = {}
    point, first = [], []
    for i, key in enumerate(zip(np.asarray(n, float).tolist(), np.asarray(d, float).tolist(),
                                np.asarray(init).astype(str).tolist())):
        if key not in index:
            index[key] = len(index)
            first.append(i)
        point.append(index[key])
    point_arr = np.array(point, dtype=np.int64)
    return Replicates(point_arr, np.bincount(point_arr, minlength=len(index)),
                      np.array(first, dtype=np.int64))


def point_log_means(ln_loss: np.ndarray, reps: Replicates) -> np.ndarray:
    """Mean of ln(loss) over each point's replicates."""
    return np.bincount(reps.point, weights=ln_loss) / reps.count


def point_log_sd(ln_loss: np.ndarray, reps: Replicates) -> np.ndarray:
    """Sample standard deviation (ddof 1) of ln(loss) per point; NaN for a single run."""
    mean = point_log_means(ln_loss, reps)
    ss = np.bincount(reps.point, weights=(ln_loss - mean[reps.point]) ** 2, minlength=len(mean))
    with np.errstate(all="ignore"):
        return np.where(reps.count > 1, np.sqrt(ss / np.maximum(reps.count - 1, 1)), np.nan)


def resample_point_means(ln_loss: np.ndarray, reps: Replicates, n_resamples: int,
                         seed: int) -> np.ndarray:
    """(n_resamples, n_points): each point's mean ln(loss) over its replicates drawn with
    replacement. A point with one run keeps its value, so without replicates nothing changes."""
    rng = np.random.default_rng([seed, 1])  # a stream of its own: the points' draw is unchanged
    out = np.tile(point_log_means(ln_loss, reps), (n_resamples, 1))
    for p in np.flatnonzero(reps.count > 1):
        members = reps.members(p)
        draws = members[rng.integers(0, len(members), size=(n_resamples, len(members)))]
        out[:, p] = ln_loss[draws].mean(axis=1)
    return out


@dataclass
class KindNoise:
    """sigma(D) of one run's ln(best loss) for one kind of run."""

    a: float  # ln sigma = a + b ln D
    b: float
    pooled: float  # sqrt(sum nu s^2 / sum nu): one number for the whole kind
    n_points: int  # replicated points it was measured on
    n_runs: int
    d_range: tuple[float, float]

    def sigma(self, d) -> np.ndarray:
        return np.exp(self.a + self.b * np.log(np.asarray(d, float)))


@dataclass
class NoiseModel:
    """Per kind; `source` is "replicates" or "residuals" (no replicates: residual scatter only)."""

    source: str
    kinds: dict[str, KindNoise] = field(default_factory=dict)
    form: str = "ln sigma(D) = a + b ln D, weighted by replicate degrees of freedom"
    note: str = ""

    def sigma(self, kind: str, d) -> np.ndarray:
        """sigma for runs of `kind` (a source name falls back to any fine-tune kind, then scratch)."""
        k = self.kinds.get(kind) or next(
            (v for name, v in self.kinds.items() if name != "scratch"), None) or self.kinds["scratch"]
        return k.sigma(d)


def _ln_s_bias(nu: np.ndarray) -> np.ndarray:
    """E[ln s] - ln sigma for a sample sd with nu degrees of freedom under normal noise."""
    return 0.5 * (digamma(nu / 2) - np.log(nu / 2))


def fit_kind(d: np.ndarray, sd: np.ndarray, count: np.ndarray) -> KindNoise:
    """The ln sigma(D) line of one kind from its replicated points (count >= 2)."""
    nu = (count - 1).astype(float)
    ok = (nu > 0) & np.isfinite(sd) & (sd > 0)
    d, sd, nu = d[ok], sd[ok], nu[ok]
    pooled = float(np.sqrt(np.sum(nu * sd ** 2) / np.sum(nu)))
    y = np.log(sd) - _ln_s_bias(nu)
    x = np.log(d)
    if len(np.unique(d)) >= 2:
        w = nu / nu.sum()
        xm, ym = np.sum(w * x), np.sum(w * y)
        b = float(np.sum(w * (x - xm) * (y - ym)) / np.sum(w * (x - xm) ** 2))
        a = float(ym - b * xm)
    else:
        a, b = float(np.sum(nu * y) / nu.sum()), 0.0
    return KindNoise(a, b, pooled, int(len(d)), int(np.sum(nu + 1)), (float(d.min()), float(d.max())))


def measure_noise(n: np.ndarray, d: np.ndarray, ln_loss: np.ndarray, init: np.ndarray,
                  residual_sd: float | None = None) -> NoiseModel:
    """The noise model from replicates; without any, a constant sigma = the residual scatter."""
    reps = group_replicates(n, d, init)
    sd = point_log_sd(ln_loss, reps)
    kinds = {}
    p_init = np.asarray(init)[reps.first]
    p_d = np.asarray(d, float)[reps.first]
    for kind in sorted(set(p_init.tolist())):
        sel = (p_init == kind) & (reps.count > 1)
        if sel.any():
            kinds[kind] = fit_kind(p_d[sel], sd[sel], reps.count[sel])
    if kinds:
        return NoiseModel("replicates", kinds)
    if residual_sd is None or not np.isfinite(residual_sd):
        return NoiseModel("none", {}, note="no replicates and no residuals")
    flat = KindNoise(float(np.log(residual_sd)), 0.0, float(residual_sd), 0, int(len(n)),
                     (float(np.min(d)), float(np.max(d))))
    return NoiseModel("residuals", {"scratch": flat}, form="constant sigma = residual scatter",
                      note="no replicates: the scratch surface's residual scatter is the only noise "
                           "estimate (it mixes seed noise with any misfit of the form)")


def noise_dict(model: NoiseModel) -> dict:
    """fit.json's `noise` entry."""
    return {"source": model.source, "form": model.form, "note": model.note, "kinds": {
        k: {"a": v.a, "b": v.b, "pooled_sigma": v.pooled, "n_points": v.n_points,
            "n_runs": v.n_runs, "d_range": list(v.d_range),
            "sigma_at_d_range": [float(v.sigma(v.d_range[0])), float(v.sigma(v.d_range[1]))]}
        for k, v in model.kinds.items()}}


def noise_from_dict(entry: dict) -> NoiseModel:
    """The inverse of `noise_dict` (the planner reads a prior's noise this way)."""
    kinds = {k: KindNoise(v["a"], v["b"], v["pooled_sigma"], v["n_points"], v["n_runs"],
                          tuple(v["d_range"])) for k, v in entry.get("kinds", {}).items()}
    return NoiseModel(entry.get("source", "given"), kinds, entry.get("form", ""), entry.get("note", ""))


def constant_noise(sigma: float, source: str = "given") -> NoiseModel:
    """sigma for every kind and D (the planner's `--noise`)."""
    flat = KindNoise(float(np.log(sigma)), 0.0, float(sigma), 0, 0, (1.0, 1.0))
    return NoiseModel(source, {"scratch": flat}, form="constant sigma")
