"""Build, save and load models of each family with transformers (never a hub download).

`gpt2`: GPT-2 blocks (pre-norm, GELU MLP, learned positions), SDPA attention, no dropout: the
early-stopped runs of a scaling-law sweep regularise by stopping, as in the paper. The MLP's GELU
is GPT-2's tanh approximation computed by PyTorch's one fused kernel (`gelu_pytorch_tanh`) rather
than transformers' `gelu_new`, the same formula spelt in five element-wise ops: +2 % training
tokens/s at N = 3.3e3 and +7 % at 5e4 on one idle CPU thread (up to 1.2x at 1e5 on 2 busy
threads), same losses to 4 decimals over the demo's 30 runs.
`llama`: transformers' Llama classes (RoPE, SwiGLU, RMSNorm, no biases, grouped-query attention
when n_kv_head < n_head), SDPA attention, no dropout.
Loading is family-generic (`AutoModelForCausalLM`, the checkpoint's own config): a fine-tune reads
the family and shape from the folder it starts from.
"""
from __future__ import annotations

from pathlib import Path

from transfer_laws.model.shapes import Shape, validate_shape


def model_config(shape: Shape):
    """The transformers config of `shape` (validated first: a bad shape is a ValueError naming the
    field), or of a `model.suite.Architecture` (a checkpoint's own config)."""
    if hasattr(shape, "config_json"):
        return shape.config()
    validate_shape(shape)
    if shape.family == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=shape.vocab_size, hidden_size=shape.d_model, intermediate_size=shape.mlp_width,
            num_hidden_layers=shape.n_layer, num_attention_heads=shape.n_head,
            num_key_value_heads=shape.kv_heads, max_position_embeddings=shape.n_ctx, rms_norm_eps=1e-5,
            attention_bias=False, mlp_bias=False, attention_dropout=0.0, tie_word_embeddings=shape.tied,
            use_cache=False, bos_token_id=0, eos_token_id=0, pad_token_id=0, attn_implementation="sdpa")
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=shape.vocab_size, n_positions=shape.n_ctx, n_embd=shape.d_model,
        n_layer=shape.n_layer, n_head=shape.n_head, n_inner=4 * shape.d_model,
        activation_function="gelu_pytorch_tanh", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        tie_word_embeddings=shape.tied, use_cache=False,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
        attn_implementation="sdpa",
    )


def build_model(shape: Shape, seed: int | None = None):
    """A freshly initialised fp32 model of `shape` (transformers' own init of the family)."""
    import torch
    from transformers import AutoModelForCausalLM

    if seed is not None:
        torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(model_config(shape))


def shape_from_config(c) -> Shape:
    """The Shape of a transformers config (GPT-2 or Llama), the family from its model_type."""
    tied = bool(getattr(c, "tie_word_embeddings", True))
    if c.model_type == "llama":
        kv = c.num_key_value_heads or c.num_attention_heads
        return Shape(n_layer=c.num_hidden_layers, d_model=c.hidden_size, n_head=c.num_attention_heads,
                     n_ctx=c.max_position_embeddings, vocab_size=c.vocab_size, family="llama",
                     n_kv_head=0 if kv == c.num_attention_heads else kv, tied=tied)
    if c.model_type == "gpt2":
        return Shape(n_layer=c.n_layer, d_model=c.n_embd, n_head=c.n_head, n_ctx=c.n_positions,
                     vocab_size=c.vocab_size, tied=tied)
    raise ValueError(f"model_type {c.model_type!r} is not a family of this tool (gpt2, llama)")


def shape_of(model) -> Shape:
    return shape_from_config(model.config)


def count_params(model) -> dict[str, int]:
    """Counted from the built module, to check the closed form in `model.shapes`: every parameter
    once (a tied head shares the embedding's tensor), less the input embedding, the output embedding
    unless it is that same tensor, and every other embedding table (GPT-2's positions)."""
    import torch

    total = sum(p.numel() for p in model.parameters())  # parameters() yields a shared tensor once
    emb_in = model.get_input_embeddings().weight
    emb_out = model.get_output_embeddings().weight
    emb = emb_in.numel() + (0 if emb_out is emb_in else emb_out.numel())
    emb += sum(m.weight.numel() for m in model.modules()
               if isinstance(m, torch.nn.Embedding) and m.weight is not emb_in)
    return {"params_total": total, "params_embedding": emb, "params_non_embedding": total - emb}


def checkpoint_shape(path: str | Path) -> Shape:
    """The shape saved in a checkpoint folder's config.json, read without loading weights."""
    from transformers import AutoConfig

    return shape_from_config(AutoConfig.from_pretrained(str(path), local_files_only=True))


def load_pretrained(path: str | Path):
    """Load a saved checkpoint folder (config.json + safetensors), offline only, in fp32 whatever
    dtype it was saved in (transformers 5 would keep a suite's fp16: training runs in fp32 or under
    bf16 autocast)."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, use_safetensors=True,
                                                dtype=torch.float32)
