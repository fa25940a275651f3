"""`transfer-laws plan`: how precisely a sweep config will measure the transfer law, before it runs;
with a budget, the designs that measure it best. Composition only: tasks.sweep.planner and
tasks.fitting.design do the work."""
from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "plan", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="expected intervals of a grid before it runs; the narrowest design within a budget",
        description=(
            "Simulate the sweep CONFIG's grid many times under a prior and fit every draw with the "
            "report's own fitter (fewer grid starts, no bootstrap): the spread of the estimates is "
            "the 95 % interval one such sweep would give.\n\n"
            "prior  what the world is assumed to be: --prior FIT.json (the fit of a pilot or an "
            "earlier sweep: its scratch surface, its law per source, its measured noise, the law's "
            "observed scatter (matched in the simulation: lack of fit added, or unmeasured "
            "fine-tune noise lowered) and the points whose D_T it could not use (ossified: left "
            "out of the simulation as well)), else the paper's Table 1 law (k=1.9e4, alpha=0.18, "
            "beta=0.38) on Kaplan et al.'s surface for every source, labelled as a default.\n"
            "noise  sd of one run's ln(best loss): --noise SIGMA for every run, else the prior's "
            "measured `noise` (replicates, or the residual scatter), else the demo's measured seed "
            "noise (0.75 % scratch, 0.39 % fine-tuned). Replicates average it down by sqrt(R).\n"
            "budget --budget-minutes M searches windows of the config's sizes and D_F values, 1.."
            "--max-replicates seeds and the pre-training budget times each --pretrain-scales value, "
            "prices each with dry-run's cost model, simulates those that fit, and prints the few "
            "with the narrowest --target interval as YAML to paste into the config. Downloads "
            "nothing: a corpus not fetched yet is priced by its recorded size.\n\n"
            "Assumption: a fine-tune's effective data D_T never exceeds its pre-training tokens."))
    p.add_argument("config", help="sweep YAML file, e.g. configs/demo.yaml")
    p.add_argument("--prior", metavar="FIT.json", help="fit.json whose surface, laws and noise are the prior")
    p.add_argument("--no-default-prior", action="store_true",
                   help="refuse the paper's default prior: --prior is then required")
    p.add_argument("--noise", type=float, metavar="SIGMA", help="sd of one run's ln(loss), for every run")
    p.add_argument("--draws", type=int, default=64, metavar="K", help="simulated sweeps per design (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulations (default 0)")
    p.add_argument("--calibrate", type=int, default=0, metavar="K",
                   help="experimental: fit K simulated sweeps with the report's bootstrap (40 "
                   "resamples) and scale the predicted widths by the bootstrap's median ratio "
                   "(default 0: the spread of the estimates; with K=4 the ratio proved too noisy "
                   "to help, docs/planner.md)")
    p.add_argument("--budget-minutes", type=float, metavar="M", help="search designs that fit this many minutes "
                   "of sweep on this machine")
    p.add_argument("--max-replicates", type=int, default=3, metavar="R", help="most seeds per point in the "
                   "search (default 3)")
    p.add_argument("--pretrain-scales", default="0.5,1,2", metavar="LIST", help="pre-training budget multipliers in "
                   "the search (default 0.5,1,2)")
    p.add_argument("--target", choices=["beta", "alpha", "log10_k"], default="beta",
                   help="the interval the search narrows (default beta)")
    p.add_argument("--designs", type=int, default=120, metavar="K", help="most designs simulated in the search "
                   "(default 120; the rest are priced only)")
    p.add_argument("--search-draws", type=int, default=12, metavar="K", help="draws per design in the search "
                   "(default 12): every design first gets a third of them (at least 4), the best quarter "
                   "all of them, and the --top best are re-simulated with --draws")
    p.add_argument("--top", type=int, default=3, metavar="K", help="designs printed (default 3)")
    p.add_argument("--home", help="override the config's project run folder")
    p.set_defaults(func=cmd_plan)


def _bar(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="draw", file=sys.stderr, leave=False,
                disable=None if sys.stderr.isatty() else True)


def _print(pred, minutes: float | None = None) -> None:
    head = f"{'source':12} {'alpha ±':>9} {'beta ±':>9} {'log10 k ±':>10} {'P(beta>0, resolved)':>20} " \
           f"{'R² log':>7} {'low-data':>9}"
    print(head)
    for src, s in pred.sources.items():
        print(f"{src:12} {s.width['alpha'] / 2:9.3g} {s.width['beta'] / 2:9.3g} "
              f"{s.width['log10_k'] / 2:10.3g} {s.p_beta_resolved:20.2f} {s.r2_log:7.2f} "
              f"{s.low_data_share:9.0%}")
    tail = f"{pred.n_draws} simulated sweeps, {pred.n_failed} failed fits"
    print(tail + (f"; {minutes:.1f} min on this machine (dry-run's cost model)" if minutes else ""))


