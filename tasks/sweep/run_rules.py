"""The sweep's size- and data-dependent rules, in one place: (kind, size, D, source, seed) -> RunConfig.

Everything a run's settings owe to its size N or its data set size D is decided here, so the
mapping from a sweep config to its runs is kept in one object (as OLMo-core's run configurator
and Prefect's "keep this mapping in one place" do):

- the peak learning rate lr(N): Kaplan et al.'s rule, or the config's fixed lr;
- the evaluation cadence: at least once per epoch of D;
- the fine-tune batch: small enough that a pass over D_F takes `finetune_steps_per_epoch` steps;
- the pre-training steps: the size's budget over the tokens of one step, at least past the warm-up;
- the pre-training patience, and a zero-shot run's single evaluation;
- the expected epochs to the best held-out loss (`est_epochs`), which prices runs and decides
  whether compiling pays (`with_compile`).

The shape of size N is the family's aspect-ratio rule (model/shapes.py, `SweepConfig.shape`); a
suite's sizes bring their own architectures (tasks/sweep/run_graph.py reads them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from transfer_laws.model.shapes import Shape
from transfer_laws.tasks.data.prepare import PreparedData
from transfer_laws.tasks.sweep.config import SweepConfig
from transfer_laws.tasks.train.config import RunConfig

# Epochs to the early-stopping point fall with D (the paper's Fig. 15). Fitted by eye to the demo's
# from-scratch runs (2 CPU threads, 2026-11-29; best epoch 106-155 at D = 3e3, 44-157 at 1e4, 22-80
# at 3e4): ~150 (D / 3e3)^-1/2; its fine-tunes stopped after about half as many epochs. The fall
# stops near 30 epochs: the lr decays (cosine) over max_steps, so at large D the held-out loss keeps
# improving until the decay ends. The paper-cpu run (docs/results/paper-cpu-v1/runs.csv) stopped after
# 17-55 epochs at D = 5e4-3e5, most near the cap; without the floor the rule planned 27 % fewer
# steps than its scratch and fine-tune runs took (weighted by step cost), with it 2 % more.
EPOCHS_AT_3K, EPOCHS_SLOPE, FINETUNE_EPOCH_RATIO, EPOCHS_FLOOR = 150.0, -0.5, 0.5, 30.0


def est_epochs(kind: str, d: int) -> float:
    """Expected epochs to the best held-out loss of a run on `d` tokens (a planning guess)."""
    epochs = EPOCHS_AT_3K * (max(d, 1) / 3e3) ** EPOCHS_SLOPE
    return max(EPOCHS_FLOOR, epochs if kind == "scratch" else FINETUNE_EPOCH_RATIO * epochs)


def kaplan_lr(n: float) -> float:
    """lr(N) = 0.003239 - 0.0001395 ln N (Kaplan et al. 2020, eq. D.1), at least 1e-5."""
    return max(1e-5, 0.003239 - 0.0001395 * math.log(n))


@dataclass(frozen=True)
class Start:
    """Where a fine-tune or zero-shot run starts: a pre-train's best model or a suite's checkpoint."""

    folder: str
    key: str  # init_key: the pre-train's run_key, or the checkpoint's identity
    seed: int  # the pre-train's seed (a zero-shot run carries it)
    parent: str  # the pre-train run it waits for; "" for a checkpoint


@dataclass(frozen=True)
class Size:
    """One model size of the sweep: its shape, the RunConfig fields that build it, and (for suites)
    the checkpoint each source starts from."""

    n_target: float
    shape: Shape
    dims: dict
    starts: tuple[tuple[str, list[Start]], ...] = ()


@dataclass(frozen=True)
class RunRules:
    """The rules of one sweep on its prepared target: `run_config` turns (kind, size, D, source,
    seed) into the RunConfig of that run, its run folder under `runs_dir` named by its run_key."""

    cfg: SweepConfig
    target: PreparedData
    runs_dir: Path
    threads: int = 1

    def lr(self, n: float) -> float:
        """Peak learning rate of a model of `n` non-embedding parameters (pre-training and scratch)."""
        return kaplan_lr(n) if self.cfg.optimiser.lr == "kaplan" else float(self.cfg.optimiser.lr)

    def finetune_batch(self, d_f: int) -> int:
        """Sequences per optimiser step of a fine-tune on `d_f` tokens: at most batch_size, and
        small enough that one pass over D_F takes `finetune_steps_per_epoch` steps (at least one
        sequence per process)."""
        opt = self.cfg.optimiser
        if not opt.finetune_steps_per_epoch:
            return opt.batch_size
        fits = d_f // (opt.finetune_steps_per_epoch * self.cfg.experiment.n_ctx)
        per = opt.processes_per_run
        return max(per, min(opt.batch_size, fits // per * per))

    def eval_interval(self, d: int, batch: int) -> int:
        """Evaluate at least once per epoch: a small data set overfits within a few epochs, and an
        early-stopping point missed between two evaluations biases the loss the fit sees."""
        return max(1, min(self.cfg.optimiser.eval_interval, math.ceil(d / (batch * self.cfg.experiment.n_ctx))))

    def pretrain_steps(self, size: Size) -> int:
        """The size's pre-training budget in steps, at least one past the warm-up."""
        per_step = self.cfg.optimiser.batch_size * self.cfg.experiment.n_ctx
        budget = self.cfg.pretrain_budget(size.n_target)
        return max(self.cfg.optimiser.warmup_steps + 1, math.ceil(budget / per_step))

    def run_config(self, kind: str, size: Size, *, seed: int, d: int | None = None, source: str = "",
                   data: PreparedData | None = None, start: Start | None = None, lr: float | None = None,
                   **extra) -> RunConfig:
        """The RunConfig of one run. `data`: what a pre-train trains on (else the target); `start`:
        where a fine-tune, lr-search or zero-shot run starts; `lr`: a fine-tune's peak lr (else
        lr(N)); `extra`: further fields (an lr-searched fine-tune's candidates)."""
        ex, opt, target = self.cfg.experiment, self.cfg.optimiser, self.target
        lr = self.lr(size.shape.params_non_embedding) if lr is None else lr
        fields = dict(kind=kind, source=source, target=source if kind == "pretrain" else ex.target, **size.dims,
                      n_ctx=ex.n_ctx, tokenizer=ex.tokenizer, batch_size=opt.batch_size,
                      warmup_steps=opt.warmup_steps, eval_interval=opt.eval_interval, eval_tokens=opt.eval_tokens,
                      patience=opt.patience, processes_per_run=opt.processes_per_run, lr=lr,
                      min_lr=lr * opt.min_lr_ratio, max_steps=opt.max_steps, device=self.cfg.execution.device,
                      threads=self.threads, vocab_size=target.vocab_size, data_dir=(data or target).root,
                      data_key=(data or target).key, dataset_tokens=d, seed=seed, out_dir="-", **extra)
        if kind == "pretrain":
            fields |= dict(max_steps=self.pretrain_steps(size),
                           patience=opt.patience if opt.pretrain_patience is None else opt.pretrain_patience)
        elif kind == "zeroshot":  # one held-out evaluation of the start, no step
            fields |= dict(warmup_steps=0, max_steps=1)
        else:
            batch = opt.batch_size if kind == "scratch" else self.finetune_batch(d)
            fields |= dict(batch_size=batch, eval_interval=self.eval_interval(d, batch))
        if start is not None:
            fields |= dict(init_from=start.folder, init_key=start.key)
        rc = RunConfig(**fields)
        return rc.model_copy(update={"out_dir": str(self.runs_dir / rc.run_key())})


