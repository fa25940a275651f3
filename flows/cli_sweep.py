"""`transfer-laws run | dry-run | status | aggregate`: the sweep verbs."""
from __future__ import annotations

import argparse
import os
import shlex
import uuid
from pathlib import Path


class ConfigHelp(argparse.Action):
    """`--help-config`: like --help, it prints and exits before the positional CONFIG is required."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from transfer_laws.tasks.sweep.config_help import sweep_config_help

        print(sweep_config_help())
        parser.exit()


def register(sub) -> None:
    from transfer_laws.flows.cli import DefaultsHelp

    fmt = DefaultsHelp
    p = sub.add_parser("run", formatter_class=fmt, help="run a sweep (Prefect flow), then aggregate",
                       description="Train every run of the sweep CONFIG that is not done yet (done runs "
                       "are skipped, interrupted ones resume), then fit and write the report. Prefect "
                       "runs without a server unless PREFECT_API_URL is set; MLflow writes to "
                       "HOME/mlflow.db.")
    p.add_argument("config", help="sweep YAML file, e.g. configs/demo.yaml")
    p.add_argument("--help-config", action=ConfigHelp, help="list every field a sweep config takes, "
                   "with its type, default and description, and exit")
    p.add_argument("--home", help="override the config's project run folder")
    p.add_argument("--bootstrap", type=int, metavar="N", help="bootstrap resamples of the fit (default: 15 per "
                   "point fitted, 1000 to 4000)")
    p.add_argument("--no-aggregate", action="store_true", help="train only; fit later with `aggregate`")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("dry-run", formatter_class=fmt, help="list the sweep's runs, FLOPs and time",
                       description="Print every planned run (kind, N, shape, D, parent, FLOPs, estimated "
                       "time on this machine, measured by timing a few steps of each shape) and the "
                       "totals. Trains nothing, writes nothing to MLflow and downloads nothing: a corpus "
                       "not fetched yet is priced by its recorded size, and what the first `run` "
                       "will fetch (packages, MB) is printed first.")
    p.add_argument("config")
    p.add_argument("--home")
    p.add_argument("--no-timing", action="store_true", help="do not time the shapes here: print FLOPs and "
                   "memory only (for models too large to time on this machine, such as a GPU sweep "
                   "planned on a laptop; run dry-run on the GPU box for its times)")
    p.set_defaults(func=cmd_dry_run)

    p = sub.add_parser("status", formatter_class=fmt, help="done / running / failed / pending per run",
                       description="Read MLflow and print the state of every planned run of CONFIG "
                       "(downloads nothing).")
    p.add_argument("config")
    p.add_argument("--home")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("aggregate", formatter_class=fmt, help="fit and report an MLflow experiment",
                       description="Pull the finished runs of an experiment from MLflow into the runs "
                       "CSV, fit, and write fit.json, points.csv, report.md and figures under "
                       "HOME/reports/EXPERIMENT/.")
    p.add_argument("--experiment", required=True, help="MLflow experiment (the sweep's name)")
    p.add_argument("--home")
    p.add_argument("--form", choices=["kaplan", "chinchilla"], default="kaplan")
    p.add_argument("--curve-form", choices=["current", "bansal", "piecewise", "auto"], default="current",
                   help="per-N scratch curve inverted for D_E (see `transfer-laws fit --help`)")
    p.add_argument("--bootstrap", type=int, metavar="N", help="bootstrap resamples of the fit (default: 15 per "
                   "point fitted, 1000 to 4000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_aggregate)


def _load(a):
    from transfer_laws.flows.api import _project, load_config

    return _project(load_config(a.config), a.home)


def _plan(cfg, paths):
    """Prepare what is on disk (cached) and plan, outside Prefect, fetching nothing: used by dry-run
    and status. Corpora not fetched yet are priced by their recorded size (units.preview_all)."""
    from transfer_laws.flows.api import preview_plan

    p = preview_plan(cfg, paths)
    unknown = _unknown_keys(p.runs)
    keys = {r.run_key: "(unfetched)" if r.run_key in unknown else r.run_key for r in p.runs}
    return p.runs, p.layout, p.target, p.sources, p.fetches, keys


def cmd_dry_run(a) -> int:
    from transfer_laws.tasks.data.corpora import fetch_notice
    from transfer_laws.tasks.sweep.estimate import estimate
    from transfer_laws.tasks.sweep.units import UNFETCHED

    cfg, paths = _load(a)
    runs, lay, target, sources, fetches, keys = _plan(cfg, paths)
    if fetches:
        print(*fetch_notice(fetches, paths.cache), sep="\n")
    about = "at most " if target.key == UNFETCHED and target.tokenizer != "bytes" else \
        "about " if target.key == UNFETCHED else ""
    print(f"target {cfg.experiment.target!r}: {about}{target.train_tokens:,} training tokens ({target.tokenizer}, "
          f"vocabulary {target.vocab_size:,}); {lay.describe()}")
    for name, src in sources.items():
        for c in getattr(src, "checkpoints", ()):  # a suite: what each size is
            shown = "" if c.fetched else " (not in the Hugging Face cache: priced from its published shape; " \
                "`run` fetches its config, tokenizer and weights)"
            arch = c.info.architecture
            print(f"source {name!r}: {arch.describe().rsplit(' ctx=', 1)[0]} "
                  f"N={arch.params_non_embedding:,} context {arch.max_ctx:,} from {c.spec}{shown}")
    est = None
    if not a.no_timing:
        print("measuring a few steps of each shape on this machine …", flush=True)
        est = estimate(runs, len(lay.devices), lay.threads, lay.device_kind)
    print(f"{'kind':9} {'N':>9} {'shape':>13} {'D':>10} {'source':>12} {'parent':>12} {'FLOPs':>9} "
          f"{'est. s':>7}  run_key")
    for r in runs:
        d = r.config.dataset_tokens
        seconds = f"{est.seconds[r.run_key]:7.0f}" if est else f"{'-':>7}"
        print(f"{r.kind:9} {r.n:9.3g} {f'L{r.shape.n_layer} d{r.shape.d_model}':>13} "
              f"{(f'{d:,}' if d else 'all'):>10} {r.source or '-':>12} {keys.get(r.parent, r.parent) or '-':>12} "
              f"{r.est_flops:9.2e} {seconds}  {keys[r.run_key]}")
    from transfer_laws.tasks.sweep.gpu_rules import run_memory_bytes
    from transfer_laws.tasks.sweep.run_graph import kind_counts, memory_need

    largest = max(runs, key=lambda r: r.shape.params_total)
    memory = run_memory_bytes(largest.shape, largest.config.batch_size) / 2**30
    timing = (f"{sum(est.seconds.values()) / 60:.1f} slot-minutes, estimated wall {est.wall_seconds / 60:.1f} "
              f"min on {len(lay.devices)} slot(s)" if est else "not timed (--no-timing)")
    print(f"total: {len(runs)} runs ({kind_counts(runs)}), {sum(r.est_flops for r in runs):.2e} FLOPs, {timing}; "
          f"the largest model needs about {memory:.1f} GiB to train at batch {largest.config.batch_size}")
    need, have = memory_need(cfg, largest.shape, lay.device_kind, len(lay.devices))
    if need > have:  # said, not refused: a GPU sweep may be planned on a laptop; `run` refuses
        print(f"note: {len(lay.devices)} run(s) at once need about {need / 2**30:.1f} GiB, more than this "
              f"{lay.device_kind}'s {have / 2**30:.1f} GiB: `run` would refuse to start here")
    return 0


def cmd_status(a) -> int:
    from transfer_laws.tasks.data.corpora import fetch_notice
    from transfer_laws.tasks.tracking import mlflow_store

    cfg, paths = _load(a)
    runs, _, _, _, fetches, keys = _plan(cfg, paths)
    if fetches:
        print(*fetch_notice(fetches, paths.cache), sep="\n")
    exp = None
    if cfg.tracking.tracking_uri or paths.mlflow_db.exists():  # never create a store to read it
        c = mlflow_store.client(cfg.tracking.tracking_uri or paths.mlflow_uri)
        exp = c.get_experiment_by_name(cfg.experiment.name)
    counts: dict[str, int] = {}
    print(f"{'state':8} {'kind':9} {'label':40} {'best loss':>9}  run_key")
    for r in runs:
        known = exp is not None and keys[r.run_key] == r.run_key
        found = mlflow_store.find_run(c, exp.experiment_id, r.run_key) if known else None
        if found is None:
            state = "pending"
        elif mlflow_store.is_done(found):
            state = "done"
        elif found.info.status == "RUNNING":
            from transfer_laws.tasks.train.launch import run_folder_busy

            state = "running" if run_folder_busy(Path(r.config.out_dir)) else "interrupted"
        else:
            state = "failed"
        counts[state] = counts.get(state, 0) + 1
        loss = found.data.metrics.get("best_test_loss") if found else None
        print(f"{state:8} {r.kind:9} {r.label:40} {f'{loss:.4f}' if loss else '-':>9}  {keys[r.run_key]}")
    print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    return 0


def _unknown_keys(runs) -> set[str]:
    """Runs whose key depends on a corpus not fetched yet: on its data, or on a run that does."""
    from transfer_laws.tasks.sweep.units import UNFETCHED

    unknown: set[str] = set()
    for r in runs:  # planned parents-first
        if r.config.data_key == UNFETCHED or unknown.intersection(r.needs):
            unknown.add(r.run_key)
    return unknown


def cmd_run(a) -> int:
    from transfer_laws.flows import api
    from transfer_laws.flows.sweep import SweepFailed
    from transfer_laws.tasks.sweep.interrupt import cancel_sweep_flow_runs, run_stoppable

    cfg, paths = _load(a)
    again = ["transfer-laws", "run", a.config, "--home", str(paths.home),
             *(["--bootstrap", str(a.bootstrap)] if a.bootstrap is not None else [])]
    stop_tag = f"transfer-laws-run-{uuid.uuid4().hex[:12]}"  # finds this process's flow run when stopped

    def work():
        from prefect import tags

        with tags(stop_tag):
            return api.run(cfg, bootstrap=a.bootstrap, aggregate=not a.no_aggregate)

    on_server = bool(os.environ.get("PREFECT_API_URL"))  # else a temporary server, gone with us
    try:  # SIGTERM / SIGINT: stopped within seconds, resumable (tasks/sweep/interrupt.py)
        out = run_stoppable(work, paths.home, f"the sweep {cfg.experiment.name!r}",
                            shlex.join(again + (["--no-aggregate"] if a.no_aggregate else [])),
                            remote=cfg.execution.executor != "local",
                            on_stop=(lambda line: cancel_sweep_flow_runs(stop_tag, line)) if on_server else None)
    except SweepFailed as exc:
        print(f"transfer-laws run: {exc}")
        return 1
    _print_report(out.get("report"), paths)
    return 0


def cmd_aggregate(a) -> int:
    from transfer_laws.tasks.common import env

    paths = env.project_paths(a.home)
    env.apply(paths)
    _check_experiment(paths, a.experiment)
    from transfer_laws.flows.aggregate import aggregate_flow

    report = aggregate_flow(a.experiment, None, None, str(paths.home), form=a.form,
                            bootstrap=a.bootstrap, seed=a.seed, curve_form=a.curve_form)
    _print_report(report, paths)
    return 0


def _check_experiment(paths, experiment: str) -> None:
    """Refuse an unknown experiment before the flow starts (and before any store is created)."""
    from transfer_laws.tasks.common.errors import InputError

    if not paths.mlflow_db.exists():
        raise InputError("--experiment", experiment, f"cannot be found: {paths.home} holds no MLflow "
                         "store (mlflow.db)", "give --home the project folder of a sweep that ran")
    from transfer_laws.tasks.tracking import mlflow_store

    c = mlflow_store.client(paths.mlflow_uri)
    if c.get_experiment_by_name(experiment) is None:
        names = sorted(e.name for e in c.search_experiments())
        raise InputError("--experiment", experiment, f"is not an experiment of {paths.mlflow_db}",
                         f"use one of {names}" if names else "run a sweep first")


def _print_report(report: dict | None, paths) -> None:
    from transfer_laws.tasks.report.fit import summary_lines

    if report:
        out = Path(report["report_dir"])
        print(f"\nreport: {out / 'report.md'}")
        if report["fit"].get("status") == "failed":
            print(f"  no trustworthy fit: {report['fit']['error']}")
        else:
            print(*(f"  {line}" for line in summary_lines(report["fit"])), sep="\n")
    print(f"\nMLflow UI:  make ui-mlflow HOME_DIR={paths.home}   (or: mlflow ui --backend-store-uri {paths.mlflow_uri})")
    print(f"Prefect UI: make ui-prefect HOME_DIR={paths.home}  (or: PREFECT_HOME={paths.prefect_home} prefect server start)")
