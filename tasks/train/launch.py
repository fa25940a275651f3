"""Run one training run in its own subprocess and read its result back.

Why a subprocess: accelerate's state is process-global, GPU memory is freed only at exit, and a
hung run can only be stopped by killing its process (Prefect timeouts cannot stop a thread).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tasks.errors import ReportedInputError
from tasks.train.config import RunConfig
from tasks.train.core import RunResult


def _die_with_parent() -> None:
    """Linux: the training process gets SIGKILL when the launching process dies, so a killed
    sweep or CLI never leaves an orphan training on (and writing into) a run folder."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class RunFailed(RuntimeError):
    """The training subprocess exited non-zero; `kind` says why (InputError, TrainingDiverged, …)."""

    def __init__(self, message: str, kind: str, exit_code: int):
        super().__init__(message)
        self.kind, self.exit_code = kind, exit_code


def launch(cfg: RunConfig, experiment: str | None = None, tracking_uri: str | None = None,
           parent_run_id: str | None = None, tags: dict[str, str] | None = None,
           show_progress: bool = False, timeout: float | None = None,
           env: dict[str, str] | None = None, stdout=None) -> RunResult:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_path, result_path = out / "config.json", out / "result.json"
    config_path.write_text(cfg.model_dump_json(indent=2))
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "tasks.train.entry", "--config", str(config_path),
           "--result", str(result_path), "--tags", json.dumps(tags or {})]
    if experiment:
        cmd += ["--experiment", experiment]
    if tracking_uri:
        cmd += ["--tracking-uri", tracking_uri]
    if parent_run_id:
        cmd += ["--parent-run-id", parent_run_id]
    if show_progress:
        cmd.append("--progress")
    repo_root = str(Path(__file__).resolve().parents[2])
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, child_env.get("PYTHONPATH")) if p)
    proc = subprocess.run(cmd, env=child_env, timeout=timeout, stdout=stdout,
                          stderr=subprocess.STDOUT if stdout is not None else None,
                          preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    outcome = json.loads(result_path.read_text()) if result_path.exists() else {}
    if proc.returncode != 0 or outcome.get("status") != "FINISHED":
        message = outcome.get("error") or f"training process exited with code {proc.returncode}"
        if outcome.get("error_type") == "InputError":
            raise ReportedInputError(message)
        raise RunFailed(message, outcome.get("error_type", "crash"), proc.returncode)
    return RunResult(**outcome["result"])
