"""Model shapes: from a target non-embedding parameter count N to (n_layer, d_model, n_head), per family.

Why a rule and not a free choice: a scaling-law sweep must vary N along one line of shapes, so that
loss differences come from size and not from shape. Kaplan et al. (2020) found loss nearly flat for
aspect ratios d_model / n_layer between about 20 and 200; we fix it at `ASPECT_RATIO` = 32 for every
family, so that a GPT-2 and a Llama sweep at one N have the same depth and width.

Head size: 16 while d_model < 64 (one head when d_model < 32), four heads for 64 <= d_model <= 256 (head size 16..64), then a
fixed head size of 64 (GPT-2/3 convention) so large models keep GPU-friendly heads.
Widths are multiples of 8 below 64, of 16 up to 256, of 64 above.

Families (`FAMILIES`):
- `gpt2`: pre-norm blocks, GELU MLP of width 4d, biases, LayerNorm, learned position embeddings.
  Per block: attention qkv (3d^2 + 3d) + out (d^2 + d), MLP (4d^2 + 4d) + (4d^2 + d), two layer
  norms (4d): 12 d^2 + 13 d. Plus the final layer norm (2d).
- `llama`: RoPE (no position parameters), SwiGLU MLP, RMSNorm, no biases, optional grouped-query
  attention (`n_kv_head` key/value heads). The SwiGLU width is 8d/3 rounded up to a multiple of 8
  (`llama_mlp_width`), LLaMA's rule, which keeps its three matrices at GPT-2's 8 d^2. Per block:
  q and out (2d^2), k and v (2 d * kv), MLP (3 d h), two RMS norms (2d); kv = n_kv_head * head size.
  Plus the final norm (d).

Counting convention (Kaplan): N is every parameter of the module but the input token embedding,
the output embedding (the LM head) unless it is tied to the input one, and any position embedding.
`num_parameters(exclude_embeddings=True)` in transformers subtracts only the input embeddings, so an
untied head would be counted in N; tests/model checks this closed form against the built module.
N ~= 12 L d^2 for large d in both families.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

ASPECT_RATIO = 32  # d_model / n_layer
MLP_RATIO = 4
Family = Literal["gpt2", "llama"]
FAMILIES: tuple[str, ...] = get_args(Family)
# What the settings say of these fields (the sweep config, the run config, `train --help`)
FAMILY_HELP = ("model family: gpt2 (GELU MLP, LayerNorm, biases, learned positions) | llama (RoPE, SwiGLU, "
               "RMSNorm, no biases); both on one aspect-ratio line, N exact per family (model/shapes.py)")
TIED_HELP = "the LM head shares the token embedding's matrix (N excludes the head either way)"


@dataclass(frozen=True)
class Shape:
    """One decoder-only transformer shape of a family (module docstring)."""

    n_layer: int  # transformer blocks
    d_model: int  # residual stream width
    n_head: int  # attention heads; d_model % n_head == 0
    n_ctx: int = 128  # context length in tokens
    vocab_size: int = 256  # byte-level by default
    family: str = "gpt2"  # one of FAMILIES
    n_kv_head: int = 0  # llama: key/value heads (grouped-query attention below n_head); 0 = n_head
    tied: bool = True  # the LM head shares the token embedding's matrix

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def mlp_width(self) -> int:
        return llama_mlp_width(self.d_model) if self.family == "llama" else MLP_RATIO * self.d_model

    @property
    def params_non_embedding(self) -> int:
        return non_embedding_params(self.n_layer, self.d_model, self.family, self.kv_heads * self.head_dim)

    @property
    def params_embedding(self) -> int:
        """Token embedding, the LM head unless tied, and GPT-2's learned positions."""
        heads = 1 if self.tied else 2
        positions = self.n_ctx * self.d_model if self.family == "gpt2" else 0
        return heads * self.vocab_size * self.d_model + positions

    @property
    def params_total(self) -> int:
        return self.params_non_embedding + self.params_embedding

    def describe(self) -> str:
        extra = "" if self.family == "gpt2" else f"{self.family} "
        extra += f"kv={self.n_kv_head} " if self.n_kv_head and self.n_kv_head != self.n_head else ""
        extra += "" if self.tied else "untied "
        return (f"{extra}L={self.n_layer} d={self.d_model} h={self.n_head} ctx={self.n_ctx} "
                f"V={self.vocab_size} N={self.params_non_embedding:.3g}")


def llama_mlp_width(d_model: int) -> int:
    """SwiGLU width: 8d/3 (two thirds of GPT-2's 4d: three matrices instead of two), rounded up to 8."""
    return 8 * math.ceil(8 * d_model / 3 / 8)


