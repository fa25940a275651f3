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
    tl.runs(cfg.experiment.name, home="work/")           # MLflow -> the runs table `fit` takes
    tl.export_suite(cfg, "suite/", home="work/")  # its pre-trained models as Hugging Face folders
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.common.version import VERSION as __version__

if TYPE_CHECKING:
    from transfer_laws.flows.api import (
        Fit,
        Law,
        Plan,
        export_suite,
        fit,
        load_config,
        load_fit,
        plan,
        predict,
        run,
        runs,
    )

__all__ = ["Fit", "InputError", "Law", "Plan", "__version__", "export_suite", "fit", "load_config", "load_fit",
           "plan", "predict", "run", "runs"]
_API = frozenset(__all__) - {"InputError", "__version__"}


def __getattr__(name: str):
    """The API loads on first use (PEP 562): every process of the package imports `transfer_laws`
    first, and a Prefect worker's run or a training subprocess needs neither pandas nor scipy."""
    if name in _API:
        return getattr(importlib.import_module("transfer_laws.flows.api"), name)
    raise AttributeError(f"module 'transfer_laws' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
