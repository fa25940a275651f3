"""A pre-trained checkpoint described from its config alone (never its weights): what a sweep
needs to treat a suite of open models (Pythia, or any causal-LM family transformers builds) as a
source.

N is the exact non-embedding count: the closed form of `model.shapes` for the families this tool
builds (gpt2, llama), else counted from the module built on PyTorch's meta device (no memory, no
weights): every parameter once, less the input embedding, an untied output embedding and any other
embedding table, the rule of `model.build.count_params`. The tokenizer is identified by the sha256
of the folder's tokenizer.json, so a source's checkpoints can be checked to share one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from transfer_laws.model.build import count_params, shape_from_config

CLOSED_FORM = ("gpt2", "llama")


@dataclass(frozen=True)
class CheckpointInfo:
    folder: str
    model_type: str  # the config's own: gpt2, llama, gpt_neox, …
    params_non_embedding: int
    params_total: int
    n_ctx: int  # the longest context the checkpoint was built for
    vocab_size: int  # the model's (may exceed the tokenizer's: Pythia pads 50277 to 50304)
    tokenizer: str  # sha256[:16] of tokenizer.json; "" when the folder has none
    counted: str  # "closed form" or "built on the meta device"


def context_of(config) -> int:
    """The context length a config was built for, whatever the family calls it."""
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"model_type {config.model_type!r}: its config names no context length")


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


def describe(folder: str | Path) -> CheckpointInfo:
    """The checkpoint in `folder` (config.json; tokenizer.json optional), read without its weights."""
    from transformers import AutoConfig

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} holds no config.json: not a Hugging Face checkpoint folder")
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    if config.model_type in CLOSED_FORM:
        shape = shape_from_config(config)
        counts = {"params_non_embedding": shape.params_non_embedding, "params_total": shape.params_total}
        counted = "closed form"
    else:
        counts, counted = count_on_meta(config), "built on the meta device"
    tokenizer = folder / "tokenizer.json"
    return CheckpointInfo(
        folder=str(folder.resolve()), model_type=config.model_type,
        params_non_embedding=int(counts["params_non_embedding"]), params_total=int(counts["params_total"]),
        n_ctx=context_of(config), vocab_size=int(config.vocab_size),
        tokenizer=hashlib.sha256(tokenizer.read_bytes()).hexdigest()[:16] if tokenizer.is_file() else "",
        counted=counted)