def _scales(text: str) -> list[float]:
    from transfer_laws.tasks.common.errors import InputError

    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError("--pretrain-scales", text, "is not a comma-separated list of numbers",
                         "e.g. --pretrain-scales 0.5,1,2") from None


def cmd_plan(a) -> int:
    from transfer_laws.flows import api
    from transfer_laws.flows.cli import flag_names
    from transfer_laws.tasks.common.errors import InputError
    from transfer_laws.tasks.sweep import planner

    scales = _scales(a.pretrain_scales)
    planner.check_bounds(a.max_replicates, scales, a.budget_minutes)
    if a.budget_minutes is not None and api.load_config(a.config).suite():
        raise InputError("--budget-minutes", a.budget_minutes, "searches sizes and pre-training budgets, which "
                         "a suite of checkpoints fixes", "plan the suite's grid without --budget-minutes, and "
                         "price it with `transfer-laws dry-run`")
    with _bar(a.draws, "simulating") as bar, flag_names({"noise": "--noise", "draws": "--draws",
                                                          "calibrate": "--calibrate"}):
        result = api.plan(a.config, prior=a.prior, noise=a.noise, draws=a.draws, seed=a.seed,
                          calibrate=a.calibrate, default_prior=not a.no_default_prior, home=a.home,
                          progress=bar.update)
    cfg, prior, pred = result.config, result.prior, result.prediction
    print(f"prior: {prior.label}")
    if prior.law_residual_var:
        g = prior.design
        print("the law's scatter matched on " + (
            f"the prior's own grid ({len(g.sizes)} sizes, {len(g.d_f)} D_F, {g.replicates} seed(s) a point)"
            if g else "this config's grid (the prior's fit.json records none)"))
    if prior.misfit:
        print("lack of fit of the prior's law, added to seed noise (sd of ln D_T): " + ", ".join(
            f"{src} {tau:.3g}" for src, tau in prior.misfit.items()))
    if prior.matched_finetune_sigma:
        print("fine-tuned runs' noise (not measured without replicates), matched to the law's "
              "observed scatter: " + ", ".join(
                  f"{src} {sd:.3g}" + (" (its floor: the simulated scatter stays above the observed "
                                       f"{prior.scatter[src]['observed']:.3g})"
                                       if prior.scatter.get(src, {}).get("floor_reached") else "")
                  for src, sd in prior.matched_finetune_sigma.items()))
    if prior.seen:
        print("points where the prior's runs gave no usable D_T (ossified, or below the curve's "
              "floor), left out of the simulation as the fit left them out: " + ", ".join(
            f"{src} {sum(not u for *_, u in pts)} of {len(pts)}" for src, pts in prior.seen.items()))
    if prior.width_ratio:
        print(f"bootstrap / spread of the estimates, on {a.calibrate} simulated sweeps: " + "; ".join(
            f"{src} " + ", ".join(f"{q} {r:.2f}" for q, r in qs.items())
            for src, qs in prior.width_ratio.items()))
    sizes = cfg.experiment.sizes or next(iter(cfg.experiment.sources.values())).checkpoints  # a suite: one size a checkpoint
    print(f"grid: {len(sizes)} sizes, {len(cfg.scratch_grid())} scratch D, "
          f"{len(cfg.experiment.finetune_tokens)} D_F, {cfg.experiment.replicates} seed(s) a point")
    _print(pred)
    if a.budget_minutes is None:
        return 0
    from transfer_laws.tasks.common import env

    return _search(a, cfg, env.project_paths(cfg.tracking.home), prior, scales)


def _search(a, cfg, paths, prior, scales) -> int:
    from transfer_laws.tasks.sweep import planner

    print("\nsearch: pricing the designs within the bounds …", flush=True)
    from transfer_laws.tasks.data.corpora import fetch_notice

    priced, fetches = planner.price(cfg, paths, a.max_replicates, scales)
    if fetches:
        print(*fetch_notice(fetches, paths.cache), sep="\n")
    chosen = planner.within_budget(priced, a.budget_minutes, a.designs)
    n_fit = sum(c.minutes <= a.budget_minutes for c in priced)
    stages = planner.search_schedule(len(chosen), a.search_draws, a.top)
    print(f"{len(priced)} designs; {n_fit} fit {a.budget_minutes:g} min; simulating "
          + ", then ".join(f"{n} ({d} draws each)" for n, d in stages) + " …", flush=True)
    with _bar(sum(n * d for n, d in stages), "searching") as bar, \
            _bar(min(a.top, len(chosen)) * a.draws, "best designs") as bar_best:
        best = planner.search(prior, chosen, a.target, a.search_draws, a.draws, a.top, a.seed,
                              progress=bar.update, progress_best=bar_best.update)
    for i, c in enumerate(best, 1):
        print(f"\ndesign {i}: widest {a.target} interval ±{c.score(a.target) / 2:.3g}")
        _print(c.prediction, c.minutes)
        print(planner.yaml_snippet(c.config))
    return 0
