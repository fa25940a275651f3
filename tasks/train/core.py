"""The pure training core: `train(config) -> RunResult`.

No Prefect and no MLflow here: metrics go to any `MetricSink` (MLflow in the subprocess entry, a
list in tests). accelerate owns the device, mixed precision and resumable checkpoints.

Early stopping: the held-out loss is measured every `eval_interval` steps on fixed windows of the
test split; the best model is kept; after `patience` evaluations without improvement the run stops
(the paper reports every run at its optimal early-stopping point).

Resume: the state needed to continue (model, optimiser, scheduler, and the progress and
early-stopping bookkeeping of `ResumeState`, as progress.json beside them) is saved with
`Accelerator.save_state` into `checkpoints/step_XXXXXXXX`, written to a temporary folder and
renamed, so a kill never leaves a half checkpoint that looks complete.
Batches are a pure function of (seed, step), so a resumed run sees exactly the batches an
uninterrupted one would have seen.

Several processes (`processes_per_run`, see `tasks.train.distributed`): each rank trains on its
slice of the same global batch and the losses are reduced over ranks; rank 0 alone writes files,
with barriers around its saves so that no rank reads or renames a folder mid-write.

Layout: `train` is the outline; set-up builds a `_Run` (the prepared model, optimiser, batches and
resume state, with its evaluate / save_best / save_checkpoint), `_train_loop` steps it and
`_result` reports it.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.prepare import load_prepared
from transfer_laws.tasks.train import checkpoints, distributed
from transfer_laws.tasks.train.config import RunConfig
from transfer_laws.tasks.train.faults import injected_fault
from transfer_laws.tasks.train.timers import Timers

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

    from transfer_laws.model.shapes import Shape
    from transfer_laws.tasks.data.prepare import PreparedData


class MetricSink(Protocol):
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the likely cause."""


@dataclass
class RunResult:
    run_key: str
    best_test_loss: float  # nats per token, minimum over evaluations
    best_step: int
    best_epoch: float  # passes over the D training tokens at the best step
    final_test_loss: float
    steps: int
    tokens_seen: int
    flops: float  # 6 * N * tokens_seen (N non-embedding)
    tokens_per_second: float  # training steps only, this process
    wall_seconds: float  # this process
    stopped: str  # "early_stopping" | "max_steps" | "zero_shot" (no training)
    resumed_from_step: int
    dataset_tokens: int
    dataset_chars: int
    params_non_embedding: int
    params_embedding: int
    params_total: int
    best_checkpoint: str
    history: list[dict] = field(default_factory=list)  # evaluations: step, test_loss
    best_checkpoint_sha256: str = ""  # of best/model.safetensors, also in best/manifest.json
    dataset_bytes: int = 0  # UTF-8 bytes of the D training tokens' text
    best_test_bpb: float = math.nan  # best_test_loss in bits per UTF-8 byte of the held-out text
    mlflow_run_id: str | None = None  # set by the launcher when the run is tracked
    # this process's cumulative seconds in eval_s (held-out forward passes), save_best_s,
    # checkpoint_s (resumable state) and sink_s (metric sink calls); the launcher replaces the dict
    # with the entry's setup_s, train_s (the core's values stay in run.json and result.json)
    timings: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


PROGRESS_FILE = "progress.json"


class ResumeState:
    """Everything besides weights and optimiser that a resumed run must get back. Saved as JSON
    (progress.json) beside accelerate's state, so nothing is unpickled on resume; its keys are the
    attribute names below, which old checkpoints hold: keep them."""

    def __init__(self) -> None:
        self.step = 0
        self.best_loss = math.inf
        self.best_step = 0
        self.evals_since_best = 0
        self.stopped = ""
        self.history: list[dict] = []
        self.train_seconds = 0.0  # summed over attempts, so a resumed run reports a true speed

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)


def batch_starts(seed: int, step: int, n_windows: int, batch_size: int) -> np.ndarray:
    """Window start offsets of the batch of `step`: a pure function of (seed, step)."""
    return np.random.default_rng([seed, step]).integers(0, n_windows, size=batch_size)