def non_embedding_params(n_layer: int, d_model: int, family: str = "gpt2", kv_dim: int | None = None) -> int:
    """Exact Kaplan-convention N of `family`'s blocks (module docstring); kv_dim = key/value heads x
    head size (d_model without grouped-query attention)."""
    d = d_model
    if family == "llama":
        kv = d if kv_dim is None else kv_dim
        return n_layer * (2 * d * d + 2 * d * kv + 3 * d * llama_mlp_width(d) + 2 * d) + d
    per_block = 12 * d * d + 13 * d
    return n_layer * per_block + 2 * d


def heads_for_width(d_model: int) -> int:
    if d_model < 64:
        return max(1, d_model // 16) if d_model % 16 == 0 else 1
    if d_model <= 256:
        return 4
    return d_model // 64


def _round_width(d: float) -> int:
    step = 8 if d < 64 else 16 if d <= 256 else 64
    return max(16, int(round(d / step)) * step)


def kv_heads_for(n_head: int, kv_group: int) -> int:
    """Key/value heads when `kv_group` query heads share one (grouped-query attention): the largest
    divisor of n_head at or below n_head / kv_group, so a small model with few heads keeps a valid
    shape (one head stays one head)."""
    want = max(1, n_head // max(1, kv_group))
    return max(h for h in range(1, want + 1) if n_head % h == 0)


def shape_for(n_target: float, n_ctx: int = 128, vocab_size: int = 256, family: str = "gpt2",
              kv_group: int = 1, tied: bool = True) -> Shape:
    """The shape of `family` on our aspect-ratio line whose exact N is closest to `n_target` (in log space).

    Candidates: every depth L with the rounded width that gives N closest to the target (and its
    neighbours); the score is |ln(N / target)| + 0.25 |ln(aspect / ASPECT_RATIO)|, so at small N,
    where widths are coarse, a shape slightly off the aspect line wins over one far off in N.
    `kv_group` (llama): query heads per key/value head; 1 = ordinary multi-head attention.
    """
    if not (n_target > 0 and math.isfinite(n_target)):
        raise ValueError(f"target N must be a positive number, got {n_target!r}")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")

    def candidate(n_layer: int, d: int) -> Shape:
        n_head = heads_for_width(d)
        kv = kv_heads_for(n_head, kv_group) if family == "llama" else n_head
        return Shape(n_layer, d, n_head, n_ctx, vocab_size, family, 0 if kv == n_head else kv, tied)

    best: tuple[float, float, int, int, Shape] | None = None
    for n_layer in range(1, 129):
        d_ideal = math.sqrt(max(n_target, 1.0) / (12 * n_layer))
        for d in {_round_width(d_ideal * f) for f in (0.9, 1.0, 1.1)}:
            shape = candidate(n_layer, d)
            n_err = abs(math.log(shape.params_non_embedding / n_target))
            aspect_err = abs(math.log((d / n_layer) / ASPECT_RATIO))
            key = (n_err + 0.25 * aspect_err, n_err, n_layer, d, shape)
            if best is None or key[:4] < best[:4]:
                best = key
    assert best is not None
    return best[-1]


def ladder(n_min: float = 5e3, n_max: float = 1e9, per_decade: int = 2, n_ctx: int = 128,
           vocab_size: int = 256) -> list[Shape]:
    """Shapes spaced evenly in log N from n_min to n_max (duplicates removed)."""
    steps = max(1, int(round(math.log10(n_max / n_min) * per_decade)))
    shapes: list[Shape] = []
    for i in range(steps + 1):
        s = shape_for(n_min * (n_max / n_min) ** (i / steps), n_ctx=n_ctx, vocab_size=vocab_size)
        if s not in shapes:
            shapes.append(s)
    return shapes


def validate_shape(shape: Shape) -> None:
    """Raise ValueError naming the field ("<field>=<value> …") when a hand-given shape cannot be built."""
    for field in ("n_layer", "d_model", "n_head", "n_ctx", "vocab_size"):
        value = getattr(shape, field)
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{field}={value!r} must be a positive integer")
    if shape.family not in FAMILIES:
        raise ValueError(f"family={shape.family!r} must be one of {FAMILIES}")
    d, h, kv = shape.d_model, shape.n_head, shape.n_kv_head
    if d % h:
        raise ValueError(f"d_model={d} is not divisible by n_head={h}; "
                         f"use n_head in {[i for i in range(1, d + 1) if d % i == 0][:12]}")
    if kv and (shape.family != "llama" or h % kv):
        raise ValueError(f"n_kv_head={kv} needs family llama and must divide n_head={h}; "
                         f"use 0 (= n_head) or one of {[i for i in range(1, h + 1) if h % i == 0]}")
