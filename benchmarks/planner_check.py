"""The planner against what it predicts (docs/planner.md): speed, and agreement with real fits.

Run: python benchmarks/planner_check.py [--quick] [--fit-dir DIR ...]

1. speed: `transfer-laws plan configs/demo.yaml` (goal <= 60 s) and a budget search over >= 100
   designs (goal <= 5 min), wall seconds measured here;
2. synthetic ground truth: K sweeps drawn from a known surface and law, each fitted with the
   report's own bootstrap; the share whose beta interval lies above 0 against the planner's
   predicted P(beta > 0 resolved) (goal: within 10 points), and the bootstrap intervals' coverage of
   the truth against 95 %;
3. each --fit-dir (a report folder with runs.csv and fit.json): the planner's predicted half-widths
   under that fit's law and measured noise, over the committed bootstrap's (goal: within 1.5x).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _common as C  # noqa: F401  (project hygiene before heavy imports)
import numpy as np

from transfer_laws.flows.cli import main as cli
from transfer_laws.tasks.fitting.analysis import AnalysisOptions, analyse
from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
from transfer_laws.tasks.fitting.design import (
    Design,
    Prior,
    calibrate_bootstrap,
    calibrate_scatter,
    predict,
    prior_and_design_of,
)
from transfer_laws.tasks.fitting.noise import constant_noise
from transfer_laws.tasks.fitting.synthetic import SweepSpec, make_sweep
from transfer_laws.tasks.report.runs_csv import read_runs, to_runs, validate_runs

# A grid where beta is resolved in some draws and not in others, so the comparison can fail.
SPEC = SweepSpec(sizes=tuple(np.geomspace(1e4, 3e5, 3)), d_f=tuple(np.geomspace(1e4, 1e5, 3)),
                 noise=0.03)


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    assert cli(argv) == 0
    return time.perf_counter() - t0


def synthetic(k: int, resamples: int) -> None:
    prior = Prior("kaplan", dict(SPEC.surface), {"text": {"k": SPEC.k, "alpha": SPEC.alpha,
                                                          "beta": SPEC.beta}},
                  constant_noise(SPEC.noise), "synthetic truth")
    design = Design(tuple(SPEC.sizes), tuple(SPEC.scratch_d), tuple(SPEC.d_f))
    pred = predict(prior, design, n_draws=256).sources["text"]
    calibrated = predict(calibrate_bootstrap(prior, design), design, n_draws=256).sources["text"]
    resolved = covered = 0
    for seed in range(k):
        fit = analyse(make_sweep(1000 + seed, SPEC), AnalysisOptions(
            bootstrap=BootstrapOptions(n_resamples=resamples, seed=seed), other_form=False))
        lo, hi = fit.ci95["transfer.text.beta"]
        resolved += lo > 0
        covered += lo <= SPEC.beta <= hi
    print(f"synthetic truth ({k} sweeps, {resamples} resamples each, noise {SPEC.noise}): "
          f"P(beta > 0 resolved) predicted {pred.p_beta_resolved:.2f} (with --calibrate 4: "
          f"{calibrated.p_beta_resolved:.2f}), simulated {resolved / k:.2f} "
          f"(difference {100 * abs(pred.p_beta_resolved - resolved / k):.0f} points); "
          f"bootstrap coverage of the true beta {covered / k:.2f} (nominal 0.95); "
          f"beta half-width predicted ±{pred.width['beta'] / 2:.3g}")


def against_fit(folder: Path, draws: int) -> None:
    """The bootstrap's widths are the committed fit.json's (tests/test_results.py refits them with
    the same seed and resamples); the prior is the same runs' point estimate."""
    fit = json.loads((folder / "fit.json").read_text())
    n = fit["bootstrap"]["n_resamples"]
    df = validate_runs(read_runs(folder / "runs.csv"))
    a = analyse(to_runs(df), AnalysisOptions(bootstrap=BootstrapOptions(n_resamples=0)))
    prior, design = prior_and_design_of(a)
    prior = calibrate_scatter(prior, design)
    pred = predict(prior, design, n_draws=draws)
    left_out = {s: sum(not u for *_, u in pts) for s, pts in prior.seen.items()}
    print(f"{folder}: noise {a.noise.source}, {design.replicates} seed(s) a point, {n} resamples, "
          f"{draws} draws; misfit sd of ln D_T " + ", ".join(f"{k} {v:.3g}" for k, v in prior.misfit.items())
          + "; fine-tune sigma matched " + (", ".join(f"{k} {v:.3g}" for k, v in
                                                     prior.matched_finetune_sigma.items()) or "-")
          + "; unusable points left out " + ", ".join(f"{k} {v}" for k, v in left_out.items()))
    for src, p in pred.sources.items():
        ci, ratios = fit["transfer"][src]["ci95"], []
        for q in ("alpha", "beta", "log10_k"):
            lo, hi = (np.log10(ci["k"]) if q == "log10_k" else ci[q])
            ratios.append(f"{q} {p.width[q] / 2:.3g} / {(hi - lo) / 2:.3g} = {p.width[q] / (hi - lo):.2f}")
        print(f"  {src}: predicted half-width / bootstrap's: " + "; ".join(ratios))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer synthetic sweeps (noisier)")
    ap.add_argument("--fit-dir", action="append", default=[], type=Path)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--draws", type=int, default=256, help="simulated sweeps per --fit-dir")
    args = ap.parse_args()
    print(C.load_line())
    if not args.skip_speed:
        demo = str(C.REPO / "configs" / "demo.yaml")
        print(f"plan configs/demo.yaml: {timed(['plan', demo]):.1f} s (goal <= 60)")
        print(f"budget search, 100 designs: {timed(['plan', demo, '--budget-minutes', '10', '--designs', '100']):.1f} s "
              "(goal <= 300)")
    if not args.skip_synthetic:
        synthetic(30 if args.quick else 100, 60 if args.quick else 100)
    for folder in args.fit_dir:
        against_fit(folder, args.draws)


if __name__ == "__main__":
    main()
