"""The whole fit on arrays: scratch surface, per-N curves, effective data, transfer law, bootstrap.

`analyse(runs, options)` is the one entry point; the report layer turns its `Analysis` into
fit.json and figures.  Replicates (runs of the same N, D and init, with other seeds) are first
averaged in log space into one point each (`noise.py`); every bootstrap resample draws the points
with replacement and, within each point, its seeds, then refits everything (surface, curves, law)
from the full-data optimum, so intervals on (k, alpha, beta) carry the scratch fit's uncertainty
and the seed noise too.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .bootstrap import BootstrapOptions, percentile_ci, resample_indices, run_bootstrap
from .curve_forms import CurveChoice, choose_curve, curve_for
from .effective_data import EffectiveData, PerNCurves, effective_data, fit_per_n_curves
from .forms import SURFACES, features
from .noise import (
    NoiseModel,
    Replicates,
    group_replicates,
    measure_noise,
    point_log_means,
    point_log_sd,
    resample_point_means,
)
from .robust import FitError, FitOptions, FitResult, fit_form
from .transfer import TransferFit, TransferOptions, fit_transfer, k_in_other_units
from .varpro import VarProResult, fit_varpro
from .verdicts import cross_fit_too_small
from .zero_shot import Marks, ZeroShotTable, added_by_finetuning, mark_finetunes, median_over_sizes

SCRATCH = "scratch"
LAW_KEYS = ("k", "alpha", "beta", "joint_k", "joint_alpha", "joint_beta", "ln_k")


@dataclass
class Runs:
    """The runs as arrays, one entry per run (validated upstream by tasks.report.runs_csv)."""

    n: np.ndarray  # non-embedding parameters
    d: np.ndarray  # target-data size of the run (D_F for a fine-tune)
    loss: np.ndarray  # best held-out loss, nats/token
    init: np.ndarray  # "scratch" or the pre-training source's name
    d_chars: np.ndarray | None = None  # the same sizes in characters, if known
    best_epoch: np.ndarray | None = None  # passes over D at the best step, if known
    best_step: np.ndarray | None = None  # optimiser steps to the best held-out loss, if known
    zero_shot: ZeroShotTable | None = None  # the pre-trained models before fine-tuning (D_F = 0);
    # not points of the surface or the law, and never resampled
    d_bytes: np.ndarray | None = None  # the same sizes in UTF-8 bytes, if known
    d_unit: str = "tokens"  # what D counts (figures and report name it)

    def take(self, rows: np.ndarray) -> "Runs":
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        return Runs(self.n[rows], self.d[rows], self.loss[rows], self.init[rows], pick(self.d_chars),
                    pick(self.best_epoch), pick(self.best_step), self.zero_shot, pick(self.d_bytes), self.d_unit)

    def with_loss(self, loss: np.ndarray) -> "Runs":
        return replace(self, loss=loss)

    @property
    def scratch(self) -> np.ndarray:
        return self.init == SCRATCH

    @property
    def sources(self) -> list[str]:
        return sorted(set(self.init[~self.scratch].tolist()))


@dataclass(frozen=True)
class AnalysisOptions:
    """Everything that changes the numbers; it is written into the report's checklist."""

    form: str = "kaplan"  # scratch surface form: "kaplan" or "chinchilla"
    fit: FitOptions = FitOptions()
    bootstrap: BootstrapOptions = BootstrapOptions()
    transfer: TransferOptions = TransferOptions()
    low_data_fraction: float = 0.1  # low-data regime: D_F <= this * D(N) (paper §1.1)
    curve_starts: int = 12  # screened grid starts per per-N curve (3 parameters: few basins)
    fit_transfer: bool = True  # fit the law when fine-tuned runs are present
    other_form: bool = True  # also fit the other surface form (point estimate only)
    varpro: bool = True  # variable-projection cross-check (Chinchilla form only)
    # The per-N scratch curve inverted for D_E: current (the surface's own), bansal, piecewise, or
    # auto (the lowest leave-the-largest-D-out error; curve_forms.py).
    curve_form: str = "current"
    curve_rollout: bool = False  # compare every curve form's rollout error (the report sets it)


