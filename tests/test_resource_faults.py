"""Resource faults: the MLflow server goes away in the middle of a run; training goes on, the
metrics wait in metrics.jsonl, and everything reaches MLflow once the server is back."""
from __future__ import annotations

import threading
import time

import pytest

from tests.toys import tiny, toy_prepared
from transfer_laws.tasks.services import servers
from transfer_laws.tasks.tracking import mlflow_store
from transfer_laws.tasks.tracking.run_tracker import RunTracker, TrackingTarget
from transfer_laws.tasks.train.launch import launch


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    return toy_prepared(tmp_path_factory.mktemp("cache"))


def test_mlflow_server_outage_mid_run_loses_no_metric(toy_data, tmp_path):
    home, port = tmp_path / "home", servers.free_port()
    server = servers.start_mlflow_server(home, port)
    cfg = tiny(toy_data, tmp_path / "run", max_steps=400, eval_interval=50, log_interval=5)
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = launch(cfg, tracker=RunTracker(TrackingTarget(server.url, "outage"), cfg))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    try:
        worker.start()
        metrics = tmp_path / "run" / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while not (metrics.exists() and metrics.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        servers.stop(server)  # the store disappears while the run trains
        time.sleep(4)
        assert worker.is_alive()  # training went on without its store
        server = servers.start_mlflow_server(home, port)  # back, same address, same database
        worker.join(timeout=240)
    finally:
        servers.stop(server)
        server = servers.start_mlflow_server(home, port)
    try:
        assert "error" not in outcome, outcome.get("error")
        result = outcome["result"]
        c = mlflow_store.client(server.url)
        run = c.get_run(result.mlflow_run_id)
        assert run.info.status == "FINISHED"
        logged = sorted(m.step for m in c.get_metric_history(result.mlflow_run_id, "train_loss"))
        assert logged == list(range(5, result.steps + 1, 5))  # every point once, none lost
    finally:
        servers.stop(server)


# ---- a project folder that cannot be written, and a disk that fills up mid-run ----------------------
# Both use real mounts: we run as root, where permission bits stop nothing, but a read-only mount
# and a full tmpfs stop root too. Each test skips (saying why) where `mount` is not permitted.
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from transfer_laws.tasks.train import checkpoints  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False):
    """A tmpfs of `size` mounted on `path` (made read-only when asked), unmounted on the way out."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({(done.stderr or done.stdout).strip()}); "
                    "these resource faults need root and mount permission")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "transfer_laws.flows.cli", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("transfer-laws")]
    return lines[-1] if lines else ""


def test_home_on_a_read_only_mount_stops_run_and_train_before_any_work(tmp_path):
    from tests.test_sweep_flow import micro_config

    config = micro_config(tmp_path)
    text = tmp_path / "small.txt"
    text.write_text("to be or not to be, that is the question.\n" * 300)
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as mnt:
        with pytest.raises(OSError):  # the mount really stops root
            (mnt / "probe").write_text("x")
        for verb, argv, field in (
                ("train", ["train", "--home", str(mnt / "home"), "--text", str(text)], "--home"),
                ("run", ["run", str(config), "--home", str(mnt)], "home")):
            done = cli(*argv, timeout=120)
            shown = f"{argv}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
            assert done.returncode == 2, shown
            assert "Traceback" not in done.stderr + done.stdout, shown
            line = error_line(done)
            assert line.startswith(f"transfer-laws {verb}: error: {field} = '{mnt}"), shown
            assert "is not writable" in line and "Read-only file system" in line and "Fix:" in line, shown
        assert not any(mnt.iterdir())
    assert not (tmp_path / "home").exists()  # the config's own home was overridden, never touched


TRAIN_ARGS = ["--n-layer", "1", "--d-model", "32", "--n-head", "2", "--n-ctx", "32", "--batch-size", "8",
              "--max-steps", "60", "--eval-interval", "10", "--warmup-steps", "5", "--patience", "0"]


def test_disk_full_mid_run_fails_clearly_keeps_the_good_checkpoint_and_resumes(tmp_path):
    """A tmpfs is the run's folder; the run is held at the start of its 2nd checkpoint (test-only
    hook), the disk is filled to the last few KiB, and the run goes on into the full disk."""
    text = tmp_path / "small.txt"
    text.write_text("to be or not to be, that is the question.\n" * 300)
    data = ["--text", str(text), *TRAIN_ARGS]
    reference = cli("train", "--home", str(tmp_path / "ref-home"), "--out", str(tmp_path / "ref"),
                    "--no-mlflow", *data)
    assert reference.returncode == 0, reference.stderr[-3000:]
    ref = json.loads((tmp_path / "ref" / "run.json").read_text())["result"]

    home = tmp_path / "home"
    with tmpfs(tmp_path / "disk", "4m") as disk:
        run_dir = disk / "run"
        argv = ["train", "--home", str(home), "--out", str(run_dir), *data]
        proc = subprocess.Popen([sys.executable, "-m", "transfer_laws.flows.cli", *argv], cwd=REPO,
                                env={**os.environ,
                                     "TRANSFER_LAWS_FAULT_PAUSE": "begin@2"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            marker = run_dir / checkpoints.PAUSE_MARKER
            deadline = time.monotonic() + 180
            while not marker.exists():
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the run never reached its 2nd checkpoint"
                time.sleep(0.05)
            filler = disk / "filler"
            with open(filler, "wb") as f:  # fill the disk up to its last 8 KiB
                free = shutil.disk_usage(disk).free - 8192
                while free > 0:
                    free -= f.write(b"\0" * min(free, 1 << 20))
            assert shutil.disk_usage(disk).free <= 16384
            marker.unlink()  # the run goes on: its checkpoint write meets the full disk
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        shown = f"exit {proc.returncode}\n{out}\n{err}"
        assert proc.returncode == 1, shown
        assert "Traceback" not in err + out, shown
        line = error_line(subprocess.CompletedProcess(argv, proc.returncode, out, err))
        assert line.startswith("transfer-laws train: error: disk full: writing checkpoint "
                               "step_00000020 failed"), shown
        assert f"{run_dir / 'checkpoints'}: no space left on device" in line, shown
        assert "step_00000010 is intact" in line and "rerun the same command" in line, shown

        ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
        assert ckpts == ["step_00000010"], ckpts  # nothing half-written left beside it
        assert checkpoints.verify(run_dir / "checkpoints" / "step_00000010") is None
        assert checkpoints.verify(run_dir / "best") is None
        assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob("*.old"))
        result = json.loads((run_dir / "result.json").read_text())
        assert result["status"] == "FAILED" and result["error_type"] == "DiskFull"
        run_key = result["run_key"]
        c = mlflow_store.client(f"sqlite:///{home / 'mlflow.db'}")
        exp = c.get_experiment_by_name("train")
        runs = c.search_runs([exp.experiment_id])
        assert [r.info.status for r in runs] == ["FAILED"]
        assert "disk full" in runs[0].data.tags["error"]

        filler.unlink()  # space is freed: the same command resumes and finishes
        again = cli(*argv)
        assert again.returncode == 0, again.stderr[-3000:]
        got = json.loads((run_dir / "run.json").read_text())["result"]
        assert got["resumed_from_step"] == 10
        assert abs(got["best_test_loss"] - ref["best_test_loss"]) < 1e-5
        assert got["best_step"] == ref["best_step"]
        runs = c.search_runs([exp.experiment_id])
        assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # the same MLflow run, finished
        assert runs[0].data.tags["run_key"] == run_key
        assert abs(runs[0].data.metrics["best_test_loss"] - ref["best_test_loss"]) < 1e-5
