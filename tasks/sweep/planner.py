"""`transfer-laws plan`: a sweep config's expected precision, and the best designs for a budget.

The math is `tasks.fitting.design` (simulate the grid under a prior, fit every draw); this module
turns a sweep config into a design, a fit.json into a prior, and prices designs with dry-run's cost
model (`tasks.sweep.estimate`: each shape's step time measured once on this machine).
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.fitting.design import KAPLAN_SURFACE, PAPER_LAW, Design, Prediction, Prior
from transfer_laws.tasks.fitting.forms import SURFACES
from transfer_laws.tasks.fitting.noise import NoiseModel, constant_noise, noise_from_dict
from transfer_laws.tasks.sweep.config import SweepConfig

# The demo's seed noise of one run's best ln(loss), as issue 17 measured it (median over its points,
# seeds 0-2):
# 0.75 % from scratch, 0.39 % fine-tuned. The default when neither the prior nor --noise gives one.
DEFAULT_NOISE = {"scratch": 0.0075, "finetune": 0.0039}


def default_noise() -> NoiseModel:
    model = constant_noise(DEFAULT_NOISE["scratch"], "default")
    model.kinds["finetune"] = constant_noise(DEFAULT_NOISE["finetune"]).kinds["scratch"]
    return model


def load_prior(path: str | None, sources: list[str], noise: float | None,
               allow_default: bool = True) -> Prior:
    """The prior from a fit.json (its scratch surface, laws and measured noise), else the paper's
    Table 1 law on Kaplan's surface for every source (labelled as such)."""
    if path is None:
        if not allow_default:
            raise InputError("--prior", None, "no prior given and --no-default-prior forbids the "
                             "paper's", "pass --prior FIT.json (from `transfer-laws fit` or a pilot "
                             "sweep's report), or drop --no-default-prior")
        laws = {src: dict(PAPER_LAW) for src in sources}
        model = constant_noise(noise, f"--noise {noise:g}") if noise else default_noise()
        return Prior("kaplan", dict(KAPLAN_SURFACE), laws, model,
                     "default: Table 1 of Hernandez et al. (text -> Python) on Kaplan et al.'s surface")
    p = Path(path)
    try:
        fit = json.loads(p.read_text())
        form, surface = fit["scratch"]["form"], fit["scratch"]["params"]
    except FileNotFoundError:
        raise InputError("--prior", path, "no such file", "give the fit.json of an earlier fit") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError("--prior", path, "is not a fit.json (no scratch surface)",
                         "give the fit.json that `transfer-laws fit` or a sweep's report wrote") from None
    if form not in SURFACES or not all(isinstance(v, (int, float)) for v in surface.values()):
        raise InputError("--prior", path, f"its scratch surface ({form}) has no usable parameters",
                         "give the fit.json of a fit that succeeded")
    laws = {src: {k: t[k] for k in ("k", "alpha", "beta")} for src, t in fit.get("transfer", {}).items()
            if t.get("status") == "ok" and all(isinstance(t.get(k), (int, float)) for k in ("k", "alpha", "beta"))}
    missing = [s for s in sources if s not in laws]
    if missing:
        raise InputError("--prior", path, f"has no fitted law for source(s) {missing} of the config "
                         f"(it has {sorted(laws)})", "plan with a prior fitted on the same sources, or "
                         "rename the config's sources to match")
    residual = {s: fit["transfer"][s]["residual_var_log"] for s in sources
                if isinstance(fit["transfer"][s].get("residual_var_log"), (int, float))}
    seen = {s: _seen(fit["transfer"][s].get("d_t_observed")) for s in sources}
    laws = {s: laws[s] for s in sources}
    if noise:
        model, label = constant_noise(noise, f"--noise {noise:g}"), f"--noise {noise:g}"
    elif fit.get("noise", {}).get("kinds"):
        model, label = noise_from_dict(fit["noise"]), f"measured ({fit['noise']['source']})"
    else:
        raise InputError("--noise", None, f"{path} records no noise model (a fit older than "
                         "replicates)", "pass --noise SIGMA, the sd of one run's ln(loss), e.g. 0.01")
    return Prior(form, surface, laws, model, f"{path}; noise {label}", law_residual_var=residual,
                 seen={s: v for s, v in seen.items() if v}, design=_grid(fit.get("grid")))


