"""SweepConfig: one pydantic model for a transfer sweep, from a YAML file or Prefect parameters.

Every field carries a description (the Prefect UI renders them as a form). `SweepConfig.load(path)`
and `SweepConfig.checked(dict)` turn any validation error into an `InputError` naming the field, so
a bad config stops before any data is prepared or any run trained.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import warnings
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from transfer_laws.model.shapes import FAMILY_HELP, TIED_HELP, Family
from transfer_laws.tasks.common.errors import MISSING, InputError
from transfer_laws.tasks.common.yaml_file import read_mapping
from transfer_laws.tasks.data.tokenizer import TOKENIZER_HELP, TokenizerSpec, static_vocab
from transfer_laws.tasks.train.config import RunConfig

MIN_SIZES = 2  # the transfer law needs a slope in ln N (beta)
MIN_FINETUNE_SIZES = 2  # and a slope in ln D_F (alpha)
REGISTERED = ("python", "python-with-tests", "english", "code-other")
_RUN = RunConfig.model_fields  # one set of defaults: the settings a sweep shares with its runs default to a run's


def _check_corpus(spec: str, field: str) -> str:
    if spec in REGISTERED or spec.startswith("hf:"):
        return spec
    if any(ch in spec for ch in "*?["):
        return spec
    if not Path(spec).expanduser().exists():
        raise ValueError(f"{field}: {spec!r} is neither a registered corpus ({', '.join(REGISTERED)}) "
                         "nor an existing path")
    return spec


class Checkpoint(BaseModel):
    """One pre-trained checkpoint of a suite: a folder saved with save_pretrained, or a hub name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str = Field(..., min_length=1, description="a checkpoint folder (config.json, safetensors, "
                      "tokenizer.json; with executor 'deployments', at a path every worker reaches) or "
                      "hf:OWNER/NAME (from the Hugging Face cache; fetched where a network exists)")
    revision: str | None = Field(None, description="hf: names: the branch, tag or commit of the config and "
                                 "weights (the tokenizer is main's); None = main")

    @model_validator(mode="after")
    def _revision_of_a_hub_name(self) -> "Checkpoint":
        if self.revision is not None and not self.path.startswith("hf:"):
            raise ValueError(f"checkpoints: revision {self.revision!r} given for the folder {self.path!r}; "
                             "only an hf: name has revisions")
        return self


class Source(BaseModel):
    """A source: a pre-training distribution (one corpus, or a weighted mixture of corpora) that the
    sweep pre-trains on itself, or a suite of pre-trained checkpoints (one model per size)."""

    model_config = ConfigDict(extra="forbid")
    corpus: str | None = Field(None, description="a registered corpus name or a path")
    mixture: dict[str, float] | None = Field(
        None, description="corpus -> weight (share of pre-training tokens); weights sum to 1")
    checkpoints: list[Checkpoint | str] | None = Field(
        None, description="a suite of pre-trained causal LMs, one per size, sharing one tokenizer: each "
        "a folder or hf:NAME, or {path: …, revision: …}. The sizes, the architectures and the tokenizer "
        "come from their configs; scratch baselines re-initialise the same architectures")

    @field_validator("checkpoints")
    @classmethod
    def _entries(cls, v):
        """A bare string is a checkpoint's path (typed `Checkpoint | str`, so the JSON schema that
        Prefect checks a deployment's parameters against accepts both)."""
        return v if v is None else [Checkpoint(path=e) if isinstance(e, str) else e for e in v]

    @model_validator(mode="after")
    def _one_of(self) -> "Source":
        if sum(x is not None for x in (self.corpus, self.mixture, self.checkpoints)) != 1:
            raise ValueError("give exactly one of corpus, mixture or checkpoints")
        if self.checkpoints is not None:
            paths = [c.path for c in self.checkpoints]
            if len(paths) < MIN_SIZES:
                raise ValueError(f"checkpoints: {len(paths)} given; the transfer fit needs at least "
                                 f"{MIN_SIZES} sizes")
            dup = sorted({p for p in paths if paths.count(p) > 1})
            if dup:
                raise ValueError(f"checkpoints: duplicate checkpoints {dup}")
        elif self.corpus is not None:
            _check_corpus(self.corpus, "corpus")
        else:
            if len(self.mixture) < 2:
                raise ValueError("a mixture needs at least two corpora")
            for name, w in self.mixture.items():
                _check_corpus(name, "mixture")
                if not (isinstance(w, (int, float)) and w > 0 and math.isfinite(w)):
                    raise ValueError(f"mixture weight of {name!r} must be a positive number, got {w!r}")
            total = sum(self.mixture.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"mixture weights sum to {total:g}, not 1")
        return self

    def corpora(self) -> list[str]:
        """The corpora the sweep pre-trains on (none for a suite of checkpoints)."""
        return [self.corpus] if self.corpus else list(self.mixture or [])

    def what(self) -> str:
        """What the source is, for titles and logs: its corpora, or its checkpoints."""
        if self.checkpoints:
            return f"{len(self.checkpoints)} checkpoints: " + ", ".join(c.path for c in self.checkpoints)
        return "+".join(self.corpora())


