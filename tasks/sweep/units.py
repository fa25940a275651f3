"""The sweep's units of work as Prefect tasks: prepare the corpora, open the sweep's MLflow parent
run, train one run. Each is small; the flow in `flows/sweep.py` only composes them.

Run identity (docs/interface.md): a run is done when its MLflow run (found by the `run_key` tag) is
FINISHED with `best_test_loss` (and, for a pre-train, its checkpoint exists). MLflow is the record:
a done run is returned from MLflow without training and without a new MLflow run; an interrupted
one resumes from its checkpoint inside the same MLflow run. (A Prefect result cache is not used: it
could claim a run is done after the MLflow store that records it was lost.)
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict

from transfer_laws.tasks.data.corpora import Corpus, Fetch, NotFetched, mix_corpora, resolve_corpus
from transfer_laws.tasks.data.prepare import PreparedData, encoder_for, prepare
from transfer_laws.tasks.data.tokenizer import static_vocab, tokenizer_files
from transfer_laws.tasks.services.servers import redact
from transfer_laws.tasks.sweep import slots
from transfer_laws.tasks.sweep.config import SweepConfig
from transfer_laws.tasks.sweep.run_graph import PlannedRun
from transfer_laws.tasks.sweep.suites import Suite, suites_of
from transfer_laws.tasks.tracking import mlflow_store
from transfer_laws.tasks.tracking.run_tracker import RunTracker, TrackingTarget
from transfer_laws.tasks.train.config import RunConfig
from transfer_laws.tasks.train.launch import RunFailed, launch


class SweepContext(BaseModel):
    """What every run of one sweep shares: plain values, safe to pass to threads, to log, and to
    send to a worker as a flow-run parameter."""

    model_config = ConfigDict(frozen=True)

    experiment: str
    experiment_id: str
    tracking_uri: str
    parent_run_id: str
    home: str = ""
    slot_pool: str = ""  # local executor only
    threads: int = 1
    mlflow_ui: str = "http://127.0.0.1:5000"


def resolve_source(name: str, spec, cache: Path, field: str):
    if spec.corpus is not None:
        return resolve_corpus(spec.corpus, cache, field=field)
    parts = {c: resolve_corpus(c, cache, field=f"{field}.mixture") for c in spec.mixture}
    return mix_corpora(name, parts, spec.mixture)


def prepare_all(cfg: SweepConfig, cache: str | Path) -> tuple[PreparedData, dict[str, PreparedData | Suite]]:
    """Tokenise and split the target and every source once (content-hash cached on disk), with the
    sweep's one tokenizer (a BPE is trained on all their training splits first); a suite source is
    described and its weights fetched instead."""
    cache_dir, ex = Path(cache), cfg.experiment
    target = resolve_corpus(ex.target, cache_dir, field="experiment.target")
    if cfg.suite():  # nothing to pre-train: the checkpoints' weights are fetched, the target prepared
        suites = suites_of(cfg, weights=True)
        encoder = encoder_for(cfg.tokenizer_spec(), cache_dir, [target], ex.test_fraction)
        return prepare(target, cache_dir, ex.test_fraction, encoder=encoder), suites
    sources = {name: resolve_source(name, spec, cache_dir, f"experiment.sources.{name}") for name, spec in ex.sources.items()}
    encoder = encoder_for(cfg.tokenizer_spec(), cache_dir, [target, *sources.values()], ex.test_fraction)
    return (prepare(target, cache_dir, ex.test_fraction, encoder=encoder),
            {name: prepare(corpus, cache_dir, ex.test_fraction, encoder=encoder) for name, corpus in sources.items()})


UNFETCHED = "not-fetched"  # the data key of a corpus dry-run only priced: run_keys follow the fetch


def preview_all(cfg: SweepConfig, cache: str | Path) -> tuple[PreparedData, dict[str, PreparedData | Suite],
                                                              list[Fetch]]:
    """`prepare_all` for dry-run, plan and status, which download nothing: a corpus not yet fetched
    is stood in for by its recorded size (key UNFETCHED), and the fetches the first `run` makes
    are returned so they can be said and priced. A BPE is trained on all the sweep's text, so
    while any corpus is missing every corpus stands in (sized in bytes, a bound on its tokens). A
    suite source is described from its configs (its weights are not fetched)."""
    cache_dir = Path(cache)
    fetches: list[Fetch] = []
    found: dict[str, object] = {}  # field -> Corpus, or its size in bytes (None: unknown) when not fetched

    def resolved(field: str, load) -> None:
        try:
            found[field] = load()
        except NotFetched as missing:
            fetches.append(missing.fetch)
            found[field] = missing.fetch.text_bytes
        except _MixturePartsNotFetched as missing:
            fetches.extend(missing.fetches)
            found[field] = missing.expected_bytes

    resolved("experiment.target",
             lambda: resolve_corpus(cfg.experiment.target, cache_dir, field="experiment.target", fetch=False))
    suites = suites_of(cfg, weights=False) if cfg.suite() else {}
    for name, spec in ([] if suites else cfg.experiment.sources.items()):
        resolved(f"experiment.sources.{name}", lambda name=name, spec=spec: _source_without_fetch(name, spec, cache_dir))
    spec = cfg.tokenizer_spec()
    corpora = [c for c in found.values() if isinstance(c, Corpus)]
    # a suite not cached here brings a tokenizer not cached either: the target stands in, sized in bytes
    unpriced = (fetches and spec.kind == "bpe") or any(not s.fetched for s in suites.values())
    encoder = None if unpriced else encoder_for(spec, cache_dir, corpora, cfg.experiment.test_fraction)
    models_vocab = max((c.info.architecture.vocab_size for s in suites.values() for c in s.checkpoints), default=None)

    def prepared(field: str, name: str) -> PreparedData:
        c = found[field]
        if isinstance(c, Corpus) and encoder is not None:
            return prepare(c, cache_dir, cfg.experiment.test_fraction, encoder=encoder)
        size = c.n_bytes if isinstance(c, Corpus) else c
        return _stand_in(name, size, cfg, encoder.vocab_size if encoder else static_vocab(spec) or models_vocab or 256)

    target = prepared("experiment.target", cfg.experiment.target)
    sources = suites or {name: prepared(f"experiment.sources.{name}", name) for name in cfg.experiment.sources}
    once: dict[str, Fetch] = {}
    for f in fetches:  # a corpus two sources use is fetched once, said under its first field
        once.setdefault(f.corpus, f)
    return target, sources, list(once.values())


class _MixturePartsNotFetched(Exception):
    def __init__(self, fetches: list[Fetch], expected_bytes: int | None):
        self.fetches, self.expected_bytes = fetches, expected_bytes


def _source_without_fetch(name: str, spec, cache: Path):
    field = f"experiment.sources.{name}"
    if spec.corpus is not None:
        return resolve_corpus(spec.corpus, cache, field=field, fetch=False)
    parts, sizes, fetches = {}, {}, []
    for c in spec.mixture:
        try:
            parts[c] = resolve_corpus(c, cache, field=f"{field}.mixture", fetch=False)
            sizes[c] = parts[c].n_bytes
        except NotFetched as missing:
            fetches.append(missing.fetch)
            sizes[c] = missing.fetch.text_bytes
    if fetches:  # the mixture is as large as its scarcest part allows (tasks/data/corpora/mixture.py)
        known = None if None in sizes.values() else int(min(sizes[c] / w for c, w in spec.mixture.items()))
        raise _MixturePartsNotFetched(fetches, known)
    return mix_corpora(name, parts, spec.mixture)


def _stand_in(name: str, text_bytes: int | None, cfg: SweepConfig, vocab_size: int) -> PreparedData:
    """A corpus priced before it is fetched (or tokenized): its size in bytes split as `prepare`
    would, a token per byte (exact for bytes, an upper bound for any other tokenizer); of unknown
    size (a hub corpus), as large as the largest D the config asks for."""
    ex = cfg.experiment
    if text_bytes is None:
        pretrain = ex.pretrain_tokens if isinstance(ex.pretrain_tokens, list) else [ex.pretrain_tokens or 0]
        text_bytes = int(max([*ex.finetune_tokens, *cfg.scratch_grid(), *pretrain]) / (1 - ex.test_fraction)) + 1
    test = int(text_bytes * ex.test_fraction)
    return PreparedData(root="", corpus_name=name, corpus_fingerprint="", key=UNFETCHED, tokenizer=ex.tokenizer,
                        vocab_size=vocab_size, test_fraction=ex.test_fraction, train_tokens=text_bytes - test,
                        test_tokens=test, train_chars=text_bytes - test, test_chars=test, train_documents=0,
                        test_documents=0, train_bytes=text_bytes - test, test_bytes=test)


_PREPARED_AHEAD: dict[str, tuple] = {}  # filled by tasks.services.warmup, taken once by the flow's task


def _ahead_key(cfg: SweepConfig, cache: str | Path) -> str:
    return cfg.experiment.model_dump_json(include={"target", "sources", "test_fraction", "tokenizer"}) + str(Path(cache))


def prepare_ahead(cfg: SweepConfig, cache: str | Path) -> tuple[PreparedData, dict[str, PreparedData]]:
    """Prepare now (the CLI checks the data before anything starts); the flow's task reuses it."""
    _PREPARED_AHEAD[_ahead_key(cfg, cache)] = prepared = prepare_all(cfg, cache)
    return prepared