def with_compile(runs: list, setting: bool | str, device_kind: str,
                 step_seconds: dict[tuple[Shape, int], float] | None = None) -> list:
    """The runs (run_graph.PlannedRun) with `compile` decided: as set, or under 'auto' by
    tasks.sweep.gpu_rules.compile_pays from each run's expected steps and its shape's step time
    (measured once per shape on this machine when not given; never on a CPU, where compiling does
    not pay)."""
    from dataclasses import replace

    from transfer_laws.tasks.sweep.gpu_rules import COMPILE_COST, compile_pays

    if setting == "auto" and COMPILE_COST[device_kind].speedup <= 1.0:
        return runs
    if setting == "auto":
        from transfer_laws.tasks.sweep.step_time import seconds_per_step

        step_seconds = {} if step_seconds is None else step_seconds
        for r in runs:
            if (r.shape, r.config.batch_size) not in step_seconds:
                step_seconds[(r.shape, r.config.batch_size)] = seconds_per_step(r.shape, r.config.batch_size,
                                                         max(1, r.config.threads), device_kind)

    def decide(r) -> bool:
        if setting != "auto":
            return bool(setting)
        return compile_pays(device_kind, r.est_steps, step_seconds[(r.shape, r.config.batch_size)])

    return [replace(r, config=r.config.model_copy(update={"compile": decide(r)})) for r in runs]
