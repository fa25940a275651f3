"""The scale-out stack of the service and UI tests: a Prefect server, an MLflow server and process
workers on 127.0.0.1 (tasks.services.servers), the deployments of deployments/prefect.yaml, and
the micro-sweep they run. The `stack` fixture (tests/conftest.py) stops every process by PID."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.test_sweep_flow import micro_config
from transfer_laws.tasks.services import servers
from transfer_laws.tasks.tracking import mlflow_store

REPO = Path(__file__).resolve().parents[2]


def prefect_db_on(pg: servers.Service) -> str:
    """Prefect's database URL on a PostgreSQL service (asyncpg, Prefect's driver)."""
    return servers.database_url(pg, "asyncpg", "prefect")


def start_stack(stack: list, home: Path, prefect_db: str | None = None, mlflow_db: str | None = None,
                worker_env: dict | None = None, credentials=None, limit: int = 1) -> tuple[str, str]:
    """Servers (with authentication when `credentials` are given), two training workers (`limit` runs
    each) and a control worker, the deployments made; returns (Prefect API URL, MLflow URL)."""
    prefect = servers.start_prefect_server(home, database_url=prefect_db, wait=False, credentials=credentials)
    stack.append(prefect)
    mlflow = servers.start_mlflow_server(home, backend_uri=mlflow_db, wait=False, credentials=credentials)
    stack.append(mlflow)
    servers.wait_http(prefect, "/api/health")
    api = prefect.url + "/api"
    env = {"TRANSFER_LAWS_CACHE_DIR": os.environ["TRANSFER_LAWS_CACHE_DIR"], **(worker_env or {})}
    servers.ensure_pools(api, credentials)
    for i in range(2):  # workers boot while the deployments are made
        stack.append(servers.start_worker(home, api, f"cpu-{i}", limit=limit, env=env, credentials=credentials))
    stack.append(servers.start_worker(home, api, "control", pool=servers.CONTROL_POOL, limit=None,
                                       env=env, credentials=credentials))
    servers.deploy(api, home, credentials=credentials)
    servers.wait_http(mlflow, "/health")
    return api, mlflow.url


def sweep_params(tmp_path: Path, home: Path, mlflow_url: str) -> dict:
    """The micro-sweep on the services, without zero-shot runs: each run is a flow run on a worker
    (~5 s of process start), the local sweep tests cover zero-shot runs, these the plumbing."""
    cfg = yaml.safe_load(micro_config(tmp_path).read_text())
    cfg["experiment"].update(scratch_tokens=None, pretrain_tokens=10000, zero_shot=False)
    cfg["optimiser"].update(max_steps=20, eval_interval=10)
    cfg["execution"] = {"executor": "deployments", "threads_per_run": 1}
    cfg["tracking"] = {"home": str(home), "tracking_uri": mlflow_url}
    return {"config": cfg, "bootstrap": 20}


def run_sweep(api: str, params: dict, timeout: int = 400, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "prefect", "deployment", "run", "transfer-sweep/sweep", "--params",
         json.dumps(params), "--watch", "--watch-timeout", str(timeout)],
        env={**os.environ, **servers.prefect_env(api), **(env or {})}, capture_output=True, text=True,
        timeout=timeout + 60)


def planned_keys(params: dict) -> dict[str, str]:
    from transfer_laws.tasks.sweep.config import SweepConfig
    from transfer_laws.tasks.sweep.run_graph import run_graph
    from transfer_laws.tasks.sweep.units import prepare_all

    cfg = SweepConfig.checked(params["config"])
    target, sources = prepare_all(cfg, Path(os.environ["TRANSFER_LAWS_CACHE_DIR"]))
    return {r.run_key: r.label for r in run_graph(cfg, target, sources, Path(cfg.tracking.home) / "runs")}


def children(mlflow_url: str) -> list:
    c = mlflow_store.client(mlflow_url)
    exp = c.get_experiment_by_name("micro")
    return [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("kind") != "sweep"]


def flow_runs_cannot_choose_what_a_worker_executes(api: str, credentials, params: dict, marker) -> None:
    """Anyone who may create flow runs may not pick the worker's command, env or folder: a sweep with
    valid parameters and one of those job variables is refused on both pools."""
    import pytest
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: credentials.prefect_auth_string}), \
            get_client(sync_client=True) as client:
        for name in (servers.WORK_POOL, servers.CONTROL_POOL):
            template = client.read_work_pool(name).base_job_template
            assert not set(servers.LOCKED_JOB_VARIABLES) & set(template["variables"]["properties"])
            assert not set(servers.LOCKED_JOB_VARIABLES) & set(template["job_configuration"])
        deployment = client.read_deployment_by_name("transfer-sweep/sweep")
        schema = deployment.parameter_openapi_schema  # the form the Prefect UI draws
        defs = schema.get("definitions") or schema.get("$defs")
        assert set(defs["SweepConfig"]["properties"]) == {"experiment", "optimiser", "execution", "tracking", "fit"}
        fields = defs["Experiment"]["properties"]  # the form draws each group as its own section
        assert "bpe:V" in fields["tokenizer"]["description"] and "llama" in fields["family"]["description"]
        checkpoints = defs["Source"]["properties"]["checkpoints"]
        assert "suite of pre-trained" in checkpoints["description"]  # a bare path is accepted beside {path, revision}
        assert {"string"} <= {t.get("type") for t in checkpoints["anyOf"][0]["items"]["anyOf"]}
        for variables in ({"command": f"touch {marker}"}, {"env": {"X": "1"}}, {"working_dir": "/"}):
            with pytest.raises(PrefectHTTPStatusError, match="422"):
                client.create_flow_run_from_deployment(deployment.id, parameters=params, job_variables=variables)
    assert not marker.exists()


def leaked(credentials, home: Path, api: str, runs: list, outputs: list[str], services: list) -> list[str]:
    """Where a secret of `credentials` shows: MLflow params and tags of `runs`, Prefect flow-run
    parameters, every log, report, runs CSV, JSON and YAML under HOME (the credentials file aside),
    `outputs`, and the command line of every process of the services."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from transfer_laws.tasks.services import auth

    seen = [json.dumps([r.data.params, r.data.tags]) for r in runs] + list(outputs)
    with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: credentials.prefect_auth_string}), \
            get_client(sync_client=True) as client:
        seen += [json.dumps(r.parameters, default=str) for r in client.read_flow_runs()]
    files = [p for p in home.rglob("*") if p.is_file() and p.suffix in (".log", ".md", ".csv", ".json", ".yaml")
             and p != auth.credentials_file(home)]
    assert len(files) > 10, files  # the search looked somewhere
    seen += [p.read_text(errors="replace") for p in files]
    seen += [Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
             for svc in services for pid in _group(svc.pid)]
    return [text[:200] for secret in credentials.secrets() for text in seen if secret in text]


def _group(pgid: int) -> list[int]:
    """Every live process of a service's process group (the server and what it forked)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pgid:
                    out.append(int(d.name))
            except ProcessLookupError:
                pass
    return out