@task(name="prepare-data", cache_policy=NO_CACHE)
def prepare_corpora(cfg: SweepConfig, cache: str) -> tuple[PreparedData, dict[str, PreparedData]]:
    """The Prefect task around `prepare_all` (or its result, when the CLI prepared ahead)."""
    return _PREPARED_AHEAD.pop(_ahead_key(cfg, cache), None) or prepare_all(cfg, cache)


@task(name="open-sweep", cache_policy=NO_CACHE)
def open_sweep(cfg: SweepConfig, tracking_uri: str, artifact_root: str | None, flow_run_id: str,
               flow_run_url: str, tokenizer_dir: str = "") -> tuple[str, str]:
    """The experiment and the sweep's parent run, found again on rerun by its config hash; the
    tokenizer folder (when not bytes) is logged to it once, as artifacts under `tokenizer/`."""
    c = mlflow_store.client(tracking_uri)
    exp_id = mlflow_store.ensure_experiment(c, cfg.experiment.name, Path(artifact_root) if artifact_root else None)
    key = f"sweep-{cfg.config_hash()}"
    sources = ", ".join(f"{n} ({s.what()})" for n, s in cfg.experiment.sources.items())
    sizes = f"sizes {', '.join(f'{n:g}' for n in cfg.experiment.sizes)}" if cfg.experiment.sizes else "the suites' sizes"
    mlflow_store.describe_experiment(c, exp_id, (
        f"transfer-laws sweep **{cfg.experiment.name}** (config hash `{cfg.config_hash()}`, parent run `{key}`): "
        f"from-scratch and fine-tuned runs on target `{cfg.experiment.target}`, pre-trained on {sources}; "
        f"{sizes}; D_F {', '.join(f'{d:g}' for d in cfg.experiment.finetune_tokens)} "
        "tokens. Each child run is one (kind, N, D, source): its run name says which, its "
        "best_test_loss metric is the point the fit uses; the parent run holds the report."))
    run_id = mlflow_store.start_or_resume(
        c, exp_id, key, run_name=key,
        tags={"kind": "sweep", "sweep_hash": cfg.config_hash(), "target": cfg.experiment.target,
              "prefect.flow_run_id": flow_run_id, "prefect.flow_run_url": flow_run_url})
    uri = cfg.tracking.tracking_uri
    shown = cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"tracking_uri": uri and redact(uri)})})
    mlflow_store.log_params_once(c, run_id, {"config": shown.model_dump_json()[:6000],
                                             "tokenizer": cfg.experiment.tokenizer})
    if tokenizer_dir and not c.list_artifacts(run_id, "tokenizer"):
        for f in tokenizer_files(tokenizer_dir):  # a suite's tokenizer folder also holds its weights
            c.log_artifact(run_id, str(f), "tokenizer")
    return exp_id, run_id


