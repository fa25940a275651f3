"""Evaluation and MLflow logging costs of one tracked run at the demo's settings.

The run: configs/demo.yaml's n_ctx (128), batch (32), eval_interval (25), eval_tokens (16384),
warm-up and Kaplan learning rate, at its middle size N = 13000 (shape_for), D = 1e5 tokens of the
`python` corpus, 1 thread (a CPU sweep's slot), `--steps` (200) steps with early stopping off so the
length is fixed (the demo's patience only changes how many of these 25-step blocks a run has, not
the cost of one). It goes through the real path: `tasks.train.launch.launch(cfg, tracker=RunTracker(...))`
into a fresh MLflow SQLite store, the training process forked from the zygote.

Method.
- Evaluation: `tasks.train.core.train` keeps cumulative timers in `RunResult.timings` (eval_s:
  the held-out forward passes; save_best_s and checkpoint_s: the best-model save and resumable
  checkpoint written after an evaluation; sink_s: the metric sink, here metrics.jsonl). They are
  read from the run's run.json (the launcher replaces `timings` with its own setup_s / train_s).
  Shares are of the training process's wall time (`wall_seconds`: train() from start to return),
  and, in brackets, of the whole run as the sweep sees it (the launch() call).
- MLflow: training processes never touch MLflow; the launcher does, in three places, all wrapped
  here with timers: `RunTracker.open` (find/create the run, log params) and `RunTracker.finish`
  (stop the relay, final drain, final metrics, checkpoint + run.json artifacts, FINISHED) run on
  the launch path; `RunTracker.drain` runs every 2 s in the relay thread while the run trains. A
  drain's time is counted once (nested calls are not double-counted). The share is the summed
  wall time of those calls over the launch() wall time; the relay's thread CPU time is printed
  too, since on a busy CPU box it competes with training even though it does not block it.
  Creating the store and the experiment happens once per sweep, before any run, and is excluded,
  as is the zygote's start; the run is given the experiment's id, as a sweep's runs are.

    .venv/bin/python benchmarks/eval_logging_cost.py [--steps 200] [--tokens 100000] [--threads 1]
    .venv/bin/python benchmarks/eval_logging_cost.py --quick      # 50 steps (2 evaluations)
"""
from __future__ import annotations

import argparse
import functools
import json
import tempfile
import threading
import time
from pathlib import Path

import _common as C

DEMO = C.REPO / "configs" / "demo.yaml"


