"""The sweep's run graph (its DAG) as data: every run with its kind, shape, data, parent and `RunConfig`.

Pure planning (no training, no Prefect, no MLflow), so `dry-run`, `status`, the sweep flow and the
tests all see the same runs with the same run_keys.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from transfer_laws.model.shapes import Shape
from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.prepare import PreparedData
from transfer_laws.tasks.sweep.config import SweepConfig
from transfer_laws.tasks.sweep.run_rules import RunRules, Size, Start, est_epochs, with_compile
from transfer_laws.tasks.sweep.suites import Suite
from transfer_laws.tasks.train.config import RunConfig

# Fixed costs in FLOP-equivalents, fitted to the demo's runs on a 2-core CPU (~17 GFLOP/s of
# training throughput): ~0.02 s per step and ~0.07 s per evaluation with its saves. Only ratios matter.
STEP_FIXED_WORK = 4e8
EVAL_FIXED_WORK = 1.2e9


@dataclass(frozen=True)
class PlannedRun:
    kind: str  # pretrain | zeroshot | scratch | finetune | lr-search
    label: str  # what a person reads in the Prefect UI
    shape: Shape
    source: str  # source name for pretrain/finetune/lr-search, "" for scratch
    config: RunConfig
    parent: str = ""  # run_key of the pre-training run a fine-tune starts from
    after: tuple[str, ...] = ()  # further runs it waits for: the lr search that sets its lr

    @property
    def needs(self) -> tuple[str, ...]:
        """Every run that must end before this one starts."""
        return ((self.parent,) if self.parent else ()) + self.after

    @cached_property
    def run_key(self) -> str:
        """The config's run_key, hashed once: the schedule looks it up ~1e6 times in a budget search."""
        return self.config.run_key()

    @property
    def n(self) -> int:
        return self.shape.params_non_embedding

    @property
    def est_steps(self) -> int:
        """Steps the run is expected to take: the cap for pre-training; for early-stopped runs the
        epochs to the best point (`est_epochs`) plus the patience's worth of evaluations after it,
        and at least the warm-up (from scratch), within the cap."""
        cfg = self.config
        if self.kind == "pretrain":
            return cfg.max_steps
        if self.kind == "zeroshot":
            return 0
        after_best = cfg.patience * cfg.eval_interval
        floor = after_best + (cfg.warmup_steps if self.kind == "scratch" else 1)
        d = cfg.dataset_tokens or 0
        to_best = math.ceil(est_epochs(self.kind, d) * d / (cfg.batch_size * cfg.n_ctx))
        return min(cfg.max_steps, max(floor, to_best + after_best))

    @property
    def est_tokens(self) -> int:
        """Training tokens the run is expected to process (`est_steps` batches)."""
        return self.est_steps * self.config.batch_size * self.config.n_ctx

    @property
    def est_flops(self) -> float:
        """Training FLOPs by the usual 6 N D (N without embeddings), as the paper counts compute."""
        return 6.0 * self.n * self.est_tokens

    @property
    def est_work(self) -> float:
        """Relative cost for ordering runs (FLOP-equivalents, not a FLOP count): training and
        held-out evaluation compute with embeddings and attention included, plus a fixed cost per
        step and per evaluation (Python, kernel launches, the saves after an evaluation). Tiny
        models and small-D runs that evaluate every few steps are dominated by those fixed costs:
        measured on the demo (2 CPU threads), 6 N D put its slowest small-D run last."""
        cfg, sh = self.config, self.shape
        attention = 2 * sh.n_layer * sh.n_ctx * sh.d_model  # per token, forward (QK^T and AV)
        step = cfg.batch_size * cfg.n_ctx * (6 * sh.params_total + 3 * attention) + STEP_FIXED_WORK
        evaluation = cfg.eval_tokens * (2 * sh.params_total + attention) + EVAL_FIXED_WORK
        steps = self.est_steps
        return steps * step + max(1, math.ceil(steps / max(1, cfg.eval_interval))) * evaluation


KINDS = ("pretrain", "zeroshot", "lr-search", "scratch", "finetune")


def kind_counts(runs: list[PlannedRun]) -> str:
    """'10 pretrain, 30 lr-search, …': the kinds a plan holds, for logs and dry-run."""
    return ", ".join(f"{n} {k}" for k in KINDS if (n := sum(r.kind == k for r in runs)))


def _fmt(x: float) -> str:
    return f"{x:.1e}".replace("e+0", "e").replace("e+", "e")


