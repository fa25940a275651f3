"""Multi-process runs (`processes_per_run`): two gloo CPU processes through the real launcher give
the one-process curve, one MLflow run, one best model; a failing rank fails the run, naming it."""
from __future__ import annotations

import json
import time

import pytest

from tests.toys import ListSink, toy_prepared
from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.tracking import mlflow_store
from transfer_laws.tasks.tracking.run_tracker import RunTracker, TrackingTarget
from transfer_laws.tasks.train import checkpoints
from transfer_laws.tasks.train.config import RunConfig
from transfer_laws.tasks.train.core import train
from transfer_laws.tasks.train.launch import RunFailed, launch


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    return toy_prepared(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One MLflow store for the module (creating one costs seconds); each test has its experiment."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def tiny(data, out, **over) -> RunConfig:
    fields = dict(kind="scratch", target="toy", n_layer=1, d_model=32, n_head=2, n_ctx=32,
                  batch_size=8, lr=3e-3, min_lr=3e-4, warmup_steps=5, max_steps=25, eval_interval=5,
                  eval_tokens=2048, patience=0, log_interval=1, threads=1, data_dir=data.root,
                  data_key=data.key, out_dir=str(out))
    fields.update(over)
    return RunConfig(**fields)


def only_run(uri: str, experiment: str):
    c = mlflow_store.client(uri)
    runs = c.search_runs([c.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return c, runs[0]


def test_batch_size_must_split_evenly_over_processes():
    with pytest.raises(InputError) as err:
        RunConfig.checked(data_dir="-", out_dir="-", batch_size=6, processes_per_run=4)
    assert err.value.field == "batch_size" and err.value.value == 6
    assert "processes_per_run=4" in str(err.value) and "Fix:" in str(err.value)
    # the default keeps every existing run_key; 2 processes are another run (another run folder)
    one = RunConfig(data_dir="-", out_dir="-", batch_size=8, warmup_steps=100, max_steps=2000, eval_interval=100,
                    patience=5)  # the defaults of that time
    assert one.run_key() == "d01e1b25d8a3"  # computed before processes_per_run existed
    assert RunConfig(data_dir="-", out_dir="-", batch_size=8, processes_per_run=2).run_key() != one.run_key()


def test_two_gloo_processes_reproduce_the_one_process_run(toy_data, store, tmp_path):
    uri = store
    # a stray accelerate default config that breaks `accelerate launch` if it is ever read
    stray = tmp_path / "hf" / "accelerate"
    stray.mkdir(parents=True)
    (stray / "default_config.yaml").write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_processes: 7\n"
        "gpu_ids: '0'\nmixed_precision: fp16\n")
    cfg = tiny(toy_data, tmp_path / "two", processes_per_run=2)
    res = launch(cfg, tracker=RunTracker(TrackingTarget(uri, "multi"), cfg), env={"HF_HOME": str(stray.parent)})

    ref_sink = ListSink()
    ref = train(tiny(toy_data, tmp_path / "one"), ref_sink)
    assert res.steps == ref.steps == 25
    assert res.tokens_seen == ref.tokens_seen == 25 * 8 * 32  # the global batch, not 2x it

    c, run = only_run(uri, "multi")  # one MLflow run for the run_key, finished
    assert run.info.status == "FINISHED" and run.data.tags["run_key"] == cfg.run_key()
    train_curve = [(m.step, m.value) for m in c.get_metric_history(run.info.run_id, "train_loss")]
    assert [s for s, _ in train_curve] == list(range(1, 26))  # rank 0 alone logged, each step once
    ref_train = dict(ref_sink.curve("train_loss"))
    gap = max(abs(v - ref_train[s]) for s, v in train_curve if s <= 20)
    print(f"max |train_loss(2 processes) - train_loss(1 process)| over steps 1-20: {gap:.2e}")
    assert gap <= 1e-4
    lr = {m.step: m.value for m in c.get_metric_history(run.info.run_id, "lr")}
    assert max(abs(lr[s] - v) for s, v in ref_sink.curve("lr")) <= 1e-12  # one scheduler step per step
    got = [h["test_loss"] for h in res.history]
    assert len(got) == 5 and max(abs(g - h["test_loss"]) for g, h in zip(got, ref.history)) <= 1e-4

    out = tmp_path / "two"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("best")) == ["best"]
    assert checkpoints.verify(out / "best") is None and res.best_checkpoint_sha256
    newest = checkpoints.step_folders(out / "checkpoints")[0]
    assert newest.name == "step_00000025" and checkpoints.verify(newest) is None
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= {p.name for p in newest.iterdir()}
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum("train_loss" in x["metrics"] for x in lines) == 25
    assert not list(out.glob("result.rank*.json"))


def test_a_failing_rank_fails_the_run_naming_it_without_hanging(toy_data, store, tmp_path):
    uri = store
    cfg = tiny(toy_data, tmp_path / "bad", processes_per_run=2, max_steps=500)
    t0 = time.perf_counter()
    with pytest.raises(RunFailed, match=r"rank 1: RuntimeError: injected fault") as err:
        launch(cfg, tracker=RunTracker(TrackingTarget(uri, "multi-fail"), cfg), env={"TRANSFER_LAWS_FAULT": "rank1"},
               timeout=120)
    assert time.perf_counter() - t0 < 60  # rank 0, waiting in a collective, was stopped
    assert err.value.kind == "RuntimeError" and err.value.exit_code == 1
    c, run = only_run(uri, "multi-fail")
    assert run.info.status == "FAILED" and "rank 1" in run.data.tags["error"]
