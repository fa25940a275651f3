"""Turn a fit into its outputs: fit.json (docs/interface.md keys, unrounded), points.csv, report.md, PNGs.

`fit_runs(df, out_dir, options)` is what the CLI and the aggregate flow call: validated runs table
in, fit.json dict out, files written into out_dir.  The report carries a fitting checklist (form,
loss, delta, optimiser, grid, bootstrap, exclusions, conventions, units) and a rollout
extrapolation check, so a reader can reproduce or criticise the fit.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from transfer_laws.tasks.common.version import VERSION
from transfer_laws.tasks.fitting.analysis import (
    SCRATCH,
    Analysis,
    AnalysisOptions,
    Runs,
    analyse,
    finetune_grid,
    measured_multiplier,
    smallest_d_f,
    subset,
    zero_shot_values,
)
from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
from transfer_laws.tasks.fitting.curve_forms import curve_for
from transfer_laws.tasks.fitting.design import design_of, law_residual_var, transfer_seen
from transfer_laws.tasks.fitting.effective_data import PerNCurves, effective_data
from transfer_laws.tasks.fitting.forms import SURFACES, features
from transfer_laws.tasks.fitting.noise import noise_dict
from transfer_laws.tasks.fitting.results import FitReport, FitStatus, Multiplier, ScratchFit, TransferLaw
from transfer_laws.tasks.fitting.robust import FitResult
from transfer_laws.tasks.fitting.transfer import TransferFit, fit_transfer, k_in_other_units, select_points
from transfer_laws.tasks.fitting.verdicts import Judgement, Verdict, judge_law, judge_surface, law_too_small
from transfer_laws.tasks.report.curve_table import curve_forms_entry, curve_forms_md
from transfer_laws.tasks.report.html import write_html
from transfer_laws.tasks.report.runs_csv import to_runs


def _ci(analysis: Analysis, prefix: str, keys) -> dict[str, list[float]]:
    return {k: list(analysis.ci95[f"{prefix}.{k}"]) for k in keys if f"{prefix}.{k}" in analysis.ci95}


def _fit_dict(fit: FitResult) -> dict:
    return {"params": fit.params, "objective": fit.objective, "grad_norm": fit.grad_norm,
            "status": fit.status, "message": fit.message, "n_starts": fit.n_starts,
            "n_points": fit.n_points}


def _cov(analysis: Analysis, src: str) -> list[list[float]] | None:
    if analysis.samples is None:
        return None
    cols = [analysis.names.index(f"transfer.{src}.{k}") for k in ("ln_k", "alpha", "beta")]
    s = analysis.samples[:, cols]
    s = s[np.all(np.isfinite(s), axis=1)]
    return np.cov(s.T).tolist() if len(s) > 3 else None


def _global_law(analysis: Analysis) -> dict:
    """The law with D_E from the global surface only (the secondary method)."""
    est, opt, runs = analysis.estimate, analysis.options, analysis.points
    if est.effective is None:
        return {}
    sc = runs.scratch
    no_curves = PerNCurves(curve_for(opt.curve_form, opt.form), {}, {})
    eff = effective_data(opt.form, est.surface.params, no_curves, runs.n[~sc], runs.d[~sc],
                         runs.loss[~sc], (float(runs.d[sc].min()), float(runs.d[sc].max())),
                         opt.low_data_fraction)
    out = {}
    for src in est.transfer:
        t = fit_transfer(subset(eff, est.source == src), opt.transfer)
        out[src] = {"k": t.k, "alpha": t.alpha, "beta": t.beta, "method": t.method,
                    "joint": t.joint, "n_points": t.n_points, "r2_log": t.r2_log,
                    "excluded": t.excluded}
    return out


def rollout_check(runs, options: AnalysisOptions, full: Analysis) -> dict:
    """Fit on the smallest model sizes, predict the larger ones; report the errors.

    The scratch surface fitted on the small sizes predicts the held-out sizes' scratch losses; its
    transfer law predicts the D_T that the full fit measured for the held-out fine-tuned runs.
    """
    sizes = np.unique(runs.n[runs.scratch])
    n_hold = max(1, len(sizes) // 3)
    train_sizes = sizes[: len(sizes) - n_hold]
    if len(train_sizes) < 2:
        return {"status": "skipped", "reason": f"{len(sizes)} scratch sizes: need >= 3"}
    cut = train_sizes.max()
    train = runs.take(np.flatnonzero(runs.n <= cut))
    opts = replace(options, bootstrap=BootstrapOptions(n_resamples=0), other_form=False,
                   varpro=False, curve_rollout=False)
    try:
        small = analyse(train, opts)
    except Exception as exc:  # noqa: BLE001 - a failed rollout is reported, not fatal
        return {"status": "failed", "reason": str(exc), "train_max_N": float(cut)}
    held = runs.scratch & (runs.n > cut)
    pred = SURFACES[options.form].log_loss(small.estimate.surface.theta,
                                           features(runs.n[held], runs.d[held]))
    rel = np.exp(pred) / runs.loss[held] - 1
    held_sizes = sizes[sizes > cut]
    out = {"status": "ok", "train_max_N": float(cut),
           "held_out_sizes": {"count": int(len(held_sizes)), "min": float(held_sizes.min()),
                              "max": float(held_sizes.max())},
           "scratch_loss": {"n_points": int(held.sum()),
                            "median_abs_rel_error": float(np.median(np.abs(rel))),
                            "max_abs_rel_error": float(np.max(np.abs(rel)))}}
    for src, law in small.estimate.transfer.items():
        if law.status != "ok" or src not in full.estimate.transfer:
            continue
        eff = subset(full.estimate.effective, full.estimate.source == src)
        used, _ = select_points(eff, options.transfer)
        big = used & (eff.n > cut)
        if not big.any():
            continue
        lp = np.log(law.k) + law.alpha * np.log(eff.d_f[big]) + law.beta * np.log(eff.n[big])
        err = lp - np.log(eff.d_t[big])
        out.setdefault("transfer", {})[src] = {
            "n_points": int(big.sum()), "median_abs_ln_error": float(np.median(np.abs(err))),
            "max_abs_ln_error": float(np.max(np.abs(err))),
            "law_small": {"k": law.k, "alpha": law.alpha, "beta": law.beta}}
    return out


def checklist(analysis: Analysis, excluded: list[dict], runs, units: str) -> dict:
    opt, fo = analysis.options, analysis.options.fit
    form = SURFACES[opt.form]
    return {
        "form": opt.form, "form_params_internal": list(form.names),
        "loss": "Huber on ln(L_hat) - ln(L), summed over runs, divided by delta",
        "delta": fo.delta,
        "optimiser": {"method": "scipy L-BFGS-B, analytic gradient", "ftol": fo.ftol,
                      "gtol": fo.gtol, "maxiter": fo.maxiter,
                      "gradient_check": f"max|projected grad| <= {fo.grad_tol} * max(1, objective)"},
        "grid": {"points": int(len(form.grid())), "mode": fo.grid_mode, "n_screen": fo.n_screen,
                 "per_N_curve_starts": opt.curve_starts},
        "bootstrap": {"n_resamples": opt.bootstrap.n_resamples, "seed": opt.bootstrap.seed,
                      "n_failed": analysis.n_failed,
                      "resampling": ("points, stratified by (init, N)" if analysis.estimate.transfer
                                     else "points, with replacement")
                      + ("; within each point, its seeds with replacement"
                         if analysis.replicates is not None and analysis.replicates.any else ""),
                      "refit": "every quantity refitted per resample from the full-data optimum",
                      "interval": "percentile 2.5-97.5"},
        "excluded_points": excluded,
        "conventions": {"N": "non-embedding parameters (Kaplan convention)",
                        "flops": "6 N D per run when given",
                        "D(N)": "99 % rule: L(N, inf) = 0.99 L(N, D(N)) on the fitted surface",
                        "low_data_fraction": opt.low_data_fraction,
                        "effective_data": "D_E by inverting the same-N scratch curve (primary); "
                                          "the global surface where a size has no curve and as "
                                          "the secondary estimate (transfer_global)",
                        "law": "fit the fits (App. C) headline; joint least squares on ln D_T"},
        "data_units": {"D": units, "k": f"in the units of D ({units})",
                       "chars_per_token": analysis.estimate.chars_per_token,
                       "bytes_per_token": analysis.estimate.bytes_per_token},
    }


@dataclass(frozen=True)
class FitOutcome:
    """A finished fit before anything is written: fit.json's content (typed, strict JSON values), the
    points table, and the analysis and runs its figures are drawn from."""

    report: FitReport
    points: pd.DataFrame
    analysis: Analysis
    runs: Runs

    @cached_property
    def fit(self) -> dict:
        """fit.json's content: the report's to_json()."""
        return self.report.to_json()


def fit_runs(df: pd.DataFrame, out_dir: str | Path | None, options: AnalysisOptions,
             excluded_rows: pd.DataFrame | None = None, excluded_reason: str = "",
             progress: Callable[[int], None] | None = None, figures: bool = True,
             rollout: bool = True, units: str = "tokens", plan_draws: int = 0,
             about: dict | None = None) -> dict:
    """Fit a validated runs table; write fit.json, points.csv, report.md and PNGs into out_dir (none
    when it is None). With `plan_draws` > 0 the planner simulates this grid under this fit and its
    measured noise, and the report says how precisely the grid can resolve the law (`planner`).
    `about`: what the report's title names (sweep, target, sources, config_hash, runs)."""
    outcome = fit_table(df, options, excluded_rows, excluded_reason, progress, rollout, units, plan_draws,
                        about)
    return outcome.fit if out_dir is None else write_fit(outcome, out_dir, figures)


