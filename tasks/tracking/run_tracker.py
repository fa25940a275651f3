"""The MLflow side of one training run, kept in the launching process.

`RunTracker.open` finds or creates the run by its run_key (one MLflow run per run_key, ever) and
logs its params; while the training process runs, `relay` copies new lines of its `metrics.jsonl`
into MLflow in one batch every 10 s; `finish` logs the final metrics, the best checkpoint and
`run.json`, and marks the run FINISHED; `fail` marks it FAILED with the reason. Metrics are read
from a file the run owns, so an MLflow outage never stops training or loses a point: the relay
retries, and the final drain logs whatever is still pending.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from transfer_laws.tasks.tracking import mlflow_store
from transfer_laws.tasks.train.config import RunConfig
from transfer_laws.tasks.train.entry import METRICS_FILE

RELAY_SECONDS = 10.0  # how stale the MLflow UI's live curves may be; each relay costs ~25 ms


@dataclass
class TrackingTarget:
    """Where a run is recorded (plain values, safe to pass between threads and processes)."""

    tracking_uri: str
    experiment: str
    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    experiment_id: str | None = None  # known already (a sweep's runs): saves a lookup per run


def run_params(cfg: RunConfig) -> dict:
    """The MLflow params of a run (docs/interface.md names, plus every optimiser and data-identity field)."""
    from transfer_laws.tasks.data.prepare import load_prepared

    data = load_prepared(cfg.data_dir)
    d = 0 if cfg.kind == "zeroshot" else data.check_subset(cfg.dataset_tokens)
    shape = cfg.shape()
    d_bytes = data.bytes_in_prefix(d)
    suite = {"architecture": shape.key} if cfg.architecture else {}  # the config JSON's hash
    return {**suite,
        "n_layer": shape.n_layer, "d_model": shape.d_model, "n_head": shape.n_head, "n_ctx": cfg.n_ctx,
        "vocab_size": cfg.vocab_size, "family": shape.family, "n_kv_head": shape.kv_heads,
        "tie_embeddings": shape.tied, "params_non_embedding": shape.params_non_embedding,
        "params_embedding": shape.params_embedding, "params_total": shape.params_total,
        "dataset_tokens": d, "dataset_chars": data.chars_in_prefix(d), "dataset_bytes": d_bytes,
        "tokenizer": cfg.tokenizer, "bytes_per_token": round(d_bytes / d, 4) if d else "", "lr": cfg.lr,
        "batch_size": cfg.batch_size, "seed": cfg.seed, "min_lr": cfg.min_lr,
        "warmup_steps": cfg.warmup_steps, "max_steps": cfg.max_steps,
        "weight_decay": cfg.weight_decay, "beta1": cfg.beta1, "beta2": cfg.beta2,
        "grad_clip": cfg.grad_clip, "eval_interval": cfg.eval_interval, "patience": cfg.patience,
        "data_key": cfg.data_key, "init_key": cfg.init_key, "processes_per_run": cfg.processes_per_run}


class RunTracker:
    def __init__(self, target: TrackingTarget, cfg: RunConfig):
        self.target, self.cfg = target, cfg
        self.c = mlflow_store.client(target.tracking_uri)
        self.run_id: str | None = None
        self.metrics_path = Path(cfg.out_dir) / METRICS_FILE
        self._offset = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sink: mlflow_store.MlflowSink | None = None

    def open(self) -> str:
        cfg, t = self.cfg, self.target
        exp_id = t.experiment_id or mlflow_store.ensure_experiment(self.c, t.experiment)
        tags = dict(t.tags)
        self.run_id, new = mlflow_store.open_run(
            self.c, exp_id, cfg.run_key(), run_name=tags.pop("run_name", f"{cfg.kind}-{cfg.run_key()}"),
            tags={"kind": cfg.kind, "source": cfg.source, "target": cfg.target,
                  "seed": str(cfg.seed), **tags},
            parent_run_id=t.parent_run_id)
        mlflow_store.log_params_once(self.c, self.run_id, run_params(cfg), new_run=new)
        self.sink = mlflow_store.MlflowSink(self.c, self.run_id, flush_every=10**9, new_run=new)  # drain flushes
        return self.run_id

    # ---- metrics relay -------------------------------------------------------------------------
    def drain(self, extra: list | None = None) -> None:
        """Log every complete line added to metrics.jsonl since the last drain (and `extra`
        metrics) in one batch."""
        end = 0
        if self.metrics_path.exists():
            with open(self.metrics_path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
            end = data.rfind(b"\n") + 1  # a partly written last line waits for the next drain
            for line in data[:end].splitlines():
                rec = json.loads(line)
                self.sink.log_metrics(rec["metrics"], rec["step"])
        self.sink.buffer.extend(extra or [])
        self.sink.flush()
        self._offset += end

    def _relay(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.drain()
            except Exception as exc:  # an unreachable store: keep the lines, try again later
                print(f"MLflow relay of run {self.cfg.run_key()} will retry: {exc}", flush=True)

    def start_relay(self, every: float = RELAY_SECONDS) -> None:
        self._thread = threading.Thread(target=self._relay, args=(every,), daemon=True,
                                        name=f"mlflow-relay-{self.cfg.run_key()}")
        self._thread.start()

    def stop_relay(self, drain: bool = True, extra: list | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if drain and self.sink is not None:
            self.drain(extra)

    # ---- the end of a run -------------------------------------------------------------------------
    def finish(self, result) -> None:
        self.stop_relay(extra=mlflow_store.final_metrics({k: getattr(result, k) for k in mlflow_store.FINAL_METRICS}))
        if result.best_checkpoint:  # a zeroshot run trains nothing: its model is its pre-train's
            self.c.log_artifacts(self.run_id, result.best_checkpoint, artifact_path="checkpoint")
        self.c.log_artifact(self.run_id, str(Path(self.cfg.out_dir) / "run.json"))
        self.c.set_terminated(self.run_id, "FINISHED")

    def fail(self, error: str) -> None:
        try:
            self.stop_relay()
        except Exception:  # the store may be what failed; still try to mark the run
            pass
        finally:
            self.c.set_tag(self.run_id, "error", error[:5000])
            self.c.set_terminated(self.run_id, "FAILED")
