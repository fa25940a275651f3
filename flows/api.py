"""The public Python API of transfer-laws, re-exported by `transfer_laws` (everything else is internal).

A notebook or script fits a runs table, asks the transfer calculator, plans a grid or runs a sweep
with these; each CLI verb of the same name is a thin layer that parses flags, calls one of them and
prints. Composition only: the work is in tasks.report, tasks.fitting, tasks.sweep and the flows.

    import transfer_laws as tl
    fit = tl.fit("runs.csv")                       # or a DataFrame with N, D, init, loss
    fit.table1()                                   # k, alpha, beta per source, with 95 % intervals
    tl.predict(fit, n=1e8, d_f=1e6)                # D_T and the effective-data multiplier
    fit.report("out/")                             # fit.json, points.csv, report.md, figures
"""
from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

import pandas as pd

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.fitting.bootstrap import CORES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from transfer_laws.tasks.fitting.design import Prediction as DesignPrediction
    from transfer_laws.tasks.fitting.design import Prior
    from transfer_laws.tasks.fitting.predict import Prediction
    from transfer_laws.tasks.fitting.results import TransferLaw
    from transfer_laws.tasks.report.fit import FitOutcome
    from transfer_laws.tasks.sweep.config import SweepConfig

Interval = tuple[float, float]


@dataclass(frozen=True)
class Law:
    """One source's transfer law D_T = k * D_F^alpha * N^beta, as fitted.

    `verdict` (resolved, unresolved, degenerate, not measured; `reason` says why) is what may be
    quoted: "degenerate" means a number came out of a fit that means nothing (too few points, R² of
    ln D_T below the floor). `resolved(name)` is a parameter's own verdict: for alpha and beta, a
    95 % interval that excludes zero in a law that is not degenerate (tasks/fitting/verdicts.py)."""

    source: str
    k: float | None
    alpha: float | None
    beta: float | None
    ci95: dict[str, Interval]
    n_points: int
    r2_log: float | None
    status: str
    message: str
    units: str
    verdict: str = ""
    reason: str = ""
    verdicts: dict[str, str] = field(default_factory=dict)  # k, alpha, beta -> their verdicts

    @classmethod
    def of(cls, source: str, law: "TransferLaw") -> "Law":
        """The law of fit.json's `transfer.<source>` entry, typed (tasks/fitting/results.py)."""
        verdict = law.verdict
        return cls(source, law.k, law.alpha, law.beta, {p: ci for p, ci in law.ci95.items() if ci is not None},
                   int(law.n_points or 0), law.r2_log, law.status.value, law.message or "", law.k_units,
                   verdict.verdict.value if verdict else "", verdict.reason if verdict else "",
                   {p: j.verdict.value for p, j in (law.verdicts or {}).items()})

    def resolved(self, name: Literal["k", "alpha", "beta"]) -> bool:
        if self.verdicts:
            return self.verdicts.get(name) == "resolved"
        lo, hi = self.ci95.get(name, (None, None))  # a fit.json written before verdicts existed
        return self.status == "ok" and lo is not None and hi is not None and (lo > 0 or hi < 0)