def check_against_data(cfg: SweepConfig, target: PreparedData) -> None:
    """Data-dependent checks, done before any training: the target holds more than a context of
    training tokens and a context of held-out tokens, and every D fits in its training split."""
    target.check_context(cfg.experiment.n_ctx, field="experiment.target")
    for field, grid in (("experiment.finetune_tokens", cfg.experiment.finetune_tokens),
                        ("experiment.scratch_tokens", cfg.scratch_grid())):
        too_big = [d for d in grid if d > target.train_tokens]
        if too_big:
            raise InputError(field, too_big, f"exceeds the {target.train_tokens:,} training tokens of "
                             f"target {cfg.experiment.target!r}", f"keep every value <= {target.train_tokens:,}")
        too_small = [d for d in grid if d <= cfg.experiment.n_ctx]
        if too_small:
            raise InputError(field, too_small, f"is not above the context n_ctx={cfg.experiment.n_ctx}",
                             "use data-set sizes larger than one context")


def _sizes(cfg: SweepConfig, target: PreparedData, sources: dict) -> list[Size]:
    """The sweep's sizes: from `sizes` along the family's shape line, or a suite's checkpoints."""
    if not cfg.suite():
        sizes = []
        for n in cfg.experiment.sizes:
            shape = cfg.shape(n, target.vocab_size)
            sizes.append(Size(n, shape, dict(n_layer=shape.n_layer, d_model=shape.d_model, n_head=shape.n_head,
                                              family=shape.family, n_kv_head=shape.n_kv_head,
                                              tie_embeddings=shape.tied)))
        return sizes
    suites: list[Suite] = list(sources.values())
    sizes = []
    for i, c in enumerate(suites[0].checkpoints):
        arch = c.info.architecture.at(cfg.experiment.n_ctx)
        field = f"experiment.sources.{suites[0].name}.checkpoints"
        if cfg.experiment.n_ctx > arch.max_ctx:
            raise InputError("experiment.n_ctx", cfg.experiment.n_ctx, f"is longer than the {arch.max_ctx} tokens checkpoint "
                             f"{c.spec} was built for", f"set n_ctx <= {arch.max_ctx}")
        if target.vocab_size > arch.vocab_size:
            raise InputError(field, c.spec, f"has {arch.vocab_size:,} token embeddings, fewer than the "
                             f"{target.vocab_size:,} ids of its tokenizer", "use a checkpoint and tokenizer "
                             "that belong together")
        starts = tuple((s.name, [Start(s.checkpoints[i].info.folder, s.checkpoints[i].key, cfg.experiment.seed, "")])
                       for s in suites)
        sizes.append(Size(float(arch.params_non_embedding), arch, {"architecture": arch.config_json}, starts))
    return sizes


