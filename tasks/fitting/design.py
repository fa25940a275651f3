"""How precisely a grid can measure the transfer law, before it is run.

Given a prior (a scratch surface, a law per source, a noise model), `predict` draws the grid's runs
many times (replicates included, each seed its own draw), fits every draw with the same fitter the
sweep's report uses (`analysis.estimate_points`: the fit of `analyse` without its bootstrap, each
draw started from the optimum of the design's noiseless runs, as each bootstrap resample starts
from the full-data fit), and reads off the spread of the estimates. The predicted 95 % interval of a parameter is the 2.5-97.5 percentile range
of its estimates over the draws: the interval an ideal bootstrap of one such sweep would give.

A fine-tuned run's loss is the surface's at D_E = D_F + D_T, D_T = k D_F^alpha N^beta, capped at
the run's pre-training tokens (effective data cannot exceed the data pre-training saw; an
assumption of this planner, stated in its output). Where the prior's own runs gave no usable D_T
(ossified, or below the curve's floor: the law cannot represent them and the fit leaves them out),
the simulation leaves those points out too (`unusable_mask`), so a law fitted on 13 of 25 points
is simulated on 13 points, not 25.

Calibration (the prior fitted to what its own fit observed, before the planner simulates with it):
`calibrate_scatter` (always run by `plan`, the report's verdict and benchmarks/planner_check.py)
matches the law's simulated scatter to the observed one; `calibrate_bootstrap` (`plan --calibrate
K`, experimental) measures how much wider the report's bootstrap is than the spread of the
estimates. Both simulate through `predict`, the planner's one simulation.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .analysis import AnalysisOptions, Runs, WarmStart, analyse, estimate_points, subset
from .bootstrap import CORES, BootstrapOptions, run_bootstrap
from .curve_forms import curve_for
from .effective_data import fit_per_n_curves
from .forms import SURFACES, features
from .noise import NoiseModel
from .robust import FitError, FitOptions, fit_form

# The paper's Table 1 (text -> Python, D in characters) on Kaplan et al.'s surface (tokens): a
# labelled default for a first plan, not a measurement of this project's models.
PAPER_LAW = {"k": 1.9e4, "alpha": 0.18, "beta": 0.38}
KAPLAN_SURFACE = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}
QUANTITIES = ("alpha", "beta", "log10_k")
W = 6  # numbers per source and draw (see _one_draw)


@dataclass(frozen=True)
class Design:
    """A grid: what a sweep config fixes that changes the fit's precision."""

    sizes: tuple[float, ...]  # non-embedding N of each size
    scratch_d: tuple[float, ...]
    d_f: tuple[float, ...]
    replicates: int = 1
    pretrain_tokens: tuple[float, ...] | None = None  # per size (caps D_T); None: no cap


@dataclass(frozen=True)
class Prior:
    """What the planner assumes the world is: where it came from is in `label`."""

    form: str  # the scratch surface's form (a key of forms.SURFACES)
    surface: dict[str, float]
    laws: dict[str, dict[str, float]]  # source -> {k, alpha, beta}
    noise: NoiseModel
    label: str
    # sd of ln D_T around the law beyond what seed noise explains (lack of fit), per source; drawn
    # once per (N, D_F) point. `calibrate_scatter` sets it from the law residuals a fit observed.
    misfit: dict[str, float] = field(default_factory=dict)
    law_residual_var: dict[str, float] = field(default_factory=dict)  # observed, per source
    # The report's bootstrap interval over the spread of the estimates, per source and quantity,
    # measured on a few simulated sweeps (`calibrate_bootstrap`); 1 when not measured.
    width_ratio: dict[str, dict[str, float]] = field(default_factory=dict)
    # Every fine-tuned (N, D_F) the prior's fit measured, per source, and whether it gave a usable
    # D_T (> 0, finite): where it did not, the law does not hold and the point cannot enter a fit.
    seen: dict[str, tuple[tuple[float, float, bool], ...]] = field(default_factory=dict)
    # The grid the prior's fit ran: its law's scatter was observed there, so `calibrate_scatter`
    # matches it there (a plan with more seeds or sizes must not be matched to it). None: unknown.
    design: Design | None = None
    # Per source: the observed and simulated scatter of ln D_T the calibration compared, and, where
    # it set an unmeasured fine-tune sigma, that sigma and whether it reached its floor (output).
    scatter: dict[str, dict] = field(default_factory=dict)

    @property
    def matched_finetune_sigma(self) -> dict[str, float]:
        """The fine-tune sigma `calibrate_scatter` set, per source where it set one."""
        return {s: v["finetune_sigma"] for s, v in self.scatter.items() if "finetune_sigma" in v}


