"""The training subprocess: `python -m tasks.train.entry --config run.config.json --result result.json`.

It wires the pure core to MLflow: find-or-create the run by run_key, log the DESIGN.md params and
tags, stream step metrics, then the final metrics, the best checkpoint and `run.json` as artifacts.
Exit codes: 0 done, 2 bad input, 3 training diverged (NaN/inf), 4 the run is busy in another
process, 1 anything else.
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


def _quiet_libraries() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("accelerate").setLevel(logging.ERROR)


def run_params(cfg) -> dict:
    """The MLflow params of a run (DESIGN.md names, plus every optimiser and data-identity field)."""
    from model.shapes import Shape
    from tasks.data import load_prepared

    data = load_prepared(cfg.data_dir)
    d = data.check_subset(cfg.dataset_tokens)
    shape = Shape(cfg.n_layer, cfg.d_model, cfg.n_head, cfg.n_ctx, cfg.vocab_size)
    return {
        "n_layer": cfg.n_layer, "d_model": cfg.d_model, "n_head": cfg.n_head, "n_ctx": cfg.n_ctx,
        "vocab_size": cfg.vocab_size, "params_non_embedding": shape.params_non_embedding,
        "params_embedding": shape.params_embedding, "params_total": shape.params_total,
        "dataset_tokens": d, "dataset_chars": data.chars_in_prefix(d), "lr": cfg.lr,
        "batch_size": cfg.batch_size, "seed": cfg.seed, "min_lr": cfg.min_lr,
        "warmup_steps": cfg.warmup_steps, "max_steps": cfg.max_steps,
        "weight_decay": cfg.weight_decay, "beta1": cfg.beta1, "beta2": cfg.beta2,
        "grad_clip": cfg.grad_clip, "eval_interval": cfg.eval_interval, "patience": cfg.patience,
        "data_key": cfg.data_key, "init_key": cfg.init_key}


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


def run(config_path: Path, result_path: Path, experiment: str | None, tracking_uri: str | None,
        parent_run_id: str | None, progress: bool, tags: dict[str, str]) -> int:
    from tasks import tracking
    from tasks.errors import InputError
    from tasks.train.config import RunConfig
    from tasks.train.core import TrainingDiverged, train

    cfg = RunConfig.model_validate_json(config_path.read_text())
    run_key = cfg.run_key()
    lock = _lock_run_folder(Path(cfg.out_dir))
    if lock is None:
        outcome = {"run_key": run_key, "status": "FAILED", "error_type": "RunBusy",
                   "error": f"run {run_key} is already training in another process (lock "
                            f"{Path(cfg.out_dir) / 'run.lock'} held); wait for it or kill it"}
        result_path.write_text(json.dumps(outcome, indent=2))
        print(outcome["error"], file=sys.stderr)
        return 4
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    c = run_id = sink = None
    if experiment:
        c = tracking.client(tracking_uri)
        exp_id = tracking.ensure_experiment(c, experiment)
        run_id = tracking.start_or_resume(
            c, exp_id, run_key, run_name=tags.pop("run_name", f"{cfg.kind}-{run_key}"),
            tags={"kind": cfg.kind, "source": cfg.source, "target": cfg.target, **tags},
            parent_run_id=parent_run_id)
        sink = tracking.MlflowSink(c, run_id)
    outcome: dict = {"run_key": run_key, "mlflow_run_id": run_id}
    try:
        _quiet_libraries()
        if c is not None:
            tracking.log_params_once(c, run_id, run_params(cfg))
        timings["setup_s"] = time.perf_counter() - t0
        result = train(cfg, sink=sink, show_progress=progress)
        timings["train_s"] = time.perf_counter() - t0 - timings["setup_s"]
        record = {"config": cfg.model_dump(), "result": asdict(result), "run_key": run_key,
                  "mlflow_run_id": run_id}
        run_json = Path(cfg.out_dir) / "run.json"
        run_json.write_text(json.dumps(record, indent=2))
        if c is not None:
            sink.flush()
            tracking.log_final(c, run_id, {k: getattr(result, k) for k in tracking.FINAL_METRICS})
            c.log_artifacts(run_id, result.best_checkpoint, artifact_path="checkpoint")
            c.log_artifact(run_id, str(run_json))
            c.set_terminated(run_id, "FINISHED")
        timings["finish_s"] = time.perf_counter() - t0 - timings["setup_s"] - timings["train_s"]
        outcome.update(status="FINISHED", result=asdict(result), timings=timings)
        code = 0
    except InputError as exc:
        outcome.update(status="FAILED", error=str(exc), error_type="InputError")
        code = 2
    except TrainingDiverged as exc:
        outcome.update(status="FAILED", error=str(exc), error_type="TrainingDiverged")
        code = 3
    except Exception as exc:  # reported, never swallowed: the exit code says it failed
        outcome.update(status="FAILED", error=f"{type(exc).__name__}: {exc}",
                       error_type=type(exc).__name__, traceback=traceback.format_exc())
        code = 1
    if code and c is not None:
        try:
            sink.flush()
            c.set_tag(run_id, "error", outcome["error"][:5000])
            c.set_terminated(run_id, "FAILED")
        except Exception:
            pass
    result_path.write_text(json.dumps(outcome, indent=2))
    if code:
        print(f"training failed: {outcome['error']}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--result", type=Path, required=True)
    p.add_argument("--experiment", default=None, help="MLflow experiment; omit to log nothing")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--parent-run-id", default=None)
    p.add_argument("--tags", default="{}", help="JSON object of extra MLflow tags")
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    from tasks.train.launch import die_with_parent

    die_with_parent()
    return run(a.config, a.result, a.experiment, a.tracking_uri, a.parent_run_id, a.progress,
               json.loads(a.tags))


if __name__ == "__main__":
    sys.exit(main())