def fit_table(df: pd.DataFrame, options: AnalysisOptions, excluded_rows: pd.DataFrame | None = None,
              excluded_reason: str = "", progress: Callable[[int], None] | None = None,
              rollout: bool = True, units: str = "tokens", plan_draws: int = 0,
              about: dict | None = None) -> FitOutcome:
    """The fit of a validated runs table (see fit_runs), nothing written."""
    runs = to_runs(df, units)
    options = replace(options, curve_rollout=True)  # report.md compares the curve forms
    analysis = analyse(runs, options, progress)
    est = analysis.estimate
    excluded = [] if excluded_rows is None else [
        {"row_after_validation": int(i) + 1, "N": float(r.N), "D": float(r.D), "init": r.init,
         "loss": float(r.loss), "reason": excluded_reason}
        for i, r in zip(excluded_rows.index, excluded_rows.itertuples())]
    if df.attrs.get("exact_duplicates_dropped"):
        excluded.append({"rows": int(df.attrs["exact_duplicates_dropped"]),
                         "reason": "exact duplicate of an earlier row (same run, same loss)"})
    s = est.surface
    scratch = ScratchFit(options.form, s.params, s.objective, s.grad_norm, FitStatus(s.status), s.message,
                         s.n_starts, s.n_points, _ci(analysis, "scratch", s.params))
    report = FitReport(  # each part computed in fit.json's order
        version=VERSION, about={**(about or {}), "date": date.today().isoformat(), "runs": int(len(df))},
        scratch=scratch, scratch_forms=scratch_forms_entry(analysis, scratch),
        bootstrap={"n_resamples": options.bootstrap.n_resamples, "seed": options.bootstrap.seed,
                   "n_failed": analysis.n_failed},
        transfer={src: transfer_entry(analysis, src, t, units) for src, t in est.transfer.items()},
        transfer_global=_global_law(analysis), zero_shot=zero_shot_entry(analysis),
        multiplier=multiplier_entry(analysis), noise=noise_entry(analysis),
        planner=planner_verdict(analysis, plan_draws) if plan_draws > 0 and analysis.noise.kinds and any(
            t.status == FitStatus.OK for t in est.transfer.values()) else None,
        curve_forms=curve_forms_entry(analysis.curve_choice), per_n_curves=_per_n_curves(analysis),
        points="points.csv",  # relative to fit.json: the folder may be moved or renamed
        grid=_grid(analysis),
        # the resolved options: with curve_form auto, the small-size fit inverts the form chosen here
        rollout=rollout_check(runs, analysis.options, analysis) if rollout else {"status": "skipped"},
        checklist=checklist(analysis, excluded, runs, units))
    # strict JSON (numpy as Python numbers, NaN and inf as null), typed again: what fit.json will hold
    strict = _finite_or_null(json.loads(json.dumps(judged(report).to_json(), default=_json_default)))
    return FitOutcome(FitReport.from_json(strict), points_table(analysis, df), analysis, runs)