@dataclass
class SourcePrediction:
    width: dict[str, float]  # predicted 95 % interval width per quantity
    median: dict[str, float]  # median estimate per quantity
    p_beta_resolved: float  # P(beta > 0 and its interval excludes 0)
    r2_log: float  # expected R^2 (log) of the law
    residual_var: float  # expected variance of ln D_T around the fitted law
    low_data_share: float  # expected share of fine-tuned points in the low-data regime
    n_ok: int  # draws whose law was fitted


@dataclass
class Prediction:
    sources: dict[str, SourcePrediction]
    n_draws: int
    n_failed: int  # draws whose scratch fit failed
    prior: str
    notes: list[str] = field(default_factory=list)


def unusable_mask(prior: Prior, src: str, n: np.ndarray, d_f: np.ndarray) -> np.ndarray:
    """True where the prior's runs gave no usable D_T: a point inside the prior's measured (N, D_F)
    grid takes the outcome of the nearest point measured (in ln N and ln D_F, each over its
    span); outside that grid the law is assumed to hold."""
    seen = prior.seen.get(src)
    if not seen:
        return np.zeros(len(n), bool)
    pts = np.log(np.array([(a, b) for a, b, _ in seen], float))
    usable = np.array([u for *_, u in seen], bool)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    q = np.log(np.column_stack([n, d_f]).astype(float))
    inside = np.all((q >= lo - 1e-9) & (q <= hi + 1e-9), axis=1)
    nearest = np.argmin((((q[:, None, :] - pts[None]) / span) ** 2).sum(axis=2), axis=1)
    return inside & ~usable[nearest]


def simulate_runs(prior: Prior, design: Design, rng: np.random.Generator) -> Runs:
    """One draw of the grid's runs: every size x D (scratch) and x D_F per source, R seeds each
    (less the fine-tuned points where the prior's runs gave no usable D_T)."""
    surf = SURFACES[prior.form]
    n_s, d_s = (a.ravel() for a in np.meshgrid(design.sizes, design.scratch_d, indexing="ij"))
    n, d, d_t, init = [n_s], [d_s], [np.zeros(len(n_s))], [np.array(["scratch"] * len(n_s))]
    cap = dict(zip(design.sizes, design.pretrain_tokens or (np.inf,) * len(design.sizes)))
    tau = [np.zeros(len(n_s))]
    for src, law in prior.laws.items():
        n_f, d_f = (a.ravel() for a in np.meshgrid(design.sizes, design.d_f, indexing="ij"))
        keep = ~unusable_mask(prior, src, n_f, d_f)
        n_f, d_f = n_f[keep], d_f[keep]
        n.append(n_f), d.append(d_f), init.append(np.array([src] * len(n_f)))
        d_t.append(law["k"] * d_f ** law["alpha"] * n_f ** law["beta"])
        tau.append(np.full(len(n_f), prior.misfit.get(src, 0.0)))
    n, d, d_t, init, tau = (np.concatenate(a) for a in (n, d, d_t, init, tau))
    eps = rng.standard_normal(len(n) * design.replicates)  # seed noise, one draw per run
    if np.any(tau > 0):  # lack of fit: one draw per point, shared by its seeds
        d_t = d_t * np.exp(tau * rng.standard_normal(len(n)))
    d_e = d + np.minimum(d_t, np.array([cap.get(x, np.inf) for x in n]))
    n, d, d_e, init = (np.tile(a, design.replicates) for a in (n, d, d_e, init))
    kind = np.where(init == "scratch", "scratch", init)
    sigma = np.array([float(prior.noise.sigma(k, x)) for k, x in zip(kind, d)])
    loss = type(surf).loss(prior.surface, n, d_e) * np.exp(sigma * eps)
    return Runs(n, d, loss, init)