def summary(config: RunConfig, label: str, mlflow_run_id: str, values: dict, trained: bool) -> dict:
    return {"run_key": config.run_key(), "label": label, "kind": config.kind,
            "mlflow_run_id": mlflow_run_id, "trained": trained,
            **{k: values.get(k) for k in mlflow_store.FINAL_METRICS}}


def is_done(config: RunConfig, found) -> bool:
    if not mlflow_store.is_done(found):
        return False
    return config.kind != "pretrain" or (Path(config.out_dir) / "best" / "model.safetensors").exists()


def done_record(config: RunConfig, label: str, ctx: SweepContext) -> dict | None:
    """The summary of a run MLflow records done (logged as skipped), else None."""
    found = mlflow_store.find_run(mlflow_store.client(ctx.tracking_uri), ctx.experiment_id, config.run_key())
    if not is_done(config, found):
        return None
    get_run_logger().info("%s: done already (MLflow run %s), skipped", label, found.info.run_id)
    return summary(config, label, found.info.run_id, found.data.metrics, trained=False)


@task(name="find-done-runs", cache_policy=NO_CACHE)
def find_done(runs: list[PlannedRun], ctx: SweepContext) -> set[str]:
    """run_keys MLflow already records done: they need no slot (each still gets its task run)."""
    finished = mlflow_store.finished_runs(mlflow_store.client(ctx.tracking_uri), ctx.experiment_id)
    return {r.run_key for r in runs if is_done(r.config, finished.get(r.run_key))}