def scratch_forms_entry(analysis: Analysis, scratch: ScratchFit) -> dict:
    """fit.json's `scratch_forms`: the chosen form with its intervals, the other as a point estimate
    (or why it was not fitted), and the variable-projection cross-check of Chinchilla."""
    est = analysis.estimate
    forms = {scratch.form: {"params": scratch.params, "ci95": scratch.ci95}}
    for name, other in analysis.other_forms.items():
        forms[name] = {**_fit_dict(other), "ci95": {},
                       "note": f"point estimate only; use --form {name} for intervals"}
    for name, why in analysis.other_forms_skipped.items():
        forms[name] = {"params": {}, "ci95": {}, "status": FitStatus.NOT_FITTED.value, "message": why,
                       "n_points": est.surface.n_points}
    if analysis.varpro is not None:
        forms["chinchilla"]["varpro"] = {"params": analysis.varpro.params,
                                         "sse_relative": analysis.varpro.sse,
                                         "n_grid": analysis.varpro.n_grid}
        pol = analysis.varpro_polished
        forms["chinchilla"]["varpro_polished"] = {
            **_fit_dict(pol), "agrees_with_grid": bool(pol.objective >= est.surface.objective
                                                       - 1e-9 * max(1, est.surface.objective))}
    return forms


def transfer_entry(analysis: Analysis, src: str, t: TransferFit, units: str) -> TransferLaw:
    """fit.json's `transfer.<src>`: the law with its intervals; when fitted also its scatter and where
    transfer was seen (the planner's prior), its points' span (predict's range) and k in other units."""
    est, fitted = analysis.estimate, {}
    ci95 = _ci(analysis, f"transfer.{src}", ("k", "alpha", "beta"))
    joint = {**t.joint, "r2_log": t.r2_log_joint, "ci95": {
        k: list(analysis.ci95.get(f"transfer.{src}.joint_{k}", (math.nan,) * 2)) for k in ("k", "alpha", "beta")}}
    if t.status == FitStatus.OK:
        mine = subset(est.effective, est.source == src)
        fitted["residual_var_log"] = law_residual_var(mine, t)
        if t.used is not None and t.used.any():  # predict's range: the law's own points only
            fitted["fitted_range"] = {"N": [float(mine.n[t.used].min()), float(mine.n[t.used].max())],
                                      "D_F": [float(mine.d_f[t.used].min()), float(mine.d_f[t.used].max())]}
        seen = transfer_seen(est, src)
        fitted["d_t_observed"] = {"usable": [[a, b] for a, b, u in seen if u],
                                  "unusable": [[a, b] for a, b, u in seen if not u]}
        for unit, per in (("chars", est.chars_per_token), ("bytes", est.bytes_per_token)):
            if per is not None:  # k_u = k (u per unit of D)^(1 - alpha)
                fitted[f"k_{unit}"] = k_in_other_units(t.k, t.alpha, per)
                ci95[f"k_{unit}"] = list(analysis.ci95.get(f"transfer.{src}.k_{unit}", (math.nan,) * 2))
        if analysis.marks is not None and t.used is not None:
            useless = analysis.marks.uninformative[est.source == src]
            fitted["n_informative"] = int(np.sum(t.used & ~useless))
    return TransferLaw(t.k, t.alpha, t.beta, t.method, ci95, t.n_points, t.r2_log, FitStatus(t.status), t.message,
                       t.excluded, t.per_d_f, joint, _cov(analysis, src), units, **fitted)


def _per_n_curves(analysis: Analysis) -> dict | None:
    """The per-N scratch curves inverted for D_E (the primary method), where there are any."""
    curves = analysis.estimate.curves
    if curves is None:
        return None
    return {"form": curves.form.name,
            "fits": {repr(n): {"params": f.params, "status": f.status, "d_range": list(curves.d_range[n])}
                     for n, f in curves.fits.items()},
            "skipped": {repr(n): why for n, why in curves.skipped.items()}}


def _grid(analysis: Analysis) -> dict:
    """The grid the law's scatter was seen on: the planner's prior needs it."""
    grid = design_of(analysis)
    return {"sizes": list(grid.sizes), "scratch_d": list(grid.scratch_d), "d_f": list(grid.d_f),
            "replicates": grid.replicates}


def judged(report: FitReport) -> FitReport:
    """The report with the verdict of the scratch surface, of each other form's cross-fit and of each
    law and its parameters (tasks/fitting/verdicts.py), judged from fit.json's own numbers, so a
    committed fit.json gets the same verdicts as a fresh one."""
    s = report.scratch
    surface = judge_surface(s.form, s.params, s.ci95, s.n_points, s.status.value, s.message)
    forms = None if report.scratch_forms is None else {}
    for name, form in (report.scratch_forms or {}).items():
        if form.get("status") == FitStatus.NOT_FITTED:
            verdict = Judgement(Verdict.NOT_MEASURED, form["message"])
        else:
            verdict = surface if name == s.form else judge_surface(
                name, form["params"], form.get("ci95") or {}, form.get("n_points", s.n_points),
                form.get("status", FitStatus.OK.value), form.get("message", ""))
        forms[name] = {**form, "verdict": verdict.to_json()}
    laws = {}
    for src, law in report.transfer.items():
        verdict, each = judge_law(law.to_json())
        laws[src] = replace(law, verdict=verdict, verdicts=each)
    return replace(report, scratch=replace(s, verdict=surface), scratch_forms=forms, transfer=laws)


def write_fit(outcome: FitOutcome, out_dir: str | Path, figures: bool = True) -> dict:
    """Write fit.json, points.csv, report.md, bootstrap_samples.csv and (with `figures`) the PNGs
    into out_dir; returns fit.json's content as written."""
    report, analysis = outcome.report, outcome.analysis
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outcome.points.to_csv(out / "points.csv", index=False)
    figs = []
    if figures:
        from transfer_laws.tasks.report.fit_figures import write_figures
        figs = write_figures(analysis, outcome.runs, out)
    if analysis.samples is not None:
        pd.DataFrame(analysis.samples, columns=analysis.names).to_csv(out / "bootstrap_samples.csv", index=False)
        report = replace(report, bootstrap={**report.bootstrap, "samples": "bootstrap_samples.csv"})
    fit = report.to_json()
    (out / "report.md").write_text(report_md(fit, figs))
    write_html(out)
    (out / "fit.json").write_text(json.dumps(fit, indent=1, allow_nan=False))
    return fit