def fast_options(low_data_fraction: float = 0.1) -> AnalysisOptions:
    """The report's fit with fewer starts and no bootstrap or cross-checks: the same math."""
    return AnalysisOptions(fit=FitOptions(n_screen=16, n_jobs=1), curve_starts=6,
                           bootstrap=BootstrapOptions(n_resamples=0), other_form=False,
                           varpro=False, low_data_fraction=low_data_fraction)


def _one_draw(data: tuple, row: np.ndarray) -> np.ndarray:
    """alpha, beta, log10 k, R^2, law residual variance, low-data share per source, for design
    row[0] and draw seed row[1]."""
    prior, designs, warms, options, sources = data
    design = designs[int(row[0])]
    runs = simulate_runs(prior, design, np.random.default_rng([int(row[1]), 7]))
    out = np.full(W * len(sources), np.nan)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # wild draws overflow on the way to a fit
            est = estimate_points(runs, options, warms[int(row[0])])
    except (FitError, ValueError, np.linalg.LinAlgError, ArithmeticError):
        return out
    for i, src in enumerate(sources):
        t = est.transfer.get(src)
        if est.effective is not None:
            sel = est.source == src
            out[W * i + 5] = float(np.mean(est.effective.low_data[sel]))
        if t is not None and t.status == "ok" and t.k > 0:
            out[W * i: W * i + 5] = (t.alpha, t.beta, np.log10(t.k), t.r2_log,
                                     law_residual_var(subset(est.effective, est.source == src), t))
    return out


def law_residual_var(eff, law) -> float:
    """Variance of ln D_T around the headline law over the points it used (3 parameters)."""
    used = law.used
    pred = np.log(law.k) + law.alpha * np.log(eff.d_f[used]) + law.beta * np.log(eff.n[used])
    res = np.log(eff.d_t[used]) - pred
    return float(np.sum(res ** 2) / max(1, len(res) - 3))


_WARM: dict = {}  # warm starts fitted in this process (the search's stages share them), by _warm_key


def _warm_key(prior: Prior, design: Design, options: AnalysisOptions) -> tuple:
    """What the warm start of a design's draws depends on: the surface, the forms and the scratch
    grid, not the laws, D_F, seeds or pre-training budgets (the demo's 324 candidate designs share
    36 such fits)."""
    return (prior.form, tuple(sorted(prior.surface.items())), options.form, options.curve_form,
            design.sizes, design.scratch_d)


def _fit_warm(prior: Prior, design: Design, options: AnalysisOptions) -> WarmStart | None:
    """The fit of the design's noiseless scratch runs (surface and per-N curves, all a draw's fit
    starts from, as every bootstrap resample starts from the full-data fit); None where the surface
    cannot be fitted (the draws then start from the grid). The surface starts at the prior's own
    (where noiseless runs put the optimum), or from the form's grid where that start leaves a
    residual (e.g. outside the bounds); the curves from the full grid of starts."""
    n, d = (a.ravel() for a in np.meshgrid(design.sizes, design.scratch_d, indexing="ij"))
    loss = type(SURFACES[prior.form]).loss(prior.surface, n, d)
    form, X, y, fit = SURFACES[options.form], features(n, d), np.log(loss), FitOptions(n_jobs=1)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            surface = None
            if prior.form == options.form:
                surface = fit_form(form, X, y, fit, starts=form.from_natural(prior.surface))
            if surface is None or not (surface.ok and surface.objective < 1e-6):
                surface = fit_form(form, X, y, fit)
            if not surface.ok:
                return None
            curves = fit_per_n_curves(curve_for(options.curve_form, options.form), n, d, loss,
                                      replace(fit, n_screen=AnalysisOptions().curve_starts))
    except (FitError, ValueError, np.linalg.LinAlgError, ArithmeticError):
        return None
    return WarmStart(surface.theta, {k: f.theta for k, f in curves.fits.items()})


def _fit_warm_row(args: tuple):
    return _fit_warm(*args)