def _positive_distinct(values: list[float], noun: str, at_least: int, who: str) -> list[float]:
    """A grid of positive, finite, distinct numbers, at least `at_least` of them, sorted."""
    for x in values:
        if not (x > 0 and math.isfinite(x)):
            raise ValueError(f"every {noun} must be a positive number, got {x!r}")
    dup = sorted({x for x in values if values.count(x) > 1})
    if dup:
        raise ValueError(f"duplicate {noun}s {dup}")
    if len(values) < at_least:
        raise ValueError(f"{len(values)} {noun}s given; {who} needs at least {at_least}")
    return sorted(values)


class LrSearch(BaseModel):
    """Fine-tuning lr chosen once per (size, source) on a held-out D_F: each candidate scale
    fine-tunes the pre-trained model on `tokens` target tokens (a D_F kept out of the fit), and the
    scale with the lowest best held-out loss sets the lr of every fine-tune of that model."""

    model_config = ConfigDict(extra="forbid")

    scales: list[float] = Field(..., description="candidate fine-tune lr scales (peak lr = scale x "
                                "lr(N)); at least 2")
    tokens: int = Field(..., gt=0, description="the held-out D_F the candidates fine-tune on; not "
                        "one of finetune_tokens, so the choice does not see the fitted points")

    @field_validator("scales")
    @classmethod
    def _scales(cls, v: list[float]) -> list[float]:
        return _positive_distinct(v, "scale", 2, "a search")