def _finite_or_null(o):
    """NaN and inf become null, so fit.json is strict JSON that any tool reads."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite_or_null(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite_or_null(v) for v in o]
    return o


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def planner_verdict(analysis: Analysis, draws: int) -> dict:
    """The planner's prediction for the grid that was run, under the law and noise measured."""
    from transfer_laws.tasks.fitting.design import calibrate_scatter, predict, prior_and_design_of

    fitted = {src: t.n_points for src, t in analysis.estimate.transfer.items() if t.status == FitStatus.OK}
    skipped = {src: why for src, n in fitted.items() if (why := law_too_small(n))}
    if len(skipped) == len(fitted):
        return {"draws": 0, "noise": analysis.noise.source, "sources": {}, "skipped": skipped}
    prior, design = prior_and_design_of(analysis)
    seed = analysis.options.bootstrap.seed
    prior = calibrate_scatter(prior, design, seed=seed)
    pred = predict(prior, design, n_draws=draws, seed=seed)
    return {"draws": draws, "noise": analysis.noise.source, "replicates": design.replicates, "skipped": skipped,
            "misfit_sd_log_d_t": prior.misfit,
            "finetune_sigma_matched": prior.matched_finetune_sigma,
            "law_scatter": prior.scatter,
            "curve_form": "current: the planner's world is the fitted surface, whose own per-N curve "
                          "its simulated fits invert",
            "unusable_points_left_out": {src: sum(not u for *_, u in pts)
                                            for src, pts in prior.seen.items()},
            "sources": {src: {"half_width": {q: p.width[q] / 2 for q in p.width},
                              "p_beta_resolved": p.p_beta_resolved, "r2_log": p.r2_log}
                        for src, p in pred.sources.items() if src not in skipped}}


def zero_shot_entry(analysis: Analysis) -> dict:
    """Per source: what the pre-trained model alone is worth (its zero-shot D_E, median over sizes,
    with the bootstrap's interval), and per D_F what fine-tuning added to it (D_E - D_E(0)); how
    many fine-tunes ended within noise of the zero-shot loss or before one pass over D_F. Empty
    where no zero-shot runs were measured."""
    est, marks, zs = analysis.estimate, analysis.marks, analysis.points.zero_shot
    if zs is None or est.effective is None or marks is None or est.zero_shot_d_e is None:
        return {}
    out = {}
    for src in sorted(est.transfer):
        grid = finetune_grid(est, [src]).get(src, [])
        vals = zero_shot_values(est, zs, src, grid)
        mine = zs.source == src
        ci = analysis.ci95.get(f"zero_shot.{src}.D_E")
        entry = {"D_E": vals[0], "ci95": _finite(ci), "n_sizes": int(mine.sum()),
                 "loss_by_N": {repr(float(n)): float(v) for n, v in zip(zs.n[mine], zs.loss[mine])},
                 "D_E_by_N": {repr(float(n)): float(v) for n, v in zip(zs.n[mine], est.zero_shot_d_e[mine])},
                 "noise_sigma_from": marks.sigma_from, "added": []}
        for d_f, value in zip(grid, vals[1:]):
            sel = (est.source == src) & np.isclose(est.effective.d_f, d_f)
            ci = _finite(analysis.ci95.get(f"added.{src}.{d_f!r}"))
            useless = int(marks.uninformative[sel].sum())
            entry["added"].append({
                "D_F": d_f, "estimate": value, "ci95": ci, "n_sizes": int(sel.sum()),
                "at_zero_shot": int(marks.at_zero_shot[sel].sum()),
                "first_epoch": int(marks.first_epoch[sel].sum()), "uninformative": useless,
                # half or more of its sizes measured the pre-trained model, not D_F
                "verdict": ("degenerate" if 2 * useless >= sel.sum() else
                            "resolved" if ci and ci[0] > 0 else "unresolved")})
        out[src] = entry
    return out


def multiplier_entry(analysis: Analysis) -> dict[str, Multiplier]:
    """Per source: the measured D_E/D_F at its smallest D_F (median over sizes) with the bootstrap's
    interval; `resolved` when the interval lies above 1 (pre-training measurably worth data)."""
    est, out = analysis.estimate, {}
    for src, d_f in smallest_d_f(est, sorted(est.transfer)).items():
        ci = analysis.ci95.get(f"multiplier.{src}.at_smallest_D_F")
        sizes = est.effective.n[(est.source == src) & np.isclose(est.effective.d_f, d_f)]
        out[src] = Multiplier(d_f, measured_multiplier(est, src, d_f), tuple(ci) if ci else None,
                              int(len(np.unique(sizes))), bool(ci is not None and ci[0] > 1.0))
    return out


def _g(x) -> str:
    """Three significant digits: the headline is read, not parsed (fit.json keeps full precision)."""
    return "—" if x is None else f"{x:.3g}"


def _finite(ci):
    """The interval, or None where the bootstrap gave none (null or NaN ends in fit.json)."""
    return list(ci) if ci and all(isinstance(c, (int, float)) and math.isfinite(c) for c in ci) else None


def _verdict(ci) -> str:
    """A sign is a finding only when the 95 % interval excludes 0."""
    if not ci or any(c is None or not math.isfinite(c) for c in ci):
        return "no interval"
    return "resolved" if ci[0] > 0.0 or ci[1] < 0.0 else "unresolved: spans 0"


def data_unit(fit: dict) -> str:
    """What D counts in this fit: tokens, or the unit `fit --unit` / `--units` named."""
    return ((fit.get("checklist") or {}).get("data_units") or {}).get("D") or "tokens"


