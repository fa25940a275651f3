"""One verdict per reported quantity, with its reason in words: what a researcher may quote.

An optimiser that stopped says nothing about whether its answer means anything. These rules do:
too few points for the parameters, an absurd or edge-of-range parameter, a law that does not
describe its points (R² of ln D_T), an interval that spans zero or many decades. The thresholds are
named below, each with the line of why; the report, fit.json and the API carry the same verdicts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class Verdict(str, Enum):
    RESOLVED = "resolved"  # measured, and its 95 % interval says something
    UNRESOLVED = "unresolved"  # measured, but the interval spans zero, is too wide, or is missing
    DEGENERATE = "degenerate"  # a number came out, but the fit behind it means nothing
    EXTRAPOLATED = "extrapolated"  # an answer outside the range that was measured
    NOT_MEASURED = "not measured"  # nothing to judge: no fit was possible


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str

    def to_json(self) -> dict:
        return {"verdict": self.verdict.value, "reason": self.reason}

    @classmethod
    def from_json(cls, d: dict) -> Judgement:
        return cls(Verdict(d["verdict"]), d.get("reason", ""))


# With fewer than three points per parameter a fit can bend to the noise: it describes, never tests.
POINTS_PER_PARAMETER = 3
LAW_PARAMETERS = ("k", "alpha", "beta")  # of D_T = k D_F^alpha N^beta
# Below this R² of ln D_T the law explains less of its points' spread than it leaves unexplained.
MIN_R2_LOG = 0.5
# A scale (k) whose 95 % interval spans more decades than this is pinned down by nothing (k is the
# law's value at D_F = N = 1, far outside any grid, so a few decades are usual for a good law).
MAX_INTERVAL_DECADES = 4.0
# An irreducible loss below this (nats) says the fit traded E for its power laws: text is not ~0 nats.
MIN_IRREDUCIBLE_LOSS = 1e-3
# Coefficients this large (A, B, N_c, D_c) are an optimiser running off along a flat valley.
MAX_SCALE = 1e30
# Loss exponents of language models are measured at 0.05-1 (Kaplan et al., Hoffmann et al.). Below
# 1e-3 the loss does not depend on that variable; above 5 it is a step, not a power law; either is
# also where the optimiser meets the Kaplan form's bounds (1e-4..10).
EXPONENT_RANGE = (1e-3, 5.0)
SURFACE_EXPONENTS = {"kaplan": ("alpha_N", "alpha_D"), "chinchilla": ("alpha", "beta")}
SURFACE_SCALES = {"kaplan": ("N_c", "D_c"), "chinchilla": ("A", "B")}


def _g(x: float) -> str:
    return f"{x:.3g}"


def _decades(ci) -> float | None:
    lo, hi = ci
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= 0:
        return None
    return math.log10(hi / lo)


def _has(ci) -> bool:
    return ci is not None and len(ci) == 2 and all(x is not None and math.isfinite(x) for x in ci)


def judge_surface(form: str, params: dict, ci95: dict, n_points: int, optimiser_status: str = "ok",
                  optimiser_message: str = "") -> Judgement:
    """The scratch loss surface L(N, D) (its own form, or a cross-fit of another form)."""
    if optimiser_status != "ok":
        return Judgement(Verdict.DEGENERATE, f"the optimiser did not converge ({optimiser_message})")
    if n_points < POINTS_PER_PARAMETER * len(params):
        return Judgement(Verdict.DEGENERATE, f"{n_points} points for {len(params)} parameters: fewer than "
                         f"{POINTS_PER_PARAMETER} per parameter")
    infinite = [name for name, v in params.items() if v is None or not math.isfinite(v)]
    if infinite:
        return Judgement(Verdict.DEGENERATE, f"{', '.join(infinite)} ran off to infinity (not a finite number)")
    absurd = []
    if form == "chinchilla" and params.get("E", 1.0) < MIN_IRREDUCIBLE_LOSS:
        absurd.append(f"E = {_g(params['E'])}: an irreducible loss of ~0 nats")
    absurd += [f"{name} = {_g(params[name])}: beyond {MAX_SCALE:.0e}"
               for name in SURFACE_SCALES.get(form, ()) if params.get(name, 0) >= MAX_SCALE]
    absurd += [f"{name} = {_g(params[name])}: outside {EXPONENT_RANGE[0]:g}-{EXPONENT_RANGE[1]:g}, not a "
               "power law these runs pin down" for name in SURFACE_EXPONENTS.get(form, ())
               if not EXPONENT_RANGE[0] < params.get(name, 1.0) < EXPONENT_RANGE[1]]
    if absurd:
        return Judgement(Verdict.DEGENERATE, "; ".join(absurd))
    exponents = SURFACE_EXPONENTS.get(form, ())
    if not all(_has(ci95.get(name)) for name in exponents):
        return Judgement(Verdict.UNRESOLVED, "point estimate only: no bootstrap interval")
    spanning = [name for name in exponents if ci95[name][0] <= 0 <= ci95[name][1]]
    if spanning:
        return Judgement(Verdict.UNRESOLVED, ", ".join(f"{n}'s 95 % interval {_g(ci95[n][0])} to "
                                                       f"{_g(ci95[n][1])} includes 0" for n in spanning))
    return Judgement(Verdict.RESOLVED, f"{n_points} points; every exponent's 95 % interval excludes 0")


def judge_law(law: dict) -> tuple[Judgement, dict[str, Judgement]]:
    """The transfer law D_T = k D_F^alpha N^beta of one source (a fit.json `transfer` entry) and
    its three parameters: the law's verdict and one per parameter."""
    params = LAW_PARAMETERS
    if law.get("status") != "ok" or any(law.get(p) is None or not math.isfinite(law[p]) for p in params):
        why = Judgement(Verdict.NOT_MEASURED, f"no law: {law.get('message') or law.get('status')}")
        return why, {p: why for p in params}
    n_points, r2 = law.get("n_points", 0), law.get("r2_log")
    degenerate = []
    if n_points < POINTS_PER_PARAMETER * len(params):
        degenerate.append(f"{n_points} points for 3 parameters: fewer than {POINTS_PER_PARAMETER} per parameter")
    if r2 is None or not math.isfinite(r2) or r2 < MIN_R2_LOG:
        degenerate.append(f"R² of ln D_T {_g(r2) if r2 is not None else 'n/a'} is below {MIN_R2_LOG}: "
                          "the law does not describe its points")
    informative = law.get("n_informative")
    if informative == 0 and n_points:
        degenerate.append(f"each of its {n_points} points ended within noise of its zero-shot loss or was "
                          "best before one pass over D_F: it describes the pre-trained model, not D_F")
    if degenerate:
        why = Judgement(Verdict.DEGENERATE, "; ".join(degenerate))
        return why, {p: why for p in params}
    ci95 = law.get("ci95") or {}
    each = {}
    for p in ("alpha", "beta"):
        ci = ci95.get(p)
        if not _has(ci):
            each[p] = Judgement(Verdict.UNRESOLVED, "no bootstrap interval")
        elif ci[0] <= 0 <= ci[1]:
            each[p] = Judgement(Verdict.UNRESOLVED, f"95 % interval {_g(ci[0])} to {_g(ci[1])} includes 0")
        else:
            each[p] = Judgement(Verdict.RESOLVED, f"95 % interval {_g(ci[0])} to {_g(ci[1])} excludes 0")
    width = _decades(ci95["k"]) if _has(ci95.get("k")) else None
    if width is None:
        each["k"] = Judgement(Verdict.UNRESOLVED, "no bootstrap interval")
    elif width > MAX_INTERVAL_DECADES:
        each["k"] = Judgement(Verdict.UNRESOLVED, f"95 % interval {_g(ci95['k'][0])} to {_g(ci95['k'][1])} "
                              f"spans {width:.1f} decades (more than {MAX_INTERVAL_DECADES:g})")
    else:
        each["k"] = Judgement(Verdict.RESOLVED, f"95 % interval spans {width:.1f} decades")
    open_ = [p for p in params if each[p].verdict is not Verdict.RESOLVED]
    if open_:
        return Judgement(Verdict.UNRESOLVED, "; ".join(f"{p}: {each[p].reason}" for p in open_)), each
    return Judgement(Verdict.RESOLVED, f"{n_points} points, R² of ln D_T {_g(r2)}; k, alpha and beta "
                     "resolved"), each