class Experiment(BaseModel):
    """What the sweep measures: the target, the sources, the grids of N and D, the model line and
    tokenizer, and the seeds. Hashed: changing any of it is a different sweep."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("transfer-sweep", min_length=1, description="MLflow experiment name")
    target: str = Field("python", description="target corpus (fine-tuning and from-scratch data)")
    sources: dict[str, Source] = Field(
        ..., min_length=1, description="sources by name: {corpus: …} or {mixture: {…}} (pre-trained by "
        "the sweep), or {checkpoints: [...]} (an open suite; then every source is a suite)")
    sizes: list[float] = Field(
        default_factory=list, description="target non-embedding parameter counts N; each maps to a shape "
        "on the family's aspect-ratio line (model/shapes.py). Required for corpus sources; empty for a "
        "suite of checkpoints, which brings its own sizes")
    finetune_tokens: list[int] = Field(..., description="the D_F grid: target tokens per fine-tune")
    scratch_tokens: list[int] | None = Field(
        None, description="D grid of from-scratch runs; default: the D_F grid. Add larger D so the "
        "from-scratch surface is known where fine-tuned runs land (D_E)")
    pretrain_tokens: int | list[int] = Field(
        0, description="pre-training budget in tokens: one for every size, or a list with one per "
        "size (sizes then in ascending order); the run may stop earlier on its own held-out loss. "
        "Required for corpus sources; 0 (none) for a suite of checkpoints")
    n_ctx: int = Field(_RUN["n_ctx"].default, gt=1, description="context length in tokens")
    tokenizer: str = Field("bytes", description=TOKENIZER_HELP + "; one for the target and every source")
    family: Family = Field("gpt2", description=FAMILY_HELP)
    kv_group: int = Field(1, ge=1, description="llama: query heads per key/value head (grouped-query "
                          "attention; small models with few heads keep at least one); 1 = none")
    tie_embeddings: bool = Field(True, description=TIED_HELP)
    zero_shot: bool = Field(
        True, description="evaluate each pre-trained model on the target before any fine-tuning (one "
        "held-out evaluation per model, a run of kind zeroshot with D_F = 0): the report separates what "
        "the pre-trained model alone is worth from what fine-tuning on D_F added")
    seed: int = Field(_RUN["seed"].default, ge=0, description="seed of every run (the first replicate's)")
    replicates: int = Field(1, ge=1, description="seeds per scratch and fine-tune point (seed, seed+1, "
                            "...): their spread is the noise the fit is measured under, their mean "
                            "(in log space) the point it fits; `transfer-laws plan` says where "
                            "replicates buy the most")
    pretrain_replicates: int = Field(1, ge=1, description="seeds per pre-training run; fine-tune "
                                     "replicate r starts from pre-train replicate r mod this, so its "
                                     "spread includes the pre-training seed's. At most `replicates`")
    test_fraction: float = Field(0.03, gt=0, lt=1, description="held-out share of each corpus, by file")

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v: list[float]) -> list[float]:
        return v and _positive_distinct(v, "size", MIN_SIZES, "the transfer fit")  # []: see _sizes_or_a_suite

    @field_validator("finetune_tokens", "scratch_tokens")
    @classmethod
    def _tokens(cls, v: list[int] | None, info) -> list[int] | None:
        if v is None:
            return v
        for d in v:
            if d <= 0:
                raise ValueError(f"every data-set size must be a positive number of tokens, got {d!r}")
        if len(set(v)) != len(v):
            raise ValueError(f"duplicate data-set sizes {sorted({d for d in v if v.count(d) > 1})}")
        if info.field_name == "finetune_tokens" and len(v) < MIN_FINETUNE_SIZES:
            raise ValueError(f"{len(v)} D_F values given; the transfer fit needs at least "
                             f"{MIN_FINETUNE_SIZES}")
        return sorted(v)

    @field_validator("pretrain_tokens")
    @classmethod
    def _pretrain(cls, v: int | list[int], info) -> int | list[int]:
        for t in (v if isinstance(v, list) else [] if v == 0 else [v]):  # 0: not given (see _sizes_or_a_suite)
            if t <= 0:
                raise ValueError(f"every pre-training budget must be a positive number of tokens, got {t!r}")
        if isinstance(v, list):
            sizes = info.data.get("sizes")
            if sizes and len(v) != len(sizes):
                raise ValueError(f"{len(v)} budgets given for {len(sizes)} sizes; give one per size or "
                                 "a single number")
        return v

    @model_validator(mode="before")
    @classmethod
    def _budgets_follow_sizes(cls, values):
        """A list of budgets pairs with sizes as written, so the sizes must already be ascending."""
        if isinstance(values, dict) and isinstance(values.get("pretrain_tokens"), list):
            sizes = values.get("sizes")
            if isinstance(sizes, list) and all(isinstance(n, (int, float)) for n in sizes) \
                    and sizes != sorted(sizes):
                raise ValueError("sizes: with one pre-training budget per size, list the sizes in "
                                 f"ascending order (got {sizes})")
        return values

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        return _check_corpus(v, "target")

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer(cls, v: str) -> str:
        return TokenizerSpec.checked(v).text

    def shape(self, n_target: float, vocab_size: int = 256):
        """The model shape of size `n_target` in this sweep: its family, context and head rules.
        The vocabulary changes no N; pass it (`vocab_size()`, or the prepared data's) where the
        shape is priced or built."""
        from transfer_laws.model.shapes import shape_for

        return shape_for(n_target, n_ctx=self.n_ctx, vocab_size=vocab_size, family=self.family,
                         kv_group=self.kv_group, tied=self.tie_embeddings)

    @model_validator(mode="after")
    def _distinct_shapes(self) -> "Experiment":
        if self.kv_group > 1 and self.family != "llama":
            raise ValueError(f"kv_group: needs family llama for grouped-query attention, not {self.family}")
        if not self.sizes:
            return self
        seen: dict = {}
        for n in self.sizes:
            s = self.shape(n)
            if s in seen:
                raise ValueError(f"sizes: sizes {seen[s]:g} and {n:g} map to the same shape ({s.describe()}); "
                                 "space sizes further apart")
            seen[s] = n
        return self

    @model_validator(mode="after")
    def _pretrain_replicates_are_used(self) -> "Experiment":
        if self.pretrain_replicates > self.replicates:
            raise ValueError(f"pretrain_replicates: {self.pretrain_replicates} pre-training seeds but "
                             f"only replicates={self.replicates} fine-tune seeds; the extra pre-trains "
                             "would have no fine-tune")
        return self


class Optimiser(BaseModel):
    """How each run is optimised: batch and its split over processes, learning-rate rules and
    schedule, evaluation and early stopping. Hashed with the experiment: each changes what a run
    computes."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(_RUN["batch_size"].default, gt=0, description="sequences per optimiser step, all runs")
    lr: float | Literal["kaplan"] = Field(
        "kaplan", description="peak learning rate, or 'kaplan': lr(N) = 0.003239 - 0.0001395 ln N "
        "(Kaplan et al. 2020, eq. D.1)")
    finetune_lr_scale: float = Field(1.0, gt=0, description="fine-tune peak lr = scale x lr(N)")
    finetune_lr_search: LrSearch | None = Field(
        None, description="choose the fine-tune lr scale per (size, source) on a held-out D_F instead "
        "of finetune_lr_scale: {scales: [...], tokens: D}")
    finetune_steps_per_epoch: int = Field(
        4, ge=0, description="fine-tunes take at least this many optimiser steps per pass over D_F: "
        "their batch is cut to D_F / (this x n_ctx) sequences (at least one, a multiple of "
        "processes_per_run), so early stopping can find a point inside the first epochs (with the full "
        "batch, small-D_F fine-tunes peak within a few steps: docs/results.md). 0 = batch_size for every "
        "run")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine decays to ratio x peak lr")
    warmup_steps: int = Field(_RUN["warmup_steps"].default, ge=0, description="linear warm-up steps, all runs")
    max_steps: int = Field(_RUN["max_steps"].default, gt=0, description="step cap of scratch and fine-tune "
                           "runs; early stopping should end them first")
    eval_interval: int = Field(_RUN["eval_interval"].default, gt=0,
                               description="steps between held-out evaluations")
    eval_tokens: int = Field(_RUN["eval_tokens"].default, gt=0, description="held-out tokens per evaluation")
    patience: int = Field(_RUN["patience"].default, ge=0,
                          description="evaluations without improvement before stopping")
    pretrain_patience: int | None = Field(
        None, ge=0, description="patience of the pre-training runs; None = `patience`, 0 = train the "
        "whole budget (its best checkpoint is kept). A short patience can stop a pre-train on a noisy "
        "rise while its loss still falls (docs/results.md, paper-cpu)")
    processes_per_run: int = Field(
        _RUN["processes_per_run"].default, ge=1, description="processes (GPUs) that train one run together "
        "(data parallel through `accelerate launch`); batch_size must be a multiple of it. A slot is then "
        "a group of this many GPUs")

    @model_validator(mode="after")
    def _warmup_fits(self) -> "Optimiser":
        if self.warmup_steps >= self.max_steps:
            raise ValueError(f"warmup_steps: {self.warmup_steps} warm-up steps but max_steps="
                             f"{self.max_steps}; every scratch and fine-tune run would end inside its "
                             "warm-up")
        return self

    @model_validator(mode="after")
    def _batch_splits(self) -> "Optimiser":
        if self.batch_size % self.processes_per_run:
            raise ValueError(f"batch_size: {self.batch_size} is not a multiple of processes_per_run="
                             f"{self.processes_per_run}")
        return self


class Execution(BaseModel):
    """Where and how runs execute: slots, packing, threads, compile, device, local or Prefect
    deployments. Not hashed: they change how fast a sweep runs, never what it measures."""

    model_config = ConfigDict(extra="forbid")

    slots: int | Literal["auto"] = Field(
        "auto", description="runs at once: 'auto' = runs_per_gpu per GPU, else CPU cores / "
        "threads_per_run")
    runs_per_gpu: int | Literal["auto"] = Field(
        "auto", description="runs packed on one GPU, each its own process (GPU only): 'auto' = as "
        "many as the largest model's memory allows, at most one per host core and 8; 1 for models "
        "that fill the GPU alone (tasks/sweep/gpu_rules.py)")
    compile: bool | Literal["auto"] = Field(
        "auto", description="torch.compile each run (inductor): 'auto' = on a GPU when the run's "
        "expected steps save more than the compile costs (tasks/sweep/gpu_rules.py); never on a CPU, "
        "where compiled steps are slower (benchmarks/RESULTS.md)")
    threads_per_run: int | Literal["auto"] = Field("auto", description="torch CPU threads per run; "
                                                   "'auto' = 1 (two 1-thread runs beat one 2-thread run: benchmarks/RESULTS.md)")
    device: Literal["auto", "cpu", "cuda"] = Field(_RUN["device"].default, description="auto = cuda when present")
    executor: Literal["local", "deployments"] = Field(
        "local", description="'local': runs train in subprocesses of the sweep's own process, one per "
        "slot; 'deployments': every run is a flow run of the train-one-run deployment, picked up by "
        "Prefect workers (deployments/README.md)")
    deployment: str = Field("train-one-run/train-one-run", description="with executor 'deployments': "
                            "the deployment (flow-name/deployment-name) that trains one run")

    @field_validator("runs_per_gpu", mode="before")
    @classmethod
    def _runs_per_gpu(cls, v):
        if v != "auto" and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{v!r} runs per GPU; give a whole number, at least 1, or 'auto'")
        return v

    @field_validator("compile", mode="before")
    @classmethod
    def _compile(cls, v):
        if v != "auto" and not isinstance(v, bool):
            raise ValueError(f"{v!r} is not true, false or 'auto'")
        return v


class Tracking(BaseModel):
    """Where runs and results are kept: the project folder and the MLflow store. Not hashed: the
    same sweep kept elsewhere is the same sweep."""

    model_config = ConfigDict(extra="forbid")

    home: str | None = Field(None, description="project run folder (default $TRANSFER_LAWS_HOME or "
                             "./.transfer-laws); with executor 'deployments', a path every worker "
                             "can reach (run folders and checkpoints live there)")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default: the project's "
                                     "SQLite file. With executor 'deployments' use a tracking server "
                                     "(http://host:port) that every worker can reach")


