"""Stopping a sweep cleanly when a scheduler asks: SIGTERM (Slurm, Kubernetes, systemd, `timeout`)
or SIGINT (Ctrl-C).

The sweep runs in a worker thread while the main thread only waits, so the signal reaches our
handler and not Prefect's (a flow in the main thread swaps SIGTERM for its own graceful shutdown,
which reports to a server that is already going and then drains its logs for minutes). On the first
signal: one line saying what stopped and how to resume; every process the sweep started (the
training zygote and its runs, the temporary Prefect server) is killed and reaped; half-written
`*.tmp` folders of idle run folders and of the reports are removed; the process exits 128 + the
signal's number (143, 130) within seconds. A second signal exits at once. Nothing else is needed
for a rerun: runs resume from their last checkpoint and MLflow keeps one run per run_key, the same
guarantees as after kill -9.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, TypeVar

from transfer_laws.tasks.common.process import SIGNALS, STOPPING, kill_descendants, subreaper

T = TypeVar("T")
SWEEP_FLOW = "transfer-sweep"  # flows/sweep.py's flow name


def remove_half_written(home: Path) -> list[Path]:
    """The `*.tmp` folders and files of the reports and of run folders no process holds any more."""
    from transfer_laws.tasks.train.launch import run_folder_busy

    removed = []
    found = list((home / "reports").glob("*/*.tmp"))
    for run in (home / "runs").glob("*"):
        if run.is_dir() and not run_folder_busy(run):
            found += list(run.glob("*.tmp")) + list(run.glob("checkpoints/*.tmp"))
    for path in found:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def cancel_sweep_flow_runs(tag: str, reason: str, timeout: float = 5.0) -> None:
    """Set Cancelled the running sweep flow runs tagged `tag` on the Prefect server this process
    uses: stopped here, they would otherwise show Running there for ever. Bounded by `timeout`."""
    def cancel() -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowFilter,
            FlowFilterName,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
            FlowRunFilterTags,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.states import Cancelled

        with get_client(sync_client=True) as client:
            for run in client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=[SWEEP_FLOW])),
                    flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]), state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])))):
                client.set_flow_run_state(run.id, Cancelled(message=reason), force=True)

    thread = threading.Thread(target=cancel, daemon=True)
    thread.start()
    thread.join(timeout)


def run_stoppable(work: Callable[[], T], home: Path, what: str, resume: str, remote: bool = False,
                  on_stop: Callable[[str], None] | None = None) -> T:
    """Run `work` in a thread while this (main) thread waits and owns SIGTERM and SIGINT. `remote`:
    the runs train on Prefect workers (executor deployments), which this process cannot stop.
    `on_stop(line)`: called once the processes are gone, with the line that is printed."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # re-raised in the main thread
            result["error"] = exc

    stopping = threading.Event()

    def on_signal(signum, _frame) -> None:
        if stopping.is_set():  # the second signal: no more cleaning up
            os._exit(128 + signum)
        stopping.set()
        STOPPING.set()  # no new zygote or run from here on
        logging.disable(logging.CRITICAL)  # the sweep thread sees its runs die: nothing to report
        runs = ("flow runs already on workers keep training; rerun to wait for them and the rest"
                if remote else "runs in progress resume from their last checkpoint")
        line = f"transfer-laws: {signal.Signals(signum).name}: stopped {what}; {runs}: {resume}"
        try:
            kill_descendants()
            remove_half_written(home)
            if on_stop is not None:
                on_stop(line)
        finally:
            print(line, file=sys.stderr, flush=True)
            kill_descendants(timeout=1.0)  # one started meanwhile by the sweep thread, which still runs
            os._exit(128 + signum)

    subreaper(True)
    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    try:
        thread = threading.Thread(target=target, name="sweep", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        subreaper(False)
    if "error" in result:
        raise result["error"]
    return result["value"]
