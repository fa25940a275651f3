"""Models given by a transformers config of any causal-LM family: what a sweep needs to treat a suite
of open checkpoints (Pythia, or any family transformers builds) as a source, read from its config
alone (never its weights).

`Architecture` is the counterpart of `model.shapes.Shape` for such a model: the config's own JSON
(so a scratch baseline re-initialises exactly the checkpoint's architecture, and the JSON is part of
every run_key), the context the runs train at, and the exact non-embedding N. N is counted from the
module built on PyTorch's meta device (no memory, no weights) by the rule of
`model.build.count_params`: every parameter once, less the input embedding, an untied output
embedding and any other embedding table. It is not taken from a closed form even for gpt2 and
llama: a foreign checkpoint of those families may use another MLP width than this tool's shapes.
The tokenizer is identified by the sha256 of the folder's tokenizer.json, so a source's
checkpoints can be checked to share one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from transfer_laws.model.build import count_params

# Keys of config.json that record how a checkpoint was saved, not what it is.
BOOKKEEPING = ("transformers_version", "_name_or_path", "_commit_hash", "torch_dtype", "dtype", "use_cache")


def context_of(config) -> int:
    """The context length a config was built for, whatever the family calls it."""
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"model_type {config.model_type!r}: its config names no context length")


def config_from_json(config_json: str):
    """The transformers config that `config_json` (a config.json's content) describes."""
    from transformers import AutoConfig

    values = json.loads(config_json)
    kind = values.pop("model_type", None)
    if not kind:
        raise ValueError("the config names no model_type: not a transformers checkpoint config")
    try:
        return AutoConfig.for_model(kind, **values)
    except ValueError:
        raise ValueError(f"model_type {kind!r} is not a model family this transformers knows") from None


def canonical_json(config_file: str | Path) -> str:
    """A config.json's content without its bookkeeping keys, keys sorted: equal for equal models."""
    values = json.loads(Path(config_file).read_text(encoding="utf-8"))
    return json.dumps({k: v for k, v in values.items() if k not in BOOKKEEPING}, sort_keys=True)


def count_on_meta(config) -> dict[str, int]:
    """count_params of the module `config` builds, built without memory on the meta device; a
    config that builds no causal LM is a ValueError naming its class."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except ValueError:  # transformers' own message lists every supported class: too long to show
        raise ValueError(f"model_type {config.model_type!r} is not a causal language model that "
                         f"transformers builds (AutoModelForCausalLM has no class for "
                         f"{type(config).__name__})") from None
    return count_params(model)


@dataclass(frozen=True)
class Architecture:
    """One causal-LM architecture from its config JSON, trained at context `n_ctx` (module docstring).
    Has the attributes of a Shape that planning, pricing and logging read."""

    config_json: str
    n_ctx: int
    family: str  # the config's model_type: gpt2, llama, gpt_neox, …
    n_layer: int
    d_model: int
    n_head: int
    kv_heads: int
    vocab_size: int  # the model's (may exceed the tokenizer's: Pythia pads 50277 to 50304)
    max_ctx: int  # the longest context the config was built for
    tied: bool
    params_non_embedding: int
    params_total: int

    @classmethod
    def from_json(cls, config_json: str, n_ctx: int | None = None) -> "Architecture":
        """The architecture of `config_json` (ValueError for a config that builds no causal LM);
        `n_ctx` None = the config's own context. Counted once per config."""
        return _architecture(config_json).at(n_ctx)

    def at(self, n_ctx: int | None) -> "Architecture":
        """The same architecture trained at context `n_ctx` (None: the config's own); N does not change."""
        return replace(self, n_ctx=n_ctx or self.max_ctx)

    @property
    def params_embedding(self) -> int:
        return self.params_total - self.params_non_embedding

    @property
    def key(self) -> str:
        """sha256[:12] of the config JSON: the architecture's identity in names and tables."""
        return hashlib.sha256(self.config_json.encode()).hexdigest()[:12]

    def config(self):
        """The transformers config (without a KV cache: training only)."""
        config = config_from_json(self.config_json)
        config.use_cache = False
        return config

    def describe(self) -> str:
        return (f"{self.family} L={self.n_layer} d={self.d_model} h={self.n_head} ctx={self.n_ctx} "
                f"V={self.vocab_size} N={self.params_non_embedding:.3g}")


@lru_cache(maxsize=256)
def _architecture(config_json: str) -> Architecture:
    config = config_from_json(config_json)
    counts = count_on_meta(config)
    heads = int(getattr(config, "num_attention_heads", 0) or 0)  # 0: an attention-free family
    kv = getattr(config, "num_key_value_heads", None) or heads
    max_ctx = context_of(config)
    return Architecture(
        config_json=config_json, n_ctx=max_ctx, family=config.model_type,
        n_layer=int(getattr(config, "num_hidden_layers", 0) or 0), d_model=int(getattr(config, "hidden_size", 0) or 0),
        n_head=heads, kv_heads=int(kv),
        vocab_size=int(config.vocab_size), max_ctx=max_ctx,
        tied=bool(getattr(config, "tie_word_embeddings", True)),
        params_non_embedding=int(counts["params_non_embedding"]), params_total=int(counts["params_total"]))


@dataclass(frozen=True)
class CheckpointInfo:
    folder: str
    architecture: Architecture  # at the config's own context
    tokenizer: str  # sha256[:16] of tokenizer.json; "" when the folder has none


def describe(folder: str | Path) -> CheckpointInfo:
    """The checkpoint in `folder` (config.json; tokenizer.json optional), read without its weights."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} holds no config.json: not a Hugging Face checkpoint folder")
    tokenizer = folder / "tokenizer.json"
    return CheckpointInfo(
        folder=str(folder.resolve()), architecture=Architecture.from_json(canonical_json(folder / "config.json")),
        tokenizer=hashlib.sha256(tokenizer.read_bytes()).hexdigest()[:16] if tokenizer.is_file() else "")


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


def has_weights(folder: str | Path) -> bool:
    """True when `folder` holds safetensors weights (one file or an index of shards)."""
    return any((Path(folder) / name).is_file() for name in WEIGHT_FILES)
