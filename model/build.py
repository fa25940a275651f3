"""Build, save and load models of the family with transformers (never a hub download).

GPT-2 blocks (pre-norm, GELU MLP, learned positions, tied LM head), SDPA attention, no dropout:
the early-stopped runs of a scaling-law sweep regularise by stopping, as in the paper.
The MLP's GELU is GPT-2's tanh approximation computed by PyTorch's one fused kernel
(`gelu_pytorch_tanh`) rather than transformers' `gelu_new`, the same formula spelt in five
element-wise ops: +2 % training tokens/s at N = 3.3e3 and +7 % at 5e4 on one idle CPU thread
(up to 1.2x at 1e5 on 2 busy threads), same losses to 4 decimals over the demo's 30 runs.
"""
from __future__ import annotations

from pathlib import Path

from transfer_laws.model.shapes import Shape, validate_shape


def gpt2_config(shape: Shape):
    from transformers import GPT2Config

    validate_shape(shape.n_layer, shape.d_model, shape.n_head, shape.n_ctx, shape.vocab_size)
    return GPT2Config(
        vocab_size=shape.vocab_size, n_positions=shape.n_ctx, n_embd=shape.d_model,
        n_layer=shape.n_layer, n_head=shape.n_head, n_inner=4 * shape.d_model,
        activation_function="gelu_pytorch_tanh", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        tie_word_embeddings=True, use_cache=False,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
        attn_implementation="sdpa",
    )


def build_model(shape: Shape, seed: int | None = None):
    """A freshly initialised fp32 model of `shape` (transformers' GPT-2 init)."""
    import torch
    from transformers import GPT2LMHeadModel

    if seed is not None:
        torch.manual_seed(seed)
    return GPT2LMHeadModel(gpt2_config(shape))


def shape_of(model) -> Shape:
    c = model.config
    return Shape(n_layer=c.n_layer, d_model=c.n_embd, n_head=c.n_head, n_ctx=c.n_positions,
                 vocab_size=c.vocab_size)


def count_params(model) -> dict[str, int]:
    """Counted from the built module, to check the closed form in `model.shapes`."""
    emb = model.transformer.wte.weight.numel() + model.transformer.wpe.weight.numel()
    total = sum(p.numel() for p in model.parameters())  # tied head counted once
    return {"params_total": total, "params_embedding": emb, "params_non_embedding": total - emb}


def checkpoint_shape(path: str | Path) -> Shape:
    """The shape saved in a checkpoint folder's config.json, read without loading weights."""
    import json

    c = json.loads((Path(path) / "config.json").read_text())
    return Shape(n_layer=c["n_layer"], d_model=c["n_embd"], n_head=c["n_head"],
                 n_ctx=c["n_positions"], vocab_size=c["vocab_size"])


def load_pretrained(path: str | Path):
    """Load a saved checkpoint folder (config.json + model.safetensors), offline only."""
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(str(path), local_files_only=True, use_safetensors=True)
