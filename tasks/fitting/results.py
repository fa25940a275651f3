"""fit.json as types: what a fit found, frozen, so that a reader names fields, not string keys.

`ScratchFit` (the surface L(N, D)), `TransferLaw` (one source's D_T = k D_F^alpha N^beta),
`Multiplier` (the measured D_E/D_F) and `FitReport` (the whole file), each with `to_json()`: the keys
fit.json has always had, in the order of the fields, and `from_json()`, which reads an older fit.json
too: a key it lacks takes the field's default. A key that only some fits have (a law's
`fitted_range`, the report's `planner`) is None where it is absent and left out again by `to_json()`,
so `X.from_json(d).to_json() == d` for every fit.json the report wrote. The open-ended parts (noise,
bootstrap, planner, checklist, …) stay dicts. Schema and meanings: docs/fit-json.md.

They live with the math, not the report, because the math's own readers of fit.json (predict,
verdicts) may use them; the report builds them and writes `FitReport.to_json()`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum

from transfer_laws.tasks.fitting.status import FitStatus
from transfer_laws.tasks.fitting.verdicts import Judgement

Interval = tuple[float | None, float | None]  # a 95 % interval; an end is None where it was NaN or inf


def _optional(default=None):
    """A field fit.json has only for some fits: None means absent, and to_json() leaves it out."""
    return field(default=default, metadata={"optional": True})


def _plain(value):
    """A field's value as JSON: typed parts by their own to_json, enums by value, tuples as lists."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _to_json(result) -> dict:
    """fit.json's keys are the field names (or a field's `key`), in field order; fresh containers."""
    return {f.metadata.get("key", f.name): _plain(getattr(result, f.name)) for f in fields(result)
            if not (f.metadata.get("optional") and getattr(result, f.name) is None)}


class _AsJson:
    """`to_json()` for the result types below: their fields under fit.json's keys (`_to_json`)."""

    def to_json(self) -> dict:
        return _to_json(self)


def _interval(raw) -> Interval | None:
    return None if raw is None else tuple(raw)


def _intervals(raw: dict | None) -> dict[str, Interval | None]:
    return {name: _interval(ci) for name, ci in (raw or {}).items()}


def _judgement(raw: dict | None) -> Judgement | None:
    return None if raw is None else Judgement.from_json(raw)


@dataclass(frozen=True)
class ScratchFit(_AsJson):
    """The scratch loss surface L(N, D) of the chosen form: parameters with their intervals, the
    optimiser's evidence, and whether it may be quoted (`verdict`)."""

    form: str  # "kaplan" or "chinchilla"
    params: dict[str, float | None]  # the form's natural parameters
    objective: float | None = None  # Huber objective at the optimum
    grad_norm: float | None = None  # max |projected gradient| there
    status: FitStatus = FitStatus.OK  # a fit.json older than the status wrote converged fits only
    message: str = ""  # why the status is what it is
    n_starts: int = 0
    n_points: int = 0  # scratch points fitted
    ci95: dict[str, Interval | None] = field(default_factory=dict)
    verdict: Judgement | None = _optional()

    @classmethod
    def from_json(cls, d: dict) -> ScratchFit:
        return cls(d["form"], dict(d.get("params") or {}), d.get("objective"), d.get("grad_norm"),
                   FitStatus(d.get("status", FitStatus.OK)), d.get("message", ""), d.get("n_starts", 0),
                   d.get("n_points", 0), _intervals(d.get("ci95")), _judgement(d.get("verdict")))


