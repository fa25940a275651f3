"""The typed configuration of one training run, and its identity (`run_key`).

Every field carries its own description (shown by `--help` and by the Prefect UI form). Validation
happens here, before any training: a bad value is an `InputError` naming the field and the fix.
"""
from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from transfer_laws.model.shapes import FAMILY_HELP, TIED_HELP, Family, Shape, validate_shape
from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.tokenizer import TOKENIZER_HELP

# Bump when a change in the training code changes results: it is part of every run_key, so old
# runs stop counting as done instead of being silently reused.
CODE_SCHEMA_VERSION = 1

# Fields added after run_keys existed: at these values they stay out of the run_key.
LATER_DEFAULTS = {"family": "gpt2", "n_kv_head": 0, "tie_embeddings": True, "tokenizer": "bytes",
                  "architecture": ""}

RunKind = Literal["pretrain", "scratch", "finetune", "lr-search", "zeroshot", "single"]


class RunConfig(BaseModel):
    """One training run: model shape, data, optimiser, evaluation, where to write.

    Its defaults are the project's one set: a sweep's settings default to them (SweepConfig) and
    `transfer-laws train`'s flags are generated from these fields; presets (configs/runs/) change them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # identity and bookkeeping
    kind: RunKind = Field("single", description="pretrain | scratch | finetune | lr-search (a fine-tune "
                          "that only picks the lr; never fitted) | zeroshot (one held-out evaluation "
                          "of init_from, no training: the point D_F = 0) | single (CLI run)")
    source: str = Field("", description="pre-training corpus name; empty for scratch runs")
    target: str = Field("", description="the corpus whose held-out loss is reported")

    # model shape
    n_layer: int = Field(4, gt=0, description="transformer blocks")
    d_model: int = Field(128, gt=0, description="residual width; divisible by n_head")
    n_head: int = Field(4, gt=0, description="attention heads")
    n_ctx: int = Field(128, gt=1, description="context length in tokens")
    vocab_size: int = Field(256, gt=0, description="the tokenizer's vocabulary: 256 for byte-level tokens")
    family: Family = Field("gpt2", description=FAMILY_HELP)
    n_kv_head: int = Field(0, ge=0, description="llama: key/value heads (grouped-query attention; must "
                           "divide n_head); 0 = n_head")
    tie_embeddings: bool = Field(True, description=TIED_HELP)
    architecture: str = Field(
        "", description="a checkpoint's config.json content (any causal-LM family transformers builds): "
        "the run trains that architecture at n_ctx, and the shape fields above are not used; '' = "
        "the shape fields")

    # data
    tokenizer: str = Field("bytes", description=TOKENIZER_HELP + "; the prepared data's (its meta.json "
                           "says which; a BPE is trained on the training split only)")
    data_dir: str = Field(..., description="prepared data folder (tasks.data.prepare.prepare)")
    data_key: str = Field("", description="content hash of the prepared data (part of run_key)")
    dataset_tokens: int | None = Field(None, gt=0,
                                       description="D: first D training tokens; None = all")

    # optimiser: AdamW, linear warm-up, cosine decay to min_lr, gradient clipping
    lr: float = Field(1e-3, gt=0, description="peak learning rate")
    lr_search: dict[str, float] = Field(
        default_factory=dict, description="sweep bookkeeping: run_key -> peak lr of the lr-search "
        "runs this run's lr is chosen from (the best one); when set, the run_key counts these "
        "candidates instead of lr and min_lr, so the run's identity is known before the search ends")
    min_lr: float = Field(1e-4, ge=0, description="learning rate at the end of the cosine decay")
    warmup_steps: int = Field(50, ge=0, description="linear warm-up steps")
    max_steps: int = Field(3000, gt=0, description="step cap (decay length); early stopping may end sooner")
    batch_size: int = Field(32, gt=0, description="sequences per optimiser step")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay (matrices only)")
    beta1: float = Field(0.9, ge=0, lt=1, description="AdamW beta1")
    beta2: float = Field(0.99, ge=0, lt=1, description="AdamW beta2")
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm; 0 disables clipping")
    seed: int = Field(0, ge=0, description="seeds initialisation and batch order")

    # evaluation and early stopping
    eval_interval: int = Field(25, gt=0, description="steps between held-out evaluations")
    eval_tokens: int = Field(16384, gt=0, description="max held-out tokens per evaluation (fixed windows)")
    patience: int = Field(4, ge=0,
                          description="evaluations without improvement before stopping; 0 = never stop early")
    log_interval: int = Field(10, gt=0, description="steps between train_loss points")

    # initialisation, device, output
    init_from: str | None = Field(None, description="checkpoint folder to fine-tune from")
    init_key: str = Field("", description="run_key of the run that produced init_from")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = cuda when present")
    precision: Literal["auto", "no", "bf16"] = Field("auto", description="auto = bf16 on GPU, fp32 on CPU")
    compile: bool = Field(False, description="torch.compile the model (inductor, through accelerate's "
                          "dynamo_backend); pays on long GPU runs (the sweep's `compile: auto` "
                          "decides). Not part of run_key: losses match eager within 1e-3")
    out_dir: str = Field(..., description="run folder: checkpoints, best model, run.json")
    checkpoint_interval: int = Field(0, ge=0, description="steps between resumable checkpoints; 0 = each eval")
    threads: int = Field(0, ge=0, description="torch CPU threads; 0 = torch's default")
    processes_per_run: int = Field(
        1, ge=1, description="data-parallel processes for this run (one per GPU, or gloo CPU processes), "
        "started with accelerate's launcher; batch_size stays the global batch and must be a multiple")

    @model_validator(mode="after")
    def _check(self) -> "RunConfig":
        shape = self.shape()
        if self.architecture:
            if self.n_ctx > shape.max_ctx:
                raise ValueError(f"n_ctx={self.n_ctx} is longer than the {shape.max_ctx} tokens the "
                                 "architecture was built for")
            if self.vocab_size > shape.vocab_size:
                raise ValueError(f"vocab_size={self.vocab_size} tokenizer ids do not fit the "
                                 f"architecture's {shape.vocab_size} embeddings")
        else:
            validate_shape(shape)
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr={self.min_lr} is above lr={self.lr}")
        if self.warmup_steps >= self.max_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be below max_steps={self.max_steps}")
        if self.kind == "zeroshot" and self.init_from is None:
            raise ValueError("init_from=None: a zeroshot run evaluates a pre-trained model and needs one")
        if self.batch_size % self.processes_per_run:
            raise ValueError(f"batch_size={self.batch_size} is not a multiple of processes_per_run="
                             f"{self.processes_per_run} (each process trains on an equal slice of the "
                             "global batch)")
        return self

    def run_key(self) -> str:
        """Short hash of every field that changes the result (not paths, device or cadence of saves).

        `processes_per_run` counts only above 1, the family fields and the tokenizer only away from
        their first defaults (LATER_DEFAULTS), so every existing run_key stays valid. processes_per_run does
        count then: n processes give the one-process curve only up to float summation order, and
        their resumable checkpoints (DDP weight names, one RNG file per rank) cannot resume with
        another process count, so a run folder must never be shared between counts. A tokenizer
        folder is a path, like init_from: with `data_key` set, the data's key (which hashes the
        tokenizer's files) identifies it, so a suite or tokenizer folder moved elsewhere keeps its runs."""
        ignore = {"data_dir", "init_from", "out_dir", "device", "checkpoint_interval", "threads",
                  "log_interval", "compile"}
        if self.processes_per_run == 1:
            ignore.add("processes_per_run")
        ignore |= {k for k, default in LATER_DEFAULTS.items() if getattr(self, k) == default}
        if self.data_key and self.tokenizer.startswith("/"):  # a folder (TokenizerSpec makes it absolute)
            ignore.add("tokenizer")
        if self.lr_search:
            ignore |= {"lr", "min_lr"}
        else:
            ignore.add("lr_search")
        fields = {k: v for k, v in self.model_dump().items() if k not in ignore}
        fields["schema"] = CODE_SCHEMA_VERSION
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        return digest[:12]

    def shape(self) -> Shape:
        """The model shape this run trains (model/shapes.py: N, embedding counts, description), or
        with `architecture` set its model.suite.Architecture (the same attributes)."""
        if self.architecture:
            from transfer_laws.model.suite import Architecture

            try:
                return Architecture.from_json(self.architecture, self.n_ctx)
            except (ValueError, json.JSONDecodeError) as error:
                raise ValueError(f"architecture=…: {error}") from None
        return Shape(self.n_layer, self.d_model, self.n_head, self.n_ctx, self.vocab_size, self.family,
                     self.n_kv_head, self.tie_embeddings)

    def with_chosen_lr(self, best_loss: dict[str, float]) -> "RunConfig":
        """This run with the lr of its best lr-search candidate (`best_loss`: run_key -> best
        held-out loss; ties go to the smaller lr); min_lr keeps its ratio to lr."""
        if not self.lr_search:
            return self
        missing = sorted(set(self.lr_search) - set(best_loss))
        if missing:
            raise RuntimeError(f"lr search of run {self.run_key()}: no finished candidate run {missing}")
        key = min(self.lr_search, key=lambda k: (best_loss[k], self.lr_search[k]))
        lr = self.lr_search[key]
        return self.model_copy(update={"lr": lr, "min_lr": self.min_lr / self.lr * lr})

    @classmethod
    def checked(cls, **values) -> "RunConfig":
        """Build a config, turning pydantic's errors into one InputError naming the field."""
        try:
            return cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            msg = err["msg"].removeprefix("Value error, ")
            if err["loc"]:
                field, value = ".".join(str(p) for p in err["loc"]), err.get("input")
            else:  # a cross-field check: its message starts with "<field>=<value>"
                field = msg.split("=", 1)[0]
                value = values.get(field)
            raise InputError(field, value, msg, _FIXES.get(field, "see `transfer-laws train --help`")) from None


_FIXES = {
    "n_head": "choose n_head that divides d_model",
    "n_kv_head": "use 0 (= n_head), or with family llama a divisor of n_head",
    "family": "use gpt2 or llama",
    "lr": "use a positive learning rate such as 1e-3",
    "batch_size": "use a positive batch size that is a multiple of processes_per_run (e.g. 32)",
    "max_steps": "use a positive number of steps",
    "warmup_steps": "lower warmup_steps or raise max_steps",
    "min_lr": "use min_lr <= lr",
    "d_model": "choose d_model divisible by n_head",
    "processes_per_run": "use 1, or the number of GPUs (CPU: a few gloo processes) for one run",
    "init_from": "give the best/ folder of a finished pre-training run",
    "architecture": "give a causal-LM checkpoint's config.json, with n_ctx and the tokenizer within its limits",
}