def zero_shot_md(src: str, z: dict, u: str = "tokens") -> list[str]:
    """Two headline lines: the pre-trained model alone, and what fine-tuning added to it (`u`:
    what D counts)."""
    ci = z.get("ci95")
    span = f"{_g(ci[0])} – {_g(ci[1])}" if ci else "no interval"
    lines = [f"- `{src}`: the pre-trained model alone (zero-shot, before any fine-tuning) is worth "
             f"**{_g(z['D_E'])}** target {u} (D_E, median over {z['n_sizes']} sizes; 95 % interval {span})."]
    added = z.get("added") or []
    found = [a for a in added if a["verdict"] == "resolved"]
    idle = sum(a["at_zero_shot"] for a in added)
    early = sum(a["first_epoch"] for a in added)
    total = sum(a["n_sizes"] for a in added)
    marks = (f" {idle} of {total} fine-tuned points ended within noise of their zero-shot loss, "
             f"{early} were best before one pass over D_F or at step 1.") if total else ""
    if found:
        a = found[0]
        lines.append(f"- `{src}`: fine-tuning on D_F = {_g(a['D_F'])} {u} added **{_g(a['estimate'])}** "
                     f"target {u} beyond zero-shot (D_E − D_E(0), median over {a['n_sizes']} sizes; 95 % "
                     f"interval {_g(a['ci95'][0])} – {_g(a['ci95'][1])}): resolved above 0 (smallest such "
                     f"D_F; section Zero-shot)." + marks)
    elif added:
        lines.append(f"- `{src}`: fine-tuning on D_F = {_g(added[0]['D_F'])} – {_g(added[-1]['D_F'])} {u} "
                     "added nothing resolved beyond zero-shot (at no D_F does the interval of D_E − D_E(0) "
                     "lie above 0 with most sizes' fine-tunes informative): what transferred is the "
                     "pre-trained model itself." + marks)
    return lines


def headline_md(fit: dict) -> list[str]:
    """What the runs measured, each figure with its interval and whether it is resolved."""
    lines, u = ["\n## Headline\n"], data_unit(fit)
    for src, z in (fit.get("zero_shot") or {}).items():
        lines += zero_shot_md(src, z, u)
    for src, raw in (fit.get("multiplier") or {}).items():
        m = Multiplier.from_json(raw)
        ci = _finite(m.ci95)
        span = f"{_g(ci[0])} – {_g(ci[1])}" if ci else "no interval"
        lines.append(f"- `{src}`: fine-tuning on D_F = {_g(m.d_f)} {u} was worth "
                     f"**{_g(m.estimate)}x** as much data from scratch (D_E/D_F, median over "
                     f"{m.n_sizes} sizes; 95 % interval {span}"
                     + ("; zero-shot's worth included" if src in (fit.get("zero_shot") or {}) else "") + "): "
                     + ("resolved above 1." if m.resolved else "unresolved (interval reaches 1)."
                        if ci else "unresolved (no interval)."))
    for src, raw in fit["transfer"].items():
        law = TransferLaw.from_json(raw)
        if law.status != FitStatus.OK:
            lines.append(f"- `{src}` law: not fitted ({law.message}).")
            continue
        parts = []
        for k in ("alpha", "beta"):
            ci = _finite(law.ci95.get(k))
            span = f"{_g(ci[0])} – {_g(ci[1])}, width {_g(ci[1] - ci[0])}" if ci else "no interval"
            own = (law.verdicts or {}).get(k)  # the law's verdict rules (a degenerate law's too)
            verdict = _verdict(ci) if own is None else own.verdict.value + (
                ": spans 0" if own.verdict is Verdict.UNRESOLVED and ci and ci[0] <= 0 <= ci[1] else "")
            parts.append(f"{k} = {_g(getattr(law, k))} ({span}, {verdict})")
        lines.append(f"- `{src}` law D_T = k D_F^alpha N^beta: " + "; ".join(parts)
                     + f"; R² (log) {_g(law.r2_log)}."
                     + (f" **Law {law.verdict.verdict.value}**: {law.verdict.reason}." if law.verdict else ""))
    noise = fit.get("noise") or {}
    if noise.get("source"):
        sig = ", ".join(f"{kind} {_g(100 * k['pooled_sigma'])} %" for kind, k in noise["kinds"].items()
                        if k.get("pooled_sigma") is not None)
        lines.append(f"- Measured under noise from {noise['source']}: sd of ln(loss) {sig or '—'} "
                     "(section Noise).")
    return lines if len(lines) > 1 else []


def summary_lines(fit: dict) -> list[str]:
    """The summary and the headline as plain lines, for the console: what report.md says first, not
    float lists."""
    lines = [summary_md(fit)] + [line.removeprefix("- ") for line in headline_md(fit) if line.startswith("- ")]
    return [line.replace("**", "").replace("`", "") for line in lines if line]


def title_md(fit: dict) -> list[str]:
    """The title names the sources and the target; the line under it the sweep, config and date."""
    a = fit.get("about") or {}
    named = a.get("sources") or {s: "" for s in fit.get("transfer", {})}
    sources = ", ".join(f"`{s}`" + (f" ({c})" if c else "") for s, c in named.items()) or "no source"
    target = f"`{a['target']}`" if a.get("target") else "the target of " + (f"`{a['runs_file']}`" if a.get(
        "runs_file") else "the runs table")
    facts = [f"sweep `{a['sweep']}`" if a.get("sweep") else None,
             f"config hash `{a['config_hash']}`" if a.get("config_hash") else None,
             f"{a['family']} models" if a.get("family") else None,
             f"{a['tokenizer']} tokens" if a.get("tokenizer") else None,
             f"{a['runs']} runs" if a.get("runs") else None, a.get("date"),
             f"transfer-laws {fit.get('version', '0.1.0 (before versions were recorded)')}"]
    init = [f"From-scratch baselines: {a['scratch_init']}.\n"] if a.get("scratch_init") else []
    return [f"# Transfer from {sources} to {target}\n", " · ".join(f for f in facts if f) + "\n", *init]


def summary_md(fit: dict) -> str:
    """One paragraph in words: what was run, what it measured, and whether it may be quoted."""
    g, s, u = fit.get("grid") or {}, fit["scratch"], data_unit(fit)
    span = (f" over {len(g['sizes'])} model sizes (N = {_g(min(g['sizes']))} – {_g(max(g['sizes']))} "
            f"non-embedding parameters) and D = {_g(min(g['scratch_d']))} – {_g(max(g['scratch_d']))} {u}"
            if g.get("sizes") and g.get("scratch_d") else "")
    words = [f"{s['n_points']} from-scratch points{span} give the loss surface L(N, D), "
             f"{(s.get('verdict') or {}).get('verdict', s['status'])}."]
    for src, z in (fit.get("zero_shot") or {}).items():
        added = z.get("added") or []
        found = [a for a in added if a["verdict"] == "resolved"]
        words.append(f"Pre-trained on `{src}`, a model is worth about {_g(z['D_E'])} target {u} before any "
                     "fine-tuning; " + (f"fine-tuning on {_g(found[0]['D_F'])} {u} added about "
                                        f"{_g(found[0]['estimate'])} more." if found else
                                        "fine-tuning on the D_F grid added nothing the runs resolve."))
    for src, t in (fit.get("transfer") or {}).items():
        v = t.get("verdict")
        if v:
            words.append(f"The law D_T = k D_F^alpha N^beta from `{src}` is {v['verdict']}"
                         + (": quote alpha and beta with their intervals." if v["verdict"] == "resolved"
                            else f" ({v['reason']}): do not quote it as a finding."))
    noise = (fit.get("noise") or {}).get("source")
    if noise:
        words.append(f"Every interval is a 95 % bootstrap interval under noise measured from {noise}.")
    return " ".join(words)