class Fit:
    """A scaling-law fit of a runs table: the scratch surface L(N, D), each source's transfer law with
    its bootstrap intervals, the effective-data multiplier and the per-run points.

    `data` is exactly what fit.json holds (docs/interface.md, fit.json)."""

    def __init__(self, outcome: "FitOutcome") -> None:
        self._outcome = outcome

    @property
    def data(self) -> dict:
        """fit.json's content (strict JSON types; NaN and inf are None)."""
        return self._outcome.fit

    @property
    def scratch(self) -> dict:
        """The scratch surface: form, params, ci95, objective, n_points, status."""
        return self.data["scratch"]

    @property
    def laws(self) -> dict[str, Law]:
        """The transfer law of each pre-training source."""
        return {src: Law.of(src, law) for src, law in self._outcome.report.transfer.items()}

    @property
    def multiplier(self) -> dict:
        """The measured effective-data multiplier D_E/D_F with its interval (fit.json `multiplier`)."""
        return self.data.get("multiplier") or {}

    @property
    def noise(self) -> dict:
        """The noise the fit was measured under (fit.json `noise`)."""
        return self.data.get("noise") or {}

    @property
    def points(self) -> pd.DataFrame:
        """One row per run: N, D, init, loss, and for fine-tunes D_E, D_T and whether the law used it."""
        return self._outcome.points

    def table1(self) -> pd.DataFrame:
        """The paper's Table 1 for these runs: k, alpha, beta per source with 95 % intervals, the
        points and R² behind each, and whether alpha and beta are resolved away from zero."""
        rows = []
        for law in self.laws.values():
            row = {"source": law.source}
            for name in ("k", "alpha", "beta"):
                lo, hi = law.ci95.get(name, (math.nan, math.nan))
                row |= {name: law.__dict__[name], f"{name}_lo": lo, f"{name}_hi": hi}
            row |= {"alpha_resolved": law.resolved("alpha"), "beta_resolved": law.resolved("beta"),
                    "n_points": law.n_points, "r2_log": law.r2_log, "verdict": law.verdict,
                    "reason": law.reason, "status": law.status, "k_units": law.units}
            rows.append(row)
        return pd.DataFrame(rows)

    def predict(self, n: float, d_f: float, source: str | None = None, extrapolate: bool = False) -> "Prediction":
        """See `predict`."""
        return predict(self, n, d_f, source, extrapolate=extrapolate)

    def report(self, out_dir: str | Path, figures: bool = True) -> Path:
        """Write fit.json, points.csv, report.md, bootstrap_samples.csv and the PNGs into out_dir;
        returns the path of report.md."""
        from transfer_laws.tasks.report.fit import write_fit

        write_fit(self._outcome, out_dir, figures)
        return Path(out_dir) / "report.md"

    def figures(self) -> dict[str, "Figure"]:
        """The report's figures as open matplotlib figures, by file name (scratch_surface.png, …)."""
        from transfer_laws.tasks.report.fit_figures import build_figures

        return build_figures(self._outcome.analysis, self._outcome.runs)

    def to_json(self) -> str:
        """fit.json's text."""
        return json.dumps(self.data, indent=1, allow_nan=False)

    def __repr__(self) -> str:
        laws = ", ".join(f"{s}: alpha={_g(w.alpha)} beta={_g(w.beta)} ({w.status})" for s, w in self.laws.items())
        return f"<Fit {self.scratch['form']} on {self.scratch['n_points']} scratch runs; {laws or 'no transfer law'}>"


def _g(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def fit(runs: pd.DataFrame | str | Path, *, form: Literal["kaplan", "chinchilla"] = "kaplan",
        curve_form: Literal["current", "bansal", "piecewise", "auto"] = "current", bootstrap: int | None = None,
        seed: int = 0, exclude_top_loss: int = 0, transfer: Literal["auto", "yes", "no"] = "auto",
        grid: Literal["screened", "full"] = "screened", jobs: int = CORES, units: str = "tokens",
        unit: Literal["tokens", "bytes"] = "tokens", plan_draws: int = 0,
        progress: bool | Callable[[int], None] = False) -> Fit:
    """Fit the scaling laws of a runs table: L(N, D) on the scratch runs, D_T of every fine-tuned run,
    and D_T = k D_F^alpha N^beta per source with bootstrap 95 % intervals.

    runs: a DataFrame or the path of a runs CSV with columns N (non-embedding parameters), D
      (target-data size), init ("scratch" or the source's name), loss (best held-out nats/token).
    form: the scratch surface (Kaplan et al. 2020 or Chinchilla); curve_form: the per-N curve
      inverted for D_E. bootstrap: resamples for the intervals (0: none; None: 15 per point fitted,
      1000 to 4000, so their Monte Carlo error stays under half their sampling error). exclude_top_loss: drop the
      K highest-loss scratch runs. transfer: fit the law when fine-tuned runs exist (auto), always
      (yes: an error without them) or never (no). plan_draws > 0 also predicts how precisely this
      grid resolves the law. progress: True for a bar on stderr, or a callable given each resample.
    unit: count D in tokens (as written) or in UTF-8 bytes (the D_bytes column a sweep's runs.csv
      has): alpha and beta stay, k becomes k_tokens x (bytes per token)^(1 - alpha). units: the name
      given to D's unit when it is neither (e.g. characters in a CSV of your own).
    Bad input raises InputError naming the field, the value and the fix; a fit that cannot be
    trusted raises FitError. Nothing is written: call .report(out_dir).
    """
    from transfer_laws.tasks.fitting.analysis import AnalysisOptions
    from transfer_laws.tasks.fitting.bootstrap import BootstrapOptions
    from transfer_laws.tasks.fitting.robust import FitOptions
    from transfer_laws.tasks.report.fit import fit_table
    from transfer_laws.tasks.report.runs_csv import exclude_top_loss as drop_top
    from transfer_laws.tasks.report.runs_csv import in_unit, read_runs, resamples_for, validate_runs

    for name, value, low in (("bootstrap", bootstrap, 0), ("jobs", jobs, 1), ("exclude_top_loss", exclude_top_loss, 0)):
        if value is not None and value < low:
            raise InputError(name, value, f"must be >= {low}", f"pass {name}={max(low, 1)}")
    df = read_runs(runs) if isinstance(runs, (str, Path)) else runs.copy()
    df = in_unit(validate_runs(df, form, "no"), unit)  # columns and values first, counts after exclusion
    units = "bytes" if unit == "bytes" else units
    df, dropped = drop_top(df, exclude_top_loss)
    df = validate_runs(df, form, transfer)
    bootstrap = resamples_for(df, bootstrap)
    options = AnalysisOptions(
        form=form, fit=FitOptions(grid_mode=grid, n_jobs=jobs),
        bootstrap=BootstrapOptions(n_resamples=bootstrap, seed=seed, n_jobs=jobs),
        fit_transfer=transfer != "no", curve_form=curve_form)
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=bootstrap, desc="bootstrap", unit="resample", file=sys.stderr, disable=bootstrap == 0)
    try:
        outcome = fit_table(df, options, dropped, f"exclude_top_loss = {exclude_top_loss} (--exclude-top-loss {exclude_top_loss})",
                            bar.update if bar else (progress or None), units=units, plan_draws=plan_draws,
                            about={"runs_file": Path(runs).name} if isinstance(runs, (str, Path)) else None)
    finally:
        if bar:
            bar.close()
    return Fit(outcome)


