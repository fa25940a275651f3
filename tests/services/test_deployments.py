"""Scale-out on real services: a Prefect server, process workers and an MLflow server on 127.0.0.1
(and PostgreSQL behind both), the deployments of deployments/prefect.yaml, a micro-sweep triggered
with `prefect deployment run`. Every process the test starts is stopped by PID, pass or fail."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.services.stack import (
    children,
    flow_runs_cannot_choose_what_a_worker_executes,
    leaked,
    planned_keys,
    prefect_db_on,
    run_sweep,
    start_stack,
    sweep_params,
)
from transfer_laws.tasks.services import auth, servers


@pytest.mark.slow  # the same path as below on the default SQLite stores (`make test-slow`)
def test_micro_sweep_fans_out_to_two_workers(tmp_path, stack):
    home = tmp_path / "home"
    api, mlflow_url = start_stack(stack, home)
    params = sweep_params(tmp_path, home, mlflow_url)
    out = run_sweep(api, params)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    keys = planned_keys(params)
    runs = children(mlflow_url)
    assert sorted(r.data.tags["run_key"] for r in runs) == sorted(keys)  # exactly one per run_key
    assert all(r.info.status == "FINISHED" and "best_test_loss" in r.data.metrics for r in runs)
    workers = {r.data.tags.get("worker") for r in runs}
    assert workers == {"cpu-0", "cpu-1"}, workers
    assert (home / "reports" / "micro" / "latest" / "fit.json").exists()


@pytest.mark.slow  # a suite of checkpoints as the source, through the deployments (`make test-slow`)
def test_a_suite_sweep_fans_out_to_two_workers(tmp_path, stack):
    """A sweep whose source is a tiny Pythia-layout suite (tests/suite_fixtures.py) run as the
    transfer-sweep deployment: the config re-validates from Prefect's parameters, and each zero-shot,
    scratch and fine-tune run is a flow run of the train-one-run deployment on a worker."""
    from tests.suite_fixtures import tiny_suite

    home = tmp_path / "home"
    folders = tiny_suite(tmp_path / "made")
    api, mlflow_url = start_stack(stack, home)
    params = sweep_params(tmp_path, home, mlflow_url)
    config = params["config"]
    for key in ("sizes", "pretrain_tokens"):
        del config["experiment"][key]
    config["experiment"].update(sources={"neox": {"checkpoints": [str(f) for f in folders]}},
                                scratch_tokens=[16000], zero_shot=True)
    out = run_sweep(api, params)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    keys = planned_keys(params)
    runs = children(mlflow_url)
    assert sorted(r.data.tags["run_key"] for r in runs) == sorted(keys)  # exactly one per run_key
    assert sorted(r.data.tags["kind"] for r in runs) == ["finetune"] * 4 + ["scratch"] * 6 + ["zeroshot"] * 2
    assert all(r.info.status == "FINISHED" and r.data.params["family"] == "gpt_neox" for r in runs)
    assert {r.data.tags.get("worker") for r in runs} == {"cpu-0", "cpu-1"}
    assert (home / "reports" / "micro" / "latest" / "fit.json").exists()


@pytest.mark.slow  # `make test` walks the same authenticated path through the UIs (tests/ui); `make test-slow`
def test_sweep_on_postgres_fans_out_fails_by_name_and_retries_without_a_second_mlflow_run(
        tmp_path, stack, monkeypatch):
    """The micro-sweep on PostgreSQL-backed servers that require credentials (the several-boxes
    set-up), one run failing until its cause is removed; no secret shows anywhere afterwards."""
    pg, _ = servers.start_postgres()
    stack.append(pg)
    home = tmp_path / "home"
    fault = tmp_path / "faults.txt"
    credentials, _ = auth.init(home)
    for key, value in credentials.client_env().items():  # this test is a client too (MLflow reads)
        monkeypatch.setenv(key, value)
    api, mlflow_url = start_stack(
        stack, home, prefect_db=prefect_db_on(pg),
        mlflow_db=servers.database_url(pg, "psycopg2", "mlflow"),
        worker_env={"TRANSFER_LAWS_FAULT_FILE": str(fault)}, credentials=credentials)
    params = sweep_params(tmp_path, home, mlflow_url)
    flow_runs_cannot_choose_what_a_worker_executes(api, credentials, params, tmp_path / "pwned")
    keys = planned_keys(params)
    bad = next(k for k, label in keys.items() if label.startswith("scratch") and "D=8.0e3" in label)
    fault.write_text(bad)  # this run fails deterministically until the file is gone

    out = run_sweep(api, params)
    assert out.returncode != 0
    outputs = [out.stdout, out.stderr]

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterName,
    )
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from transfer_laws.tasks.sweep.fanout import _wait

    with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: credentials.prefect_auth_string}):
        with get_client(sync_client=True) as client:
            failed = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=[keys[bad]])))
            sweeps = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(
                any_=["transfer-sweep"])))
        assert len(failed) == 1 and failed[0].state.is_failed()
        assert len(sweeps) == 1 and sweeps[0].state.is_failed()
        assert keys[bad] in sweeps[0].state.message and "prefect flow-run retry" in sweeps[0].state.message
        assert [r.info.status for r in children(mlflow_url) if r.data.tags["run_key"] == bad] == ["FAILED"]

        fault.unlink()
        retry = subprocess.run([sys.executable, "-m", "prefect", "flow-run", "retry", str(failed[0].id)],
                               env={**os.environ, **servers.prefect_env(api)}, capture_output=True,
                               text=True)
        assert retry.returncode == 0, retry.stdout + retry.stderr
        outputs += [retry.stdout, retry.stderr]
        assert _wait(failed[0].id).state.is_completed()
    runs = children(mlflow_url)
    assert [r.info.status for r in runs if r.data.tags["run_key"] == bad] == ["FINISHED"]

    out = run_sweep(api, params)  # the sweep again: every run done, the report written
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    runs = children(mlflow_url)
    assert sorted(r.data.tags["run_key"] for r in runs) == sorted(keys)  # exactly one per run_key
    assert all(r.info.status == "FINISHED" and "best_test_loss" in r.data.metrics for r in runs)
    assert {r.data.tags.get("worker") for r in runs} == {"cpu-0", "cpu-1"}  # spread over both
    assert (home / "reports" / "micro" / "latest" / "fit.json").exists()
    assert leaked(credentials, home, api, runs, outputs + [out.stdout, out.stderr], stack) == []


def test_services_cli_starts_records_and_stops_everything_by_pid(tmp_path):
    """`transfer-laws services start | status | stop`: servers on loopback, PIDs recorded, all stopped."""
    home = tmp_path / "home"
    base = [sys.executable, "-m", "transfer_laws.flows.cli", "services"]
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    ports = ["--prefect-port", str(servers.free_port()), "--mlflow-port", str(servers.free_port())]
    try:
        up = subprocess.run([*base, "start", "--home", str(home), "--workers", "1", *ports], env=env,
                            capture_output=True, text=True, timeout=240)
        assert up.returncode == 0, up.stdout + up.stderr
        recorded = servers.load_record(home)
        assert sorted(s.name for s in recorded) == ["mlflow-server", "prefect-server", "worker-control",
                                                    "worker-cpu-0"]
        assert all(servers.alive(s.pid) for s in recorded)
        assert all(s.url.startswith("http://127.0.0.1:") for s in recorded if s.url)  # loopback only
        status = subprocess.run([*base, "status", "--home", str(home)], env=env, capture_output=True,
                                text=True, timeout=60).stdout
        assert status.count(" up ") == 4, status
    finally:
        down = subprocess.run([*base, "stop", "--home", str(home)], env=env, capture_output=True,
                              text=True, timeout=120)
    assert down.returncode == 0 and "prefect-server" in down.stdout, down.stdout + down.stderr
    assert not any(servers.alive(s.pid) for s in recorded)
    assert servers.load_record(home) == []


def test_postgres_listens_on_no_port_and_admits_no_other_local_user(stack):
    """Its databases trust whoever connects, so only the owner of its socket folder may: no TCP
    listener on any interface, and another local user (`nobody`) is refused at the socket."""
    from urllib.parse import unquote

    import psutil

    top = Path(tempfile.mkdtemp(prefix="tl-deep-"))
    top.chmod(0o755)  # as a home's parents are: PostgreSQL's own user must pass through
    deep = top / ("a home with a long name " * 4).strip() / "pg"
    pg, data = servers.start_postgres(data_dir=deep, databases=("prefect",))  # a socket path too long
    stack.append(pg)                                                          # for Linux: moved, still private
    sockets = Path(unquote(pg.url.split("?host=", 1)[1]))
    assert (data.stat().st_mode & 0o777) == (sockets.stat().st_mode & 0o777) == 0o700
    listening = []
    for process in [psutil.Process(pg.pid), *psutil.Process(pg.pid).children(recursive=True)]:
        try:  # PostgreSQL's short-lived helpers may be gone by now
            listening += [c for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except psutil.NoSuchProcess:
            pass
    assert listening == []
    psql = ["psql", "-h", str(sockets), "-U", "postgres", "-d", "prefect", "-c", "select 1"]
    assert subprocess.run(psql, capture_output=True).returncode == 0  # its owner (root: it owns all)
    if os.geteuid() == 0:
        other = subprocess.run(["runuser", "-u", "nobody", "--", *psql], capture_output=True, text=True)
        assert other.returncode != 0 and "Permission denied" in other.stderr


def test_database_and_server_urls_are_logged_without_passwords():
    assert servers.redact("postgresql+asyncpg://alice:s3cret@db:5432/prefect") == \
        "postgresql+asyncpg://alice:***@db:5432/prefect"
    assert servers.redact("http://bob:hunter2@mlflow:5000") == "http://bob:***@mlflow:5000"
    assert servers.redact("postgresql://postgres@127.0.0.1:5432") == "postgresql://postgres@127.0.0.1:5432"
    assert servers.redact("sqlite:////abs/mlflow.db") == "sqlite:////abs/mlflow.db"