@dataclass(frozen=True)
class WarmStart:
    """Where a fit of runs like an earlier fit's starts instead of its grid: that fit's surface
    optimum and each size's curve optimum (a size it lacks gets the grid). Small, so it travels to
    the bootstrap's and the planner's worker processes cheaply."""

    surface: np.ndarray
    curves: dict[float, np.ndarray] = field(default_factory=dict)


@dataclass
class Estimate:
    """One fit of everything on one set of runs."""

    surface: FitResult
    curves: PerNCurves | None = None
    effective: EffectiveData | None = None  # over all fine-tuned runs
    source: np.ndarray | None = None  # source name per fine-tuned run
    transfer: dict[str, TransferFit] = field(default_factory=dict)
    chars_per_token: float | None = None  # per unit of D, whatever D counts
    bytes_per_token: float | None = None  # the same, UTF-8 bytes (only when D counts tokens)
    zero_shot_d_e: np.ndarray | None = None  # D_E of each entry of Runs.zero_shot

    def warm_start(self) -> WarmStart:
        return WarmStart(self.surface.theta,
                         {} if self.curves is None else {k: f.theta for k, f in self.curves.fits.items()})


@dataclass
class Analysis:
    """The full-data estimate, bootstrap samples and intervals, and the cross-checks."""

    options: AnalysisOptions
    estimate: Estimate
    names: list[str]  # names of the bootstrapped quantities (columns of samples)
    samples: np.ndarray | None  # (n_resamples, len(names)), NaN rows = failed resamples
    ci95: dict[str, tuple[float, float]]
    n_failed: int
    other_forms: dict[str, FitResult] = field(default_factory=dict)
    other_forms_skipped: dict[str, str] = field(default_factory=dict)  # form -> why it was not fitted
    varpro: VarProResult | None = None
    varpro_polished: FitResult | None = None  # the Huber fit started from the VarPro optimum
    points: Runs | None = None  # one entry per point (replicates averaged); the estimate's rows
    replicates: Replicates | None = None  # which point each input run belongs to
    point_sd: np.ndarray | None = None  # sd of ln(loss) over each point's seeds (NaN: one seed)
    noise: NoiseModel | None = None
    curve_choice: CurveChoice | None = None  # every curve form's rollout error, and the one used
    marks: Marks | None = None  # per fine-tuned point of the estimate: compared with its zero-shot loss


def finetune_marks(analysis: Analysis) -> Marks | None:
    """The fine-tuned points compared with their zero-shot loss (zero_shot.py), under the measured
    fine-tune noise where replicates measured it."""
    est, points = analysis.estimate, analysis.points
    if est.effective is None or points is None:
        return None
    noise = analysis.noise
    sigma = None
    if noise is not None and noise.source == "replicates" and any(k != SCRATCH for k in noise.kinds):
        sigma = np.array([float(noise.sigma(s, d)) for s, d in zip(est.source, est.effective.d_f)])
    ft = ~points.scratch
    return mark_finetunes(est.effective.n, est.source, est.effective.loss,
                          None if points.best_epoch is None else points.best_epoch[ft],
                          points.zero_shot, sigma, None if points.best_step is None else points.best_step[ft])


def collapse(runs: Runs, reps: Replicates) -> Runs:
    """One entry per point, its loss the geometric mean of its replicates' (a lone run keeps its
    loss to the last bit, so a sweep without replicates fits exactly as before)."""
    points = runs.take(reps.first)
    if not reps.any:
        return points
    for name in ("best_epoch", "best_step"):  # a point's: the mean over its seeds
        if getattr(runs, name) is not None:
            values = np.nan_to_num(getattr(runs, name), nan=np.inf)
            points = replace(points, **{name: np.bincount(reps.point, weights=values) / reps.count})
    mean = np.exp(point_log_means(np.log(runs.loss), reps))
    return points.with_loss(np.where(reps.count > 1, mean, points.loss))