def warm_starts(prior: Prior, designs: list[Design], options: AnalysisOptions, n_jobs: int = CORES) -> list:
    """Each design's warm start (None where its noiseless fit fails), each distinct fit made once
    in this process, on `n_jobs` processes."""
    keys = [_warm_key(prior, d, options) for d in designs]
    todo = {k: d for k, d in zip(keys, designs) if k not in _WARM}
    args = [(prior, d, options) for d in todo.values()]
    if n_jobs > 1 and len(args) > 1:
        ctx = mp.get_context(BootstrapOptions().mp_context)
        with cf.ProcessPoolExecutor(max_workers=min(n_jobs, len(args)), mp_context=ctx) as pool:
            fitted = list(pool.map(_fit_warm_row, args))
    else:
        fitted = [_fit_warm(*a) for a in args]
    _WARM.update(zip(todo, fitted))
    return [_WARM[k] for k in keys]


def _summarise(s: np.ndarray, n_draws: int, ratio: dict[str, float]) -> SourcePrediction:
    """One source's draws (n_draws, W) -> the predicted widths (times the bootstrap's `ratio`)
    and probabilities."""
    ok = np.all(np.isfinite(s[:, :3]), axis=1)
    est = s[ok]
    low = float(np.nanmean(s[:, 5])) if np.isfinite(s[:, 5]).any() else float("nan")
    if len(est) < 4:
        return SourcePrediction({q: np.inf for q in QUANTITIES}, {q: np.nan for q in QUANTITIES},
                                0.0, float("nan"), float("nan"), low, int(ok.sum()))
    lo, hi = np.percentile(est[:, :3], [2.5, 97.5], axis=0)
    width = {q: w * ratio.get(q, 1.0) for q, w in zip(QUANTITIES, (hi - lo).tolist())}
    resolved = float(np.sum(est[:, 1] - width["beta"] / 2 > 0)) / n_draws  # failed draws resolve nothing
    return SourcePrediction(width, dict(zip(QUANTITIES, np.median(est[:, :3], axis=0).tolist())),
                            resolved, float(np.nanmean(est[:, 3])), float(np.nanmean(est[:, 4])),
                            low, int(ok.sum()))


def predict_many(prior: Prior, designs: list[Design], n_draws: int = 64, seed: int = 0,
                 options: AnalysisOptions | None = None, n_jobs: int = CORES,
                 progress: Callable[[int], None] | None = None) -> list[Prediction]:
    """Simulate `n_draws` sweeps of each design under `prior` (one worker pool for all of them:
    a budget search prices ~100 designs) and summarise the fits per source."""
    options = options or fast_options()
    sources = sorted(prior.laws)
    draws = seed * 1_000_003 + np.arange(n_draws)
    rows = np.array([(i, d) for i in range(len(designs)) for d in draws], dtype=np.int64)
    warms = warm_starts(prior, designs, options, n_jobs)
    samples = run_bootstrap(_one_draw, (prior, designs, warms, options, sources), rows,
                            BootstrapOptions(n_jobs=n_jobs, n_chunks=min(len(rows), 8 * n_jobs + 8 * len(designs))),
                            progress)
    out = []
    for i, design in enumerate(designs):
        block = samples[i * n_draws:(i + 1) * n_draws]
        notes = ["D_T capped at each size's pre-training tokens"] if design.pretrain_tokens else []
        out.append(Prediction({src: _summarise(block[:, W * j: W * j + W], n_draws,
                                               prior.width_ratio.get(src, {}))
                               for j, src in enumerate(sources)}, n_draws,
                              int(np.all(np.isnan(block), axis=1).sum()), prior.label, notes))
    return out


def predict(prior: Prior, design: Design, n_draws: int = 64, seed: int = 0,
            options: AnalysisOptions | None = None, n_jobs: int = CORES,
            progress: Callable[[int], None] | None = None) -> Prediction:
    """`predict_many` for one design."""
    return predict_many(prior, [design], n_draws, seed, options, n_jobs, progress)[0]