@dataclass(frozen=True)
class TransferLaw(_AsJson):
    """One source's transfer law D_T = k D_F^alpha N^beta (k in `k_units` of D), its bootstrap
    intervals and verdicts, and what the planner and the calculator read of it."""

    k: float | None = None  # None where no law was fitted
    alpha: float | None = None
    beta: float | None = None
    method: str = "none"  # "fit_the_fits" (the paper's, App. C), "joint", or "none"
    ci95: dict[str, Interval | None] = field(default_factory=dict)  # k, alpha, beta (, k_chars, k_bytes)
    n_points: int = 0  # low-data points the law was fitted on
    r2_log: float | None = None  # R² of ln D_T under the law
    status: FitStatus = FitStatus.NOT_FITTED
    message: str = ""
    excluded: dict[str, int] = field(default_factory=dict)  # reason a point was left out -> count
    per_d_f: list[dict] = field(default_factory=list)  # per D_F: slope, intercept(s), n_points
    joint: dict = field(default_factory=dict)  # joint least squares: k, alpha, beta, r2_log, ci95
    cov_lnk_alpha_beta: list[list[float]] | None = None  # bootstrap covariance; None without resamples
    k_units: str = "tokens"
    residual_var_log: float | None = _optional()  # from here on: a fitted law (status ok) only
    fitted_range: dict[str, list[float]] | None = _optional()  # "N", "D_F": the span of the law's points
    d_t_observed: dict[str, list[list[float]]] | None = _optional()  # "usable", "unusable": [N, D_F] pairs
    k_chars: float | None = _optional()  # k with D counted in characters (runs with D_chars)
    k_bytes: float | None = _optional()  # k with D counted in UTF-8 bytes (runs with D_bytes)
    n_informative: int | None = _optional()  # used points neither at zero-shot nor best in epoch 1
    verdict: Judgement | None = _optional()  # the law's
    verdicts: dict[str, Judgement] | None = _optional()  # k, alpha, beta: each parameter's

    @classmethod
    def from_json(cls, d: dict) -> TransferLaw:
        verdicts = d.get("verdicts")
        return cls(d.get("k"), d.get("alpha"), d.get("beta"), d.get("method", "none"), _intervals(d.get("ci95")),
                   d.get("n_points", 0), d.get("r2_log"), FitStatus(d.get("status", FitStatus.NOT_FITTED)),
                   d.get("message", ""), d.get("excluded", {}), d.get("per_d_f", []), d.get("joint", {}),
                   d.get("cov_lnk_alpha_beta"), d.get("k_units", "tokens"), d.get("residual_var_log"),
                   d.get("fitted_range"), d.get("d_t_observed"), d.get("k_chars"), d.get("k_bytes"),
                   d.get("n_informative"), _judgement(d.get("verdict")),
                   None if verdicts is None else {p: Judgement.from_json(j) for p, j in verdicts.items()})


@dataclass(frozen=True)
class Multiplier(_AsJson):
    """The effective-data multiplier D_E/D_F measured at a source's smallest D_F (median over sizes):
    `resolved` when its 95 % interval lies above 1, i.e. pre-training was measurably worth data."""

    d_f: float = field(metadata={"key": "D_F"})
    estimate: float | None
    ci95: Interval | None = None  # None where the bootstrap gave none
    n_sizes: int = 0
    resolved: bool = False

    @classmethod
    def from_json(cls, d: dict) -> Multiplier:
        return cls(d["D_F"], d.get("estimate"), _interval(d.get("ci95")), d.get("n_sizes", 0),
                   d.get("resolved", False))


@dataclass(frozen=True, kw_only=True)
class FitReport(_AsJson):
    """The whole fit.json. Typed where readers read (the scratch surface, the laws, the multiplier);
    the open-ended rest stays as the dicts docs/interface.md describes, None where absent."""

    version: str | None = _optional()  # the package version that wrote it (absent before 0.2)
    about: dict | None = _optional()  # what was fitted: sweep, target, sources, runs, date
    scratch: ScratchFit
    scratch_forms: dict | None = _optional()  # both forms by name, each with its verdict
    bootstrap: dict | None = _optional()  # n_resamples, seed, n_failed (, samples)
    transfer: dict[str, TransferLaw] = field(default_factory=dict)  # by source
    transfer_global: dict | None = _optional()  # the laws with D_E from the global surface
    zero_shot: dict | None = _optional()
    multiplier: dict[str, Multiplier] | None = _optional()  # by source
    noise: dict | None = _optional()
    planner: dict | None = _optional()  # only with --plan-draws > 0
    curve_forms: dict | None = _optional()
    per_n_curves: dict | None = _optional()
    points: str | None = _optional()  # points.csv, relative to fit.json
    grid: dict | None = _optional()
    rollout: dict | None = _optional()
    checklist: dict | None = _optional()

    @classmethod
    def from_json(cls, d: dict) -> FitReport:
        """Raises KeyError on a document with no `scratch`: not a fit (the aggregate's failure record)."""
        typed = {"scratch": ScratchFit.from_json(d["scratch"]),
                 "transfer": {src: TransferLaw.from_json(t) for src, t in (d.get("transfer") or {}).items()},
                 "multiplier": None if d.get("multiplier") is None else
                 {src: Multiplier.from_json(m) for src, m in d["multiplier"].items()}}
        return cls(**typed, **{f.name: _plain(d.get(f.name)) for f in fields(cls) if f.name not in typed})
