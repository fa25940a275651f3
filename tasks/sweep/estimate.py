"""Cost estimates for `dry-run`: FLOPs from the plan, seconds from a short measurement on this machine.

Each distinct shape trains 7 timed steps (after 3 warm-up steps; the median counts) at the sweep's
batch, context and threads per run; a run's time is its expected steps at that speed, plus its
evaluations (a forward pass over eval_tokens and the saves after it), plus a fixed per-run overhead
(process fork, MLflow). The sweep's wall time is the schedule the sweep flow itself
follows (`tasks.sweep.schedule`: longest remaining chain first, each fine-tune after its pre-train).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from model.shapes import Shape
from tasks.sweep.plan import PlannedRun
from tasks.sweep.schedule import simulate

PER_RUN_OVERHEAD_S = 3.0
EVAL_SAVE_S = 0.05  # the checkpoint saves after each evaluation (measured on the demo, 2 CPU cores)


def seconds_per_step(shape: Shape, batch_size: int, threads: int, device: str = "cpu") -> float:
    import torch

    from model.build import build_model

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build_model(shape, seed=0).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
        x = torch.randint(0, shape.vocab_size, (batch_size, shape.n_ctx), device=device)
        times = []
        for i in range(10):
            t0 = time.perf_counter()
            model(input_ids=x, labels=x).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device != "cpu":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return sorted(times[3:])[3]  # the median: one slow step (a page fault, a timer) moves it little
    finally:
        torch.set_num_threads(old)


@dataclass
class Estimate:
    seconds: dict[str, float]  # run_key -> estimated seconds
    wall_seconds: float
    step_seconds: dict[Shape, float]


def estimate(runs: list[PlannedRun], n_slots: int, threads: int, device: str = "cpu",
             per_step: dict[Shape, float] | None = None) -> Estimate:
    """Seconds per run and the sweep's wall time; `per_step` (shape -> seconds per step) is
    measured for the shapes it lacks and filled in, so the planner measures each shape once."""
    per_step = {} if per_step is None else per_step
    for run in runs:
        if run.shape not in per_step:
            per_step[run.shape] = seconds_per_step(run.shape, run.config.batch_size, threads, device)
    seconds = {}
    for run in runs:
        cfg, step = run.config, per_step[run.shape]
        steps = run.est_steps
        evals = -(-steps // cfg.eval_interval)
        # an evaluation is a forward pass (a third of a step's work per token) over eval_tokens
        eval_s = step * cfg.eval_tokens / (3 * cfg.batch_size * cfg.n_ctx) + EVAL_SAVE_S
        seconds[run.run_key] = steps * step + evals * eval_s + PER_RUN_OVERHEAD_S
    spans = simulate(runs, cost=lambda r: r.est_work, capacity=n_slots,
                     seconds=lambda r: seconds[r.run_key])
    return Estimate(seconds, max((end for _, end in spans.values()), default=0.0), per_step)
