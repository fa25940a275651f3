"""Training throughput: our loop against a minimal plain-PyTorch loop, side by side in one process.

For N ~ 1e4, 1e5, 1e6, 3e6 (byte vocabulary, context 128, batch 32, fp32, AdamW, clipping) it prints
tokens/s of the real `tasks.train.core.train` loop (accelerate, transformers GPT-2 with SDPA,
evaluation excluded from the timed steps) and of a nanoGPT-style hand-written model trained by a bare
loop, their ratio, and the share of the measured fp32 matmul peak (6 N tokens/s / peak), then
the ratio ours / plain for every N >= 1e5 on one line (the sizes where framework overhead should
not matter). Two more variants run at `--variant-sizes` (1e5, 1e6): GPT-2 on a BPE of vocabulary
4096 (trained on the same corpus; the LM head is then a large share of a small model's work) and
the Llama family (transformers' Llama classes against a hand-written RMSNorm/RoPE/SwiGLU model of
the same shape), each against a plain loop of the same shape and vocabulary. Each pair alternates
`--rounds` times (2) and keeps each side's best, so a load spike hurts neither side alone.

    .venv/bin/python benchmarks/train_throughput.py [--sizes 1e4 1e5 1e6 3e6] [--seconds 12]
    .venv/bin/python benchmarks/train_throughput.py --quick   # N = 1e4, 1e5; ~1 s each; 1 round

Run it on a quiet machine: other processes on the 2 cores distort both sides.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from transfer_laws.tasks.common import env  # noqa: E402

env.apply(env.project_paths(REPO / ".transfer-laws"))
import logging  # noqa: E402

logging.getLogger("accelerate").setLevel(logging.ERROR)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from transfer_laws.model.shapes import Shape, shape_for  # noqa: E402
from transfer_laws.tasks.data.corpora import resolve_corpus  # noqa: E402
from transfer_laws.tasks.data.prepare import encoder_for, prepare  # noqa: E402
from transfer_laws.tasks.data.tokenizer import TokenizerSpec  # noqa: E402
from transfer_laws.tasks.train.config import RunConfig  # noqa: E402
from transfer_laws.tasks.train.core import batch_starts, train  # noqa: E402

BATCH, CTX = 32, 128


class Block(nn.Module):
    def __init__(self, d: int, h: int):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, c)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class PlainGPT(nn.Module):
    """The minimal reference: same shape, same maths, no framework."""

    def __init__(self, s: Shape):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(s.vocab_size, s.d_model), nn.Embedding(s.n_ctx, s.d_model)
        self.blocks = nn.ModuleList(Block(s.d_model, s.n_head) for _ in range(s.n_layer))
        self.ln = nn.LayerNorm(s.d_model)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.ln(x) @ self.wte.weight.T
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), idx[:, 1:].reshape(-1))


class LlamaBlock(nn.Module):
    """RMSNorm, rotary attention (no biases), SwiGLU: the maths of transformers' LlamaDecoderLayer."""

    def __init__(self, s: Shape):
        super().__init__()
        d, self.h, self.kv = s.d_model, s.n_head, s.kv_heads
        self.hd = d // s.n_head
        self.n1, self.n2 = nn.RMSNorm(d, eps=1e-6), nn.RMSNorm(d, eps=1e-6)
        self.q, self.o = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.k, self.v = (nn.Linear(d, self.kv * self.hd, bias=False) for _ in range(2))
        self.gate, self.up = (nn.Linear(d, s.mlp_width, bias=False) for _ in range(2))
        self.down = nn.Linear(s.mlp_width, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, c = x.shape
        h = self.n1(x)
        q = self.q(h).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k(h).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v(h).view(b, t, self.kv, self.hd).transpose(1, 2)
        q, k = (z * cos + torch.cat((-z[..., self.hd // 2:], z[..., :self.hd // 2]), -1) * sin for z in (q, k))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kv != self.h)
        x = x + self.o(y.transpose(1, 2).reshape(b, t, c))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class PlainLlama(nn.Module):
    def __init__(self, s: Shape):
        super().__init__()
        self.wte = nn.Embedding(s.vocab_size, s.d_model)
        self.blocks = nn.ModuleList(LlamaBlock(s) for _ in range(s.n_layer))
        self.ln = nn.RMSNorm(s.d_model, eps=1e-6)
        hd = s.d_model // s.n_head
        freq = 1.0 / 10000 ** (torch.arange(0, hd, 2).float() / hd)
        angles = torch.outer(torch.arange(s.n_ctx).float(), freq)
        self.cos, self.sin = (torch.cat((f, f), -1) for f in (angles.cos(), angles.sin()))

    def forward(self, idx):
        x = self.wte(idx)
        cos, sin = self.cos[:idx.shape[1]], self.sin[:idx.shape[1]]
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.ln(x) @ self.wte.weight.T
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), idx[:, 1:].reshape(-1))


def plain_tokens_per_second(shape: Shape, tokens: torch.Tensor, steps: int) -> float:
    torch.manual_seed(0)
    model = PlainLlama(shape) if shape.family == "llama" else PlainGPT(shape)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1, foreach=True)
    offsets = torch.arange(CTX)
    n_windows = len(tokens) - CTX + 1

    def step(i: int) -> None:
        xb = tokens[torch.from_numpy(batch_starts(0, i, n_windows, BATCH))[:, None] + offsets]
        loss = model(xb)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        float(loss.detach())  # the real loop reads the loss too

    t0 = time.perf_counter()  # the first (cold) step counts, as it does in our loop's figure
    for i in range(steps + 1):
        step(i)
    return (steps + 1) * BATCH * CTX / (time.perf_counter() - t0)


def ours_tokens_per_second(shape: Shape, data, steps: int, workdir: Path) -> float:
    cfg = RunConfig(n_layer=shape.n_layer, d_model=shape.d_model, n_head=shape.n_head, n_ctx=CTX,
                    family=shape.family, n_kv_head=shape.n_kv_head, vocab_size=shape.vocab_size,
                    tokenizer=data.tokenizer, batch_size=BATCH, max_steps=steps + 1, warmup_steps=1, eval_interval=10**6,
                    eval_tokens=CTX * BATCH, patience=0, data_dir=data.root, data_key=data.key,
                    out_dir=str(workdir / f"run-{time.time_ns()}"))
    return train(cfg).tokens_per_second


def matmul_peak_gflops(seconds: float = 1.5) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return 2 * 1024**3 * n / (time.perf_counter() - t0) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="*", type=float, default=[1e4, 1e5, 1e6, 3e6],
                   help="sizes of the GPT-2 byte rows; none: only the variants")
    p.add_argument("--seconds", type=float, default=12.0,
                   help="target seconds per timed measurement (>= ~15 steps at N = 3e6, so the "
                        "first, cold step that both sides count weighs little)")
    p.add_argument("--rounds", type=int, default=2, help="alternations per N (each side keeps its best)")
    p.add_argument("--variant-sizes", nargs="*", type=float, default=[1e5, 1e6],
                   help="sizes of the BPE (V = 4096) and Llama rows; none: skip them")
    p.add_argument("--quick", action="store_true", help="N = 1e4, 1e5, 1 s, 1 round: checks the script")
    a = p.parse_args()
    if a.quick:
        a.sizes, a.variant_sizes, a.seconds, a.rounds = [1e4, 1e5], [1e5], 1.0, 1
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.2f}"
          + ("  (machine busy: figures are noisy)" if load > 0.8 else ""))
    cache = env.project_paths(REPO / ".transfer-laws").cache
    corpus = resolve_corpus("python", cache)
    data = {"bytes": prepare(corpus, cache)}
    if a.variant_sizes:
        bpe = encoder_for(TokenizerSpec.checked("bpe:4096"), cache, [corpus])
        data["bpe:4096"] = prepare(corpus, cache, encoder=bpe)
    tokens = {name: torch.from_numpy(np.array(d.train_array(), dtype=np.int64)) for name, d in data.items()}
    peak = matmul_peak_gflops()
    print(f"fp32 matmul peak (1024^3): {peak:.0f} GFLOP/s")
    print(f"{'variant':>14} {'N':>9} {'shape':>14} {'ours tok/s':>11} {'plain tok/s':>12} {'ratio':>6} {'% peak':>7}")
    ratios: list[tuple[str, int, float]] = []
    rows = [("bytes", "gpt2", n) for n in a.sizes] + [
        (tok, family, n) for tok, family in (("bpe:4096", "gpt2"), ("bytes", "llama")) for n in a.variant_sizes]
    with tempfile.TemporaryDirectory() as tmp:
        for tok, family, n in rows:
            d = data[tok]
            shape = shape_for(n, n_ctx=CTX, vocab_size=d.vocab_size, family=family)
            probe = plain_tokens_per_second(shape, tokens[tok], 3)
            steps = max(8, int(a.seconds * probe / (BATCH * CTX)))
            ours, plain = 0.0, 0.0
            for _ in range(a.rounds):
                ours = max(ours, ours_tokens_per_second(shape, d, steps, Path(tmp)))
                plain = max(plain, plain_tokens_per_second(shape, tokens[tok], steps))
            share = 6 * shape.params_non_embedding * ours / (peak * 1e9)
            variant = f"{family} {tok}"
            print(f"{variant:>14} {shape.params_non_embedding:9.3g} "
                  f"{f'L{shape.n_layer} d{shape.d_model} h{shape.n_head}':>14} "
                  f"{ours:11,.0f} {plain:12,.0f} {ours / plain:6.2f} {share:7.1%}", flush=True)
            ratios.append((variant, shape.params_non_embedding, ours / plain))
    big = [(v, n, r) for v, n, r in ratios if n >= 0.95e5]  # shape_for(1e5) lands on 1.0e5 +- rounding
    if big:
        per_n = ", ".join(f"{v} N={n:.2g}: {r:.2f}" for v, n, r in big)
        print(f"ours / plain for N >= 1e5: {per_n}; worst {min(r for _, _, r in big):.2f}")
    else:
        print("ours / plain for N >= 1e5: no such size measured (add one to --sizes)")


if __name__ == "__main__":
    main()