def cross_fit_too_small(n_points: int, n_params: int) -> str:
    """Why a cross-fit of another surface form is not worth running ('' if it is): below
    POINTS_PER_PARAMETER a point its verdict is degenerate whatever the optimiser finds (64 starts
    of a 5-parameter Chinchilla fit on 6 points cost 7 s, three times a micro sweep's training)."""
    need = POINTS_PER_PARAMETER * n_params
    if n_points >= need:
        return ""
    return (f"{n_points} scratch points for {n_params} parameters: a cross-fit needs {need} "
            f"({POINTS_PER_PARAMETER} per parameter) to mean anything, so it was not run")


def law_too_small(n_points: int) -> str:
    """Why no simulation can show a grid resolving a law of `n_points` usable points ('' if one
    can): below POINTS_PER_PARAMETER a parameter its verdict is degenerate whatever the noise."""
    k = len(LAW_PARAMETERS)
    need = POINTS_PER_PARAMETER * k
    if n_points >= need:
        return ""
    return (f"this grid gives the law {n_points} usable points for {k} parameters, fewer than the "
            f"{need} ({POINTS_PER_PARAMETER} per parameter) a resolved law needs, whatever the noise: more "
            "fine-tuning sizes or D_F values would (`transfer-laws plan` searches designs)")