def residual_sd(est: "Estimate", points: Runs, form: str) -> float:
    """Scatter (sd) of ln L - ln L_hat of the scratch points around the fitted surface."""
    sc = points.scratch
    res = np.log(points.loss[sc]) - SURFACES[form].log_loss(
        est.surface.theta, features(points.n[sc], points.d[sc]))
    return float(np.std(res, ddof=1)) if len(res) > 1 else float("nan")


def _estimate(runs: Runs, options: AnalysisOptions, warm: WarmStart | None = None) -> Estimate:
    form = SURFACES[options.form]
    sc = runs.scratch
    starts = None if warm is None else warm.surface
    surface = fit_form(form, features(runs.n[sc], runs.d[sc]), np.log(runs.loss[sc]),
                       options.fit, starts=starts)
    est = Estimate(surface)
    if runs.d_chars is not None:
        est.chars_per_token = float(np.median(runs.d_chars / runs.d))
    if runs.d_bytes is not None:
        est.bytes_per_token = float(np.median(runs.d_bytes / runs.d))
    if not options.fit_transfer or np.all(sc) or not surface.ok:
        return est
    est.curves = fit_per_n_curves(curve_for(options.curve_form, options.form), runs.n[sc],
                                  runs.d[sc], runs.loss[sc],
                                  replace(options.fit, n_screen=options.curve_starts),
                                  None if warm is None else warm.curves)
    ft = ~sc
    est.effective = effective_data(options.form, surface.params, est.curves, runs.n[ft],
                                   runs.d[ft], runs.loss[ft],
                                   (float(runs.d[sc].min()), float(runs.d[sc].max())),
                                   options.low_data_fraction)
    est.source = runs.init[ft]
    if runs.zero_shot is not None and len(runs.zero_shot.n):
        zs = runs.zero_shot
        est.zero_shot_d_e = effective_data(options.form, surface.params, est.curves, zs.n,
                                           np.zeros(len(zs.n)), zs.loss,
                                           (float(runs.d[sc].min()), float(runs.d[sc].max()))).d_e
    for src in runs.sources:
        est.transfer[src] = fit_transfer(subset(est.effective, est.source == src),
                                         options.transfer)
    return est


def subset(eff: EffectiveData, mask: np.ndarray) -> EffectiveData:
    """The rows of an EffectiveData table selected by mask."""
    return EffectiveData(**{k: v[mask] for k, v in eff.as_columns().items()})


def resolve_curve_form(points: Runs, options: AnalysisOptions) -> tuple[AnalysisOptions, CurveChoice | None]:
    """The options with `curve_form: auto` replaced by the form chosen on these points' scratch
    runs, and the rollout comparison (None when neither asked for nor needed)."""
    if options.curve_form != "auto" and not options.curve_rollout:
        return options, None
    sc = points.scratch
    choice = choose_curve(options.curve_form, options.form, points.n[sc], points.d[sc],
                          points.loss[sc], options.fit, options.curve_starts)
    return replace(options, curve_form=choice.chosen), choice


def estimate_points(runs: Runs, options: AnalysisOptions, warm: WarmStart | None = None) -> Estimate:
    """The fit without bootstrap or cross-checks, replicates averaged first; `warm` (from an
    estimate on similar runs) replaces the grid of starts by its optima, as in every bootstrap
    resample."""
    points = collapse(runs, group_replicates(runs.n, runs.d, runs.init))
    if options.curve_form == "auto":
        options = resolve_curve_form(points, replace(options, curve_rollout=False))[0]
    return _estimate(points, options, warm)


