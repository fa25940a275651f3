"""A Prefect process worker that stops cleanly when a scheduler asks: SIGTERM (Slurm, Kubernetes,
systemd) or SIGINT (Ctrl-C).

`prefect worker start` alone, on SIGTERM, interrupts the flow runs it executes and leaves them
`Running` on the server (Prefect issue #16746): the sweep waiting on them waits for ever and their
training processes may outlive the worker. So the worker runs as a child of this process, which owns
both signals. On the first one: the flow runs its processes execute are found (each flow-run process
carries PREFECT__FLOW_RUN_ID), every process below this one is killed and reaped, each run folder's
half-written `*.tmp` is removed, and those flow runs are set Scheduled again, so the next worker on
the pool resumes each from its last checkpoint inside the same MLflow run (the kill -9 guarantees).
One line says what was interrupted; the exit status is 128 + the signal (143, 130). A second signal
exits at once.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from transfer_laws.tasks.common.process import SIGNALS, child_env, descendants, kill_descendants, subreaper

FLOW_RUN_VARIABLE = "PREFECT__FLOW_RUN_ID"


def flow_runs_below(pid: int) -> list[str]:
    """The ids of the flow runs that processes below `pid` execute (read from their environment)."""
    found = []
    for child in descendants(pid):
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(FLOW_RUN_VARIABLE.encode() + b"="):
                found.append(entry.split(b"=", 1)[1].decode())
    return sorted(set(found))


def reschedule(flow_run_ids: list[str], worker: str) -> list[str]:
    """Set each flow run Scheduled again and remove its run folder's half-written files; returns
    their names (the runs' labels) for the one line."""
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    names = []
    with get_client(sync_client=True) as client:
        for flow_run_id in flow_run_ids:
            run = client.read_flow_run(flow_run_id)
            out_dir = (run.parameters.get("config") or {}).get("out_dir")
            if out_dir:
                remove_half_written_run(Path(out_dir))
            client.set_flow_run_state(flow_run_id, Scheduled(
                message=f"worker {worker} was stopped; the next worker resumes it from its last checkpoint"),
                force=True)
            names.append(run.name)
    return names


def remove_half_written_run(run_dir: Path) -> None:
    for path in [*run_dir.glob("*.tmp"), *run_dir.glob("checkpoints/*.tmp")]:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def run_worker(command: list[str], env: dict[str, str], name: str, pool: str) -> int:
    """Run the Prefect worker `command` until it exits (its status) or a signal stops it (exits)."""
    stopping = threading.Event()

    def on_signal(signum, _frame) -> None:
        if stopping.is_set():
            os._exit(128 + signum)
        stopping.set()
        flow_runs = flow_runs_below(os.getpid())  # before the kill: their environments say which
        names: list[str] = []
        problem = ""
        try:
            kill_descendants()
            names = reschedule(flow_runs, name) if flow_runs else []
        except Exception as error:  # the server gone too: say so, the runs are still resumable
            problem = f" (setting them Scheduled failed: {type(error).__name__}: {error}; retry them in the UI)"
        finally:
            what = (f"flow runs {', '.join(names or flow_runs)} interrupted and rescheduled{problem}: the next "
                    f"worker on pool {pool!r} resumes each from its last checkpoint"
                    if flow_runs else "no flow run was running")
            print(f"transfer-laws worker {name}: {signal.Signals(signum).name}: stopped; {what}",
                  file=sys.stderr, flush=True)
            os._exit(128 + signum)

    import prefect.client.orchestration  # noqa: F401  now, not in the handler, which has seconds

    subreaper(True)  # a flow run's orphaned training process stays ours to kill
    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    try:
        proc = subprocess.Popen(command, env=child_env(env))
        return proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        subreaper(False)
