"""Run one training run in its own process and read its result back.

Why a process per run: accelerate's state is process-global, GPU memory is freed only at exit, and
a hung run can only be stopped by killing its process (Prefect timeouts cannot stop a thread).

Why a zygote by default (`tasks.train.zygote`): a cold Python spends ~5-7 s importing torch,
transformers, accelerate and mlflow before its first step, which would dominate the many small runs
of a CPU sweep. The zygote imports them once and forks a fresh, isolated child per run.
`backend="subprocess"` (a cold `python -P -m transfer_laws.tasks.train.entry`) stays available, e.g. for debugging.

A run with `processes_per_run` > 1 bypasses both: accelerate's launcher starts its ranks as fresh
processes (see `tasks.train.distributed`), and its failure report names the rank that failed first.
"""
from __future__ import annotations

import json
import subprocess
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol

from transfer_laws.tasks.common.errors import ReportedFailure, ReportedInputError
from transfer_laws.tasks.common.process import child_env, python_module
from transfer_laws.tasks.train import distributed
from transfer_laws.tasks.train.config import RunConfig
from transfer_laws.tasks.train.core import RunResult


class Tracker(Protocol):
    """Whoever records a run for the launcher (tasks.tracking.run_tracker.RunTracker is the one this
    project has): the caller builds it, so the training package never imports MLflow code. While the
    training process runs, the tracker reads the run folder's metrics file (entry.METRICS_FILE)."""

    run_id: str | None

    def open(self) -> str: ...

    def start_relay(self) -> None: ...

    def stop_relay(self, drain: bool = True) -> None: ...

    def finish(self, result: RunResult) -> None: ...

    def fail(self, error: str) -> None: ...


class RunFailed(ReportedFailure):
    """The training process exited non-zero; `kind` says why (TrainingDiverged, crash, …)."""

    def __init__(self, message: str, kind: str, exit_code: int):
        super().__init__(message)
        self.kind, self.exit_code = kind, exit_code


def launch(cfg: RunConfig, tracker: Tracker | None = None, show_progress: bool = False,
           timeout: float | None = None, env: dict[str, str] | None = None,
           log_to_file: bool = False, backend: str = "auto",
           device: "AbstractContextManager[dict[str, str]] | None" = None) -> RunResult:
    """Train `cfg` in a child process, recorded by `tracker` when one is given (built by the caller
    for this `cfg`); raise ReportedInputError / RunFailed when it fails (the tracker's run is then
    marked failed).

    `device`, when given, is entered only around the training process and yields the variables
    that place it (a sweep's slot): the MLflow bookkeeping before and after the run does not hold
    the device, so the next run can start on it at once."""
    if run_folder_busy(Path(cfg.out_dir)):  # before MLflow: never touch another process's live run
        raise RunFailed(f"run {cfg.run_key()} is already training in another process (lock "
                        f"{Path(cfg.out_dir) / 'run.lock'} held); wait for it or kill it", "RunBusy", 4)
    try:
        if tracker is not None:
            tracker.open()
            tracker.start_relay()
        with device if device is not None else nullcontext({}) as placed:
            result = _run_child(cfg, show_progress, timeout, {**(env or {}), **placed}, log_to_file,
                                backend)
        if tracker is not None:
            tracker.finish(result)
            result.mlflow_run_id = tracker.run_id
        return result
    except BaseException as exc:
        busy = isinstance(exc, RunFailed) and exc.kind == "RunBusy"
        if tracker is not None and tracker.run_id is not None and not busy:
            tracker.fail(str(exc))  # never leave the MLflow run RUNNING
        elif tracker is not None:
            tracker.stop_relay(drain=False)
        raise


def run_folder_busy(out: Path) -> bool:
    """True while another process holds the run folder's lock (see tasks.train.entry)."""
    import fcntl

    lock = out / "run.lock"
    if not lock.exists():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _run_child(cfg: RunConfig, show_progress: bool, timeout: float | None,
               env: dict[str, str] | None, log_to_file: bool, backend: str) -> RunResult:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_path, result_path = out / "config.json", out / "result.json"
    config_path.write_text(cfg.model_dump_json(indent=2))
    result_path.unlink(missing_ok=True)
    argv = ["--config", str(config_path), "--result", str(result_path)]
    if show_progress:
        argv.append("--progress")
    log_path = str(out / "train.log") if log_to_file else None
    if backend == "auto":
        backend = "fork" if sys.platform == "linux" else "subprocess"
    multi = cfg.processes_per_run > 1
    if multi:
        try:
            returncode = distributed.run_launcher(cfg, argv, result_path, env, log_path, timeout)
        except subprocess.TimeoutExpired:  # the launcher was killed; its ranks die with it
            raise RunFailed(f"run {cfg.run_key()} was killed after its {timeout} s timeout", "timeout",
                            -9) from None
    elif backend == "fork":
        from transfer_laws.tasks.train.zygote import Zygote

        returncode = Zygote.get().run(argv, dict(env or {}), log_path, timeout)
        if returncode == -9 and timeout is not None and not result_path.exists():
            raise RunFailed(f"run {cfg.run_key()} was killed after its {timeout} s timeout", "timeout", -9)
    else:
        log = open(log_path, "ab") if log_path else None
        try:
            returncode = subprocess.run(
                python_module("transfer_laws.tasks.train.entry", *argv), env=child_env(env), timeout=timeout,
                stdout=log, stderr=subprocess.STDOUT if log else None).returncode
        finally:
            if log:
                log.close()
    outcome = json.loads(result_path.read_text()) if result_path.exists() else {}
    if multi and outcome.get("status") != "FINISHED":  # the root cause may be on another rank
        outcome = distributed.first_failure(result_path) or outcome
        returncode = outcome.get("exit_code", returncode)
    if returncode != 0 and not outcome:  # no result.json: was there no room to write it?
        from transfer_laws.tasks.train.checkpoints import DiskFull, disk_full_reason

        if reason := disk_full_reason(DiskFull(), out):
            outcome = {"error": f"disk full: {reason}; the training process could not write its "
                       "result. Fix: free space there and rerun the same command: it resumes from "
                       "the last good checkpoint", "error_type": "DiskFull"}
    if returncode != 0 or outcome.get("status") != "FINISHED":
        message = outcome.get("error") or (
            f"training process exited with code {returncode}" if not multi else
            f"the {cfg.processes_per_run} training processes ended with code {returncode} and no rank "
            "reported an error (a rank killed by a signal?); see the launcher's output")
        if outcome.get("error_type") == "InputError":
            raise ReportedInputError(message)
        raise RunFailed(message, outcome.get("error_type", "crash"), returncode)
    result = RunResult(**outcome["result"])
    result.timings = {**result.timings, **outcome.get("timings", {})}
    return result
