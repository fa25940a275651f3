"""Peak memory (RSS) of one CPU training run at N = 3e6, against the 2 GB goal.

The run: shape_for(3e6, n_ctx=128), batch 32, fp32, AdamW, on the `python` corpus, `--steps`
steps (30) with a held-out evaluation of the demo's 16384 tokens every `--eval-interval` (15)
steps, each followed by the best-model save and a resumable checkpoint, as in a sweep.

Method: the run is launched through the real entry as a cold child process
(`launch(cfg, backend="subprocess")` = `python -P -m transfer_laws.tasks.train.entry`), the only child this
benchmark starts, so after it exits `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` is exactly that
process's peak resident set (Linux VmHWM, KiB). A sweep forks runs from the zygote instead; such
a child maps the same libraries (imported once by the zygote, shared copy-on-write), which its
RSS counts as well, so the figure differs only by what the zygote imports and a cold entry does
not (mlflow). Threads: torch's default (all cores).

    .venv/bin/python benchmarks/memory_rss.py [--size 3e6] [--steps 30] [--eval-interval 15]
    .venv/bin/python benchmarks/memory_rss.py --quick      # 5 steps, one evaluation
"""
from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import _common as C

GOAL_MB = 2000  # 2 GB (decimal)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=float, default=3e6)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--eval-interval", type=int, default=15)
    p.add_argument("--eval-tokens", type=int, default=16384)
    p.add_argument("--threads", type=int, default=0, help="0 = torch's default (all cores)")
    p.add_argument("--quick", action="store_true", help="5 steps, one evaluation: checks the script")
    a = p.parse_args()
    if a.quick:
        a.steps, a.eval_interval = 5, 5
    from transfer_laws.model.shapes import shape_for

    print(f"peak RSS on {C.load_line()}")
    data = C.python_data()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if before:
        print(f"warning: this process already had children (peak {before / 1024:.0f} MB)")
    shape = shape_for(a.size, n_ctx=128)
    with tempfile.TemporaryDirectory(prefix="memory-rss-") as tmp:
        cfg = C.run_config(data, a.size, Path(tmp) / "run", steps=a.steps, threads=a.threads,
                           eval_interval=a.eval_interval, eval_tokens=a.eval_tokens)
        result, wall = C.launch_timed(cfg, backend="subprocess")
        ckpts = sorted(p.name for p in (Path(cfg.out_dir) / "checkpoints").iterdir())
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"run: N={shape.params_non_embedding:.3g} ({C.fmt_shape(shape)}, {shape.params_total:,} "
          f"parameters in all), batch 32x128 fp32, {result.steps} steps, {len(result.history)} "
          f"evaluation(s) of {a.eval_tokens:,} tokens, checkpoints {', '.join(ckpts)}; {wall:.1f} s")
    print(f"peak RSS of the training process: {peak_mb:,.0f} MB "
          f"({'within' if peak_mb <= GOAL_MB else 'OVER'} the 2 GB goal: {peak_mb / GOAL_MB:.0%} of it)")
    print(f"(this launching process: {self_mb:,.0f} MB peak, not part of the run)")


if __name__ == "__main__":
    main()
