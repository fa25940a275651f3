"""Cost estimates for `dry-run`: FLOPs from the plan, seconds from a short measurement on this machine.

Each distinct shape and batch (a fine-tune's batch is cut to its D_F) trains 7 timed steps (after
3 warm-up steps; the median counts) at the sweep's context and threads per run; a run's time is its expected steps at that speed, plus its
evaluations (a forward pass over eval_tokens and the saves after it), plus a fixed per-run overhead
(process fork, MLflow). The sweep's wall time is the schedule the sweep flow itself
follows (`tasks.sweep.schedule`: longest remaining chain first, each fine-tune after its pre-train).
"""
from __future__ import annotations

from dataclasses import dataclass

from transfer_laws.model.shapes import Shape
from transfer_laws.tasks.sweep.run_graph import PlannedRun
from transfer_laws.tasks.sweep.schedule import simulate
from transfer_laws.tasks.sweep.step_time import seconds_per_step

PER_RUN_OVERHEAD_S = 3.0
EVAL_SAVE_S = 0.05  # the checkpoint saves after each evaluation (measured on the demo, 2 CPU cores)


@dataclass
class Estimate:
    seconds: dict[str, float]  # run_key -> estimated seconds
    wall_seconds: float
    step_seconds: dict[tuple[Shape, int], float]  # (shape, batch size) -> seconds per step


def estimate(runs: list[PlannedRun], n_slots: int, threads: int, device: str = "cpu",
             per_step: dict[tuple[Shape, int], float] | None = None) -> Estimate:
    """Seconds per run and the sweep's wall time; `per_step` ((shape, batch) -> seconds per step)
    is measured for the pairs it lacks and filled in, so the planner measures each pair once."""
    per_step = {} if per_step is None else per_step
    for run in runs:
        step_key(run, per_step, threads, device)
    seconds = {}
    for run in runs:
        cfg, step = run.config, per_step[(run.shape, run.config.batch_size)]
        steps = run.est_steps
        evals = max(1, -(-steps // cfg.eval_interval))
        # an evaluation is a forward pass (a third of a step's work per token) over eval_tokens, at
        # the speed of the shape's largest measured batch (a small batch's step is mostly overhead)
        big = max(b for s, b in per_step if s == run.shape)
        eval_s = per_step[(run.shape, big)] * cfg.eval_tokens / (3 * big * cfg.n_ctx) + EVAL_SAVE_S
        train_s = steps * step
        if cfg.compile:  # tasks.sweep.gpu_rules: a one-off compile, then faster steps
            from transfer_laws.tasks.sweep.gpu_rules import COMPILE_COST

            cost = COMPILE_COST[device]
            train_s = cost.compile_s + train_s / cost.speedup
        seconds[run.run_key] = train_s + evals * eval_s + PER_RUN_OVERHEAD_S
    spans = simulate(runs, cost=lambda r: r.est_work, capacity=n_slots,
                     seconds=lambda r: seconds[r.run_key])
    return Estimate(seconds, max((end for _, end in spans.values()), default=0.0), per_step)


def step_key(run: PlannedRun, per_step: dict, threads: int, device: str) -> tuple[Shape, int]:
    """(shape, batch) of `run`, its seconds per step measured into `per_step` when missing."""
    key = (run.shape, run.config.batch_size)
    if key not in per_step:
        per_step[key] = seconds_per_step(run.shape, run.config.batch_size, threads, device)
    return key