def transfer_seen(est, src: str) -> tuple[tuple[float, float, bool], ...]:
    """(N, D_F, usable) of every fine-tuned point of `src` in an estimate: usable when its D_T is
    finite and positive (not ossified, not below the curve's floor)."""
    sel = est.source == src
    eff = est.effective
    ok = np.isfinite(eff.d_t[sel]) & (eff.d_t[sel] > 0) & ~eff.unreachable[sel]
    return tuple((float(a), float(b), bool(u)) for a, b, u in zip(eff.n[sel], eff.d_f[sel], ok))


def prior_and_design_of(analysis) -> tuple[Prior, Design]:
    """The world as a finished fit measured it, and the grid it ran: the planner's verdict on a
    sweep ("with the noise measured here, this grid resolves alpha to +-x")."""
    est = analysis.estimate
    laws = {src: {"k": t.k, "alpha": t.alpha, "beta": t.beta} for src, t in est.transfer.items()
            if t.status == "ok" and t.k > 0}
    observed = {src: law_residual_var(subset(est.effective, est.source == src), est.transfer[src])
                for src in laws}
    design = design_of(analysis)
    prior = Prior(analysis.options.form, dict(est.surface.params), laws, analysis.noise,
                  f"this fit; noise {analysis.noise.source}", law_residual_var=observed,
                  seen={src: transfer_seen(est, src) for src in laws}, design=design)
    return prior, design


def design_of(analysis) -> Design:
    """The grid a fit ran: its sizes, scratch D, D_F and seeds a point (the median)."""
    pts, reps = analysis.points, analysis.replicates
    sc = pts.scratch
    return Design(tuple(np.unique(pts.n).tolist()), tuple(np.unique(pts.d[sc]).tolist()),
                  tuple(np.unique(pts.d[~sc]).tolist()), int(np.median(reps.count)))


# ---- calibration ----------------------------------------------------------------------------------

def _finetune_noise_unmeasured(prior: Prior, src: str) -> bool:
    """Without replicates the only noise measured is the scratch surface's residual scatter: what a
    fine-tuned run's loss scatters by is not measured at all."""
    return prior.noise.source == "residuals" and src not in prior.noise.kinds


FLOOR_FRACTION = 1e-3  # the smallest fine-tune sigma `calibrate_scatter` sets, times scratch's


def calibrate_scatter(prior: Prior, design: Design, n_draws: int = 64, seed: int = 0,
                      n_jobs: int = CORES) -> Prior:
    """Match each source's simulated scatter of ln D_T around its law to the scatter the prior's
    fit observed (`law_residual_var`); the simulation otherwise carries only seed noise.

    - Too little simulated scatter: the rest is lack of fit of the law (misfit tau, added to ln D_T
      per point): tau^2 = observed - simulated.
    - Too much, where the fine-tuned runs' noise was not measured (no replicates: the scratch
      surface's residual scatter stands in for every run, and it mixes in the form's misfit): the
      fine-tune sigma becomes f x the scratch sigma, f from simulating with f = 1 and f ~ 0 and
      taking the variance as v0 + f^2 (v1 - v0) (first-order propagation), within [1e-3, 1].
      When even f = 1e-3 leaves more scatter than observed (the scratch noise alone, through the
      curves, scatters ln D_T more), f stays at 1e-3 and `scatter` says so (`floor_reached`).
      The scratch noise is kept: its size is what moves the per-N curves, as the bootstrap's
      resampling of scratch points does.
    Measured noise (replicates, or `--noise`) is never changed. The match is made on the grid the
    prior's fit ran (`prior.design`) when known, else on `design`."""
    if not prior.law_residual_var:
        return prior
    design = prior.design or design
    clean = replace(prior, misfit={})
    base = predict(clean, design, n_draws, seed, n_jobs=n_jobs)
    free = [s for s in prior.law_residual_var if _finetune_noise_unmeasured(prior, s)
            and s in base.sources and np.isfinite(base.sources[s].residual_var)
            and prior.law_residual_var[s] < base.sources[s].residual_var]
    kinds = dict(prior.noise.kinds)
    scatter = {s: {"observed": float(v), "simulated": float(base.sources[s].residual_var)
                   if s in base.sources else float("nan")} for s, v in prior.law_residual_var.items()}
    if any(_finetune_noise_unmeasured(prior, s) for s in prior.law_residual_var):
        # every unmeasured source gets its own kind, so a lowered one is never another's fallback
        # (NoiseModel.sigma falls back to any fine-tune kind before scratch)
        kinds.update({s: prior.noise.kinds["scratch"] for s in prior.law_residual_var
                      if _finetune_noise_unmeasured(prior, s)})
    if free:
        scratch = prior.noise.kinds["scratch"]
        tiny = replace(scratch, a=scratch.a + np.log(FLOOR_FRACTION))
        quiet = predict(replace(clean, noise=replace(prior.noise, kinds={**kinds, **{s: tiny for s in free}})),
                        design, n_draws, seed, n_jobs=n_jobs)
        for s in free:
            v1, v0 = base.sources[s].residual_var, quiet.sources[s].residual_var
            f2 = (prior.law_residual_var[s] - v0) / (v1 - v0) if np.isfinite(v0) and v1 > v0 else 0.0
            f = float(np.clip(np.sqrt(max(f2, 0.0)), FLOOR_FRACTION, 1.0))
            kinds[s] = replace(scratch, a=scratch.a + np.log(f), pooled=scratch.pooled * f)
            scatter[s].update(simulated_at_floor=float(v0), finetune_sigma=float(scratch.pooled * f),
                              floor_reached=bool(f <= FLOOR_FRACTION))
    misfit = {}
    for src, observed in prior.law_residual_var.items():
        sim = base.sources[src].residual_var if src in base.sources else float("nan")
        misfit[src] = float(np.sqrt(max(0.0, observed - sim))) if np.isfinite(sim) and src not in free else 0.0
    return replace(prior, misfit=misfit, noise=replace(prior.noise, kinds=kinds),
                   scatter=scatter)


