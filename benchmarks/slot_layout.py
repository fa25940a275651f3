"""CPU slot layout of a sweep: two 1-thread runs in parallel against one 2-thread run at a time.

For N ~ 1e4, 1e5, 1e6 (shape_for(N), byte vocabulary, batch 32 x n_ctx 128, fp32, AdamW) it trains
the same pair of runs, a fixed number of steps each, in the two layouts a sweep can use on 2 cores:
  2 x 1  two slots of 1 thread: both runs at once (the sweep's default, tasks/sweep/slots.py: 'auto'
         threads = 1, slots = cores);
  1 x 2  one slot of 2 threads: the two runs one after the other.
Every run goes through the real training entry: `tasks.train.launch.launch(cfg)` (no tracker),
i.e. a process forked from the zygote that runs `tasks.train.entry` -> `tasks.train.core.train`,
with `threads` and the environment (`tasks.sweep.slots.env_for`) the sweep gives it; each run evaluates
once and writes its best model and a checkpoint at the end, as every sweep run does.

Printed per N, for each layout, aggregate tokens/s of the pair:
  train-only  2 x tokens per run / training seconds (the runs' own `tokens_per_second` clocks;
              for 2 x 1 the slower run's training time, for 1 x 2 the sum of both);
  end-to-end  2 x tokens per run / wall time of the pair (fork, set-up, evaluation, saves
              included: what a sweep sees);
and the ratio 2x1 / 1x2 of both, then which layout the sweep default should be. Steps per run
are sized from a short in-process probe so a 2-thread run trains about `--seconds`; the layouts
alternate order over `--repeats` rounds and each keeps its best, so one load spike hurts neither
layout alone.

    .venv/bin/python benchmarks/slot_layout.py [--sizes 1e4 1e5 1e6] [--seconds 12] [--repeats 2]
    .venv/bin/python benchmarks/slot_layout.py --quick      # N = 1e4, 20 steps, 1 round (a check)

Run it on a quiet 2-core machine: anything else running distorts the parallel layout most.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import _common as C

BATCH, CTX = 32, 128


def steps_for(n: float, seconds: float, threads: int) -> int:
    from transfer_laws.model.shapes import shape_for
    from transfer_laws.tasks.sweep.step_time import seconds_per_step

    per_step = seconds_per_step(shape_for(n, n_ctx=CTX), BATCH, threads)
    return max(10, int(seconds / per_step))


def run_pair(data, n: float, steps: int, layout: str, root: Path) -> dict:
    """Train two identical runs in `layout` ('2x1' parallel, '1x2' serial); return their figures."""
    from transfer_laws.tasks.sweep.slots import env_for

    threads = 1 if layout == "2x1" else 2
    cfgs = [C.run_config(data, n, root / f"{layout}-{i}-{time.time_ns()}", steps=steps, threads=threads)
            for i in range(2)]
    results: list = [None, None]
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results[i] = C.launch_timed(cfgs[i], env=env_for(f"cpu:{i}", threads))[0]
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    t0 = time.perf_counter()
    if layout == "2x1":
        workers = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    else:
        for i in range(2):
            one(i)
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    tokens = sum(r.tokens_seen for r in results)
    train_s = [r.tokens_seen / r.tokens_per_second for r in results]
    train_window = max(train_s) if layout == "2x1" else sum(train_s)
    return {"train": tokens / train_window, "e2e": tokens / wall, "wall": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6])
    p.add_argument("--seconds", type=float, default=12.0,
                   help="target training seconds of one 2-thread run (sets the steps per N)")
    p.add_argument("--steps", type=int, help="fixed steps per run for every N (skips the probe)")
    p.add_argument("--repeats", type=int, default=2, help="rounds per N (each layout keeps its best)")
    p.add_argument("--quick", action="store_true", help="N = 1e4, 20 steps, 1 round: checks the script")
    a = p.parse_args()
    if a.quick:
        a.sizes, a.steps, a.repeats = [1e4], a.steps or 20, 1
    from transfer_laws.model.shapes import shape_for

    print(f"slot layout on {C.load_line()}")
    data = C.python_data()
    print(f"zygote start: {C.warm_zygote():.1f} s (not counted)")
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="slot-layout-") as tmp:
        root = Path(tmp)
        if not a.quick:  # the first fork and the page cache, kept out of the first measurement
            C.launch_timed(C.run_config(data, 1e4, root / "warm-up", steps=2))
        print(f"{'N':>9} {'shape':>12} {'steps':>6} {'layout':>7} {'train tok/s':>12} "
              f"{'end-to-end tok/s':>17} {'pair wall s':>12}")
        for n in a.sizes:
            shape = shape_for(n, n_ctx=CTX)
            steps = a.steps or steps_for(n, a.seconds, threads=min(2, os.cpu_count() or 1))
            best = {"2x1": {"train": 0.0, "e2e": 0.0, "wall": 0.0},
                    "1x2": {"train": 0.0, "e2e": 0.0, "wall": 0.0}}
            for rep in range(a.repeats):
                for layout in (("2x1", "1x2") if rep % 2 == 0 else ("1x2", "2x1")):
                    got = run_pair(data, n, steps, layout, root)
                    b = best[layout]
                    b["train"], b["e2e"] = max(b["train"], got["train"]), max(b["e2e"], got["e2e"])
                    b["wall"] = min(b["wall"] or got["wall"], got["wall"])
            for layout in ("2x1", "1x2"):
                b = best[layout]
                print(f"{shape.params_non_embedding:9.3g} {C.fmt_shape(shape):>12} {steps:6d} {layout:>7} "
                      f"{b['train']:12,.0f} {b['e2e']:17,.0f} {b['wall']:12.1f}", flush=True)
            r_train = best["2x1"]["train"] / best["1x2"]["train"]
            r_e2e = best["2x1"]["e2e"] / best["1x2"]["e2e"]
            verdicts.append((n, r_e2e))
            print(f"{'':>9} ratio 2x1 / 1x2: train-only {r_train:.2f}, end-to-end {r_e2e:.2f}", flush=True)
    worst = min(r for _, r in verdicts)
    sizes = ", ".join(f"{n:.0e}: {r:.2f}" for n, r in verdicts)
    if worst >= 0.95:
        verdict = ("keep the sweep default 2 x 1 (tasks/sweep/slots.py 'auto': threads = 1, slots = cores): "
                   "two 1-thread runs in parallel give >= 95 % of the 2-thread throughput at every N")
    elif all(r < 0.95 for _, r in verdicts):
        verdict = "make 1 x 2 (threads = cores, slots = 1) the CPU sweep default: it is faster at every N"
    else:
        verdict = ("the faster layout depends on N: keep 2 x 1 below the sizes where 1 x 2 wins, "
                   "or choose threads per run by size")
    print(f"end-to-end ratio 2x1 / 1x2 per N ({sizes}); default: {verdict}")


if __name__ == "__main__":
    main()
