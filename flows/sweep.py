"""The transfer sweep as a Prefect flow: prepare data -> pre-train(N, source) -> scratch(N, D) and
fine-tune(N, D, source), each fine-tune waiting only on its own pre-train -> aggregate.

Runs are submitted as slots free up, longest remaining chain first (`tasks.sweep.schedule`), so no thread
waits for a slot and the last slot busy is not left with a long run that could have started early.

Composition only: the work is in `tasks.sweep.units`; the DAG in `tasks.sweep.run_graph`.
"""
from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture, as_completed, wait
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from transfer_laws.tasks.common import env
from transfer_laws.tasks.sweep import slots
from transfer_laws.tasks.sweep.config import SweepConfig
from transfer_laws.tasks.sweep.fanout import dispatch_run, online_workers
from transfer_laws.tasks.sweep.run_graph import PlannedRun, check_suite, kind_counts, run_graph
from transfer_laws.tasks.sweep.schedule import Dispatcher
from transfer_laws.tasks.sweep.suites import largest_model
from transfer_laws.tasks.sweep.units import (
    SweepContext,
    find_done,
    open_sweep,
    prepare_corpora,
    train_run,
)

MAX_WAITING_THREADS = 16  # runs in flight: the slots plus done runs passing through


class SweepFailed(RuntimeError):
    """Some runs failed; the flow finished the others, then fails so the UI shows it and can retry."""


@flow(name="transfer-sweep", log_prints=True,
      task_runner=ThreadPoolTaskRunner(max_workers=MAX_WAITING_THREADS))
def sweep_flow(config: SweepConfig, aggregate: bool = True, bootstrap: int | None = None) -> dict:
    """Train every planned run not done yet, then fit and report (see `transfer-laws run`);
    `bootstrap`: resamples for the intervals (None: 15 per point fitted, 1000-4000)."""
    log = get_run_logger()
    paths = env.project_paths(config.tracking.home)
    tracking_uri = config.tracking.tracking_uri or paths.mlflow_uri
    env.apply(paths, hub=config.uses_hub(), tracking_uri=tracking_uri)
    target, sources = prepare_corpora(config, str(paths.cache))
    slot_layout = slots.layout_for(config, largest_model(sources, config.experiment.n_ctx))
    check_suite(config, target, sources, slot_layout.device_kind, len(slot_layout.devices))
    runs = run_graph(config, target, sources, paths.runs, threads=slot_layout.threads,
                device_kind=slot_layout.device_kind)
    artifacts = str(paths.artifacts) if tracking_uri.startswith("sqlite:") else None
    exp_id, parent_id = open_sweep(config, tracking_uri, artifacts,
                                   str(flow_run.id or ""), str(flow_run.ui_url or ""), target.tokenizer_dir)
    pool_key = f"{config.config_hash()}-{flow_run.id}"
    ctx = SweepContext(experiment=config.experiment.name, experiment_id=exp_id, tracking_uri=tracking_uri,
                       parent_run_id=parent_id, home=str(paths.home), slot_pool=pool_key,
                       threads=slot_layout.threads)
    if config.execution.executor == "local":
        slots.open_pool(pool_key, slot_layout)
        # One run more than slots: it starts its task and looks itself up in MLflow while the
        # slots train, then takes the first slot that frees (~0.15 s less idle per run).
        capacity, where = len(slot_layout.devices) + 1, slot_layout.describe()

        def start(run, upstream):
            return train_run.submit(run, ctx, wait_for=upstream)
    else:
        capacity = (max(2, online_workers(config.execution.deployment)) if config.execution.slots == "auto"
                    else int(config.execution.slots))
        where = f"deployment {config.execution.deployment!r}, {capacity} runs handed out at once"

        def start(run, upstream):
            return dispatch_run.submit(run, ctx, config.execution.deployment, wait_for=upstream)
    log.info("%d runs (%s); %s", len(runs), kind_counts(runs), where)

    dispatcher = Dispatcher(runs, cost=lambda r: r.est_work, capacity=capacity,
                            done=find_done(runs, ctx))
    futures: dict[str, PrefectFuture] = {}
    in_flight: dict[int, PlannedRun] = {}  # id(future) -> run, until its outcome is logged

    def submit(batch) -> None:
        for run in batch:
            upstream = [futures[key] for key in run.needs]
            futures[run.run_key] = start(run, upstream)
            in_flight[id(futures[run.run_key])] = run

    submit(dispatcher.next_runs())
    for i in range(1, len(runs) + 1):
        fut = next(as_completed([futures[r.run_key] for r in in_flight.values()]))
        run = in_flight.pop(id(fut))
        fut.wait()  # records the final state on the future (else .state asks the API, which lags)
        state = fut.state
        outcome = "done" if state.is_completed() else state.name.lower()
        if state.is_completed() and fut.result().get("best_test_loss") is not None:
            outcome += f", best loss {fut.result()['best_test_loss']:.4f}"
        log.info("[%d/%d runs] %s: %s", i, len(runs), run.label, outcome)
        submit(dispatcher.finished(run.run_key))
    wait(list(futures.values()))
    failed = [run for run in runs if not futures[run.run_key].state.is_completed()]
    done = [futures[r.run_key].result() for r in runs if r not in failed]
    trained = sum(1 for d in done if d["trained"])
    log.info("%d runs done (%d trained now, %d already done), %d failed", len(done), trained,
             len(done) - trained, len(failed))

    report, parent_status = None, "FAILED"
    try:
        if aggregate and not failed:
            from transfer_laws.flows.aggregate import aggregate_flow

            report = aggregate_flow(config.experiment.name, [r.run_key for r in runs], parent_id, str(paths.home),
                                    bootstrap=bootstrap, seed=config.experiment.seed, tracking_uri=tracking_uri,
                                    curve_form=config.fit.curve_form, about=config.about())
        parent_status = "FAILED" if failed else "FINISHED"
    finally:
        from transfer_laws.tasks.tracking import mlflow_store

        mlflow_store.client(tracking_uri).set_terminated(parent_id, parent_status)
    if failed:
        lines = "\n".join(f"  - {r.label} (run_key {r.run_key}): {futures[r.run_key].state.message}"
                          for r in failed)
        raise SweepFailed(f"{len(failed)} of {len(runs)} runs failed:\n{lines}\nFix the cause and rerun "
                          "the same command (done runs are skipped, interrupted ones resume), or retry "
                          "this flow run from the Prefect UI.")
    return {"runs": len(runs), "trained": trained, "parent_run_id": parent_id, "report": report}
