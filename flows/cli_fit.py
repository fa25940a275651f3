"""`transfer-laws fit` and `transfer-laws predict`: the scaling-law fitter on any runs CSV, and the
transfer calculator on a fit.json.  Composition only: the work is in tasks.report.runs_csv,
tasks.report.fit and tasks.fitting.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from tasks.common.errors import InputError

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
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap resamples of the runs for the 95 %% intervals (default 1000; "
                        "0 = no intervals)")
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
    p.add_argument("--jobs", type=int, default=2, metavar="J",
                   help="worker processes for the bootstrap and the full grid (default 2)")
    p.add_argument("--units", default="tokens",
                   help="name of the unit of D in the CSV, written next to k (default tokens)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--plan-draws", type=int, default=0, metavar="K",
                   help="also simulate this grid K times under the fitted law and the measured noise "
                   "and report how precisely it resolves alpha and beta (the sweep's report uses 48)")
    p.set_defaults(func=run_fit)

    q = subparsers.add_parser(
        "predict", help="transfer calculator: D_T and D_E/D_F for a model size and D_F",
        description="Multiplier D_E/D_F = 1 + D_T/D_F and D_T = k D_F^alpha N^beta with a 95 % "
                    "interval from the bootstrap covariance stored in fit.json.")
    q.add_argument("--fit", required=True, metavar="fit.json", help="a fit.json written by fit")
    q.add_argument("--n", required=True, type=float, metavar="N",
                   help="model size, non-embedding parameters")
    q.add_argument("--d-f", required=True, type=float, metavar="D",
                   help="fine-tuning data size, in the fit's D units")
    q.add_argument("--source", default=None,
                   help="pre-training source (needed when the fit has several)")
    q.add_argument("--json", action="store_true", help="print the prediction as JSON")
    q.set_defaults(func=run_predict)


def run_fit(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tasks.fitting.analysis import AnalysisOptions
    from tasks.fitting.bootstrap import BootstrapOptions
    from tasks.fitting.robust import FitError, FitOptions
    from tasks.report.fit import fit_runs
    from tasks.report.runs_csv import exclude_top_loss, read_runs, validate_runs

    for flag, value, low in (("--bootstrap", args.bootstrap, 0), ("--jobs", args.jobs, 1),
                             ("--exclude-top-loss", args.exclude_top_loss, 0)):
        if value < low:
            raise InputError(flag, value, f"must be >= {low}", f"pass {flag} {max(low, 1)}")
    df = read_runs(args.runs)
    df = validate_runs(df, args.form, "no")  # columns and values first, counts after exclusion
    df, dropped = exclude_top_loss(df, args.exclude_top_loss)
    df = validate_runs(df, args.form, args.transfer)
    fit_transfer = args.transfer != "no"
    options = AnalysisOptions(
        form=args.form, fit=FitOptions(grid_mode=args.grid, n_jobs=args.jobs),
        bootstrap=BootstrapOptions(n_resamples=args.bootstrap, seed=args.seed, n_jobs=args.jobs),
        fit_transfer=fit_transfer, curve_form=args.curve_form)
    bar = tqdm(total=args.bootstrap, desc="bootstrap", unit="resample", file=sys.stderr,
               disable=args.bootstrap == 0)
    try:
        fit = fit_runs(df, args.out, options, dropped,
                       f"--exclude-top-loss {args.exclude_top_loss}", bar.update,
                       figures=not args.no_figures, units=args.units, plan_draws=args.plan_draws)
    except FitError as exc:
        print(f"transfer-laws fit: the fit cannot be trusted: {exc.reason}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    s = fit["scratch"]
    print(f"scratch {s['form']} ({s['n_points']} runs): "
          + ", ".join(_with_ci(k, v, s["ci95"].get(k)) for k, v in s["params"].items()))
    for src, t in fit["transfer"].items():
        print(f"transfer {src} ({t['n_points']} points, {t['method']}): "
              + ", ".join(_with_ci(k, t[k], t["ci95"].get(k)) for k in ("k", "alpha", "beta")))
    print(f"wrote {Path(args.out) / 'fit.json'} and report.md")
    return 0


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.6g}"


def _with_ci(name: str, value, ci) -> str:
    return f"{name}={_num(value)}" + (f" [{_num(ci[0])}, {_num(ci[1])}]" if ci else "")


def _check_fit_json(fit, path: Path) -> None:
    """The parts of fit.json the calculator reads have the documented types (DESIGN.md, fit.json)."""
    fix = "pass the fit.json written by `transfer-laws fit`, unedited"
    if not isinstance(fit, dict):
        raise InputError("--fit", str(path), f"holds a JSON {type(fit).__name__}, not a fit.json "
                         "object", fix)
    laws = fit.get("transfer") or {}
    if not isinstance(laws, dict):
        raise InputError("--fit", str(path), "its \"transfer\" is not an object of laws by source", fix)
    for source, law in laws.items():
        if not isinstance(law, dict):
            raise InputError("--fit", str(path), f"transfer.{source} is not an object", fix)
        for key in ("k", "alpha", "beta"):
            value = law.get(key)
            ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                   and math.isfinite(value) and (key != "k" or value > 0))
            if not ok:
                raise InputError("--fit", str(path), f"transfer.{source}.{key} = {value!r} is not a "
                                 + ("positive " if key == "k" else "") + "finite number", fix)


def run_predict(args: argparse.Namespace) -> int:
    from tasks.fitting.predict import predict_from_fit

    path = Path(args.fit)
    if not path.is_file():
        raise InputError("--fit", str(path), "no such file", "pass the fit.json written by fit")
    try:
        fit = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError("--fit", str(path), f"not JSON ({exc})", "pass a fit.json") from None
    _check_fit_json(fit, path)
    for flag, value in (("--n", args.n), ("--d-f", args.d_f)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(flag, value, "must be a finite positive number", f"e.g. {flag} 1e6")
    try:
        pred = predict_from_fit(fit, args.n, args.d_f, args.source)
    except KeyError as exc:
        flag, problem, fix = exc.args
        raise InputError(flag, args.source if flag == "--source" else str(path), problem,
                         fix) from exc
    except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:  # a hand-edited fit.json
        raise InputError("--fit", str(path), f"is malformed ({type(exc).__name__}: {exc})",
                         "pass the fit.json written by `transfer-laws fit`, unedited") from None
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
