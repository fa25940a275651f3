"""SIGTERM to a worker (as Slurm, Kubernetes or systemd send it) while its run is in the middle of
writing a checkpoint: the worker exits 143 within 10 s saying which flow run it interrupted, leaves
no process and no half-written file, and the flow run is Scheduled again; the next worker resumes it
to its end inside the same (one) MLflow run. And SIGTERM to `transfer-laws run` of a sweep on those
servers leaves its sweep flow run Cancelled there, not Running for ever."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.services.stack import children, planned_keys, sweep_params
from transfer_laws.tasks.common.process import descendants
from transfer_laws.tasks.services import servers
from transfer_laws.tasks.train.checkpoints import PAUSE_MARKER

STOP_LIMIT_S = 10


def wait_for(find, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while (found := find()) is None:
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)
    return found


def exit_status(pid: int, timeout: float) -> tuple[int, float]:
    """(the exit status of our child `pid`, seconds it took), waiting up to `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still running {timeout} s after SIGTERM")


def flow_run_named(api: str, name: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))[0]


def test_sigterm_to_a_worker_mid_checkpoint_reschedules_its_run_for_the_next_worker(tmp_path, stack):
    home = tmp_path / "home"
    prefect = servers.start_prefect_server(home, wait=False)
    stack.append(prefect)
    mlflow = servers.start_mlflow_server(home, wait=False)
    stack.append(mlflow)
    servers.wait_http(prefect, "/api/health")
    api = prefect.url + "/api"
    servers.ensure_pools(api)
    env = {"TRANSFER_LAWS_CACHE_DIR": os.environ["TRANSFER_LAWS_CACHE_DIR"]}
    first = servers.start_worker(home, api, "first", env={**env, "TRANSFER_LAWS_FAULT_PAUSE": "state@1"})
    stack.append(first)  # its first run holds mid-checkpoint: accelerate's files written, no manifest
    stack.append(servers.start_worker(home, api, "control", pool=servers.CONTROL_POOL, limit=None, env=env))
    servers.deploy(api, home)
    servers.wait_http(mlflow, "/health")
    params = sweep_params(tmp_path, home, mlflow.url)
    keys = planned_keys(params)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "prefect", "deployment", "run", "transfer-sweep/sweep", "--params",
         json.dumps(params), "--watch", "--watch-timeout", "600"],
        env={**os.environ, **servers.prefect_env(api)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
        marker = wait_for(lambda: next((home / "runs").glob(f"*/{PAUSE_MARKER}"), None), 300, "paused run")
        run_dir = marker.parent
        label = keys[run_dir.name]  # run folders are named by run_key
        assert list(run_dir.rglob("*.tmp")), "the pause is meant to hold a half-written checkpoint"
        below = descendants(first.pid)
        assert len(below) >= 3  # the Prefect worker, the flow-run process, the training process

        os.kill(first.pid, signal.SIGTERM)  # the worker's own PID only, as Kubernetes does
        status, took = exit_status(first.pid, STOP_LIMIT_S + 5)
        assert status == 143 and took < STOP_LIMIT_S, (status, took)
        assert not [p for p in below if Path(f"/proc/{p}").exists()]  # nothing outlives it
        assert not list(run_dir.rglob("*.tmp"))
        said = [line for line in Path(first.log).read_text().splitlines() if "transfer-laws worker first" in line]
        assert len(said) == 1 and f"SIGTERM: stopped; flow runs {label} interrupted and rescheduled" in said[0], said
        assert flow_run_named(api, label).state.type.value == "SCHEDULED"

        marker.unlink()  # the marker of a process that is gone
        stack.append(servers.start_worker(home, api, "second", env=env, limit=2))  # the rescheduled run and the queued one at once
        wait_for(lambda: flow_run_named(api, label).state.is_final() or None, 300, f"end of {label}")
        assert flow_run_named(api, label).state.type.value == "COMPLETED"
    finally:  # the rest of the sweep is the scale-out tests' business
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    resumed = [r for r in children(mlflow.url) if r.data.tags["run_key"] == run_dir.name]
    assert [r.info.status for r in resumed] == ["FINISHED"]  # resumed inside its one MLflow run
    assert "best_test_loss" in resumed[0].data.metrics

    # SIGTERM to `transfer-laws run` driving a sweep on this server: its flow run ends Cancelled
    cfg = {**params["config"], "experiment": {**params["config"]["experiment"], "name": "micro-cli"}}
    config = tmp_path / "micro-cli.yaml"
    config.write_text(yaml.safe_dump(cfg))
    exe = Path(sys.executable).parent / "transfer-laws"
    cli = subprocess.Popen([str(exe), "run", str(config), "--bootstrap", "20"], text=True,
                           env={**os.environ, **servers.prefect_env(api)}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: next((r for r in sweeps_named(api, "micro-cli") if r.state.is_running()), None), 120,
                 "running sweep flow run")
        time.sleep(2)  # its first runs handed out
        started = time.monotonic()
        os.kill(cli.pid, signal.SIGTERM)
        out, _ = cli.communicate(timeout=STOP_LIMIT_S + 5)
        took = time.monotonic() - started
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
    assert cli.returncode == 143 and took < STOP_LIMIT_S, (cli.returncode, took, out[-2000:])
    assert re.search(r"SIGTERM: stopped the sweep 'micro-cli'; flow runs already on workers keep training", out)
    [sweep_run] = sweeps_named(api, "micro-cli")
    assert sweep_run.state.type.value == "CANCELLED" and "transfer-laws run" in sweep_run.state.message


def sweeps_named(api: str, name: str) -> list:
    """The sweep flow runs of the config called `name`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["transfer-sweep"])))
    return [r for r in runs if ((r.parameters.get("config") or {}).get("experiment") or {}).get("name") == name]
