"""MLflow: the store, the stable names (docs/interface.md, "MLflow names"), find-or-create by
run_key, batched metric logging.

Conventions, each against a pitfall of MLflow 3 measured or reported upstream:
- The SQLite store is created once under a file lock before anything else writes to it: several
  processes opening a store that does not exist yet all crash in its schema migrations (Alembic's
  "table _alembic_tmp_latest_metrics already exists") and leave the file broken for good.
- The store's URI and artifact location are absolute: MLflow's defaults (`mlflow.db`, `./mlruns`)
  are relative to the current directory, so workers starting elsewhere would each get their own.
- Runs are addressed by id through `MlflowClient`, never through the thread-local "active run": in
  a Prefect worker thread there is none, and `nested=True` silently makes a top-level run.
- One MLflow run per run_key, ever: a rerun or a Prefect retry finds the run by its `run_key` tag
  and resumes it instead of creating a duplicate.
- Metric points are append-only (logging a step twice keeps both points), so a resumed run logs
  only steps after the last one logged; points go in `log_batch` calls, since one SQLite write per
  point costs milliseconds each.
- Params are immutable once set and stored as strings: each is logged once, in batches of 100.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from transfer_laws.tasks.common.sqlite_files import copy_sqlite
from transfer_laws.tasks.common.version import VERSION

PARAM_NAMES = ("n_layer", "d_model", "n_head", "n_ctx", "vocab_size", "params_non_embedding",
               "params_embedding", "params_total", "dataset_tokens", "dataset_chars", "dataset_bytes", "lr",
               "batch_size", "seed")
FINAL_METRICS = ("best_test_loss", "best_test_bpb", "best_step", "best_epoch", "tokens_seen", "flops",
                 "tokens_per_second")
STEP_METRICS = ("train_loss", "test_loss", "lr")


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_CLIENTS: dict[tuple[str, int], object] = {}
_CLIENTS_LOCK = threading.Lock()


def client(tracking_uri: str, template_dir: Path | None = None):
    """The process's MlflowClient on `tracking_uri` (opening a SQLite store costs seconds, so it is
    opened once per process); a store that does not exist yet is created once, under a file lock.

    With `template_dir`, a new SQLite store starts as a copy of an empty, migrated one kept there
    (per MLflow version; made from the first store created), so only the first project on a machine
    pays MLflow's ~7 s of migrations."""
    from mlflow import MlflowClient

    key = (tracking_uri, os.getpid())
    with _CLIENTS_LOCK:
        if key in _CLIENTS:
            return _CLIENTS[key]
        if tracking_uri.startswith("sqlite:///"):
            db = Path(tracking_uri.removeprefix("sqlite:///"))
            with _file_lock(db.with_name(db.name + ".lock")):
                template = _store_template(template_dir) if template_dir else None
                fresh = not db.exists() and not (template and copy_sqlite(template, db))
                c = MlflowClient(tracking_uri)
                c.search_experiments(max_results=1)  # runs the migrations, serialised by the lock
                if fresh and template:
                    copy_sqlite(db, template)
        else:
            c = MlflowClient(tracking_uri)
        _CLIENTS[key] = c
        return c


def _store_template(template_dir: Path) -> Path:
    import mlflow

    return Path(template_dir) / f"mlflow-empty-{mlflow.__version__}.db"


def default_artifact_root(tracking_uri: str) -> Path | None:
    """Beside a SQLite store (absolute): MLflow's own default is ./mlruns under the current directory."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts"
    return None  # a tracking server decides where artifacts go


def ensure_experiment(c, name: str, artifact_root: Path | None = None) -> str:
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    artifact_root = artifact_root or default_artifact_root(c.tracking_uri)
    location = (Path(artifact_root) / name).resolve().as_uri() if artifact_root else None
    try:
        return c.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by another process
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # the UI's layout: training runs, not GenAI traces
MODEL_TRAINING = "custom_model_development"
VERSION_TAG = "transfer_laws.version"  # the package version that created a run
NOTE_TAG = "mlflow.note.content"  # the experiment's description in the UI


# MLflow's shared runs view (the UI's "share view"): an experiment tag holding the runs table's state,
# opened by `?viewStateShareKey=<name>`. Its columns show what the fit reads, with no column picking.
SHARED_VIEW_TAG = "mlflow.sharedViewState."
RUNS_VIEW = "transfer-laws"
RUNS_VIEW_STATE = {
    "selectedColumns": ["tags.`kind`", "params.`params_non_embedding`", "params.`dataset_tokens`",
                        "tags.`source`", "tags.`seed`", "metrics.`best_test_loss`",
                        "metrics.`best_step`"],
    "orderByKey": "metrics.`best_test_loss`", "orderByAsc": True,
}


TRAINING_LAYOUT = "workflowType=machine_learning"  # MLflow 3's UI opens in its GenAI layout otherwise


def runs_view_path(experiment_id: str) -> str:
    """The UI path (after the server URL) of the experiment's runs table with the sweep's columns,
    in the Model training layout."""
    return f"/#/experiments/{experiment_id}/runs?viewStateShareKey={RUNS_VIEW}&{TRAINING_LAYOUT}"


def run_path(experiment_id: str, run_id: str) -> str:
    """The UI path of one run's page, in the Model training layout."""
    return f"/#/experiments/{experiment_id}/runs/{run_id}?{TRAINING_LAYOUT}"