def measured_multiplier(est: Estimate, src: str, d_f: float) -> float:
    """Median over sizes of the measured D_E / D_F of `src`'s fine-tunes at D_F = d_f (inf where the
    fine-tuned loss is below every scratch run's): the effective-data multiplier as the runs show it,
    with no law in between. NaN when no such point is in the estimate."""
    eff = est.effective
    if eff is None or est.source is None:
        return float("nan")
    sel = (est.source == src) & np.isclose(eff.d_f, d_f)
    vals = eff.multiplier[sel]
    vals = vals[~np.isnan(vals)]
    return float(np.median(vals)) if len(vals) else float("nan")


def zero_shot_values(est: Estimate, zero_shot: ZeroShotTable | None, src: str,
                     d_fs: list[float]) -> list[float]:
    """[median over sizes of the zero-shot D_E of `src`, then for each D_F of `d_fs` the median
    over sizes of D_E(D_F) - D_E(0)]: NaN where not measured (no zero-shot run, or no such point)."""
    if zero_shot is None or est.zero_shot_d_e is None or est.effective is None:
        return [np.nan] * (1 + len(d_fs))
    mine = zero_shot.source == src
    out = [median_over_sizes(est.zero_shot_d_e, mine)]
    eff = est.effective
    d_e0 = np.full(len(eff.n), np.nan)
    for size, d_e in zip(zero_shot.n[mine], est.zero_shot_d_e[mine]):
        d_e0[eff.n == size] = d_e
    added = added_by_finetuning(eff.d_e, d_e0)
    return out + [median_over_sizes(added, (est.source == src) & np.isclose(eff.d_f, d_f)) for d_f in d_fs]


def finetune_grid(est: Estimate, sources: list[str]) -> dict[str, list[float]]:
    """Each source's D_F values in the full-data estimate."""
    if est.effective is None or est.source is None:
        return {}
    return {s: sorted(set(est.effective.d_f[est.source == s].tolist())) for s in sources}


def smallest_d_f(est: Estimate, sources: list[str]) -> dict[str, float]:
    """Each source's smallest fine-tuning D_F in the full-data estimate (the headline point)."""
    if est.effective is None or est.source is None:
        return {}
    return {s: float(est.effective.d_f[est.source == s].min()) for s in sources
            if np.any(est.source == s)}


def _flatten(est: Estimate, options: AnalysisOptions, sources: list[str],
             d_f_min: dict[str, float], zero_shot: ZeroShotTable | None = None,
             grid: dict[str, list[float]] | None = None) -> np.ndarray:
    """The bootstrapped quantities of one estimate, in the order of `_names`."""
    form = SURFACES[options.form]
    n_par = len(form.names)
    grid = grid or {}
    if not est.surface.ok:
        return np.full(n_par + len(sources) * (len(LAW_KEYS) + 3)
                       + sum(1 + len(grid.get(s, [])) for s in sources if zero_shot is not None), np.nan)
    vals = [est.surface.params[k] for k in est.surface.params]
    for src in sources:
        t = est.transfer.get(src)
        if t is None or t.status != "ok":
            vals += [np.nan] * (len(LAW_KEYS) + 2)
            continue
        vals += [t.k, t.alpha, t.beta, t.joint["k"], t.joint["alpha"], t.joint["beta"],
                 np.log(t.k)]
        vals += [np.nan if per is None else k_in_other_units(t.k, t.alpha, per)
                 for per in (est.chars_per_token, est.bytes_per_token)]
    vals += [measured_multiplier(est, src, d_f_min[src]) if src in d_f_min else np.nan
             for src in sources]
    if zero_shot is not None:
        for src in sources:
            vals += zero_shot_values(est, zero_shot, src, grid.get(src, []))
    return np.array(vals, float)


def _names(est: Estimate, sources: list[str], zero_shot: ZeroShotTable | None = None) -> list[str]:
    names = [f"scratch.{k}" for k in est.surface.params]
    for src in sources:
        names += [f"transfer.{src}.{k}" for k in LAW_KEYS] + [f"transfer.{src}.k_chars", f"transfer.{src}.k_bytes"]
    names += [f"multiplier.{src}.at_smallest_D_F" for src in sources]
    if zero_shot is not None:
        grid = finetune_grid(est, sources)
        for src in sources:
            names += [f"zero_shot.{src}.D_E"] + [f"added.{src}.{d_f!r}" for d_f in grid.get(src, [])]
    return names