def searched_losses(config: RunConfig, ctx: SweepContext) -> dict[str, float]:
    """Best held-out loss of each finished lr-search candidate of `config` (from MLflow)."""
    c = mlflow_store.client(ctx.tracking_uri)
    found = {key: mlflow_store.find_run(c, ctx.experiment_id, key) for key in config.lr_search}
    return {key: run.data.metrics["best_test_loss"] for key, run in found.items()
            if mlflow_store.is_done(run)}


def retry_infrastructure_only(task, task_run, state) -> bool:
    """Retry runs killed from outside (signal, timeout, out of memory, a busy run folder), never
    deterministic failures (bad input, a diverged loss, a bug): those would fail the same way."""
    try:
        state.result()
    except RunFailed as exc:
        return exc.exit_code < 0 or exc.kind in ("timeout", "RunBusy") or "out of memory" in str(exc).lower()
    except Exception:
        return False
    return False


@task(name="train-run", task_run_name="{run.label}", cache_policy=NO_CACHE, retries=2,
      retry_delay_seconds=10, retry_condition_fn=retry_infrastructure_only)
def train_run(run: PlannedRun, ctx: SweepContext) -> dict:
    """Train one planned run in a slot of this process unless MLflow already records it done."""
    return train_or_skip(run.config, run.label, run.parent, ctx, slots.take(ctx.slot_pool))


def train_or_skip(config: RunConfig, label: str, parent: str, ctx: SweepContext, slot) -> dict:
    """The body of a run, wherever it executes (a local slot or a worker's flow run): return the
    MLflow record when the run is done already (without waiting for a slot), else train it on the
    device that the context manager `slot` yields, and return its summary."""
    from prefect.artifacts import create_link_artifact
    from prefect.runtime import flow_run, task_run

    if (record := done_record(config, label, ctx)) is not None:
        return record
    log, run_key = get_run_logger(), config.run_key()
    if config.lr_search:
        config = config.with_chosen_lr(searched_losses(config, ctx))
        log.info("%s: lr %.3g chosen by its lr search", label, config.lr)
    target = TrackingTarget(ctx.tracking_uri, ctx.experiment, ctx.parent_run_id, tags={
        "run_name": label, "prefect.flow_run_id": str(flow_run.id),
        "prefect.task_run_id": str(task_run.id or ""), "parent_run_key": parent,
        "worker": os.environ.get("TRANSFER_LAWS_WORKER", "local")}, experiment_id=ctx.experiment_id)

    @contextmanager
    def on_a_device():  # held only while the training process runs (see launch)
        with slot as device:
            log.info("%s: training on %s (run_key %s, log %s/train.log)", label, device, run_key,
                     config.out_dir)
            yield slots.env_for(device, ctx.threads)

    config = config.model_copy(update={"threads": ctx.threads})
    result = launch(config, tracker=RunTracker(target, config), device=on_a_device(), log_to_file=True)
    url = ctx.mlflow_ui + mlflow_store.run_path(ctx.experiment_id, result.mlflow_run_id)
    create_link_artifact(link=url, link_text=f"MLflow: {label}",
                         key=f"mlflow-{run_key}", description="the run's metrics and checkpoint")
    log.info("%s: best held-out loss %.4f at step %d (%s)", label, result.best_test_loss,
             result.best_step, result.stopped)
    return summary(config, label, result.mlflow_run_id, vars(result), trained=True)

