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
    return pg.url.replace("postgresql://", "postgresql+asyncpg://") + "/prefect"


def start_stack(stack: list, home: Path, prefect_db: str | None = None, mlflow_db: str | None = None,
                worker_env: dict | None = None) -> tuple[str, str]:
    prefect = servers.start_prefect_server(home, database_url=prefect_db, wait=False)
    stack.append(prefect)
    mlflow = servers.start_mlflow_server(home, backend_uri=mlflow_db, wait=False)
    stack.append(mlflow)
    servers.wait_http(prefect, "/api/health")
    api = prefect.url + "/api"
    env = {"TRANSFER_LAWS_CACHE_DIR": os.environ["TRANSFER_LAWS_CACHE_DIR"], **(worker_env or {})}
    servers.ensure_pools(api)
    for i in range(2):  # workers boot while the deployments are made
        stack.append(servers.start_worker(home, api, f"cpu-{i}", env=env))
    stack.append(servers.start_worker(home, api, "control", pool=servers.CONTROL_POOL, limit=None,
                                       env=env))
    servers.deploy(api, home)
    servers.wait_http(mlflow, "/health")
    return api, mlflow.url


def sweep_params(tmp_path: Path, home: Path, mlflow_url: str) -> dict:
    cfg = yaml.safe_load(micro_config(tmp_path).read_text())
    cfg.update(scratch_tokens=None, pretrain_tokens=10000, max_steps=20, eval_interval=10,
               home=str(home), executor="deployments", tracking_uri=mlflow_url, threads_per_run=1)
    return {"config": cfg, "bootstrap": 20}


def run_sweep(api: str, params: dict, timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "prefect", "deployment", "run", "transfer-sweep/sweep", "--params",
         json.dumps(params), "--watch", "--watch-timeout", str(timeout)],
        env={**os.environ, **servers.prefect_env(api)}, capture_output=True, text=True,
        timeout=timeout + 60)


def planned_keys(params: dict) -> dict[str, str]:
    from transfer_laws.tasks.sweep.config import SweepConfig
    from transfer_laws.tasks.sweep.plan import plan
    from transfer_laws.tasks.sweep.units import prepare_all

    cfg = SweepConfig.checked(params["config"])
    target, sources = prepare_all(cfg, Path(os.environ["TRANSFER_LAWS_CACHE_DIR"]))
    return {r.run_key: r.label for r in plan(cfg, target, sources, Path(cfg.home) / "runs")}


def children(mlflow_url: str) -> list:
    c = mlflow_store.client(mlflow_url)
    exp = c.get_experiment_by_name("micro")
    return [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("kind") != "sweep"]