def _boot_one(data: tuple, row: np.ndarray) -> np.ndarray:
    """One resample: row[0] is its number (the row of `means`), row[1:] the points drawn."""
    points, means, lone, options, warm, sources, d_f_min, grid = data
    rows = row[1:]
    loss = np.where(lone[rows], points.loss[rows], np.exp(means[row[0], rows]))
    try:
        est = _estimate(points.take(rows).with_loss(loss), options, warm)
    except (FitError, ValueError, np.linalg.LinAlgError, ArithmeticError):
        return _flatten(Estimate(FitResult("", np.array([]), {}, np.inf, np.inf, "failed", "",
                                           0, 0)), options, sources, d_f_min, points.zero_shot, grid)
    return _flatten(est, options, sources, d_f_min, points.zero_shot, grid)


def analyse(runs: Runs, options: AnalysisOptions = AnalysisOptions(),
            progress: Callable[[int], None] | None = None) -> Analysis:
    """Fit everything on `runs`, then bootstrap; raises FitError when the scratch fit fails."""
    reps = group_replicates(runs.n, runs.d, runs.init)
    points = collapse(runs, reps)
    options, choice = resolve_curve_form(points, options)  # the bootstrap keeps this form
    est = _estimate(points, options)
    est.surface.require_ok()
    sources = sorted(est.transfer)
    names = _names(est, sources, points.zero_shot)
    samples, ci, n_failed = None, {}, 0
    if options.bootstrap.n_resamples > 0:
        strata = None
        if sources:  # keep scratch runs at every size in every resample
            strata = np.array([f"{i}|{n!r}" for i, n in zip(points.init, points.n)])
        n_boot, seed = options.bootstrap.n_resamples, options.bootstrap.seed
        idx = resample_indices(len(points.n), n_boot, seed, strata)
        means = resample_point_means(np.log(runs.loss), reps, n_boot, seed)
        boot_opts = replace(options, other_form=False, varpro=False, curve_rollout=False)
        samples = run_bootstrap(_boot_one, (points, means, reps.count == 1, boot_opts, est.warm_start(), sources,
                                            smallest_d_f(est, sources), finetune_grid(est, sources)),
                                np.column_stack([np.arange(n_boot), idx]), options.bootstrap,
                                progress)
        bad = np.isnan(samples[:, : len(est.surface.params)]).any(axis=1)
        n_failed = int(bad.sum())
        ci = {k: (float(lo), float(hi)) for k, (lo, hi) in zip(names, percentile_ci(samples))}
    out = Analysis(options, est, names, samples, ci, n_failed, points=points, replicates=reps,
                   point_sd=point_log_sd(np.log(runs.loss), reps),
                   noise=measure_noise(runs.n, runs.d, np.log(runs.loss), runs.init,
                                       residual_sd(est, points, options.form)),
                   curve_choice=choice)
    out.marks = finetune_marks(out)
    sc = points.scratch
    X, y = features(points.n[sc], points.d[sc]), np.log(points.loss[sc])
    if options.other_form:
        for name, form in SURFACES.items():
            if name != options.form:
                if why := cross_fit_too_small(len(y), len(form.names)):
                    out.other_forms_skipped[name] = why
                else:
                    out.other_forms[name] = fit_form(form, X, y, options.fit)
    if options.varpro and options.form == "chinchilla":
        out.varpro = fit_varpro(points.n[sc], points.d[sc], points.loss[sc])
        start = SURFACES["chinchilla"].from_natural(
            {k: max(v, 1e-12) for k, v in out.varpro.params.items()})
        out.varpro_polished = fit_form(SURFACES["chinchilla"], X, y, options.fit, starts=start)
    return out