def noise_entry(analysis: Analysis) -> dict:
    """fit.json's `noise`: the model, and how many points had replicates."""
    reps = analysis.replicates
    return {**noise_dict(analysis.noise), "replicated_points": int(np.sum(reps.count > 1)),
            "points": int(len(reps.count)), "runs": int(len(reps.point)),
            "max_seeds_per_point": int(reps.count.max())}


def points_table(analysis: Analysis, df: pd.DataFrame) -> pd.DataFrame:
    """Every run, with the fitted loss; fine-tuned runs also with D_E, D_T, regime and flags (those
    of its point: replicates share one D_E, from their mean ln loss)."""
    est = analysis.estimate
    zero = (df["D"] == 0).to_numpy()
    out, zero_rows = df[~zero].copy(), df[zero].copy()
    if zero.any() and est.zero_shot_d_e is not None:  # D_E of the pre-trained model alone
        zs = analysis.points.zero_shot
        d_e = {(float(n), s): v for n, s, v in zip(zs.n, zs.source, est.zero_shot_d_e)}
        zero_rows["D_E"] = [d_e.get((float(r.N), r.init)) for r in zero_rows.itertuples()]
    table = _points_of_fit(analysis, out)
    return pd.concat([table, zero_rows], ignore_index=True) if zero.any() else table


def _points_of_fit(analysis: Analysis, out: pd.DataFrame) -> pd.DataFrame:
    """points_table for the rows the fit uses (D > 0)."""
    est, opt, reps = analysis.estimate, analysis.options, analysis.replicates
    theta = est.surface.theta
    out["loss_fit_scratch_surface"] = np.exp(SURFACES[opt.form].log_loss(
        theta, features(out["N"].to_numpy(float), out["D"].to_numpy(float))))
    if reps.any:
        out["point_seeds"] = reps.count[reps.point]
        out["point_loss"] = analysis.points.loss[reps.point]
        out["point_sd_ln_loss"] = analysis.point_sd[reps.point]
    if est.effective is None:
        return out
    ft = np.flatnonzero(out["init"].to_numpy() != SCRATCH)
    ft_points = np.flatnonzero(~analysis.points.scratch)
    row_of = np.searchsorted(ft_points, reps.point[ft])  # each run's row in the point table
    cols = est.effective.as_columns()
    names = {"d_e": "D_E", "d_e_per_n": "D_E_per_N", "d_e_global": "D_E_global",
             "method": "D_E_method", "d_t": "D_T", "fraction": "fraction_D_F_over_D_E",
             "multiplier": "multiplier_D_E_over_D_F", "d_n": "D_N_99", "low_data": "low_data",
             "extrapolated": "extrapolated", "unreachable": "unreachable", "ossified": "ossified"}
    used, reason = select_points(est.effective, opt.transfer)
    extra = {new: cols[old] for old, new in names.items()}
    extra.update(regime=np.where(cols["low_data"], "low_data", "high_data"), used_in_law=used,
                 excluded_because=reason)
    if analysis.marks is not None:
        m = analysis.marks
        extra.update(gain_over_zero_shot_ln=m.gain_log, at_zero_shot=m.at_zero_shot,
                     best_in_first_epoch=m.first_epoch)
    for name, values in extra.items():
        full = np.full(len(out), None, dtype=object)
        full[ft] = np.asarray(values)[row_of]
        out[name] = full
    return out


def _fmt(x) -> str:
    """Three significant figures, as read (fit.json keeps every digit)."""
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3g}"


FIGURE_CAPTIONS = {  # one line each: what to look at
    "scratch_surface.png": "from-scratch loss against D for each N, with the fitted surface L(N, D)",
    "curve_forms.png": "the per-N scratch curves of each candidate form, and which one was inverted for D_E",
    "fraction_vs_N.png": "fraction of the effective data that transferred, D_T/D_E, against N per D_F "
                         "(the paper's figure 5)",
    "logit_fits.png": "ln(D_T/D_F) against ln N per D_F: the fit of the fits behind beta and alpha",
    "multiplier_vs_D_F.png": "effective-data multiplier D_E/D_F against D_F per N (above 1: pre-training "
                             "was worth data)",
    "fig1_effective_data.png": "the paper's figure 1: a fine-tune's loss, the scratch curve, D_E and D_T read off it, and the zero-shot level",
    "fig3_loss_vs_n.png": "held-out loss against N, from scratch and fine-tuned (the paper's figure 3)",
    "fig5_ossification.png": "where pre-training hurt: fine-tuned loss above the same-size scratch run",
    "fig15_best_epoch.png": "the step at which each fine-tune's held-out loss was best (1: nothing learnt after step 1)",
    "fig_compute.png": "loss against training compute, from scratch and fine-tuned",
    "pretrain_curves.png": "each pre-training run's held-out loss over its steps (did it converge?)",
}
GLOSSARY = [
    ("D_E", "effective data: the tokens of target data a from-scratch model of the same N would need "
            "to reach the fine-tuned loss"),
    ("D_T", "effective data transferred, D_E − D_F: what pre-training was worth, in target tokens"),
    ("multiplier", "D_E/D_F; above 1, pre-training was worth more than the fine-tuning data itself"),
    ("resolved", "the quantity's 95 % interval says something: an exponent's excludes 0, k's spans at "
                 "most 4 decades, a multiplier's lies above 1"),
    ("unresolved", "measured, but the interval spans 0 (or 1, or many decades), or there is none"),
    ("degenerate", "a number came out of a fit that means nothing: too few points for its parameters, "
                   "a law that explains under half of its points' spread, an absurd parameter"),
    ("zero-shot", "the pre-trained model's held-out target loss before any fine-tuning (D_F = 0); its "
                  "D_E is what pre-training alone is worth"),
    ("added", "D_E − D_E(0): the target tokens the D_F fine-tuning tokens were worth on top of the "
              "pre-trained model"),
    ("ossified", "a fine-tune worse than training from scratch on the same D_F (D_T ≤ 0): left out of the law"),
    ("low-data", "D_F at most 10 % of the data D(N) at which a size stops improving: where the law holds"),
    ("fit_the_fits", "the paper's method (App. C): a slope in ln N per D_F, then the intercepts against ln D_F"),
    ("global surface", "D_E from the fitted L(N, D) instead of each size's own scratch curve (secondary)"),
]


