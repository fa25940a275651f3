"""A scheduler stops a sweep: SIGTERM (Slurm, Kubernetes, systemd, `timeout`) or SIGINT (Ctrl-C) to
`transfer-laws run`, at three seeded moments, ends it within 10 s with exit status 143 / 130 and one
line saying how to resume; no process it started survives, no half-written `*.tmp` stays, and the
rerun finishes the sweep with one MLflow run per run_key."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.test_sweep_flow import child_runs, micro_config


def small_config(tmp_path: Path) -> Path:
    config = micro_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["experiment"]["scratch_tokens"] = [32000]
    cfg["optimiser"].update(max_steps=60, eval_interval=10)
    config.write_text(yaml.safe_dump(cfg))
    return config


def start(config: Path) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "transfer-laws"
    return subprocess.Popen([str(exe), "run", str(config), "--bootstrap", "20"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def processes_of(home: Path, zygotes_before: set[int]) -> list[str]:
    """Live processes the sweep left: any naming the project folder, and any zygote that was not
    running before it started (a zygote's command line names no folder)."""
    out = []
    for pid, line in _command_lines().items():
        if str(home) in line or "transfer_laws.tasks.train.zygote" in line and pid not in zygotes_before:
            out.append(line)
    return out


def _command_lines() -> dict[int, str]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                pass
    return out


def _session(sid: int) -> list[str]:
    """Live processes of session `sid` (the CLI's: it was started in a new session), as 'pid cmd'."""
    out = []
    for pid, line in _command_lines().items():
        try:
            if os.getsid(pid) == sid:
                out.append(f"{pid} {line[:160]}")
        except ProcessLookupError:
            pass
    return out


def _zygotes() -> set[int]:
    return {pid for pid, line in _command_lines().items() if "transfer_laws.tasks.train.zygote" in line}


def test_sigterm_and_sigint_stop_a_sweep_cleanly_and_the_rerun_finishes_it(tmp_path):
    config = small_config(tmp_path)
    home = tmp_path / "home"
    uri = f"sqlite:///{home / 'mlflow.db'}"
    planned = 2 + 2 + 2 * 3 + 2 * 2  # pretrain, zero-shot, scratch, finetune
    rng = random.Random(0)
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGTERM, 143)):  # three seeded moments
        zygotes_before = _zygotes()
        proc = start(config)
        done_before = sum(r.info.status == "FINISHED" for r in child_runs(uri))
        wait_for = done_before + rng.randint(1, 3)  # a seeded moment: a few more runs finished
        deadline = time.time() + 300
        while sum(r.info.status == "FINISHED" for r in child_runs(uri)) < wait_for:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the sweep made no progress"
            time.sleep(0.2)
        time.sleep(rng.uniform(0, 1.5))  # somewhere inside the next runs
        sent = time.monotonic()
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no exit 30 s after {sig.name}; left: {processes_of(home, zygotes_before)}; "
                                 f"session: {_session(proc.pid)}") from None
        took = time.monotonic() - sent
        try:  # its output closes when the last process holding it ends: Python's multiprocessing resource
            # tracker outlives the CLI by a moment (seconds, more on a loaded machine) while it tidies up
            _, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired as late:  # say who holds its output open (a survivor)
            raise AssertionError(f"output still open 90 s after {sig.name}: exit {proc.poll()}; left: "
                                 f"{processes_of(home, zygotes_before)}; session: {_session(proc.pid)}; "
                                 f"stderr: {(late.stderr or b'')[-1500:]!r}") from None
        assert proc.returncode == code and took < 10, (proc.returncode, took, err[-2000:])
        said = [line for line in err.splitlines() if line.startswith("transfer-laws: ")]
        # one line (multiprocessing's resource tracker may add its own warning after it as it exits)
        assert len(said) == 1 and said[0].startswith(f"transfer-laws: {sig.name}: stopped the sweep 'micro'"), err[-2000:]
        assert "transfer-laws run" in said[0]
        time.sleep(0.5)
        assert processes_of(home, zygotes_before) == []
        assert [p for p in home.rglob("*.tmp")] == []

    rerun = start(config)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, out[-2000:] + err[-2000:]
    runs = child_runs(uri)
    keys = [r.data.tags["run_key"] for r in runs]
    assert len(keys) == len(set(keys)) == planned
    assert all(r.info.status == "FINISHED" for r in runs)