class CallTimer:
    """Cumulative wall and thread-CPU seconds of wrapped methods; nested calls count once."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._depth = threading.local()
        self._lock = threading.Lock()

    def wrap(self, cls, name: str) -> None:
        original = getattr(cls, name)
        timer = self

        @functools.wraps(original)
        def timed(*args, **kwargs):
            depth = getattr(timer._depth, "n", 0)
            timer._depth.n = depth + 1
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                timer._depth.n = depth
                if depth == 0:
                    with timer._lock:
                        timer.wall[name] = timer.wall.get(name, 0.0) + time.perf_counter() - w0
                        timer.cpu[name] = timer.cpu.get(name, 0.0) + time.thread_time() - c0
                        timer.calls[name] = timer.calls.get(name, 0) + 1

        setattr(cls, name, timed)


def pct(x: float, total: float) -> str:
    return f"{100 * x / total:5.1f} %"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=float, default=13000, help="target N (demo's middle size)")
    p.add_argument("--tokens", type=int, default=100_000, help="D: training tokens")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=1, help="threads per run (a CPU sweep slot: 1)")
    p.add_argument("--quick", action="store_true", help="50 steps: checks the script")
    a = p.parse_args()
    if a.quick:
        a.steps = 50
    from transfer_laws.model.shapes import shape_for
    from transfer_laws.tasks.sweep.config import SweepConfig
    from transfer_laws.tasks.sweep.run_rules import kaplan_lr
    from transfer_laws.tasks.sweep.slots import env_for
    from transfer_laws.tasks.tracking import mlflow_store, run_tracker

    demo = SweepConfig.load(DEMO)
    shape = shape_for(a.size, n_ctx=demo.experiment.n_ctx)
    lr = kaplan_lr(shape.params_non_embedding) if demo.optimiser.lr == "kaplan" else demo.optimiser.lr
    per_step = demo.optimiser.batch_size * demo.experiment.n_ctx
    eval_interval = max(1, min(demo.optimiser.eval_interval, -(-a.tokens // per_step)))  # as tasks.sweep.run_rules
    print(f"evaluation and logging costs on {C.load_line()}")
    data = C.python_data()
    timer = CallTimer()
    for name in ("open", "drain", "finish"):
        timer.wrap(run_tracker.RunTracker, name)
    with tempfile.TemporaryDirectory(prefix="eval-logging-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        t0 = time.perf_counter()
        exp_id = mlflow_store.ensure_experiment(mlflow_store.client(uri), "bench")  # once per sweep: not counted
        store_s = time.perf_counter() - t0
        print(f"MLflow store + experiment created in {store_s:.1f} s, zygote started in "
              f"{C.warm_zygote():.1f} s (neither counted)")
        cfg = C.run_config(data, a.size, Path(tmp) / "run", steps=a.steps, n_ctx=demo.experiment.n_ctx,
                           batch=demo.optimiser.batch_size, threads=a.threads, eval_interval=eval_interval,
                           eval_tokens=demo.optimiser.eval_tokens, dataset_tokens=a.tokens, kind="scratch",
                           target="python", lr=lr, min_lr=lr * demo.optimiser.min_lr_ratio,
                           warmup_steps=min(demo.optimiser.warmup_steps, a.steps - 1), seed=demo.experiment.seed)
        target = run_tracker.TrackingTarget(uri, "bench", experiment_id=exp_id)
        result, wall = C.launch_timed(cfg, tracker=run_tracker.RunTracker(target, cfg),
                                      env=env_for("cpu:0", a.threads))
        core = json.loads((Path(cfg.out_dir) / "run.json").read_text())["result"]["timings"]
    child = result.wall_seconds
    evals = len(result.history)
    print(f"run: N={shape.params_non_embedding:.3g} ({C.fmt_shape(shape)}), D={a.tokens:,} tokens, "
          f"{result.steps} steps of {demo.optimiser.batch_size}x{demo.experiment.n_ctx}, {evals} evaluations of "
          f"{demo.optimiser.eval_tokens:,} tokens every {eval_interval} steps, {a.threads} thread(s)")
    print(f"wall: launch() {wall:.2f} s; training process train() {child:.2f} s; training steps "
          f"{result.tokens_seen / result.tokens_per_second:.2f} s ({result.tokens_per_second:,.0f} tok/s)")
    saves = core["save_best_s"] + core["checkpoint_s"]
    print(f"evaluation (forward passes): {core['eval_s']:.2f} s = {pct(core['eval_s'], child)} of the "
          f"training process [{pct(core['eval_s'], wall)} of the run] (goal <= 10 %)")
    print(f"saves after evaluations: best model {core['save_best_s']:.2f} s, checkpoints "
          f"{core['checkpoint_s']:.2f} s = {pct(saves, child)} [{pct(saves, wall)}]")
    total_eval = core["eval_s"] + saves
    print(f"evaluation incl. saves: {total_eval:.2f} s = {pct(total_eval, child)} of the training "
          f"process [{pct(total_eval, wall)} of the run] (goal <= 10 %)")
    print(f"metric sink in the training process (metrics.jsonl): {core['sink_s'] * 1e3:.1f} ms = "
          f"{pct(core['sink_s'], child)}")
    w, c, n = timer.wall, timer.cpu, timer.calls
    mlflow_s = sum(w.values())
    print(f"MLflow in the launcher: open {w.get('open', 0):.2f} s, relay {w.get('drain', 0):.2f} s "
          f"({n.get('drain', 0)} drains), finish {w.get('finish', 0):.2f} s; relay thread CPU "
          f"{c.get('drain', 0):.2f} s")
    print(f"MLflow logging: {mlflow_s:.2f} s = {pct(mlflow_s, wall)} of the run's wall (goal <= 1 %); "
          f"on the launch path (open + finish): {pct(w.get('open', 0) + w.get('finish', 0), wall)}")


if __name__ == "__main__":
    main()
