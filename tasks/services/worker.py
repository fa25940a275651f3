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


RESCHEDULE_TIMEOUT_S = 5.0  # the server gets this long; a scheduler's kill follows soon after


def reschedule(flow_run_ids: list[str], worker: str, timeout: float = RESCHEDULE_TIMEOUT_S) -> tuple[list[str], list[str]]:
    """Set each flow run Scheduled again and remove its run folder's half-written files, within
    `timeout` (Prefect's client retries for minutes). Returns (names of the runs rescheduled, ids
    of those that could not be), each run on its own."""
    done: dict[str, str] = {}  # id -> name

    def work() -> None:
        from prefect.client.orchestration import get_client
        from prefect.states import Scheduled

        with get_client(sync_client=True) as client:
            for flow_run_id in flow_run_ids:
                try:
                    run = client.read_flow_run(flow_run_id)
                    out_dir = (run.parameters.get("config") or {}).get("out_dir")
                    if out_dir:
                        remove_half_written_run(Path(out_dir))
                    client.set_flow_run_state(flow_run_id, Scheduled(
                        message=f"worker {worker} was stopped; the next worker resumes it from its last "
                                "checkpoint"), force=True)
                    done[flow_run_id] = run.name
                except Exception:  # the next run may still go through
                    continue

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout)
    finished = dict(done)  # a copy: the thread may still be writing after the timeout
    return list(finished.values()), [i for i in flow_run_ids if i not in finished]


def remove_half_written_run(run_dir: Path) -> None:
    for path in [*run_dir.glob("*.tmp"), *run_dir.glob("checkpoints/*.tmp")]:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def run_worker(command: list[str], env: dict[str, str], name: str, pool: str) -> int:
    """Run the Prefect worker `command` until it exits (its status) or a signal stops it (exits)."""
    stopping = threading.Event()

    procs: list[subprocess.Popen] = []

    def on_signal(signum, _frame) -> None:
        if stopping.is_set():
            os._exit(128 + signum)
        stopping.set()
        flow_runs: list[str] = []
        names: list[str] = []
        missed: list[str] = []
        try:
            flow_runs = flow_runs_below(os.getpid())  # their environments say which
            for proc in procs:  # the Prefect worker: it takes no flow run after this
                proc.kill()
                os.waitpid(proc.pid, 0)
            flow_runs = sorted(set(flow_runs) | set(flow_runs_below(os.getpid())))  # one claimed meanwhile
            kill_descendants()
            if flow_runs:
                names, missed = reschedule(flow_runs, name)
        finally:
            problem = (f"; {len(missed)} could not be set Scheduled in time ({', '.join(missed)}): retry "
                       "them in the Prefect UI" if missed else "")
            what = (f"flow runs {', '.join(names) or '-'} interrupted and rescheduled{problem}: the next "
                    f"worker on pool {pool!r} resumes each from its last checkpoint"
                    if flow_runs else "no flow run was running")
            print(f"transfer-laws worker {name}: {signal.Signals(signum).name}: stopped; {what}",
                  file=sys.stderr, flush=True)
            os._exit(128 + signum)

    import prefect.client.orchestration  # noqa: F401  now, not in the handler, which has seconds

    subreaper(True)  # a flow run's orphaned processes stay ours: to kill, and to reap
    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    try:  # its own session: a group-wide SIGTERM (`services stop`) reaches only us, we stop it
        procs.append(subprocess.Popen(command, env=child_env(env), start_new_session=True))
        while True:  # reap every child: orphans re-parented to us (a run's zygote) leave no zombie
            pid, status = os.waitpid(-1, 0)
            if pid == procs[0].pid:
                return os.waitstatus_to_exitcode(status)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        subreaper(False)