def _grid(entry) -> Design | None:
    """fit.json's `grid` as the Design the prior's law was observed on (None in older fits)."""
    try:
        return Design(tuple(map(float, entry["sizes"])), tuple(map(float, entry["scratch_d"])),
                      tuple(map(float, entry["d_f"])), int(entry["replicates"]))
    except (TypeError, KeyError, ValueError):
        return None


def _seen(entry) -> tuple[tuple[float, float, bool], ...]:
    """fit.json's `d_t_observed` ({usable: [[N, D_F]], unusable: [...]}) as Prior.seen; a fit written
    before it existed gives () (the law is then assumed to hold everywhere)."""
    if not isinstance(entry, dict):
        return ()
    return tuple((float(n), float(d), usable) for usable, key in ((True, "usable"), (False, "unusable"))
                 for n, d in entry.get(key, []))


def design_for(cfg: SweepConfig, suite_sizes: list[float] | None = None) -> Design:
    """The grid `cfg` runs; a suite's sizes (`suite_sizes`, its checkpoints' N) come from its configs,
    and a suite's pre-training is not capped (its token count is not the sweep's)."""
    if cfg.suite():
        return Design(tuple(sorted(float(n) for n in suite_sizes)), tuple(float(d) for d in cfg.scratch_grid()),
                      tuple(float(d) for d in cfg.experiment.finetune_tokens), cfg.experiment.replicates, None)
    sizes = [float(cfg.shape(n).params_non_embedding) for n in cfg.experiment.sizes]
    return Design(tuple(sizes), tuple(float(d) for d in cfg.scratch_grid()),
                  tuple(float(d) for d in cfg.experiment.finetune_tokens), cfg.experiment.replicates,
                  tuple(float(cfg.pretrain_budget(n)) for n in cfg.experiment.sizes))


@dataclass
class Candidate:
    config: SweepConfig
    minutes: float
    prediction: Prediction | None = None

    def score(self, target: str) -> float:
        """The widest interval of `target` over the sources (smaller is better)."""
        if self.prediction is None:
            return math.inf
        return max(p.width[target] for p in self.prediction.sources.values())


def check_bounds(max_replicates: int, pretrain_scales: list[float], budget: float | None) -> None:
    if max_replicates < 1:
        raise InputError("--max-replicates", max_replicates, "must be at least 1", "use 1 or more")
    if not pretrain_scales or any(s <= 0 for s in pretrain_scales):
        raise InputError("--pretrain-scales", pretrain_scales, "must be positive numbers",
                         "e.g. --pretrain-scales 0.5,1,2")
    if budget is not None and budget <= 0:
        raise InputError("--budget-minutes", budget, "must be positive", "give the minutes you can "
                         "spend, e.g. --budget-minutes 100")


def candidate_configs(cfg: SweepConfig, max_replicates: int, pretrain_scales: list[float]):
    """Designs within the bounds: windows of >= 2 of the config's sizes and of >= 2 of its D_F
    values, 1..max_replicates seeds, the pre-training budget times each scale."""
    sizes, d_f = cfg.experiment.sizes, cfg.experiment.finetune_tokens
    size_sets = [sizes[i:j] for i in range(len(sizes)) for j in range(i + 2, len(sizes) + 1)]
    df_sets = [d_f[i:j] for i in range(len(d_f)) for j in range(i + 2, len(d_f) + 1)]
    for ns, ds, r, scale in itertools.product(size_sets, df_sets, range(1, max_replicates + 1),
                                              pretrain_scales):
        budget = [max(1, round(cfg.pretrain_budget(n) * scale)) for n in ns]
        yield cfg.updated(sizes=ns, finetune_tokens=ds, replicates=r, pretrain_replicates=1,
                          pretrain_tokens=budget if len(set(budget)) > 1 else budget[0])