class Fit(BaseModel):
    """How the report fits the runs. Not hashed: a fit option changes no run."""

    model_config = ConfigDict(extra="forbid")

    curve_form: Literal["current", "bansal", "piecewise", "auto"] = Field(
        "current", description="per-N scratch curve inverted for D_E: current (the surface's own), "
        "bansal (Bansal et al. 2022), piecewise (after Jain et al. 2023), or auto = the one with the "
        "lowest leave-the-largest-D-out error (tasks/fitting/curve_forms.py); the report compares "
        "them all")


GROUPS: dict[str, type[BaseModel]] = {"experiment": Experiment, "optimiser": Optimiser, "execution": Execution,
                                      "tracking": Tracking, "fit": Fit}
HASHED = ("experiment", "optimiser")  # the groups whose settings change what a run computes
GROUP_OF = {field: group for group, model in GROUPS.items() for field in model.model_fields}


def nested(values: dict) -> tuple[dict, list[str]]:
    """`values` with every flat (pre-group) key moved into its group, and the keys moved.
    A key given both flat and inside its group is an error: neither may silently win."""
    moved = [k for k in values if k in GROUP_OF]
    if not moved:
        return values, []
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in values.items() if k not in GROUP_OF}
    for key in moved:
        group = out.setdefault(GROUP_OF[key], {})
        if not isinstance(group, dict):
            return values, []  # a group that is not a mapping: validation names it
        if key in group:
            raise ValueError(f"{GROUP_OF[key]}.{key}: given twice, as a flat key and inside "
                             f"{GROUP_OF[key]}:")
        group[key] = values[key]
    return out, moved