def load_fit(path: str | Path) -> dict:
    """A fit.json written by `fit` (or `Fit.report`), checked for what the calculator reads."""
    path = Path(path)
    if not path.is_file():
        raise InputError("fit", str(path), "no such file", "pass the fit.json written by fit")
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError("fit", str(path), f"not JSON ({exc})", "pass a fit.json") from None
    _check_fit_json(data, path)
    return data


def _check_fit_json(data, path: Path) -> None:
    """The parts of fit.json the calculator reads have the documented types (docs/interface.md, fit.json)."""
    fix = "pass the fit.json written by `transfer-laws fit`, unedited"
    if not isinstance(data, dict):
        raise InputError("fit", str(path), f"holds a JSON {type(data).__name__}, not a fit.json object", fix)
    laws = data.get("transfer") or {}
    if not isinstance(laws, dict):
        raise InputError("fit", str(path), "its \"transfer\" is not an object of laws by source", fix)
    for source, law in laws.items():
        if not isinstance(law, dict):
            raise InputError("fit", str(path), f"transfer.{source} is not an object", fix)
        for key in ("k", "alpha", "beta"):
            value = law.get(key)
            ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                   and math.isfinite(value) and (key != "k" or value > 0))
            if not ok:
                raise InputError("fit", str(path), f"transfer.{source}.{key} = {value!r} is not a "
                                 + ("positive " if key == "k" else "") + "finite number", fix)


