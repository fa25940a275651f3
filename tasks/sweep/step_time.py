"""Seconds per training step of one shape on this machine, measured: the one number both dry-run's
cost model (tasks.sweep.estimate) and `compile: auto` (tasks.sweep.run_graph.with_compile) start from."""
from __future__ import annotations

import time

from transfer_laws.model.shapes import Shape


def seconds_per_step(shape: Shape, batch_size: int, threads: int, device: str = "cpu") -> float:
    import torch

    from transfer_laws.model.build import build_model

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build_model(shape, seed=0).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
        x = torch.randint(0, shape.vocab_size, (batch_size, shape.n_ctx), device=device)
        times = []
        for i in range(10):
            t0 = time.perf_counter()
            model(input_ids=x, labels=x).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device != "cpu":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return sorted(times[3:])[3]  # the median: one slow step (a page fault, a timer) moves it little
    finally:
        torch.set_num_threads(old)