def eval_starts(n_tokens: int, n_ctx: int, max_tokens: int) -> np.ndarray:
    """Fixed, evenly spaced, non-overlapping windows over the held-out tokens."""
    n_windows = n_tokens // n_ctx
    if n_windows == 0:
        raise InputError("test split", n_tokens, f"holds fewer tokens than one context of {n_ctx}",
                         "use a larger corpus, a larger test fraction or a smaller n_ctx")
    take = max(1, min(n_windows, max_tokens // n_ctx))
    return (np.linspace(0, n_windows - 1, take).round().astype(np.int64) * n_ctx)


def train(cfg: RunConfig, sink: MetricSink | None = None, show_progress: bool = False) -> RunResult:
    """Train one run to its early-stopping point; resume from `out_dir/checkpoints` when present."""
    import torch
    from accelerate.utils import set_seed

    t_start = time.perf_counter()
    injected_fault(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data, d_tokens = _checked_data(cfg)
    out = Path(cfg.out_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)

    set_seed(cfg.seed)
    acc = _accelerator(cfg)
    model, shape = _build_or_load_model(cfg)
    model, optimizer, scheduler = _with_optimizer(cfg, acc, model)
    state = _resumed_state(cfg, acc, out)
    injected_fault(cfg, acc.process_index)  # a rank's fault, once the process group is up
    run = _Run(cfg=cfg, acc=acc, model=model, optimizer=optimizer, scheduler=scheduler, shape=shape,
               data=data, d_tokens=d_tokens, out=out, state=state, resumed_from=state.step,
               batches=_Batches.of(cfg, data, d_tokens, acc.process_index, acc.num_processes),
               sink=sink if acc.is_main_process else None)
    if cfg.kind == "zeroshot":  # D_F = 0: the pre-trained model as it is, one evaluation
        return _zero_shot_result(cfg, run.evaluate, run.sink, shape, data, out, t_start)

    timers = Timers("eval_s", "save_best_s", "checkpoint_s", "sink_s")  # benchmarks
    _train_loop(run, timers, show_progress)
    acc.wait_for_everyone()  # rank 0's last save is complete before any rank reads best/
    return _result(run, timers, t_start)


# ---- set-up -------------------------------------------------------------------------------------

def _checked_data(cfg: RunConfig) -> tuple[PreparedData, int]:
    """The prepared data and D, once they are known to fit the run."""
    data = load_prepared(cfg.data_dir)
    d_tokens = data.check_subset(cfg.dataset_tokens)
    if d_tokens <= cfg.n_ctx:
        raise InputError("dataset_tokens", d_tokens, f"is not larger than the context n_ctx={cfg.n_ctx}",
                         "use more training tokens or a shorter context")
    if data.vocab_size != cfg.vocab_size:
        raise InputError("vocab_size", cfg.vocab_size, f"differs from the data's {data.vocab_size}",
                         f"use vocab_size={data.vocab_size}")
    if cfg.data_key and cfg.data_key != data.key:
        raise InputError("data_key", cfg.data_key, f"differs from the key {data.key!r} of the data in "
                         f"{cfg.data_dir}", "point data_dir at the prepared data the run was planned with")
    # The data's key covers its tokenizer's identity; the spec is a name, and one tokenizer.json may
    # go by two (bpe:400 in one sweep, the folder it was exported to in another).
    if data.tokenizer != cfg.tokenizer and not cfg.data_key:
        raise InputError("tokenizer", cfg.tokenizer, f"differs from the data's {data.tokenizer!r}",
                         f"use tokenizer={data.tokenizer!r}, or prepare the data with {cfg.tokenizer!r}")
    return data, d_tokens


def _build_or_load_model(cfg: RunConfig):
    from transfer_laws.model.build import build_model, count_params, load_pretrained, shape_of
    from transfer_laws.model.suite import has_weights

    shape = cfg.shape()
    if cfg.init_from is None:
        return build_model(shape, seed=cfg.seed), shape
    path = Path(cfg.init_from)
    if not (path / "config.json").exists() or not has_weights(path):
        raise InputError("init_from", str(path), "is not a checkpoint folder (needs config.json and "
                         "model.safetensors)", "point it at the best/ folder of a finished pre-training "
                         "run, or at a checkpoint saved with save_pretrained (safetensors)")
    if (path / checkpoints.MANIFEST).exists() and (reason := checkpoints.verify(path)):
        raise InputError("init_from", str(path), f"cannot be trusted: {reason}",
                         "rerun the pre-training run that wrote it (its run folder can be deleted)")
    model = load_pretrained(path)
    if cfg.architecture:
        got = count_params(model)
        if (model.config.model_type, got["params_total"], got["params_non_embedding"]) != \
                (shape.family, shape.params_total, shape.params_non_embedding):
            raise InputError("init_from", str(path), f"holds a {model.config.model_type} model of "
                             f"{got['params_total']:,} parameters, but this run asks for {shape.describe()}",
                             "fine-tune the checkpoint whose config.json is the run's architecture")
        return model, shape
    got = shape_of(model)
    if got != shape:
        raise InputError("init_from", str(path), f"holds a model of shape {got.describe()}, but this "
                         f"run asks for {shape.describe()}",
                         "fine-tune with the same family, n_layer, d_model, n_head, n_ctx and vocabulary")
    return model, shape


def _param_groups(model, weight_decay: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def _accelerator(cfg: RunConfig) -> Accelerator:
    """An Accelerator configured for this run alone: device, precision, compilation, process group."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DataLoaderConfiguration

    use_cpu = cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise InputError("device", "cuda", "no CUDA device is visible", "use --device cpu or auto")
    precision = cfg.precision if cfg.precision != "auto" else ("no" if use_cpu else "bf16")
    distributed.check_devices(cfg, use_cpu)
    if not use_cpu:  # TF32 for whatever fp32 matmuls bf16 autocast leaves (the loss, the optimiser)
        torch.set_float32_matmul_precision("high")
    # accelerate keeps one AcceleratorState per process and ignores a later Accelerator's precision
    # and dynamo backend: each run is configured afresh (the process group, PartialState, stays)
    AcceleratorState._reset_state()
    # split_batches: batch_size is the global batch, so the scheduler steps once per step (not n times)
    acc = Accelerator(cpu=use_cpu, mixed_precision=precision,
                      dynamo_backend="inductor" if cfg.compile else "no",
                      dataloader_config=DataLoaderConfiguration(split_batches=True),
                      kwargs_handlers=[distributed.process_group_kwargs()])
    distributed.check_world(acc, cfg)
    return acc


def _with_optimizer(cfg: RunConfig, acc, model) -> tuple:
    """(model, AdamW, warm-up + cosine schedule), prepared by accelerate."""
    import torch
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    model.config.loss_type = "ForCausalLM"
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr,
                                  betas=(cfg.beta1, cfg.beta2), fused=True)  # one kernel per step
    scheduler = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.max_steps, min_lr=cfg.min_lr)
    return acc.prepare(model, optimizer, scheduler)


def _resumed_state(cfg: RunConfig, acc, out: Path) -> ResumeState:
    """The newest valid checkpoint's state, loaded into the prepared model, optimiser and scheduler
    too; a fresh state when there is none (collective: rank 0 picks the checkpoint)."""
    state = ResumeState()
    latest = _resume_point(cfg, out, out / "checkpoints") if acc.is_main_process else None
    latest = distributed.from_main(acc, latest)
    if latest is not None:
        acc.load_state(str(latest))
        state.load_state_dict(json.loads((Path(latest) / PROGRESS_FILE).read_text()))
    return state


@dataclass
class _Batches:
    """The run's tokens as batches: this rank's slice of each step's global training batch, and the
    fixed held-out batches (each rank takes every world-th window)."""

    train_tokens: torch.Tensor
    test_batches: list
    offsets: torch.Tensor
    seed: int
    batch_size: int
    n_windows: int
    rank: int
    local: int  # this rank's slice of every global batch

    @classmethod
    def of(cls, cfg: RunConfig, data: PreparedData, d_tokens: int, rank: int, world: int) -> _Batches:
        import torch

        zero_shot = cfg.kind == "zeroshot"  # no training tokens
        train_tokens = torch.from_numpy(np.array(data.train_array()[:0 if zero_shot else d_tokens], dtype=np.int64))
        test_tokens = torch.from_numpy(np.array(data.test_array(), dtype=np.int64))
        n_windows = d_tokens - cfg.n_ctx + 1
        offsets = torch.arange(cfg.n_ctx)
        local = cfg.batch_size // world
        test_idx = torch.from_numpy(eval_starts(len(test_tokens), cfg.n_ctx, cfg.eval_tokens))[rank::world]
        test_batches = [test_tokens[(test_idx[i:i + 2 * local, None] + offsets)]
                        for i in range(0, len(test_idx), 2 * local)]
        return cls(train_tokens, test_batches, offsets, cfg.seed, cfg.batch_size, n_windows, rank, local)

    def train_batch(self, step: int) -> torch.Tensor:
        """This rank's slice of the global batch of `step` (a pure function of seed and step), on the CPU."""
        import torch

        starts = batch_starts(self.seed, step, self.n_windows, self.batch_size)
        starts = torch.from_numpy(starts[self.rank * self.local:(self.rank + 1) * self.local])
        return self.train_tokens[starts[:, None] + self.offsets]


@dataclass
class _Run:
    """A prepared run: what the step loop, the evaluations and the saves share."""

    cfg: RunConfig
    acc: Accelerator
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    shape: Shape
    data: PreparedData
    d_tokens: int
    out: Path
    state: ResumeState
    resumed_from: int
    batches: _Batches
    sink: MetricSink | None  # rank 0's; None on the other ranks

    @property
    def tokens_per_step(self) -> int:
        return self.cfg.batch_size * self.cfg.n_ctx

    def train_step(self) -> torch.Tensor:
        """One optimiser step on the batch of `state.step`; its loss, still on the device."""
        cfg, acc = self.cfg, self.acc
        xb = self.batches.train_batch(self.state.step).to(acc.device, non_blocking=True)
        loss = self.model(input_ids=xb, labels=xb).loss
        acc.backward(loss)
        if cfg.grad_clip > 0:
            acc.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss

    def evaluate(self) -> float:
        """Mean held-out loss; each rank takes every world-th window, the sums are reduced."""
        import torch

        acc, model = self.acc, self.model
        net = acc.unwrap_model(model)  # no DDP hooks: ranks may run different numbers of batches
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for xb in self.batches.test_batches:
                xb = xb.to(acc.device)
                loss = net(input_ids=xb, labels=xb).loss
                n = xb.shape[0] * (self.cfg.n_ctx - 1)
                total += float(loss) * n
                count += n
        model.train()
        if acc.num_processes > 1:
            total, count = distributed.sum_over_ranks(acc, [total, count])
        return total / count

    def save_best(self) -> None:
        """Collective: rank 0 writes best/ (a temporary folder swapped in), the others wait for it."""
        out = self.out
        if self.acc.is_main_process:
            tmp = out / "best.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            with _disk_full_guard(tmp, f"the best model at step {self.state.step}", out / "best"):
                self.acc.unwrap_model(self.model, keep_torch_compile=False).save_pretrained(
                    str(tmp), safe_serialization=True)
                checkpoints.publish(tmp, out / "best")
        self.acc.wait_for_everyone()

    def save_checkpoint(self) -> None:
        """Collective: every rank writes its RNG state into the folder; rank 0 the rest, the
        manifest and the rename, once every rank's file is in."""
        acc, is_main, ckpt_root = self.acc, self.acc.is_main_process, self.out / "checkpoints"
        final = ckpt_root / f"step_{self.state.step:08d}"
        tmp = ckpt_root / f"step_{self.state.step:08d}.tmp"
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            checkpoints.fault_pause("begin", tmp)
        acc.wait_for_everyone()
        with _disk_full_guard(tmp, f"checkpoint {final.name}", ckpt_root):
            acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if is_main:
            checkpoints.fault_pause("state", tmp)
            with _disk_full_guard(tmp, f"checkpoint {final.name}", ckpt_root):
                (tmp / PROGRESS_FILE).write_text(json.dumps(self.state.state_dict()))
                checkpoints.publish(tmp, final)
            checkpoints.prune(ckpt_root, keep=2)
        acc.wait_for_everyone()


# ---- the loop -----------------------------------------------------------------------------------

def _train_loop(run: _Run, timers: Timers, show_progress: bool) -> None:
    """Steps until max_steps or early stopping: a train-loss point every log_interval steps, an
    evaluation with its saves every eval_interval. Train seconds leave evaluations and saves out."""
    import torch

    cfg, state = run.cfg, run.state
    bar = None
    if show_progress and run.acc.is_main_process:
        from transfer_laws.tasks.train.progress_bar import Progress

        bar = Progress(total=cfg.max_steps, initial=state.step)
    run.model.train()
    loss_sum = torch.zeros((), device=run.acc.device)
    loss_count = 0
    train_seconds, steps_here = 0.0, 0
    t_phase = time.perf_counter()
    while state.step < cfg.max_steps and not state.stopped:
        loss = run.train_step()
        state.step += 1
        steps_here += 1
        loss_sum += loss.detach()
        loss_count += 1

        step = state.step
        at_eval = step % cfg.eval_interval == 0 or step == cfg.max_steps
        if step % cfg.log_interval == 0 or at_eval:
            loss_sum, mean_loss = _mean_train_loss(run, loss_sum, loss_count)
            loss_count = 0
            if run.sink is not None:
                with timers.measure("sink_s"):
                    run.sink.log_metrics({"train_loss": mean_loss,
                                          "lr": float(run.scheduler.get_last_lr()[0])}, step)
            if bar is not None:
                elapsed = train_seconds + time.perf_counter() - t_phase
                bar.set_postfix(loss=f"{mean_loss:.4f}",
                                tok_s=f"{steps_here * run.tokens_per_step / max(elapsed, 1e-9):,.0f}",
                                best=f"{state.best_loss:.4f}")
        if bar is not None:
            bar.update(1)
        if at_eval:
            phase = time.perf_counter() - t_phase
            train_seconds += phase
            state.train_seconds += phase
            _evaluation_point(run, timers)
            t_phase = time.perf_counter()
    if bar is not None:
        bar.close()


def _mean_train_loss(run: _Run, loss_sum: torch.Tensor, count: int) -> tuple[torch.Tensor, float]:
    """(the zeroed sum to go on adding to, the mean train loss over its `count` steps and all
    ranks); a NaN or infinite mean stops the run, naming its likely cause."""
    cfg = run.cfg
    if run.acc.num_processes > 1:  # each rank's loss is the mean over its equal slice: their mean is global
        loss_sum = run.acc.reduce(loss_sum, reduction="mean")
    mean_loss = float(loss_sum) / count
    loss_sum.zero_()
    if not math.isfinite(mean_loss):
        raise TrainingDiverged(
            f"training loss became {mean_loss} by step {run.state.step} (lr={cfg.lr}, "
            f"batch_size={cfg.batch_size}, grad_clip={cfg.grad_clip}); likely cause: the learning "
            "rate is too high for this model size, or clipping is off. Lower --lr (e.g. by 3x) "
            "or set --grad-clip 1.0")
    return loss_sum, mean_loss


def _evaluation_point(run: _Run, timers: Timers) -> None:
    """At an evaluation step: the held-out loss, the best model when it improved, early stopping
    after `patience` evaluations without, and the resumable checkpoint on its cadence."""
    cfg, state, step = run.cfg, run.state, run.state.step
    with timers.measure("eval_s"):
        test_loss = run.evaluate()
    if not math.isfinite(test_loss):
        raise TrainingDiverged(f"held-out loss became {test_loss} at step {step}; lower --lr")
    state.history.append({"step": step, "test_loss": test_loss})
    with timers.measure("sink_s"):
        if run.sink is not None:
            run.sink.log_metrics({"test_loss": test_loss}, step)
    if test_loss < state.best_loss:
        state.best_loss, state.best_step = test_loss, step
        state.evals_since_best = 0
        with timers.measure("save_best_s"):
            run.save_best()
    else:
        state.evals_since_best += 1
        if cfg.patience and state.evals_since_best >= cfg.patience:
            state.stopped = "early_stopping"
    ckpt_every = cfg.checkpoint_interval or cfg.eval_interval
    if step % ckpt_every == 0 or state.stopped or step == cfg.max_steps:
        with timers.measure("checkpoint_s"):
            run.save_checkpoint()


# ---- the result ---------------------------------------------------------------------------------

def _result(run: _Run, timers: Timers, t_start: float) -> RunResult:
    """The finished run's numbers; steps, tokens and speed count every attempt (the resume state's)."""
    cfg, state, shape, data, d_tokens = run.cfg, run.state, run.shape, run.data, run.d_tokens
    tokens_per_step = run.tokens_per_step
    final_loss = state.history[-1]["test_loss"] if state.history else math.inf
    tokens_seen = state.step * tokens_per_step
    return RunResult(
        run_key=cfg.run_key(), best_test_loss=state.best_loss, best_step=state.best_step,
        best_epoch=state.best_step * tokens_per_step / d_tokens, final_test_loss=final_loss,
        steps=state.step, tokens_seen=tokens_seen,
        flops=6.0 * shape.params_non_embedding * tokens_seen,
        tokens_per_second=(state.step * tokens_per_step / state.train_seconds
                           if state.train_seconds else 0.0),
        wall_seconds=time.perf_counter() - t_start, stopped=state.stopped or "max_steps",
        resumed_from_step=run.resumed_from,
        dataset_tokens=d_tokens, dataset_chars=data.chars_in_prefix(d_tokens),
        dataset_bytes=data.bytes_in_prefix(d_tokens), best_test_bpb=data.bits_per_byte(state.best_loss),
        params_non_embedding=shape.params_non_embedding, params_embedding=shape.params_embedding,
        params_total=shape.params_total, best_checkpoint=str(run.out / "best"),
        history=list(state.history), best_checkpoint_sha256=_best_hash(run.out / "best"),
        timings=timers.rounded())


def _zero_shot_result(cfg: RunConfig, evaluate, sink: MetricSink | None, shape, data, out: Path,
                      t_start: float) -> RunResult:
    """A zeroshot run: the held-out loss of `init_from` before any step (the point D_F = 0)."""
    t0 = time.perf_counter()
    loss = evaluate()
    if not math.isfinite(loss):
        raise TrainingDiverged(f"held-out loss of {cfg.init_from} is {loss} before any training")
    if sink is not None:
        sink.log_metrics({"test_loss": loss}, 0)
    return RunResult(
        run_key=cfg.run_key(), best_test_loss=loss, best_step=0, best_epoch=0.0, final_test_loss=loss,
        steps=0, tokens_seen=0, flops=0.0, tokens_per_second=0.0,
        wall_seconds=time.perf_counter() - t_start, stopped="zero_shot", resumed_from_step=0,
        dataset_tokens=0, dataset_chars=0, best_test_bpb=data.bits_per_byte(loss),
        params_non_embedding=shape.params_non_embedding,
        params_embedding=shape.params_embedding, params_total=shape.params_total,
        best_checkpoint="", history=[{"step": 0, "test_loss": loss}],
        best_checkpoint_sha256="", timings={"eval_s": round(time.perf_counter() - t0, 4)})


def _resume_point(cfg: RunConfig, out: Path, ckpt_root: Path) -> Path | None:
    """The newest valid checkpoint to resume from, or None to start at step 0 (rank 0 only: it
    removes checkpoints that cannot be trusted)."""
    if checkpoints.recover_swapped(out / "best"):
        print(f"best model of run {cfg.run_key()} restored from best.old (a save was interrupted "
              "between its two renames)", flush=True)
    latest = checkpoints.newest_valid(ckpt_root, warn=lambda msg: print(msg, flush=True))
    if latest is not None and not (latest / PROGRESS_FILE).exists():
        print(f"checkpoint {latest.name} predates {PROGRESS_FILE}; restarting run {cfg.run_key()} "
              "from step 0", flush=True)
        shutil.rmtree(ckpt_root, ignore_errors=True)
        ckpt_root.mkdir(parents=True)
        latest = None
    if latest is not None and (reason := checkpoints.verify(out / "best")):
        # the resumable state remembers a best loss whose weights are gone: start over (the run
        # is deterministic, so it reaches the same result) rather than finish without a best model
        print(f"best model unusable ({reason}); restarting run {cfg.run_key()} from step 0", flush=True)
        shutil.rmtree(ckpt_root, ignore_errors=True)
        ckpt_root.mkdir(parents=True)
        latest = None
    return latest


class _disk_full_guard:
    """Around a checkpoint write: a full disk becomes `checkpoints.DiskFull` naming the folder and
    the last good checkpoint, and the half-written `*.tmp` folder is removed (it frees the space it
    took and can never be mistaken for a checkpoint). Other errors pass through unchanged."""

    def __init__(self, tmp: Path, what: str, root: Path):
        self.tmp, self.what, self.root = tmp, what, root

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, checkpoints.DiskFull):
            return False
        reason = checkpoints.disk_full_reason(exc, self.tmp.parent)
        if reason is None:
            return False
        shutil.rmtree(self.tmp, ignore_errors=True)
        ckpt_root = self.root if self.root.name == "checkpoints" else self.root.parent / "checkpoints"
        good = checkpoints.step_folders(ckpt_root)
        kept = (f"the last good checkpoint {good[0].name} is intact" if good else
                "no resumable checkpoint was written yet")
        raise checkpoints.DiskFull(
            f"disk full: writing {self.what} failed, {reason} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); {kept}. Fix: free space there (or "
            "give the run a folder on a larger disk) and rerun the same command: it resumes from "
            "the last good checkpoint") from exc


def _best_hash(best: Path) -> str:
    manifest = best / checkpoints.MANIFEST
    return json.loads(manifest.read_text()).get("model.safetensors", "") if manifest.exists() else ""
