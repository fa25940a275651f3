"""Fitting a prior to what its own fit observed, before the planner simulates with it.

`calibrate_scatter` (always run by `plan`, the report's verdict and benchmarks/planner_check.py)
matches the law's simulated scatter to the observed one; `calibrate_bootstrap` (`plan --calibrate
K`, experimental) measures how much wider the report's bootstrap is than the spread of the
estimates. Both simulate through design.predict, the planner's one simulation.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from .analysis import AnalysisOptions, analyse
from .bootstrap import CORES, BootstrapOptions, run_bootstrap
from .design import QUANTITIES, Design, Prior, predict, simulate_runs
from .robust import FitError, FitOptions


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
