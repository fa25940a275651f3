"""`transfer-laws fit` and `transfer-laws predict`: the scaling-law fitter on any runs CSV, and the
transfer calculator on a fit.json.  Composition only: the work is in tasks.report.runs_csv,
tasks.report.fit and tasks.fitting.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from transfer_laws.flows.cli import flag_names
from transfer_laws.tasks.fitting.bootstrap import CORES

FIT_HELP = """Fit L(N, D) to the scratch runs, D_E/D_T for every fine-tuned run, and the transfer
law D_T = k * D_F^alpha * N^beta per pre-training source, with bootstrap 95 % intervals.
Writes DIR/fit.json, DIR/points.csv, DIR/report.md and PNG figures."""


def register(subparsers) -> None:
    p = subparsers.add_parser("fit", help="fit scaling laws to a runs CSV (no training needed)",
                              description=FIT_HELP)
    p.add_argument("runs", metavar="RUNS.csv",
                   help="runs table with columns N (non-embedding parameters), D (target-data size "
                        "of the run), init ('scratch' or the pre-training source), loss (best "
                        "held-out nats/token); optional D_chars, run_key, ...")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the outputs (created)")
    p.add_argument("--form", choices=["kaplan", "chinchilla"], default="kaplan",
                   help="scratch surface: kaplan [(N_c/N)^(a_N/a_D) + D_c/D]^a_D (default) or "
                        "chinchilla E + A/N^alpha + B/D^beta; the other form is fitted too, "
                        "without intervals")
    p.add_argument("--curve-form", choices=["current", "bansal", "piecewise", "auto"], default="current",
                   help="per-N scratch curve inverted for D_E: current = the surface's own (Kaplan: "
                        "[L_f^(1/p) + d/D]^p), bansal = beta (1/D + gamma)^p (Bansal et al. 2022; the "
                        "Kaplan curve reparametrised), piecewise = a power law bending into a plateau "
                        "below D_0 (after Jain et al. 2023), auto = the lowest leave-the-largest-D-out "
                        "error; report.md compares them all (default current)")
    p.add_argument("--bootstrap", type=int, metavar="N",
                   help="bootstrap resamples of the runs for the 95 %% intervals (default: 15 per point "
                        "fitted, at least 1000, at most 4000, so that their Monte Carlo error stays under "
                        "half their sampling error; 0 = no intervals)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the bootstrap resampling (default 0); same seed, same intervals")
    p.add_argument("--exclude-top-loss", type=int, default=0, metavar="K",
                   help="drop the K highest-loss scratch runs before fitting (Besiroglu et al. "
                        "drop 5 on the Chinchilla data); they are listed in the checklist")
    p.add_argument("--transfer", choices=["auto", "yes", "no"], default="auto",
                   help="fit the transfer law: auto = when fine-tuned runs exist (default), yes = "
                        "required (error without fine-tuned runs), no = scratch surface only")
    p.add_argument("--grid", choices=["screened", "full"], default="screened",
                   help="initialisations: screened = L-BFGS-B from the 64 best points of the "
                        "form's grid (default), full = from every grid point (minutes)")
    p.add_argument("--jobs", type=int, default=CORES, metavar="J",
                   help=f"worker processes for the bootstrap and the full grid (default: every core, {CORES} "
                        "here; the numbers are the same for any count)")
    p.add_argument("--unit", choices=["tokens", "bytes"], default="tokens",
                   help="count D in tokens (as the CSV's D column) or in UTF-8 bytes (its D_bytes "
                   "column, which a sweep's runs.csv has): alpha and beta do not change, k does "
                   "(k_bytes = k_tokens r^(1-alpha), r bytes per token); the report and figures say "
                   "which (default tokens)")
    p.add_argument("--units", default="tokens",
                   help="the name of D's unit written next to k, for a CSV whose D counts something "
                   "else (e.g. chars) (default tokens)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--plan-draws", type=int, default=0, metavar="K",
                   help="also simulate this grid K times under the fitted law and the measured noise "
                   "and report how precisely it resolves alpha and beta (the sweep's report uses 48)")
    p.set_defaults(func=run_fit)

    q = subparsers.add_parser(
        "predict", help="transfer calculator: D_T and D_E/D_F for a model size and D_F",
        description="Multiplier D_E/D_F = 1 + D_T/D_F and D_T = k D_F^alpha N^beta with a 95 % "
                    "interval from the bootstrap covariance stored in fit.json. Outside the N and D_F "
                    "the law was fitted on, the answer says by how many decades it extrapolates; "
                    "beyond two it is refused unless --extrapolate.")
    q.add_argument("--fit", required=True, metavar="fit.json", help="a fit.json written by fit")
    q.add_argument("--n", required=True, type=float, metavar="N",
                   help="model size, non-embedding parameters")
    q.add_argument("--d-f", required=True, type=float, metavar="D",
                   help="fine-tuning data size, in the fit's D units")
    q.add_argument("--source", default=None,
                   help="pre-training source (needed when the fit has several)")
    q.add_argument("--json", action="store_true", help="print the prediction as JSON")
    q.add_argument("--extrapolate", action="store_true", help="answer even more than two decades outside "
                   "the N and D_F the law was fitted on (within them no flag is needed; between, a warning)")
    q.set_defaults(func=run_predict)


def run_fit(args: argparse.Namespace) -> int:
    from transfer_laws.flows import api
    from transfer_laws.tasks.fitting.robust import FitError

    try:
        with flag_names({"bootstrap": "--bootstrap", "jobs": "--jobs", "exclude_top_loss": "--exclude-top-loss",
                         "unit": "--unit"}):
            result = api.fit(args.runs, form=args.form, curve_form=args.curve_form, bootstrap=args.bootstrap,
                             seed=args.seed, exclude_top_loss=args.exclude_top_loss, transfer=args.transfer,
                             grid=args.grid, jobs=args.jobs, units=args.units, unit=args.unit,
                             plan_draws=args.plan_draws,
                             progress=True)
    except FitError as exc:
        print(f"transfer-laws fit: the fit cannot be trusted: {exc.reason}", file=sys.stderr)
        return 1
    from transfer_laws.tasks.report.fit import summary_lines

    fit = result.data
    result.report(args.out, figures=not args.no_figures)
    s = fit["scratch"]
    print(f"scratch {s['form']} ({s['n_points']} runs): {s['verdict']['verdict']}: "
          + ", ".join(_with_ci(k, v, s["ci95"].get(k)) for k, v in s["params"].items()))
    print(*summary_lines(fit), sep="\n")
    print(f"wrote {Path(args.out) / 'fit.json'} and report.md")
    return 0


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _with_ci(name: str, value, ci) -> str:
    return f"{name}={_num(value)}" + (f" [{_num(ci[0])}, {_num(ci[1])}]" if ci else "")


def run_predict(args: argparse.Namespace) -> int:
    from transfer_laws.flows import api

    with flag_names({"fit": "--fit", "n": "--n", "d_f": "--d-f", "source": "--source"}):
        pred = api.predict(args.fit, args.n, args.d_f, args.source, extrapolate=args.extrapolate)
    if args.json:
        print(json.dumps(pred.__dict__))
        return 0
    ci = (f" (95 % interval {pred.d_t_ci95[0]:.4g} – {pred.d_t_ci95[1]:.4g})"
          if pred.d_t_ci95 else " (no interval: fit.json has no bootstrap covariance)")
    mci = (f" (95 % interval {pred.multiplier_ci95[0]:.4g} – {pred.multiplier_ci95[1]:.4g})"
           if pred.multiplier_ci95 else "")
    print(f"source {pred.source}, N = {pred.n:.4g}, D_F = {pred.d_f:.4g}")
    print(f"D_T (effective data transferred) = {pred.d_t:.4g}{ci}")
    print(f"D_E / D_F (effective data multiplier) = {pred.multiplier:.4g}{mci}")
    if pred.note:
        print(f"warning: {pred.note}")
    return 0