class SweepConfig(BaseModel):
    """A transfer sweep: sizes x data-set sizes, from scratch and fine-tuned from each source, in
    five groups of settings (what is measured, how runs are optimised, where they execute, where
    they are kept, how they are fitted)."""

    model_config = ConfigDict(extra="forbid")

    experiment: Experiment = Field(..., description="what is measured: target, sources, N and D grids, "
                                   "model line, tokenizer, seeds (hashed)")
    optimiser: Optimiser = Field(default_factory=Optimiser, description="how each run is optimised: batch, "
                                 "lr rules, schedule, evaluation, early stopping (hashed)")
    execution: Execution = Field(default_factory=Execution, description="where runs execute: slots, "
                                 "packing, threads, compile, device, executor (not hashed)")
    tracking: Tracking = Field(default_factory=Tracking, description="where runs are kept: project "
                               "folder, MLflow store (not hashed)")
    fit: Fit = Field(default_factory=Fit, description="how the report fits the runs (not hashed)")

    @model_validator(mode="before")
    @classmethod
    def _flat_keys_move_to_groups(cls, values):
        """Configs written before the groups keep loading, with one line naming each key's place."""
        if not isinstance(values, dict):
            return values
        values, moved = nested(values)
        if moved:
            warnings.warn_explicit(  # one line, naming no file of this package
                "flat sweep-config keys are deprecated; move each into its group: "
                + ", ".join(f"{k} -> {GROUP_OF[k]}.{k}" for k in moved), FutureWarning, "sweep config", 0)
        return values

    @model_validator(mode="after")
    def _sizes_or_a_suite(self) -> "SweepConfig":
        """Corpus sources need sizes and budgets; a suite brings its sizes, architectures and
        tokenizer, so those settings are errors there (they would be silently ignored)."""
        ex = self.experiment
        suites = [name for name, src in ex.sources.items() if src.checkpoints]
        if not suites:
            if "sizes" in ex.model_fields_set and not ex.sizes:
                raise ValueError(f"experiment.sizes: 0 sizes given; the transfer fit needs at least {MIN_SIZES}")
            if "pretrain_tokens" in ex.model_fields_set and ex.pretrain_tokens == 0:
                raise ValueError("experiment.pretrain_tokens: every pre-training budget must be a positive "
                                 "number of tokens, got 0")
            for name in ("sizes", "pretrain_tokens"):
                if getattr(ex, name) in ([], 0):
                    raise ValueError(f"experiment.{name}: Field required")
            return self
        if len(suites) < len(ex.sources):
            other = next(name for name in ex.sources if name not in suites)
            raise ValueError(f"experiment.sources: {other!r} is a corpus but {suites[0]!r} a suite of "
                             "checkpoints; a sweep measures either sources it pre-trains or suites")
        for name, why in (("sizes", "the sizes come from the checkpoints"),
                          ("pretrain_tokens", "a suite is pre-trained already"),
                          ("pretrain_patience", "a suite is pre-trained already"),
                          ("pretrain_replicates", "a suite has one checkpoint per size"),
                          ("family", "the architectures come from the checkpoints"),
                          ("kv_group", "the architectures come from the checkpoints"),
                          ("tie_embeddings", "the architectures come from the checkpoints")):
            group = getattr(self, GROUP_OF[name])
            if getattr(group, name) != type(group).model_fields[name].get_default(call_default_factory=True):
                # given: away from its default (a dump of this config re-validates)
                raise ValueError(f"{GROUP_OF[name]}.{name}: not used with checkpoint sources ({why})")
        first = ex.sources[suites[0]].checkpoints[0].path
        suite_tokenizer = first if first.startswith("hf:") else str(Path(first).expanduser().resolve())
        if "tokenizer" in ex.model_fields_set and ex.tokenizer != suite_tokenizer:
            raise ValueError(f"experiment.tokenizer: not used with checkpoint sources (the suite's own "
                             f"tokenizer, {first}, is the sweep's)")
        given = "tokenizer" in ex.model_fields_set
        ex.tokenizer = suite_tokenizer
        if not given:  # the suite's, not the user's: a re-validation (`updated`) must not check it as given
            ex.model_fields_set.discard("tokenizer")
        return self

    @model_validator(mode="after")
    def _search_is_held_out(self) -> "SweepConfig":
        search = self.optimiser.finetune_lr_search
        if search is None:
            return self
        if search.tokens in self.experiment.finetune_tokens:
            raise ValueError(f"optimiser.finetune_lr_search: tokens={search.tokens} is one of finetune_tokens; "
                             "choose a held-out D_F that is not in the grid")
        if "finetune_lr_scale" in self.optimiser.model_fields_set:
            raise ValueError("optimiser.finetune_lr_scale: set either finetune_lr_scale or finetune_lr_search, "
                             "not both")
        return self

    @model_validator(mode="after")
    def _deployments_need_a_server(self) -> "SweepConfig":
        uri = self.tracking.tracking_uri
        if self.execution.executor == "deployments" and not (uri or "").startswith(("http://", "https://")):
            raise ValueError(f"tracking.tracking_uri: executor 'deployments' needs an MLflow tracking server "
                             f"that every worker can reach, got {uri!r}")
        return self

    # ---- derived values -------------------------------------------------------------------------
    def suite(self) -> bool:
        """True when the sources are suites of pre-trained checkpoints (no pre-training runs)."""
        return any(src.checkpoints for src in self.experiment.sources.values())

    def tokenizer_spec(self) -> TokenizerSpec:
        return TokenizerSpec.checked(self.experiment.tokenizer)

    def vocab_size(self) -> int:
        """The models' vocabulary as far as it is known before any data is prepared (a hub
        tokenizer not yet fetched counts as bytes' 256: the prepared target corrects it)."""
        return static_vocab(self.tokenizer_spec()) or 256

    def shape(self, n_target: float, vocab_size: int = 256):
        """The model shape of size `n_target` in this sweep (see `Experiment.shape`)."""
        return self.experiment.shape(n_target, vocab_size)

    def scratch_grid(self) -> list[int]:
        return sorted(set(self.experiment.scratch_tokens or []) | set(self.experiment.finetune_tokens))

    def pretrain_budget(self, n: float) -> int:
        """Pre-training tokens of the size `n` (one of `sizes`)."""
        ex = self.experiment
        if isinstance(ex.pretrain_tokens, int):
            return ex.pretrain_tokens
        return ex.pretrain_tokens[ex.sizes.index(n)]

    def about(self) -> dict:
        """What the sweep's report title names: sweep, target, sources (their corpora), config hash,
        model family, tokenizer."""
        ex = self.experiment
        head = {"sweep": ex.name, "target": ex.target, "config_hash": self.config_hash(),
                "sources": {name: src.what() for name, src in ex.sources.items()}}
        if self.suite():
            return {**head, "tokenizer": ex.tokenizer,
                    "scratch_init": "the suite's architectures initialised by transformers' default "
                                    "(from_config, seeded), not by the suite's own training recipe"}
        family = ex.family + (f" (kv_group {ex.kv_group})" if ex.kv_group > 1 else "")
        return {**head, "family": family + ("" if ex.tie_embeddings else ", untied head"),
                "tokenizer": ex.tokenizer}

    def uses_hub(self) -> bool:
        """True when a corpus, the tokenizer or a checkpoint comes from a hub: only then may the
        process go online."""
        ex = self.experiment
        specs = [ex.target, *[c for src in ex.sources.values() for c in src.corpora()], ex.tokenizer,
                 *[c.path for src in ex.sources.values() for c in src.checkpoints or []]]
        return any(s.startswith("hf:") for s in specs)

    def config_hash(self) -> str:
        """The sweep's identity: the hashed groups' settings as one flat mapping. A setting added
        after a sweep was run leaves the hash alone at its old behaviour's value, so every sweep
        keeps its hash (and its MLflow parent run)."""
        payload = {k: v for group in HASHED for k, v in getattr(self, group).model_dump().items()}
        for source in payload["sources"].values():  # keeps the hash of configs written before suites
            if source.get("checkpoints") is None:
                source.pop("checkpoints", None)
        for name in ("sizes", "pretrain_tokens"):  # a suite's: not given
            if payload.get(name) in ([], 0):
                payload.pop(name)
        for name, old in (("finetune_lr_search", None), ("replicates", 1), ("pretrain_replicates", 1),
                          ("pretrain_patience", None), ("zero_shot", False), ("finetune_steps_per_epoch", 0),
                          ("family", "gpt2"), ("kv_group", 1), ("tie_embeddings", True), ("tokenizer", "bytes")):
            if name in payload and payload[name] == old:
                payload.pop(name)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]

    def updated(self, **settings) -> "SweepConfig":
        """A validated copy with some settings replaced, each named by its field (`home=…`,
        `sizes=…`): the one way to override a loaded config, whichever group a setting is in."""
        values = self.model_dump(exclude_unset=True)
        for key, value in settings.items():
            if key not in GROUP_OF:
                near = difflib.get_close_matches(key, GROUP_OF, n=1)
                raise InputError(key, value, "is not a sweep setting", (f"did you mean {near[0]!r}? " if near else "")
                                 + "the settings are listed by `transfer-laws run --help-config`")
            values.setdefault(GROUP_OF[key], {})[key] = value
        return type(self).checked(values)

    # ---- loading with errors that name the field --------------------------------------------------
    @classmethod
    def checked(cls, values: dict) -> "SweepConfig":
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            if isinstance(own := err.get("ctx", {}).get("error"), InputError):  # a check that names its own fix
                if loc.endswith("." + own.field):  # named by its place in the config (experiment.tokenizer)
                    raise InputError(loc, own.value, own.problem, own.fix) from None
                raise own from None
            msg = err["msg"].removeprefix("Value error, ")
            value = MISSING if err["type"] == "missing" else err.get("input")
            head, sep, rest = msg.partition(": ")
            if sep and re.fullmatch(r"[a-z_][a-z_0-9.]*", head):  # "<field>: …" names the field itself
                if head == loc.split(".")[-1]:
                    msg = rest  # "target: 'x' is …" at loc experiment.target
                elif loc in ("", *GROUPS):  # a group's or the config's cross-field check
                    loc, msg = ".".join(p for p in (loc, head) if p), rest
                    value = _value_at(values, loc, MISSING if msg == "Field required" else None)
            if not loc:
                loc = "config"
            raise InputError(loc, value, msg, _fix_for(loc, msg)) from None

    @classmethod
    def load(cls, path: str | Path) -> "SweepConfig":
        p = Path(path)
        if not p.is_file() and bundled_config(str(path)) is not None:
            p = bundled_config(str(path))
        if not p.is_file():
            raise InputError("CONFIG", str(p), "does not exist", "give the path of a sweep YAML file, "
                             f"or the name of a bundled one ({', '.join(bundled_configs())})")
        values = read_mapping(p, "CONFIG", "see configs/demo.yaml")
        return cls.checked(values)


