"""One training run: determinism, early stopping, resume after kill -9, NaN, MLflow records."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.toys import ListSink, tiny, toy_prepared
from transfer_laws.tasks.tracking import mlflow_store
from transfer_laws.tasks.train.config import RunConfig
from transfer_laws.tasks.train.core import TrainingDiverged, train
from transfer_laws.tasks.train.launch import launch

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    return toy_prepared(tmp_path_factory.mktemp("cache"))


def test_same_seed_gives_identical_curves_and_the_loss_falls(toy_data, tmp_path):
    a, b = ListSink(), ListSink()
    ra = train(tiny(toy_data, tmp_path / "a"), a)
    rb = train(tiny(toy_data, tmp_path / "b"), b)
    assert a.rows == b.rows and ra.best_test_loss == rb.best_test_loss
    first = a.curve("train_loss")[0][1]
    assert abs(first - math.log(256)) < 0.6  # random init: near uniform over 256 bytes
    assert ra.best_test_loss < 3.0 < first  # it learned the 14-word vocabulary
    assert ra.tokens_seen == 60 * 8 * 32 and ra.flops == 6 * ra.params_non_embedding * ra.tokens_seen
    assert (tmp_path / "a" / "best" / "model.safetensors").exists()
    rc = train(tiny(toy_data, tmp_path / "c", seed=1), ListSink())
    assert rc.best_test_loss != ra.best_test_loss


def test_early_stopping_stops_after_patience_and_keeps_the_best(toy_data, tmp_path):
    # a too-high learning rate after warm-up makes held-out loss stop improving quickly
    cfg = tiny(toy_data, tmp_path, max_steps=400, patience=2, eval_interval=5, lr=0.05, min_lr=0.05)
    res = train(cfg, ListSink())
    losses = [h["test_loss"] for h in res.history]
    assert res.stopped == "early_stopping" and res.steps < 400
    assert res.best_test_loss == min(losses)
    best_at = losses.index(res.best_test_loss)
    assert len(losses) - 1 - best_at == 2  # stopped exactly `patience` evals after the best
    import torch

    from transfer_laws.model.build import load_pretrained

    model = load_pretrained(tmp_path / "best")  # the kept model is the best one, loadable offline
    x = torch.zeros(1, 32, dtype=torch.long)
    assert model(input_ids=x).logits.shape == (1, 32, 256)


def test_nan_loss_fails_with_step_and_cause(toy_data, tmp_path):
    cfg = tiny(toy_data, tmp_path, lr=1e30, min_lr=0.0, grad_clip=0.0, log_interval=1)
    with pytest.raises(TrainingDiverged, match=r"by step \d+.*learning rate is too high"):
        train(cfg, ListSink())


def test_a_zeroshot_run_is_one_evaluation_of_the_pretrained_model(toy_data, tmp_path):
    """D_F = 0: the held-out loss of init_from as it is, no step taken, no checkpoint written."""
    import torch

    from transfer_laws.model.build import load_pretrained
    from transfer_laws.tasks.data.prepare import load_prepared
    from transfer_laws.tasks.train.core import eval_starts

    pre = train(tiny(toy_data, tmp_path / "pre", max_steps=20), ListSink())
    sink = ListSink()
    cfg = tiny(toy_data, tmp_path / "zs", kind="zeroshot", init_from=pre.best_checkpoint, max_steps=1,
               warmup_steps=0)
    res = train(cfg, sink)
    assert (res.steps, res.best_step, res.tokens_seen, res.stopped) == (0, 0, 0, "zero_shot")
    assert res.dataset_tokens == 0 and not (tmp_path / "zs" / "best").exists()
    model = load_pretrained(pre.best_checkpoint).eval()  # the same windows, evaluated by hand
    test = torch.from_numpy(np.array(load_prepared(toy_data.root).test_array(), dtype=np.int64))
    starts = torch.from_numpy(eval_starts(len(test), 32, 2048))
    with torch.no_grad():
        x = test[starts[:, None] + torch.arange(32)]
        by_hand = float(model(input_ids=x, labels=x).loss)
    assert res.best_test_loss == pytest.approx(by_hand, rel=1e-5)
    assert res.best_test_loss == pytest.approx(pre.best_test_loss, rel=1e-6)  # same corpus here
    assert sink.curve("test_loss") == [(0, res.best_test_loss)]
    with pytest.raises(Exception, match="init_from"):
        RunConfig.checked(**{**cfg.model_dump(), "init_from": None})


def launcher(cfg: RunConfig, uri: str | None, experiment: str = "resume") -> subprocess.Popen:
    """A separate process that launches the run (as a CLI or a sweep would)."""
    tracker = f"RunTracker(TrackingTarget({uri!r}, {experiment!r}), cfg)" if uri else "None"
    script = ("from transfer_laws.tasks.tracking.run_tracker import RunTracker, TrackingTarget\n"
              "from transfer_laws.tasks.train.config import RunConfig\nfrom transfer_laws.tasks.train.launch import launch\n"
              f"cfg = RunConfig.model_validate_json({cfg.model_dump_json()!r})\n"
              f"launch(cfg, tracker={tracker})\n")
    return subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ))


def wait_until_no_process_trains(out: Path, seconds: float = 30) -> None:
    import fcntl

    deadline = time.time() + seconds
    while True:  # the run folder's lock is free once no process trains in it
        with open(out / "run.lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                assert time.time() < deadline, "a training process outlived its launcher"
                time.sleep(0.2)


def test_resume_after_kill_9_reproduces_the_uninterrupted_curve(toy_data, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ref_sink = ListSink()
    ref = train(tiny(toy_data, tmp_path / "ref", max_steps=120), ref_sink)

    cfg = tiny(toy_data, tmp_path / "killed", max_steps=120)
    proc = launcher(cfg, uri)
    ckpts = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while not any(p.name >= "step_00000050" and p.suffix == "" for p in ckpts.glob("step_*")):
        assert proc.poll() is None and time.time() < deadline, "run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the launcher; its training process must die with it
    proc.wait()
    wait_until_no_process_trains(tmp_path / "killed")
    assert not (tmp_path / "killed" / "run.json").exists()

    from transfer_laws.tasks.tracking.run_tracker import RunTracker, TrackingTarget

    resumed = launch(cfg, tracker=RunTracker(TrackingTarget(uri, "resume"), cfg))
    assert resumed.resumed_from_step >= 50
    got = [h["test_loss"] for h in resumed.history]
    want = [h["test_loss"] for h in ref.history]
    assert len(got) == len(want) == 12
    assert np.max(np.abs(np.array(got) - np.array(want))) <= 1e-5
    assert abs(resumed.best_test_loss - ref.best_test_loss) <= 1e-5

    c = mlflow_store.client(uri)
    exp = c.get_experiment_by_name("resume")
    runs = c.search_runs([exp.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # one MLflow run per run_key
    run_id = runs[0].info.run_id
    train_curve = [(m.step, m.value) for m in c.get_metric_history(run_id, "train_loss")]
    steps = [s for s, _ in train_curve]
    assert steps == sorted(set(steps)) == list(range(5, 121, 5))  # no step lost, none logged twice
    ref_train = dict(ref_sink.curve("train_loss"))
    assert max(abs(v - ref_train[s]) for s, v in train_curve) <= 1e-5


def test_mlflow_run_holds_params_metrics_checkpoint_and_run_json(toy_data, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = tiny(toy_data, tmp_path / "run", kind="scratch", target="toy")
    from transfer_laws.tasks.tracking.run_tracker import RunTracker, TrackingTarget

    res = launch(cfg, tracker=RunTracker(TrackingTarget(uri, "records"), cfg))
    c = mlflow_store.client(uri)
    exp = c.get_experiment_by_name("records")
    assert exp.artifact_location == (tmp_path / "mlartifacts" / "records").as_uri()  # beside the store
    run = mlflow_store.find_run(c, exp.experiment_id, cfg.run_key())
    assert mlflow_store.is_done(run)
    assert run.data.tags["run_key"] == cfg.run_key() and run.data.tags["kind"] == "scratch"
    for name in mlflow_store.PARAM_NAMES:
        assert name in run.data.params, name
    assert int(run.data.params["params_non_embedding"]) == res.params_non_embedding
    assert int(run.data.params["dataset_tokens"]) == toy_data.train_tokens
    assert run.data.metrics["best_test_loss"] == pytest.approx(res.best_test_loss)
    for name in mlflow_store.FINAL_METRICS:
        assert name in run.data.metrics, name
    assert len(c.get_metric_history(run.info.run_id, "test_loss")) == 6
    files = {f.path for f in c.list_artifacts(run.info.run_id)}
    assert {"run.json", "checkpoint"} <= files
    ckpt = {f.path for f in c.list_artifacts(run.info.run_id, "checkpoint")}
    assert {"checkpoint/config.json", "checkpoint/model.safetensors"} <= ckpt


def test_killing_the_launcher_kills_its_training_process(toy_data, tmp_path):
    """kill -9 of the process that launched a run (a CLI, a sweep) must not leave the run training."""
    cfg = tiny(toy_data, tmp_path / "orphan", max_steps=100_000, eval_interval=50)
    parent = launcher(cfg, None)
    ckpts = tmp_path / "orphan" / "checkpoints"
    deadline = time.time() + 120
    while not any(ckpts.glob("step_*")):
        assert parent.poll() is None and time.time() < deadline
        time.sleep(0.1)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    wait_until_no_process_trains(tmp_path / "orphan")


def test_corrupted_checkpoints_are_detected_and_skipped(toy_data, tmp_path):
    from transfer_laws.tasks.train import checkpoints

    cfg = tiny(toy_data, tmp_path / "run", max_steps=40)
    ref = train(cfg, ListSink())
    ckpts = checkpoints.step_folders(tmp_path / "run" / "checkpoints")
    assert [p.name for p in ckpts] == ["step_00000040", "step_00000030"]  # the last two are kept
    assert ref.best_checkpoint_sha256 and checkpoints.verify(tmp_path / "run" / "best") is None

    # a truncated newest checkpoint: resume falls back to the one before and reaches the same losses
    weights = ckpts[0] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    again = train(cfg, ListSink())
    assert again.resumed_from_step == 30
    assert abs(again.best_test_loss - ref.best_test_loss) <= 1e-5

    # every checkpoint bad: the run restarts from step 0 instead of loading garbage
    for folder in checkpoints.step_folders(tmp_path / "run" / "checkpoints"):
        (folder / "optimizer.bin").write_bytes(b"garbage")
    restarted = train(cfg, ListSink())
    assert restarted.resumed_from_step == 0 and restarted.steps == 40

    # a fine-tune must not start from a corrupted pre-trained model
    best = tmp_path / "run" / "best" / "model.safetensors"
    best.write_bytes(best.read_bytes()[:-10] + b"0123456789")
    from transfer_laws.tasks.common.errors import InputError

    with pytest.raises(InputError, match="does not match its recorded sha256"):
        train(tiny(toy_data, tmp_path / "ft", init_from=str(tmp_path / "run" / "best")), ListSink())


def test_a_run_that_prints_to_stdout_through_the_zygote_completes(toy_data, tmp_path):
    """The zygote's protocol pipe is its stdout: a child's prints must never reach it."""
    from transfer_laws.tasks.train import checkpoints

    cfg = tiny(toy_data, tmp_path / "run", max_steps=20)
    launch(cfg)
    newest = checkpoints.step_folders(tmp_path / "run" / "checkpoints")[0]
    (newest / "optimizer.bin").write_bytes(b"x")  # resume prints a warning on stdout
    done = launch(cfg, timeout=300)
    assert done.steps == 20 and done.resumed_from_step == 10


def test_a_compiled_run_matches_the_eager_one_and_its_checkpoints_load_eagerly(toy_data, tmp_path):
    """compile=True (inductor through accelerate) changes speed, not the run: same loss curve within
    1e-3 on a fixed seed, the same run_key, a best/ model that loads without torch.compile, and
    resumable checkpoints an eager run can continue from."""
    eager = train(tiny(toy_data, tmp_path / "eager", max_steps=30), ListSink())
    cfg = tiny(toy_data, tmp_path / "compiled", max_steps=30, compile=True)
    assert cfg.run_key() == tiny(toy_data, tmp_path / "x", max_steps=30).run_key()
    compiled = train(cfg, ListSink())
    assert [h["step"] for h in compiled.history] == [h["step"] for h in eager.history]
    for a, b in zip(eager.history, compiled.history):
        assert abs(a["test_loss"] - b["test_loss"]) < 1e-3, (a, b)
    assert abs(eager.best_test_loss - compiled.best_test_loss) < 1e-3
    from transfer_laws.model.build import load_pretrained

    load_pretrained(tmp_path / "compiled" / "best")  # plain weight names, no _orig_mod. prefix
    longer = train(tiny(toy_data, tmp_path / "compiled", max_steps=40), ListSink())  # eager resume
    assert longer.resumed_from_step == 30 and longer.steps == 40
