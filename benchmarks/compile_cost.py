"""What torch.compile costs and buys for one training step of our model: the numbers behind
`compile: auto` (tasks/sweep/gpu_rules.py, COMPILE_COST).

Trains the model of size --n (shape_for, n_ctx 128, batch 32, byte vocabulary) eagerly and then
compiled (inductor, default mode) for --steps steps each on random tokens, with fused AdamW as the
training core uses, and prints: the eager and compiled seconds per step (median of the second
half), their ratio (the speedup) and the compile time (the first compiled step minus a steady one).

    python benchmarks/compile_cost.py                     # CPU, 1 thread, N = 1e5
    python benchmarks/compile_cost.py --device cuda --n 1e8 --batch 64 --ctx 512
"""
from __future__ import annotations

import argparse
import time


def step_times(shape, batch: int, steps: int, device: str, compiled: bool) -> list[float]:
    import torch

    from transfer_laws.model.build import build_model

    model = build_model(shape, seed=0).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    fwd = torch.compile(model) if compiled else model
    x = torch.randint(0, shape.vocab_size, (batch, shape.n_ctx), device=device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = fwd(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=float, default=1e5, help="non-embedding parameters (default 1e5)")
    p.add_argument("--steps", type=int, default=40, help="steps per path (default 40)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--ctx", type=int, default=128)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as a sweep slot)")
    a = p.parse_args()
    import torch

    from transfer_laws.model.shapes import shape_for

    torch.set_num_threads(a.threads)
    if a.device == "cuda":
        torch.set_float32_matmul_precision("high")
    shape = shape_for(a.n, n_ctx=a.ctx)

    def steady(t: list[float]) -> float:
        tail = sorted(t[len(t) // 2:])
        return tail[len(tail) // 2]

    eager = step_times(shape, a.batch, a.steps, a.device, compiled=False)
    compiled = step_times(shape, a.batch, a.steps, a.device, compiled=True)
    e, c = steady(eager), steady(compiled)
    print(f"N={shape.params_non_embedding:.3g} ({shape.describe()}), batch {a.batch} x {a.ctx}, {a.device}"
          f"{'' if a.device == 'cuda' else f', {a.threads} thread(s)'}")
    print(f"eager {e:.4f} s/step, compiled {c:.4f} s/step: speedup {e / c:.2f}x; "
          f"compile {compiled[0] - c:.1f} s (first compiled step {compiled[0]:.1f} s)")
    print(f"compile pays after {(compiled[0] - c) / max(e - c, 1e-12):.0f} steps" if e > c
          else "compile never pays at this size")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
