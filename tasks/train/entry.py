"""The training process: `python -P -m transfer_laws.tasks.train.entry --config config.json --result result.json`.

It runs the pure core and writes what it measures to files in the run folder: step metrics to
`metrics.jsonl` (appended as they come, so the launcher can relay them to MLflow while the run
trains), the self-describing `run.json`, and `result.json` (status, error, timings). It opens no
MLflow store: a store costs seconds to open per process, and tracking stays in the launcher, which
keeps one open per process and survives an unreachable tracking server without losing a metric.

Exit codes: 0 done, 2 bad input, 3 training diverged (NaN/inf), 4 the run is busy in another
process, 1 anything else.

In a multi-process run (`processes_per_run` > 1) every rank runs this entry: rank 0 alone takes the
run lock and writes the files above; another rank writes `result.rank<r>.json` only if it fails,
stamped with the time, so the launcher can name the rank that failed first.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

METRICS_FILE = "metrics.jsonl"


class JsonlSink:
    """Appends `{"step": s, "metrics": {...}}` lines; flushed at every evaluation."""

    def __init__(self, path: Path):
        self.handle = open(path, "a", buffering=1 << 16)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.handle.write(json.dumps({"step": step, "metrics": metrics}) + "\n")
        if "test_loss" in metrics:
            self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def _quiet_libraries() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("accelerate").setLevel(logging.ERROR)


def _lock_run_folder(out: Path):
    """An exclusive, non-blocking lock on the run folder, held until this process exits (the OS
    drops it even on kill -9): two processes must never train the same run at once."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / "run.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def run(config_path: Path, result_path: Path, progress: bool) -> int:
    from transfer_laws.tasks.train import distributed
    from transfer_laws.tasks.train.config import RunConfig
    from transfer_laws.tasks.train.core import train

    t0 = time.perf_counter()
    cfg = RunConfig.model_validate_json(config_path.read_text())
    run_key = cfg.run_key()
    out = Path(cfg.out_dir)
    rank = distributed.rank_of(cfg)
    if rank:  # the lock and the files belong to rank 0; this rank reports only its own failure
        return _run_rank(cfg, distributed.rank_result_path(result_path, rank), rank)
    lock = _lock_run_folder(out)
    if lock is None:
        outcome = {"run_key": run_key, "status": "FAILED", "error_type": "RunBusy",
                   "error": f"run {run_key} is already training in another process (lock "
                            f"{out / 'run.lock'} held); wait for it or kill it",
                   "exit_code": 4, "failed_at": time.time()}
        result_path.write_text(json.dumps(outcome, indent=2))
        print(outcome["error"], file=sys.stderr)
        return 4
    outcome: dict = {"run_key": run_key}
    sink = JsonlSink(out / METRICS_FILE)
    try:
        _quiet_libraries()
        t_train = time.perf_counter()
        result = train(cfg, sink=sink, show_progress=progress)
        sink.close()
        record = {"config": cfg.model_dump(), "result": asdict(result), "run_key": run_key}
        (out / "run.json").write_text(json.dumps(record, indent=2))
        outcome.update(status="FINISHED", result=asdict(result),
                       timings={"setup_s": t_train - t0, "train_s": time.perf_counter() - t_train})
        code = 0
    except Exception as exc:  # reported, never swallowed: the exit code says it failed
        code = _record_failure(outcome, exc, cfg, rank)
    finally:
        try:
            sink.close()
        except OSError:  # a full disk fails the last flush too; the failure is recorded already
            pass
    try:
        result_path.write_text(json.dumps(outcome, indent=2))
    except OSError as exc:  # e.g. the disk is full: the launcher then reports the exit code
        print(f"cannot write {result_path}: {exc}", file=sys.stderr)
        code = code or 1
    if code:
        print(f"training failed: {outcome.get('error', 'see above')}", file=sys.stderr)
    return code


def _record_failure(outcome: dict, exc: Exception, cfg, rank: int) -> int:
    """Fill `outcome` with the failure and return its exit code (2 input, 3 diverged, 1 other)."""
    from transfer_laws.tasks.common.errors import InputError
    from transfer_laws.tasks.train.checkpoints import DiskFull, disk_full_reason
    from transfer_laws.tasks.train.core import TrainingDiverged

    if not isinstance(exc, (DiskFull, InputError, TrainingDiverged)) and (
            reason := disk_full_reason(exc, Path(cfg.out_dir))):
        # a full disk outside the checkpoint writes (metrics.jsonl, run.json): say so, not errno 28
        exc = DiskFull(f"disk full: {reason} ({type(exc).__name__}: {exc}). Fix: free space there "
                       "(or give the run a folder on a larger disk) and rerun the same command: it "
                       "resumes from the last good checkpoint")
    known = [(InputError, "InputError", 2), (TrainingDiverged, "TrainingDiverged", 3),
             (DiskFull, "DiskFull", 1)]
    kind, code = next(((k, c) for t, k, c in known if isinstance(exc, t)), (None, 1))
    if kind is not None:
        outcome.update(status="FAILED", error=str(exc), error_type=kind)
    else:  # a crash may hit one rank only: say which
        code = 1
        where = f"rank {rank}: " if cfg.processes_per_run > 1 else ""
        outcome.update(status="FAILED", error=f"{where}{type(exc).__name__}: {exc}",
                       error_type=type(exc).__name__, traceback=traceback.format_exc())
    outcome.update(exit_code=code, failed_at=time.time())
    return code


def _run_rank(cfg, result_path: Path, rank: int) -> int:
    """A rank > 0 of a multi-process run: it trains (rank 0 writes the metrics and results) and
    writes an outcome only when it fails."""
    from transfer_laws.tasks.train.core import train

    try:
        _quiet_libraries()
        train(cfg)
        return 0
    except Exception as exc:
        outcome = {"run_key": cfg.run_key(), "rank": rank}
        code = _record_failure(outcome, exc, cfg, rank)
    result_path.write_text(json.dumps(outcome, indent=2))
    print(f"training failed: {outcome['error']}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--result", type=Path, required=True)
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    from transfer_laws.tasks.common.process import die_with_parent

    die_with_parent()
    return run(a.config, a.result, a.progress)


if __name__ == "__main__":
    sys.exit(main())