def zero_shot_table_md(zero_shot: dict | None, u: str = "tokens") -> list[str]:
    """Per source: the zero-shot worth, then per D_F what fine-tuning added and how many points
    measured the pre-trained model rather than D_F (`u`: what D counts)."""
    if not zero_shot:
        return []
    lines = ["\n## Zero-shot, and what fine-tuning added\n",
             "Each pre-trained model was evaluated on the target before any fine-tuning (D_F = 0); "
             "its D_E is what pre-training alone is worth. D_E − D_E(0) is what the D_F fine-tuning "
             f"{u} added to it. A point *within noise* moved the loss by less than two sigma of "
             "fine-tune seed noise (" + ", ".join(f"`{s}`: {z['noise_sigma_from']}" for s, z in zero_shot.items())
             + "); a point *best in epoch 1* stopped improving before one pass over D_F, so a larger "
             "D_F would have reached the same loss: neither says anything about D_F.\n"]
    for src, z in zero_shot.items():
        ci = z.get("ci95")
        lines += [f"`{src}`: zero-shot D_E {_fmt(z['D_E'])} {u} (95 % interval "
                  f"{_fmt(ci[0]) + ' – ' + _fmt(ci[1]) if ci else '—'}), per size: "
                  + ", ".join(f"N = {_fmt(float(n))}: {_fmt(v)}" for n, v in z["D_E_by_N"].items()) + ".\n",
                  "| D_F | added: D_E − D_E(0) | 95 % interval | verdict | within noise | best in epoch 1 |",
                  "|---|---|---|---|---|---|"]
        for a in z["added"]:
            ci = a.get("ci95")
            lines.append(f"| {_fmt(a['D_F'])} | {_fmt(a['estimate'])} | "
                         f"{_fmt(ci[0]) + ' – ' + _fmt(ci[1]) if ci else '—'} | {a['verdict']} | "
                         f"{a['at_zero_shot']} of {a['n_sizes']} | {a['first_epoch']} of {a['n_sizes']} |")
        lines.append("")
    return lines


def rollout_md(rollout: dict | None) -> list[str]:
    """The rollout check in words: fitted on the smaller sizes, how well it predicts the larger."""
    if not rollout:
        return []
    lines = ["\n## Rollout extrapolation check\n"]
    if rollout.get("status") != "ok":
        return lines + [f"Not run: {rollout.get('reason') or rollout.get('status')}."]
    held = rollout["held_out_sizes"]
    sizes = _fmt(held["min"]) if held["min"] == held["max"] else f"{_fmt(held['min'])}–{_fmt(held['max'])}"
    sc = rollout["scratch_loss"]
    lines.append(f"Fitted on N ≤ {_fmt(rollout['train_max_N'])} only, the surface predicts the scratch "
                 f"loss of the {held['count']} larger size(s) (N = {sizes}) within "
                 f"{_fmt(100 * sc['median_abs_rel_error'])} % (median of {sc['n_points']} runs; at most "
                 f"{_fmt(100 * sc['max_abs_rel_error'])} %).")
    for src, t in (rollout.get("transfer") or {}).items():
        lines.append(f"- `{src}`: the law fitted on the smaller sizes predicts D_T at the larger within a "
                     f"factor {_fmt(math.exp(t['median_abs_ln_error']))} (median |ln error| "
                     f"{_fmt(t['median_abs_ln_error'])} over {t['n_points']} points; at most "
                     f"{_fmt(t['max_abs_ln_error'])}).")
    return lines


def _bullets(d: dict, depth: int = 0) -> list[str]:
    """A nested dict as an indented list (the fitting checklist), never as raw JSON."""
    out = []
    for key, value in d.items():
        pad = "  " * depth
        if isinstance(value, dict) and value:
            out += [f"{pad}- {key}:"] + _bullets(value, depth + 1)
        elif isinstance(value, list):
            shown = ", ".join(_fmt(v) if isinstance(v, float) else str(v) for v in value) if value else "none"
            out.append(f"{pad}- {key}: {shown}")
        else:
            out.append(f"{pad}- {key}: {_fmt(value) if isinstance(value, float) else value}")
    return out


def figures_md(figures: list[str], heading: str = "Figures") -> list[str]:
    """Every figure linked, with its one-line caption, then shown."""
    lines = [f"\n## {heading}\n"]
    for f in figures:
        caption = FIGURE_CAPTIONS.get(f, "")
        lines += [f"**[{f}]({f})**" + (f": {caption}." if caption else ""), "", f"![{caption or f}]({f})", ""]
    return lines


def glossary_md() -> list[str]:
    return ["\n## Glossary\n"] + [f"- **{term}**: {meaning}." for term, meaning in GLOSSARY]