def yaml_snippet(cfg: SweepConfig) -> str:
    """The fields a design changes, ready to paste into the config."""
    import yaml

    def plain(v):  # 3300.0 -> 3300, as a person writes it in the config
        if isinstance(v, list):
            return [plain(x) for x in v]
        return int(v) if isinstance(v, float) and v.is_integer() else v

    fields = {k: plain(getattr(cfg.experiment, k)) for k in ("sizes", "finetune_tokens", "replicates", "pretrain_tokens")}
    return yaml.safe_dump({"experiment": fields}, default_flow_style=None, sort_keys=False).strip()


def price(cfg: SweepConfig, paths, max_replicates: int, pretrain_scales: list[float]) -> tuple[list[Candidate], list]:
    """Every design within the bounds, priced in minutes by dry-run's cost model (each shape's step
    time measured once on this machine and shared across designs), and the corpus fetches
    (`Fetch`) the first run of any of them will make: pricing downloads nothing."""
    from transfer_laws.tasks.sweep import slots
    from transfer_laws.tasks.sweep.estimate import estimate
    from transfer_laws.tasks.sweep.run_graph import run_graph
    from transfer_laws.tasks.sweep.units import preview_all

    target, sources, fetches = preview_all(cfg, paths.cache)
    lay = slots.layout_for(cfg)
    device = lay.device_kind
    per_step: dict = {}
    priced = []
    for c in candidate_configs(cfg, max_replicates, pretrain_scales):
        runs = run_graph(c, target, sources, paths.runs, threads=lay.threads, device_kind=device,
                    step_seconds=per_step)
        est = estimate(runs, len(lay.devices), lay.threads, device, per_step=per_step)
        priced.append(Candidate(c, est.wall_seconds / 60))
    return priced, fetches


def within_budget(priced: list[Candidate], budget_minutes: float, most: int) -> list[Candidate]:
    """At most `most` of the designs that fit the budget, spread evenly over their cost; a budget
    below the cheapest design is an error naming the flag."""
    fits = [c for c in priced if c.minutes <= budget_minutes]
    if not fits:
        cheapest = min(c.minutes for c in priced)
        raise InputError("--budget-minutes", budget_minutes, f"is below the cheapest design in the "
                         f"bounds ({cheapest:.1f} min)", f"give at least {math.ceil(cheapest)} "
                         "minutes, or widen the bounds")
    step = max(1, len(fits) // most)
    return sorted(fits, key=lambda c: c.minutes)[::step][:most]


# Successive halving: every design gets a third of the search draws (at least this many), the best
# quarter (at least 4 x top) all of them; the ranking of the first stage only has to keep the good
# designs in, not order them.
FIRST_STAGE_DRAWS = 4


def search_schedule(n_designs: int, search_draws: int, top: int) -> list[tuple[int, int]]:
    """The search's stages as (designs simulated, draws each): all designs with a few draws, then
    the best of them with `search_draws` (left out when it would repeat the first stage)."""
    first = min(search_draws, max(FIRST_STAGE_DRAWS, search_draws // 3))
    keep = min(n_designs, max(4 * top, n_designs // 4))
    stages = [(n_designs, first)]
    if keep < n_designs or first < search_draws:
        stages.append((keep, search_draws))
    return stages


def search(prior: Prior, chosen: list[Candidate], target: str, search_draws: int, draws: int,
           top: int, seed: int, progress=None, progress_best=None) -> list[Candidate]:
    """Simulate every chosen design with few draws, the best quarter again with `search_draws`,
    re-simulate the `top` narrowest with `draws`, and return those, narrowest `target` interval
    first (`search_schedule`)."""
    from transfer_laws.tasks.fitting.design import predict_many

    for keep, n_draws in search_schedule(len(chosen), search_draws, top):
        chosen = sorted(chosen, key=lambda c: c.score(target))[:keep]  # unscored designs keep their order
        for c, p in zip(chosen, predict_many(prior, [design_for(c.config) for c in chosen], n_draws,
                                             seed, progress=progress)):
            c.prediction = p
    best = sorted(chosen, key=lambda c: c.score(target))[:top]
    for c, p in zip(best, predict_many(prior, [design_for(c.config) for c in best], draws, seed,
                                       progress=progress_best)):
        c.prediction = p
    return sorted(best, key=lambda c: c.score(target))