def device_memory_bytes(device_kind: str) -> float:
    """The memory one run may use: the first GPU's, or on a CPU the host's."""
    if device_kind == "cuda":
        from transfer_laws.tasks.sweep.slots import gpu_memory_bytes

        return gpu_memory_bytes()
    import os

    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def memory_need(cfg: SweepConfig, model, device_kind: str, slots: int) -> tuple[float, float]:
    """(bytes the runs at once need, bytes the device has) for `model` at the sweep's batch, by the
    memory rule of the GPU layout (tasks.sweep.gpu_rules.run_memory_bytes): one run per GPU's memory
    (packing is sized by the same rule), every slot's run at once in a CPU host's memory."""
    from transfer_laws.tasks.sweep.gpu_rules import run_memory_bytes

    per_run = run_memory_bytes(model, max(1, cfg.optimiser.batch_size // cfg.optimiser.processes_per_run))
    return per_run * (1 if device_kind == "cuda" else slots), device_memory_bytes(device_kind)


def check_suite(cfg: SweepConfig, target: PreparedData, sources: dict, device_kind: str, slots: int) -> None:
    """Before anything trains (`run`, the sweep flow): a suite's checkpoints fit the context, the
    tokenizer and the memory of the device the runs will train on (`slots` of them at once)."""
    if not cfg.suite():
        return
    largest = _sizes(cfg, target, sources)[-1].shape  # checks the context and the vocabulary
    need, have = memory_need(cfg, largest, device_kind, slots)
    if need > have:
        suite, gib = next(iter(sources.values())), 2**30
        runs = "" if device_kind == "cuda" or slots == 1 else f" ({slots} runs at once)"
        raise InputError(f"experiment.sources.{suite.name}.checkpoints", suite.checkpoints[-1].spec,
                         f"needs about {need / gib:.1f} GiB to train at batch_size={cfg.optimiser.batch_size}, "
                         f"n_ctx={cfg.experiment.n_ctx}{runs} ({largest.describe()}), more than this {device_kind}'s "
                         f"{have / gib:.1f} GiB", "lower batch_size, n_ctx or slots, leave out the largest "
                         "checkpoint, or run on a device with more memory")


def run_graph(cfg: SweepConfig, target: PreparedData, sources: dict[str, PreparedData | Suite], runs_dir: Path,
              threads: int = 1, device_kind: str = "cpu",
              step_seconds: dict[tuple[Shape, int], float] | None = None) -> list[PlannedRun]:
    """Every run of the sweep, in the order they should start; `device_kind` (cpu or cuda, the
    slot layout's) decides `compile: auto`, from `step_seconds` ((shape, batch) -> measured seconds
    per step, filled in where missing; pass dry-run's dict so each shape is measured once)."""
    check_against_data(cfg, target)
    rules = RunRules(cfg, target, runs_dir, threads)

    def seeds(count: int) -> list[tuple[int, str]]:
        """(seed, label tag) of each replicate: the first is `cfg.seed`, so one replicate plans
        exactly the runs (and run_keys) of a sweep written before replicates existed."""
        return [(cfg.experiment.seed + r, f" seed={cfg.experiment.seed + r}" if count > 1 else "") for r in range(count)]

    pretrains: dict[tuple[int, str, int], PlannedRun] = {}
    scratch: list[PlannedRun] = []
    finetunes: list[PlannedRun] = []
    searches: list[PlannedRun] = []
    zero_shots: list[PlannedRun] = []
    for size in _sizes(cfg, target, sources):
        shape = size.shape
        lr = rules.lr(shape.params_non_embedding)
        n_txt = _fmt(shape.params_non_embedding)
        starts: dict[str, list[Start]] = dict(size.starts)
        for name, data in sources.items():
            if isinstance(data, Suite):
                continue
            for r, (seed, tag) in enumerate(seeds(cfg.experiment.pretrain_replicates)):
                rc = rules.run_config("pretrain", size, seed=seed, source=name, data=data)
                run = PlannedRun("pretrain", f"pretrain N={n_txt} src={name}{tag}", shape, name, rc)
                pretrains[(shape.params_non_embedding, name, r)] = run
                starts.setdefault(name, []).append(Start(str(Path(rc.out_dir) / "best"), run.run_key, seed,
                                                         run.run_key))
        for d in cfg.scratch_grid():
            for seed, tag in seeds(cfg.experiment.replicates):
                rc = rules.run_config("scratch", size, seed=seed, d=d)
                scratch.append(PlannedRun("scratch", f"scratch N={n_txt} D={_fmt(d)}{tag}", shape, "", rc))
        for name in sources:
            first = starts[name][0]
            for start in (starts[name] if cfg.experiment.zero_shot else []):
                rc = rules.run_config("zeroshot", size, seed=start.seed, source=name, start=start)
                tag = f" seed={start.seed}" if len(starts[name]) > 1 else ""
                zero_shots.append(PlannedRun("zeroshot", f"zeroshot N={n_txt} src={name}{tag}", shape,
                                             name, rc, parent=start.parent))
            search, candidates = cfg.optimiser.finetune_lr_search, {}
            for scale in (search.scales if search else []):
                rc = rules.run_config("lr-search", size, seed=cfg.experiment.seed, d=search.tokens, source=name, start=first,
                                      lr=lr * scale)
                candidates[rc.run_key()] = rc.lr
                searches.append(PlannedRun(
                    "lr-search", f"lr-search N={n_txt} D={_fmt(search.tokens)} src={name} lr=x{scale:g}",
                    shape, name, rc, parent=first.parent))
            for d in cfg.experiment.finetune_tokens:
                for r, (seed, seed_tag) in enumerate(seeds(cfg.experiment.replicates)):
                    start = starts[name][r % len(starts[name])]
                    if candidates:  # lr set when the search has ended (RunConfig.with_chosen_lr)
                        rc = rules.run_config("finetune", size, seed=seed, d=d, source=name, start=start,
                                              lr=min(candidates.values()), lr_search=candidates)
                        tag = " lr=searched"
                    else:
                        rc = rules.run_config("finetune", size, seed=seed, d=d, source=name, start=start,
                                              lr=lr * cfg.optimiser.finetune_lr_scale)
                        tag = ""
                    finetunes.append(PlannedRun(
                        "finetune", f"finetune N={n_txt} D={_fmt(d)} src={name}{tag}{seed_tag}", shape,
                        name, rc, parent=start.parent, after=tuple(candidates)))
    # Pre-trains first (they gate the fine-tunes); then the rest from the smallest D up, so the
    # low-data comparison (scratch vs fine-tuned at the same N, D) fills in early and the long
    # large-D scratch runs come last.
    rest = sorted(scratch + finetunes, key=lambda r: (r.config.dataset_tokens, r.kind != "scratch", r.n))
    return with_compile(list(pretrains.values()) + zero_shots + searches + rest, cfg.execution.compile, device_kind,
                        step_seconds)