def planner_md(verdict: dict | None) -> list[str]:
    """One sentence per source: what this grid can resolve under the noise it was measured under."""
    if not verdict:
        return []
    lines = ["\n## What this grid can resolve (planner)\n"]
    lines += [f"- `{src}`: not simulated: {why}." for src, why in verdict.get("skipped", {}).items()]
    for src, v in verdict["sources"].items():
        h = v["half_width"]
        lines.append(f"- `{src}`: with the noise measured here ({verdict['noise']}), this grid "
                     f"({verdict['replicates']} seed(s) a point) resolves alpha to ±{_fmt(h['alpha'])}, "
                     f"beta to ±{_fmt(h['beta'])} and log10 k to ±{_fmt(h['log10_k'])}; "
                     f"P(beta > 0 resolved) = {_fmt(v['p_beta_resolved'])} "
                     f"({verdict['draws']} simulated sweeps; `transfer-laws plan` searches better designs).")
    left_out = {s: n for s, n in verdict.get("unusable_points_left_out", {}).items() if n}
    if left_out:
        lines.append("- The simulation leaves out the points where these runs gave no usable D_T "
                     "(ossified, or below the curve's floor: " + ", ".join(f"`{s}` {n}" for s, n in left_out.items())
                     + "), as the fit did: the law cannot say where it stops holding.")
    matched = verdict.get("finetune_sigma_matched") or {}
    scatter = verdict.get("law_scatter") or {}
    for src, sd in matched.items():
        sc = scatter.get(src, {})
        if sc.get("floor_reached"):
            lines.append(f"- `{src}`: without replicates the fine-tuned runs' noise is not measured. "
                         f"The planner lowered it to its floor (sigma {_fmt(sd)}) and the simulated "
                         f"scatter of ln D_T around the law still exceeds the observed one "
                         f"({_fmt(sc.get('simulated_at_floor'))} against {_fmt(sc.get('observed'))}): "
                         "the scratch noise alone, carried through the curves, scatters it more.")
        else:
            lines.append(f"- `{src}`: without replicates the fine-tuned runs' noise is not measured; "
                         f"the planner sets it (sigma {_fmt(sd)}) so that the simulated scatter of "
                         f"ln D_T around the law matches the observed {_fmt(sc.get('observed'))}.")
    return lines


def noise_md(noise: dict | None) -> list[str]:
    """The noise the fit was measured under, in words and a table."""
    if not noise:
        return []
    lines = [f"\n## Noise ({noise['source']})\n"]
    if noise["source"] == "replicates":
        lines.append(f"Measured from {noise['replicated_points']} of {noise['points']} points run "
                     f"with several seeds (up to {noise['max_seeds_per_point']}); replicates are "
                     "averaged in log space before D_E is inverted, and the bootstrap resamples "
                     f"seeds within each point. Form: {noise['form']}.\n")
    else:
        lines.append((noise.get("note") or "no noise estimate") + ". Run replicates "
                     "(`replicates: R` in the sweep config) to measure seed noise.\n")
    if noise["kinds"]:
        lines += ["| kind | sigma of ln(loss), smallest D | largest D | pooled | points | D range |",
                  "|---|---|---|---|---|---|"]
        for kind, k in noise["kinds"].items():
            lo, hi = k["sigma_at_d_range"]
            lines.append(f"| {kind} | {_fmt(lo)} | {_fmt(hi)} | {_fmt(k['pooled_sigma'])} | "
                         f"{k['n_points']} | {_fmt(k['d_range'][0])} – {_fmt(k['d_range'][1])} |")
    return lines


def report_md(fit: dict, figures: list[str]) -> str:
    """A human-readable summary of fit.json."""
    s = fit["scratch"]
    verdict = s.get("verdict") or {"verdict": f"optimiser {s['status']}", "reason": s.get("message", "")}
    lines = title_md(fit) + [summary_md(fit) + "\n"] + headline_md(fit) + [
        f"\n## Scratch surface ({s['form']}), {s['n_points']} runs: {verdict['verdict']}\n",
        f"{verdict['reason']}.\n", "| param | estimate | 95 % interval |", "|---|---|---|"]
    for k, v in s["params"].items():
        ci = s["ci95"].get(k)
        lines.append(f"| {k} | {_fmt(v)} | {_fmt(ci[0]) + ' – ' + _fmt(ci[1]) if ci else '—'} |")
    for name, f in fit["scratch_forms"].items():
        if name != s["form"]:
            other = f.get("verdict")
            if not f["params"]:
                lines.append(f"\nOther form {name}: {other['verdict'] if other else 'not measured'}: "
                             f"{f.get('message', '')}.")
                continue
            lines.append(f"\nOther form {name} (point estimate): " + ", ".join(
                f"{k} = {_fmt(v)}" for k, v in f["params"].items())
                + (f". {other['verdict'].capitalize()}: {other['reason']}." if other else ""))
        if "varpro" in f:
            lines.append("\nVariable-projection cross-check (relative least squares): " + ", ".join(
                f"{k} = {_fmt(v)}" for k, v in f["varpro"]["params"].items())
                + f"; Huber fit polished from it agrees with the grid: "
                f"{f['varpro_polished']['agrees_with_grid']}")
    for src, t in fit["transfer"].items():
        law_verdict, each = t.get("verdict"), t.get("verdicts") or {}
        lines += [f"\n## Transfer law from `{src}` ({t['method']}, {t['n_points']} points, "
                  f"R² log {_fmt(t['r2_log'])})" + (f": {law_verdict['verdict']}" if law_verdict else "") + "\n"]
        if law_verdict:
            lines.append(f"{law_verdict['reason']}.\n")
        lines += ["| param | estimate | 95 % interval | verdict | joint LS |", "|---|---|---|---|---|"]
        for k in ("k", "alpha", "beta"):
            ci = t["ci95"].get(k, [math.nan] * 2)
            lines.append(f"| {k} | {_fmt(t[k])} | {_fmt(ci[0])} – {_fmt(ci[1])} | "
                         f"{each.get(k, {}).get('verdict', '—')} | {_fmt(t['joint'].get(k))} |")
        excluded = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in (t["excluded"] or {}).items() if n)
        lines.append(f"\nk is in {t['k_units']}. Points left out of the law: {excluded or 'none'}.")
        for key, unit in (("k_chars", "characters"), ("k_bytes", "UTF-8 bytes")):
            if key in t:
                ci = t["ci95"].get(key, [math.nan] * 2)
                lines.append(f"k in {unit}: {_fmt(t[key])} ({_fmt(ci[0])} – {_fmt(ci[1])}; D_F and D_T both "
                             f"counted in {unit}, alpha and beta unchanged).")
        g = fit["transfer_global"].get(src)
        if g:
            lines.append(f"With D_E from the global surface instead: k = {_fmt(g['k'])}, "
                         f"alpha = {_fmt(g['alpha'])}, beta = {_fmt(g['beta'])}.")
    lines += zero_shot_table_md(fit.get("zero_shot"), data_unit(fit))
    lines += curve_forms_md(fit.get("curve_forms"))
    lines += noise_md(fit.get("noise"))
    lines += planner_md(fit.get("planner"))
    lines += rollout_md(fit.get("rollout"))
    lines += ["\n## Fitting checklist\n"] + _bullets(fit.get("checklist") or {})
    lines += figures_md(figures) + glossary_md()
    return "\n".join(lines) + "\n"
