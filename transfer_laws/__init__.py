"""transfer-laws: how much pre-training is worth in data (Hernandez et al. 2021, "Scaling Laws for
Transfer", for any pair of distributions).

The public API (everything else is internal; the `transfer-laws` CLI is a thin layer over it):

    import transfer_laws as tl
    fit = tl.fit("runs.csv")                  # or a DataFrame with columns N, D, init, loss
    fit.table1()                              # k, alpha, beta per source, 95 % intervals, resolved?
    tl.predict(fit, n=1e8, d_f=1e6)           # D_T and D_E/D_F, with a 95 % interval
    fit.report("out/"); fit.figures()         # fit.json, points.csv, report.md, PNGs / open figures
    cfg = tl.load_config("demo")              # a YAML path, or a bundled config by name
    tl.plan(cfg, prior="fit.json")            # the intervals a grid will give, before it runs
    tl.run(cfg, home="work/")                 # the sweep: Prefect flow, MLflow runs, the report
    tl.runs(cfg.name, home="work/")           # MLflow -> the runs table `fit` takes
"""
from __future__ import annotations

from transfer_laws.flows.api import Fit, Law, Plan, fit, load_config, load_fit, plan, predict, run, runs
from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.common.version import VERSION as __version__

__all__ = ["Fit", "InputError", "Law", "Plan", "__version__", "fit", "load_config", "load_fit", "plan",
           "predict", "run", "runs"]