def describe_experiment(c, experiment_id: str, description: str) -> None:
    """Mark the experiment as model training, give it a description that links the runs view with
    kind, N, D, source, seed and best loss as columns, and save that view (all idempotent)."""
    c.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    c.set_experiment_tag(experiment_id, SHARED_VIEW_TAG + RUNS_VIEW, json.dumps(RUNS_VIEW_STATE))
    c.set_experiment_tag(experiment_id, NOTE_TAG, description + (
        f" The runs with N, D, kind and best loss as columns: [{RUNS_VIEW} view]"
        f"({runs_view_path(experiment_id)})."))


def find_run(c, experiment_id: str, run_key: str):
    """The newest run carrying this run_key, or None."""
    runs = c.search_runs([experiment_id], filter_string=f"tags.run_key = '{run_key}'",
                         order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def finished_runs(c, experiment_id: str) -> dict[str, object]:
    """run_key -> its FINISHED run, for every finished run of the experiment (one paged query)."""
    out = {}
    for run in c.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'",
                             max_results=50000):
        key = run.data.tags.get("run_key")
        if key and key not in out:
            out[key] = run
    return out


def is_done(run) -> bool:
    return run is not None and run.info.status == "FINISHED" and "best_test_loss" in run.data.metrics


def open_run(c, experiment_id: str, run_key: str, run_name: str, tags: dict[str, str],
             parent_run_id: str | None = None) -> tuple[str, bool]:
    """(run id, created) for `run_key`: the existing run (set back to RUNNING) or a new one. A new run
    is tagged with the package version that made it (VERSION_TAG); a resumed run keeps its own."""
    run = find_run(c, experiment_id, run_key)
    all_tags = {"run_key": run_key, **tags}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    if run is None:
        return c.create_run(experiment_id, run_name=run_name,
                            tags={**all_tags, VERSION_TAG: VERSION}).info.run_id, True
    c.update_run(run.info.run_id, status="RUNNING")
    for k, v in {VERSION_TAG: run.data.tags.get(VERSION_TAG, VERSION), **all_tags}.items():
        if run.data.tags.get(k) != v:
            c.set_tag(run.info.run_id, k, v)
    return run.info.run_id, False


def start_or_resume(c, experiment_id: str, run_key: str, run_name: str, tags: dict[str, str],
                    parent_run_id: str | None = None) -> str:
    """The run id for `run_key`: the existing one (set back to RUNNING) or a new one."""
    return open_run(c, experiment_id, run_key, run_name, tags, parent_run_id)[0]


def log_params_once(c, run_id: str, params: dict[str, object], new_run: bool = False) -> None:
    """Params are immutable in MLflow: log only those not there yet (a run just created has none)."""
    from mlflow.entities import Param

    have = {} if new_run else c.get_run(run_id).data.params
    new = [Param(k, str(v)) for k, v in params.items() if k not in have]
    for i in range(0, len(new), 100):
        c.log_batch(run_id, params=new[i:i + 100])


class MlflowSink:
    """Buffers step metrics and writes them with `log_batch`; skips steps already logged."""

    def __init__(self, c, run_id: str, flush_every: int = 200, new_run: bool = False):
        self.c, self.run_id, self.flush_every = c, run_id, flush_every
        self.buffer: list = []
        self.last_step = {k: -1 if new_run else max((m.step for m in c.get_metric_history(run_id, k)),
                                                    default=-1) for k in STEP_METRICS}

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for key, value in metrics.items():
            if step <= self.last_step.get(key, -1):
                continue
            self.last_step[key] = step
            self.buffer.append(Metric(key, float(value), now, step))
        if len(self.buffer) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        for i in range(0, len(self.buffer), 1000):
            self.c.log_batch(self.run_id, metrics=self.buffer[i:i + 1000])
        self.buffer = []


def final_metrics(values: dict[str, float]) -> list:
    """A run's summary values as step-0 metrics (non-finite and missing ones left out)."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, 0) for k, v in values.items()
            if v is not None and math.isfinite(float(v))]


def log_final(c, run_id: str, values: dict[str, float]) -> None:
    c.log_batch(run_id, metrics=final_metrics(values))
