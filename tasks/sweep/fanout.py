"""Fan-out: one run = one flow run of the train-one-run deployment, picked up by a Prefect worker.

The sweep's task for a run creates (or finds again) the flow run with an idempotency key derived
from the run_key and the MLflow store, waits for it, and reads the outcome from MLflow, which stays
the record (no shared Prefect result storage is needed). A flow run that ended badly in an earlier
sweep is scheduled again in place (what `prefect flow-run retry` does), so rerunning a sweep retries
its failed runs without a second flow run or a second MLflow run.
"""
from __future__ import annotations

import hashlib
import time

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from transfer_laws.tasks.sweep.run_graph import PlannedRun
from transfer_laws.tasks.sweep.units import SweepContext, done_record, is_done, summary
from transfer_laws.tasks.tracking import mlflow_store

POLL_SECONDS = 0.5
# A worker polls every 10 s (PREFECT_WORKER_QUERY_SECONDS): a run unclaimed for three polls likely has none.
UNCLAIMED_SECONDS = 30.0


class RemoteRunFailed(RuntimeError):
    """The run's flow run ended in a state other than Completed; the message says how to retry."""


def idempotency_key(run: PlannedRun, ctx: SweepContext) -> str:
    """The run_key, scoped to one MLflow store and project folder: two stores sharing one Prefect
    server must not find each other's flow runs (their parameters point at the other store)."""
    scope = hashlib.sha256(f"{ctx.tracking_uri}|{ctx.home}".encode()).hexdigest()[:8]
    return f"{run.run_key}-{scope}"


def online_workers(deployment: str) -> int:
    """Workers online in the deployment's work pool: how many runs to hand out at once, so the
    sweep's longest-chain-first order holds (a pool's queue serves runs in creation order)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        pool = client.read_deployment_by_name(deployment).work_pool_name
        return sum(w.status == "ONLINE" for w in client.read_workers_for_work_pool(pool))


def _reschedule(flow_run_id, reason: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Scheduled(message=reason), force=True)


def _wait(flow_run_id, log=None):
    """Poll the flow run until it ends. (Prefect's `wait_for_flow_run` listens to the event stream
    instead; with it the Postgres scale-out test took 311 s against 256 s with this poll.) A run left
    unclaimed for UNCLAIMED_SECONDS gets one warning if no worker of its pool is online."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        waiting_since, warned = time.monotonic(), False
        while True:
            fr = client.read_flow_run(flow_run_id)
            if fr.state is not None and fr.state.is_final():
                return fr
            if fr.state is not None and not (fr.state.is_scheduled() or fr.state.is_pending()):
                waiting_since = time.monotonic()  # claimed: a rescheduled run waits anew
            elif not warned and time.monotonic() - waiting_since > UNCLAIMED_SECONDS:
                warned = True
                _warn_if_no_worker(client, fr, log)
            time.sleep(POLL_SECONDS)


def _warn_if_no_worker(client, fr, log=None) -> None:
    """Say why a run is not picked up when its pool has no worker online; the sweep keeps waiting
    (a worker started later takes the run)."""
    from prefect.logging import get_logger

    try:
        pool = fr.work_pool_name or (client.read_deployment(fr.deployment_id).work_pool_name
                                     if fr.deployment_id else None)
        workers = client.read_workers_for_work_pool(pool) if pool else []
    except Exception:  # a hint only: the wait goes on whatever the server answers
        return
    if pool is None or any(w.status == "ONLINE" for w in workers):
        return
    known = f"{len(workers)} known, all offline" if workers else "none has ever polled it"
    (log or get_logger("transfer_laws.fanout")).warning(
        "flow run %s has waited %.0f s and no worker polls work pool %r (%s): start one "
        "(`transfer-laws worker --pool %s`), or, if one runs, the server refuses it (a wrong or missing PREFECT_API_AUTH_STRING: its "
        "own log shows 401). The sweep keeps waiting.", fr.name, UNCLAIMED_SECONDS, pool, known, pool)


@task(name="dispatch-run", task_run_name="{run.label}", cache_policy=NO_CACHE)
def dispatch_run(run: PlannedRun, ctx: SweepContext, deployment: str) -> dict:
    """Have a worker train `run` (unless MLflow records it done) and return its summary."""
    from prefect.deployments import run_deployment

    if (record := done_record(run.config, run.label, ctx)) is not None:
        return record
    log = get_run_logger()
    fr = run_deployment(
        deployment, timeout=0, as_subflow=True, idempotency_key=idempotency_key(run, ctx),
        parameters={"config": run.config.model_dump(mode="json"), "label": run.label,
                    "ctx": ctx.model_dump(mode="json"), "parent": run.parent})  # the flow applies ctx's store and home
    if fr.state is not None and fr.state.is_final():  # an earlier sweep's flow run, ended
        log.info("%s: flow run %s ended %s in an earlier sweep and MLflow has no finished run; "
                 "scheduling it again", run.label, fr.name, fr.state.name)
        _reschedule(fr.id, "retried by a rerun of the sweep")
    log.info("%s: flow run %s (%s) waits for a worker", run.label, fr.name, fr.id)
    final = _wait(fr.id, log)
    if not final.state.is_completed():
        raise RemoteRunFailed(
            f"{run.label}: flow run {final.name} ({final.id}) ended {final.state.name}: "
            f"{final.state.message}. Retry it with `prefect flow-run retry {final.id}` or from the UI, "
            "or rerun the sweep")
    found = mlflow_store.find_run(mlflow_store.client(ctx.tracking_uri), ctx.experiment_id, run.run_key)
    if not is_done(run.config, found):
        raise RemoteRunFailed(f"{run.label}: flow run {final.id} completed but MLflow ({ctx.tracking_uri}) "
                              "has no finished run for it: does the worker log to the same store?")
    return summary(run.config, run.label, found.info.run_id, found.data.metrics, trained=True)
