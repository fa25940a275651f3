"""Shared set-up of the CPU benchmarks: project hygiene before heavy imports, the prepared `python`
corpus, run configs at the project's settings, and launching runs through the real entry.

Imported by the scripts in this folder (`python benchmarks/<name>.py` puts the folder on sys.path).
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # for the project folder and configs; code comes from the install

from transfer_laws.tasks.common import env  # noqa: E402

PATHS = env.project_paths(REPO / ".transfer-laws")
env.apply(PATHS)
logging.getLogger("accelerate").setLevel(logging.ERROR)


def load_line() -> str:
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    busy = "  (machine busy: figures are noisy; run on a quiet machine)" if load > 0.4 * cores else ""
    return f"{cores} cores, load average {load:.2f}{busy}"


def python_data():
    """The prepared `python` corpus (standard library), from the shared cache."""
    from transfer_laws.tasks.data.corpora import resolve_corpus
    from transfer_laws.tasks.data.prepare import prepare

    return prepare(resolve_corpus("python", PATHS.cache), PATHS.cache)


def run_config(data, n: float, out_dir: Path, *, steps: int, n_ctx: int = 128, batch: int = 32,
               threads: int = 1, eval_interval: int | None = None, eval_tokens: int | None = None,
               **over):
    """A RunConfig of shape `shape_for(n)` that trains exactly `steps` steps (no early stopping)
    and evaluates once at the end unless `eval_interval` says otherwise."""
    from transfer_laws.model.shapes import shape_for
    from transfer_laws.tasks.train.config import RunConfig

    s = shape_for(n, n_ctx=n_ctx)
    fields = dict(n_layer=s.n_layer, d_model=s.d_model, n_head=s.n_head, n_ctx=n_ctx, batch_size=batch,
                  max_steps=steps, warmup_steps=min(10, steps - 1), eval_interval=eval_interval or steps,
                  eval_tokens=eval_tokens or n_ctx * batch, patience=0, threads=threads, device="cpu",
                  data_dir=data.root, data_key=data.key, out_dir=str(out_dir))
    fields.update(over)
    return RunConfig(**fields)


def warm_zygote() -> float:
    """Start the forking zygote `launch()` uses (imports torch, transformers, mlflow once) so that
    its start-up is not counted in the first measured run; returns its start-up seconds."""
    from transfer_laws.tasks.train.zygote import Zygote

    t0 = time.perf_counter()
    Zygote.get()
    return time.perf_counter() - t0


def launch_timed(cfg, **kwargs):
    """`launch(cfg)` with the run's output in its own train.log; returns (result, wall seconds)."""
    from transfer_laws.tasks.train.launch import launch

    t0 = time.perf_counter()
    try:
        result = launch(cfg, log_to_file=True, **kwargs)
    except Exception:
        log = Path(cfg.out_dir) / "train.log"
        if log.exists():
            print(log.read_text()[-3000:], file=sys.stderr)
        raise
    return result, time.perf_counter() - t0


def fmt_shape(s) -> str:
    return f"L{s.n_layer} d{s.d_model} h{s.n_head}"