def _value_at(values: dict, loc: str, default):
    """The value a dotted field path names in the config as given, flat keys or groups."""
    try:
        here = nested(values)[0] if isinstance(values, dict) else values
    except ValueError:
        here = values
    for part in loc.split("."):
        if not isinstance(here, dict) or part not in here:
            return default
        here = here[part]
    return here


def bundled_configs(folder: str = "") -> list[str]:
    """Names of the YAML files shipped in the package's configs/ (the sweep configs: demo, paper-cpu,
    …), or in its sub-folder `folder` (runs: the `train` presets)."""
    from importlib.resources import files

    root = files("transfer_laws.configs") / folder if folder else files("transfer_laws.configs")
    return sorted(f.name[:-5] for f in root.iterdir() if f.name.endswith(".yaml"))


def bundled_config(name: str, folder: str = "") -> Path | None:
    """The packaged file of a bundled config named `name` (with or without .yaml), else None."""
    from importlib.resources import files

    stem = name[:-5] if name.endswith(".yaml") else name
    if "/" in stem or stem not in bundled_configs(folder):
        return None
    root = files("transfer_laws.configs") / folder if folder else files("transfer_laws.configs")
    return Path(str(root / f"{stem}.yaml"))


# (words in the message, the fix): the first match wins
_FIXES = (
    (("given twice",), "keep the one inside its group and remove the flat key"),
    (("'gpt2' or 'llama'",), "set experiment.family: gpt2 (GPT-2 blocks, the default) or llama (RoPE, SwiGLU, "
                             "RMSNorm)"),
    (("for grouped-query attention",), "set experiment.family: llama, or experiment.kv_group: 1"),
    (("extra pre-trains",), "set experiment.pretrain_replicates <= experiment.replicates"),
    (("not used with checkpoint sources",),
     "remove it: a suite of checkpoints brings its own sizes, architectures and tokenizer"),
    (("either sources it pre-trains",), "measure corpus sources and checkpoint suites in two sweeps"),
    (("held-out D_F",), "pick finetune_lr_search.tokens between two grid values, e.g. 2x the smallest D_F"),
    (("either finetune_lr_scale",), "remove finetune_lr_scale (the search sets the scale)"),
    (("budgets given", "ascending order"),
     "give one pre-training budget per size, sizes ascending, or a single number"),
    (("sum to",), "make the mixture weights add up to 1"),
    (("at least",), "add values to the grid"),
    (("duplicate", "same shape"), "list each value once"),
    (("runs per GPU",), "set execution.runs_per_gpu to 1 or more, or to auto"),
    (("true, false or 'auto'",), "set execution.compile: auto (on where it pays), true or false"),
    (("'current', 'bansal'",), "set fit.curve_form: current (the default), bansal, piecewise or auto"),
    (("inside its warm-up",), "lower optimiser.warmup_steps below max_steps (or raise max_steps)"),
    (("multiple of processes_per_run",),
     "make optimiser.batch_size a multiple of processes_per_run (each process trains on an equal slice)"),
    (("tracking server",), "start one (`transfer-laws services start`) and set tracking.tracking_uri: "
                           "http://127.0.0.1:5000, or use execution.executor: local"),
    (("registered corpus",), "use python, english, code-other, a folder or a file"),
)


def _fix_for(loc: str, msg: str) -> str:
    if msg == "Field required":
        *group, name = loc.split(".")
        where = f" under {group[0]}:" if group and group[0] in GROUPS else ""
        return f"add {name!r} to the config{where} (see configs/demo.yaml)"
    if "extra" in msg.lower() or "not permitted" in msg:
        name = loc.split(".")[-1]
        known = [*GROUPS, *(f for model in (*GROUPS.values(), Source, Checkpoint, LrSearch) for f in model.model_fields)]
        near = difflib.get_close_matches(name, known, n=1)
        place = f"{GROUP_OF[near[0]]}.{near[0]}" if near and near[0] in GROUP_OF else near[0] if near else ""
        return (f"remove {name!r}" + (f" (did you mean {place!r}?)" if place else "")
                + "; the fields are listed by `transfer-laws run --help-config`")
    return next((fix for needles, fix in _FIXES if any(n in msg for n in needles)),
                "see the field descriptions in configs/demo.yaml")
