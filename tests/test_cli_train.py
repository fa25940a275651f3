"""`transfer-laws train`: bad input is a clear error (exit 2) before any training or logging."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from transfer_laws.flows.cli import main
from transfer_laws.model.build import build_model
from transfer_laws.model.shapes import Shape

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def small_text(tmp_path) -> Path:
    path = tmp_path / "small.txt"
    path.write_text("to be or not to be, that is the question.\n" * 300)
    return path


def run_cli(tmp_path, capsys, *args) -> tuple[int, str]:
    home = tmp_path / "home"
    code = main(["train", "--home", str(home), *args])
    err = capsys.readouterr().err
    assert not (home / "runs").exists() and not (home / "mlflow.db").exists(), "wrote output half-way"
    return code, err


def saved_checkpoint(folder: Path, shape: Shape) -> Path:
    build_model(shape, seed=0).save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("args,field,needle", [
    (["--corpus", "no-such-corpus"], "--corpus", "neither a registered corpus"),
    (["--d-tokens", "1000000000"], "--d-tokens", "exceeds the"),
    (["--d-model", "100", "--n-head", "3"], "d_model", "not divisible by n_head"),
    (["--lr", "0"], "lr", "greater than 0"),
    (["--lr=-1e-3"], "lr", "greater than 0"),
    (["--batch-size", "0"], "batch_size", "greater than 0"),
    (["--max-steps", "0"], "max_steps", "greater than 0"),
    (["--n-layer=-2"], "n_layer", "greater than 0"),
    (["--n=-5"], "--n", "positive"),
    (["--init-from", "/nonexistent/ckpt"], "--init-from", "not a checkpoint folder"),
    (["--family", "llama", "--n-kv-head", "3"], "n_kv_head", "must divide n_head=4"),
    (["--n-kv-head", "2"], "n_kv_head", "needs family llama"),
    (["--test-fraction", "1.5"], "test_fraction", "between 0 and 1"),
])
def test_bad_input_exits_2_naming_the_field(tmp_path, capsys, small_text, args, field, needle):
    source = ["--text", str(small_text)] if "--corpus" not in args else []
    code, err = run_cli(tmp_path, capsys, *source, *args)
    assert code == 2
    assert field in err and needle in err and "Fix:" in err, err


def test_empty_corpus_folder_is_rejected(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "blank.txt").write_text("   \n")
    code, err = run_cli(tmp_path, capsys, "--corpus", str(tmp_path / "empty"))
    assert code == 2 and "--corpus" in err


def test_checkpoint_of_another_shape_is_rejected(tmp_path, capsys, small_text):
    ckpt = saved_checkpoint(tmp_path / "ckpt", Shape(1, 32, 2, 64, 256))
    code, err = run_cli(tmp_path, capsys, "--text", str(small_text), "--init-from", str(ckpt))
    assert code == 2 and "holds shape L=1 d=32" in err and "L=4 d=128" in err


def test_a_gpt2_checkpoint_does_not_start_a_llama_run(tmp_path, capsys, small_text):
    ckpt = saved_checkpoint(tmp_path / "ckpt", Shape(4, 128, 4, 64, 256))
    code, err = run_cli(tmp_path, capsys, "--text", str(small_text), "--init-from", str(ckpt), "--family", "llama")
    assert code == 2 and "holds shape L=4 d=128" in err and "llama L=4 d=128" in err


def test_a_llama_fine_tune_starts_from_its_llama_pre_train(tmp_path, capsys, small_text):
    """Pre-train a grouped-query Llama, fine-tune it on the same text, and train the same shape from
    scratch for as long: the fine-tune loads the Llama weights (family and shape read from the
    checkpoint) and ends far below the scratch run; MLflow records the family."""
    from transfer_laws.tasks.tracking import mlflow_store

    home = tmp_path / "home"
    common = ["train", "--home", str(home), "--text", str(small_text), "--family", "llama", "--n-layer", "1",
              "--d-model", "32", "--n-head", "2", "--n-kv-head", "1", "--n-ctx", "32", "--batch-size", "8",
              "--warmup-steps", "2", "--eval-interval", "10", "--patience", "0", "--threads", "1"]

    def train(*extra) -> dict:
        assert main([*common, *extra]) == 0
        out = capsys.readouterr().out
        return json.loads(out[out.index("{"): out.rindex("}") + 1])

    pre = train("--max-steps", "60")
    fine = train("--max-steps", "10", "--init-from", pre["best_checkpoint"])
    scratch = train("--max-steps", "10")
    assert fine["best_test_loss"] < scratch["best_test_loss"] - 0.3, (fine, scratch, pre)
    assert fine["params_non_embedding"] == scratch["params_non_embedding"] == Shape(
        1, 32, 2, 32, 256, family="llama", n_kv_head=1).params_non_embedding
    c = mlflow_store.client(f"sqlite:///{home / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name("train").experiment_id])
    assert len(runs) == 3 and {r.data.params["family"] for r in runs} == {"llama"}
    assert {r.data.params["n_kv_head"] for r in runs} == {"1"}


def test_help_explains_every_flag():
    out = subprocess.run([sys.executable, "-m", "transfer_laws.flows.cli", "train", "--help"], capture_output=True,
                         text=True, cwd=REPO, env=dict(os.environ))
    assert out.returncode == 0
    for flag in ["--n-layer", "--n-head", "--d-model", "--n-ctx", "--batch-size", "--lr", "--min-lr",
                 "--warmup-steps", "--max-steps", "--eval-interval", "--patience", "--weight-decay",
                 "--beta2", "--grad-clip", "--seed", "--device", "--family", "--n-kv-head"]:
        assert flag in out.stdout


def test_a_run_folder_busy_in_another_process_is_refused(tmp_path, small_text):
    from transfer_laws.tasks.data.corpora import resolve_corpus
    from transfer_laws.tasks.data.prepare import prepare
    from transfer_laws.tasks.train.config import RunConfig

    data = prepare(resolve_corpus(str(small_text), tmp_path), tmp_path, test_fraction=0.1)
    out = tmp_path / "run"
    out.mkdir()
    cfg = RunConfig(data_dir=data.root, out_dir=str(out), n_layer=1, d_model=32, n_head=2, n_ctx=32,
                    max_steps=10, warmup_steps=1)
    (out / "config.json").write_text(cfg.model_dump_json())
    with open(out / "run.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.run([sys.executable, "-m", "transfer_laws.tasks.train.entry", "--config", str(out / "config.json"),
                               "--result", str(out / "result.json")], capture_output=True, text=True,
                              env=dict(os.environ))
    assert proc.returncode == 4 and "already training" in proc.stderr
    assert json.loads((out / "result.json").read_text())["error_type"] == "RunBusy"
    assert not (out / "checkpoints").exists()


def test_fine_tunes_from_different_checkpoints_are_different_runs(tmp_path):
    from transfer_laws.flows.cli_train import checkpoint_identity

    a = saved_checkpoint(tmp_path / "a", Shape(1, 32, 2, 64, 256))
    import torch

    torch.manual_seed(1)
    b = tmp_path / "b"
    build_model(Shape(1, 32, 2, 64, 256), seed=1).save_pretrained(str(b))
    assert checkpoint_identity(a) != checkpoint_identity(b)
    assert checkpoint_identity(a) == checkpoint_identity(a) != ""