def predict(fit: Fit | dict | str | Path, n: float, d_f: float, source: str | None = None,
            extrapolate: bool = False) -> "Prediction":
    """The transfer calculator: D_T = k D_F^alpha N^beta and the multiplier D_E/D_F = 1 + D_T/D_F for
    a model of n non-embedding parameters fine-tuned on d_f (in the fit's D units), with a 95 %
    interval from the bootstrap covariance. `fit`: a Fit, fit.json's dict, or its path; `source` may
    be left out when the fit has one law. Outside the fitted N and D_F the answer says how many
    decades it extrapolates (`.note`, `.extrapolation_decades`); beyond two decades it is an
    InputError unless `extrapolate=True`."""
    from transfer_laws.tasks.fitting.predict import predict_from_fit

    where = str(fit) if isinstance(fit, (str, Path)) else "the fit"
    data = fit.data if isinstance(fit, Fit) else load_fit(fit) if isinstance(fit, (str, Path)) else fit
    for name, value in (("n", n), ("d_f", d_f)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InputError(name, value, "must be a finite positive number", f"e.g. {name}=1e6")
    try:
        return predict_from_fit(data, float(n), float(d_f), source, extrapolate=extrapolate)
    except KeyError as exc:
        flag, problem, fix, *value = exc.args
        value = value[0] if value else source if flag == "--source" else where
        raise InputError(flag.lstrip("-").replace("-", "_"), value, problem, fix) from exc
    except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:  # a hand-edited fit.json
        raise InputError("fit", where, f"is malformed ({type(exc).__name__}: {exc})",
                         "pass the fit.json written by `transfer-laws fit`, unedited") from None


def load_config(path: str | Path) -> "SweepConfig":
    """A sweep config from a YAML file, or a bundled one by name ("demo", "paper-cpu", …), validated
    (every bad field is an InputError naming it). Override settings with `.updated(name=value, ...)`."""
    from transfer_laws.tasks.sweep.config import SweepConfig

    return SweepConfig.load(path)


def _config(config: "SweepConfig | str | Path") -> "SweepConfig":
    from transfer_laws.tasks.sweep.config import SweepConfig

    return config if isinstance(config, SweepConfig) else load_config(config)


def _project(config: "SweepConfig", home: str | Path | None):
    """The config with its project folder resolved (and `home` applied), and the project's paths,
    the process environment set for them."""
    from transfer_laws.tasks.common import env

    paths = env.project_paths(str(home) if home is not None else config.tracking.home)
    env.apply(paths, hub=config.uses_hub())
    _use_project_credentials(paths.home, config.tracking.tracking_uri)
    return config.updated(home=str(paths.home)), paths  # validated once, with the resolved folder


def _use_project_credentials(home: Path, tracking_uri: str | None) -> None:
    """HOME's server credentials (services init-auth) into this process's environment, when the
    Prefect API or the tracking URI is one of the servers recorded in HOME (never another's)."""
    from transfer_laws.tasks.services import auth, servers

    recorded = [s.url for s in servers.load_record(home)]
    credentials = auth.for_targets(home, [os.environ.get("PREFECT_API_URL"), tracking_uri], recorded)
    for key, value in (credentials.client_env() if credentials else {}).items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class Plan:
    """What a grid is expected to measure, before it runs: the prior it was simulated under (with
    what was matched or left out) and the predicted 95 % half-widths per source."""

    config: "SweepConfig"
    prior: "Prior"
    prediction: "DesignPrediction"


def plan(config: "SweepConfig | str | Path", *, prior: str | Path | None = None, noise: float | None = None,
         draws: int = 64, seed: int = 0, calibrate: int = 0, default_prior: bool = True,
         home: str | Path | None = None, progress: Callable[[int], None] | None = None) -> Plan:
    """Simulate the sweep's grid `draws` times under a prior and fit every draw with the report's fitter:
    the spread of the estimates is the interval one such sweep would give. `prior`: a fit.json (a pilot
    or earlier sweep), else the paper's Table 1 law (refused with default_prior=False). `noise`: sd of
    one run's ln(loss), else the prior's measured noise. See `transfer-laws plan --help`."""
    from transfer_laws.tasks.fitting.design import calibrate_bootstrap, calibrate_scatter
    from transfer_laws.tasks.fitting.design import predict as simulate
    from transfer_laws.tasks.sweep import planner

    if noise is not None and not (0 < noise < 1):
        raise InputError("noise", noise, "must be between 0 and 1 (an sd of ln loss)", "e.g. noise=0.01")
    if draws < 8:
        raise InputError("draws", draws, "is too few for a 95 % interval", "use draws=8 or more")
    if calibrate < 0:
        raise InputError("calibrate", calibrate, "must be 0 or more", "e.g. calibrate=4")
    cfg, paths = _project(_config(config), home)
    suite_sizes = None
    if cfg.suite():  # the sizes are the checkpoints' (from the cache, or their published shapes offline)
        from transfer_laws.tasks.common import env
        from transfer_laws.tasks.sweep.suites import suites_of

        env.apply(paths, hub=cfg.uses_hub())
        suite = next(iter(suites_of(cfg, weights=False).values()))
        suite_sizes = [c.info.architecture.params_non_embedding for c in suite.checkpoints]
    the_prior = planner.load_prior(str(prior) if prior else None, list(cfg.experiment.sources), noise, default_prior)
    design = planner.design_for(cfg, suite_sizes)
    the_prior = calibrate_scatter(the_prior, design, seed=seed)
    the_prior = calibrate_bootstrap(the_prior, design, calibrate, seed=seed)
    return Plan(cfg, the_prior, simulate(the_prior, design, draws, seed, progress=progress))


def run(config: "SweepConfig | str | Path", *, home: str | Path | None = None, bootstrap: int | None = None,
        aggregate: bool = True) -> dict:
    """Run a sweep to its report: every run not done yet is trained (done ones are skipped, interrupted
    ones resume), then the fit. Prefect runs on a temporary server of this process unless
    PREFECT_API_URL names one; MLflow writes to HOME/mlflow.db unless the config names a
    tracking_uri. Returns the sweep flow's result
    (`report`: fit.json's content and the report folder). Raises SweepFailed naming each failed run."""
    from transfer_laws.tasks.services import warmup

    cfg, paths = _project(_config(config), home)
    if cfg.execution.executor == "local":
        warmup.start_zygote()  # the slow starts first, each in its own process
    prefect = warmup.start_prefect(paths)
    try:
        from transfer_laws.tasks.sweep import slots
        from transfer_laws.tasks.sweep.run_graph import check_against_data, check_suite
        from transfer_laws.tasks.sweep.suites import largest_model
        from transfer_laws.tasks.sweep.units import prepare_ahead

        target, sources = prepare_ahead(cfg, str(paths.cache))
        check_against_data(cfg, target)
        lay = slots.layout_for(cfg, largest_model(sources, cfg.experiment.n_ctx))
        check_suite(cfg, target, sources, lay.device_kind, len(lay.devices))
    except BaseException:  # bad data: stop with nothing left in the project folder
        if prefect:
            prefect.discard()
        raise
    from transfer_laws.flows.sweep import sweep_flow

    with warmup.local_services(prefect, paths, cfg.tracking.tracking_uri or paths.mlflow_uri):
        return sweep_flow(cfg, aggregate=aggregate, bootstrap=bootstrap)


@dataclass(frozen=True)
class Preview:
    """A sweep planned from what is on disk, fetching nothing (dry-run, status, export-suite)."""

    runs: list
    layout: object  # tasks.sweep.slots.SlotLayout
    target: object  # the target's PreparedData, or its stand-in
    sources: dict  # name -> PreparedData (or stand-in) | Suite
    fetches: list  # what the first `run` will download


def preview_plan(cfg: "SweepConfig", paths) -> Preview:
    """The sweep's runs from the data on disk (corpora not fetched yet priced by their recorded size,
    a suite by its configs: tasks.sweep.units.preview_all), on this machine's slot layout."""
    from transfer_laws.tasks.sweep import slots
    from transfer_laws.tasks.sweep.run_graph import run_graph as plan_runs
    from transfer_laws.tasks.sweep.suites import largest_model
    from transfer_laws.tasks.sweep.units import preview_all

    target, sources, fetches = preview_all(cfg, paths.cache)
    lay = slots.layout_for(cfg, largest_model(sources, cfg.experiment.n_ctx))
    runs = plan_runs(cfg, target, sources, paths.runs, threads=lay.threads, device_kind=lay.device_kind)
    return Preview(runs, lay, target, sources, fetches)


def export_suite(config: "SweepConfig | str | Path", out: str | Path, *, source: str | None = None,
                 home: str | Path | None = None) -> list[Path]:
    """Write the finished sweep's pre-trained models (first seed of each size and source) as a suite of
    Hugging Face folders under OUT/SOURCE/: config, safetensors, the sweep's tokenizer and a model
    card. Each folder loads with `from_pretrained`; one source's folders are the `checkpoints` of a
    source of another sweep. Returns the folders."""
    from transfer_laws.tasks.sweep.export_suite import export_suite as write_suite
    from transfer_laws.tasks.tracking import mlflow_store

    cfg, paths = _project(_config(config), home)
    if cfg.suite():
        raise InputError("config", cfg.experiment.name, "measures suites of checkpoints; it pre-trains no models to export",
                         "export the sweep whose pre-trained models those checkpoints are")
    preview = preview_plan(cfg, paths)
    finished = {}
    if cfg.tracking.tracking_uri or paths.mlflow_db.exists():  # never create a store to read it
        c = mlflow_store.client(cfg.tracking.tracking_uri or paths.mlflow_uri)
        exp = c.get_experiment_by_name(cfg.experiment.name)
        if exp is not None:
            finished = {k: r for k, r in mlflow_store.finished_runs(c, exp.experiment_id).items()
                        if mlflow_store.is_done(r)}
    return write_suite(cfg, preview.runs, preview.target.tokenizer_dir, finished, Path(out), source)


def runs(experiment: str, *, home: str | Path | None = None, tracking_uri: str | None = None) -> pd.DataFrame:
    """The finished scratch and fine-tuned runs of an MLflow experiment (a sweep's name) as the runs
    table `fit` takes (docs/interface.md, Runs CSV), from HOME/mlflow.db or `tracking_uri`."""
    from transfer_laws.tasks.common import env
    from transfer_laws.tasks.tracking import export

    paths = env.project_paths(home)
    _use_project_credentials(paths.home, tracking_uri)
    uri = tracking_uri or paths.mlflow_uri
    if tracking_uri is None and not paths.mlflow_db.exists():
        raise InputError("home", str(paths.home), "holds no MLflow store (mlflow.db)",
                         "give home= the project folder of a sweep that ran, or tracking_uri=")
    _, _, all_runs = export.load_all(uri, experiment)
    return export.runs_table(all_runs)