def _boot_widths(data: tuple, row: np.ndarray) -> np.ndarray:
    """The report's bootstrap interval widths (alpha, beta, log10 k per source) of one draw."""
    prior, design, resamples, sources = data
    runs = simulate_runs(prior, design, np.random.default_rng([int(row[0]), 7]))
    out = np.full(3 * len(sources), np.nan)
    opts = AnalysisOptions(fit=FitOptions(n_jobs=1), other_form=False, varpro=False,
                           bootstrap=BootstrapOptions(n_resamples=resamples, seed=int(row[0]), n_jobs=1))
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = analyse(runs, opts).ci95
    except (FitError, ValueError, np.linalg.LinAlgError, ArithmeticError):
        return out
    for i, src in enumerate(sources):
        for j, key in enumerate(("alpha", "beta", "ln_k")):
            lo, hi = ci.get(f"transfer.{src}.{key}", (np.nan, np.nan))
            out[3 * i + j] = (hi - lo) / (np.log(10) if key == "ln_k" else 1)
    return out


def calibrate_bootstrap(prior: Prior, design: Design, n_draws: int = 4, resamples: int = 40,
                        seed: int = 0, n_jobs: int = CORES) -> Prior:
    """Experimental (`plan --calibrate K`, off by default): how much wider the report's bootstrap
    is than the spread of the estimates, as the median ratio over a few simulated sweeps fitted
    with the bootstrap itself. Measured 2026-12-02 with 4 draws it did not help: on a synthetic
    design where the bootstrap is ~1.25x wider it came out 0.87 (noise), and on paper-cpu it fixed
    `text` but pushed `text+code` outside 1.5x (docs/planner.md)."""
    if n_draws <= 0:
        return prior
    sources = sorted(prior.laws)
    base = predict(replace(prior, width_ratio={}), design, 64, seed, n_jobs=n_jobs)
    rows = (seed * 1_000_003 + 500_000 + np.arange(n_draws))[:, None]
    widths = run_bootstrap(_boot_widths, (prior, design, resamples, sources), rows,
                           BootstrapOptions(n_jobs=n_jobs, n_chunks=n_draws))
    ratio = {}
    for i, src in enumerate(sources):
        ratio[src] = {}
        for j, q in enumerate(QUANTITIES):
            col = widths[:, 3 * i + j]
            col = col[np.isfinite(col)]
            w = base.sources[src].width[q]
            ratio[src][q] = float(np.median(col) / w) if len(col) and np.isfinite(w) and w > 0 else 1.0
    return replace(prior, width_ratio=ratio)
