"""The "train one run" flow: the unit a Prefect worker picks up when a sweep fans out to deployments.

The sweep flow (executor `deployments`) calls this flow's deployment once per run with
`run_deployment(..., idempotency_key=run_key)`, so each run is one flow run that a worker with a
free slot executes, and that the UI can retry. The worker decides the device: it pins its GPU with
`CUDA_VISIBLE_DEVICES` (one worker per GPU, `--limit 1`), and this flow uses whatever it sees.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from prefect import flow

from transfer_laws.tasks.common import env
from transfer_laws.tasks.sweep.units import SweepContext, train_or_skip
from transfer_laws.tasks.train.config import RunConfig


@contextmanager
def _worker_device(config: RunConfig):
    """This worker's device: the GPUs it was given (kept as they are), else the CPU."""
    from transfer_laws.tasks.sweep.slots import gpu_count

    yield "cuda" if config.device != "cpu" and gpu_count() else "cpu:0"


@flow(name="train-one-run", flow_run_name="{label}", log_prints=True, persist_result=False)
def train_one_run(config: RunConfig, label: str, ctx: SweepContext, parent: str = "") -> dict:
    """Train one run of a sweep (or return its MLflow record when it is done already)."""
    env.apply(env.project_paths(ctx.home or None), tracking_uri=ctx.tracking_uri)
    if config.processes_per_run == 1:  # the zygote imports torch while MLflow is asked about the run
        from transfer_laws.tasks.train.zygote import Zygote

        threading.Thread(target=Zygote.get, daemon=True).start()
    return train_or_skip(config, label, parent, ctx, _worker_device(config))
