"""Model shapes: from a target non-embedding parameter count N to (n_layer, d_model, n_head).

Why a rule and not a free choice: a scaling-law sweep must vary N along one line of shapes, so that
loss differences come from size and not from shape. Kaplan et al. (2020) found loss nearly flat for
aspect ratios d_model / n_layer between about 20 and 200; we fix it at `ASPECT_RATIO` = 32.

Head size: 16 while d_model < 64 (one head when d_model < 32), four heads for 64 <= d_model <= 256 (head size 16..64), then a
fixed head size of 64 (GPT-2/3 convention) so large models keep GPU-friendly heads.
Widths are multiples of 8 below 64, of 16 up to 256, of 64 above.

Counting convention (Kaplan): N excludes the token and position embeddings; it includes every
weight and bias of the blocks and the final layer norm. The LM head is tied to the token embedding,
so it adds nothing; an untied head would be counted as embedding (it is a vocabulary matrix).
Per block: attention qkv (3d^2 + 3d) + out (d^2 + d), MLP (4d^2 + 4d) + (4d^2 + d), two layer
norms (4d): 12 d^2 + 13 d. Plus the final layer norm (2d). N ~= 12 L d^2 for large d.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

ASPECT_RATIO = 32  # d_model / n_layer
MLP_RATIO = 4


@dataclass(frozen=True)
class Shape:
    """One decoder-only transformer shape (GPT-2 family, pre-norm, GELU MLP, tied head)."""

    n_layer: int  # transformer blocks
    d_model: int  # residual stream width
    n_head: int  # attention heads; d_model % n_head == 0
    n_ctx: int = 128  # context length in tokens
    vocab_size: int = 256  # byte-level by default

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def params_non_embedding(self) -> int:
        return non_embedding_params(self.n_layer, self.d_model)

    @property
    def params_embedding(self) -> int:
        return self.vocab_size * self.d_model + self.n_ctx * self.d_model

    @property
    def params_total(self) -> int:
        return self.params_non_embedding + self.params_embedding

    def describe(self) -> str:
        return (f"L={self.n_layer} d={self.d_model} h={self.n_head} ctx={self.n_ctx} "
                f"V={self.vocab_size} N={self.params_non_embedding:.3g}")


def non_embedding_params(n_layer: int, d_model: int) -> int:
    """Exact Kaplan-convention N for the GPT-2 block used here (see module docstring)."""
    d = d_model
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


def shape_for(n_target: float, n_ctx: int = 128, vocab_size: int = 256) -> Shape:
    """The shape on our aspect-ratio line whose exact N is closest to `n_target` (in log space).

    Candidates: every depth L with the rounded width that gives N closest to the target (and its
    neighbours); the score is |ln(N / target)| + 0.25 |ln(aspect / ASPECT_RATIO)|, so at small N,
    where widths are coarse, a shape slightly off the aspect line wins over one far off in N.
    """
    if not (n_target > 0 and math.isfinite(n_target)):
        raise ValueError(f"target N must be a positive number, got {n_target!r}")
    best: tuple[float, float, int, int] | None = None
    for n_layer in range(1, 129):
        d_ideal = math.sqrt(max(n_target, 1.0) / (12 * n_layer))
        for d in {_round_width(d_ideal * f) for f in (0.9, 1.0, 1.1)}:
            n = non_embedding_params(n_layer, d)
            n_err = abs(math.log(n / n_target))
            aspect_err = abs(math.log((d / n_layer) / ASPECT_RATIO))
            key = (n_err + 0.25 * aspect_err, n_err, n_layer, d)
            if best is None or key < best:
                best = key
    assert best is not None
    _, _, n_layer, d_model = best
    return Shape(n_layer=n_layer, d_model=d_model, n_head=heads_for_width(d_model),
                 n_ctx=n_ctx, vocab_size=vocab_size)


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


def validate_shape(n_layer: int, d_model: int, n_head: int, n_ctx: int, vocab_size: int) -> None:
    """Raise ValueError naming the field when a hand-given shape cannot be built."""
    for field, value in (("n_layer", n_layer), ("d_model", d_model), ("n_head", n_head),
                         ("n_ctx", n_ctx), ("vocab_size", vocab_size)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{field} must be a positive integer, got {value!r}")
    if d_model % n_head:
        raise ValueError(f"d_model={d_model} is not divisible by n_head={n_head}; "
                         f"use n_head in {[h for h in range(1, d_model + 1) if d_model % h == 0][:12]}")
