"""Resource faults: the MLflow server goes away in the middle of a run; training goes on, the
metrics wait in metrics.jsonl, and everything reaches MLflow once the server is back."""
from __future__ import annotations

import threading
import time

import pytest

from tasks import services, tracking
from tasks.run_tracking import TrackingTarget
from tasks.train.launch import launch
from tests.test_train import tiny
from tests.toys import toy_prepared


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    return toy_prepared(tmp_path_factory.mktemp("cache"))


def test_mlflow_server_outage_mid_run_loses_no_metric(toy_data, tmp_path):
    home, port = tmp_path / "home", services.free_port()
    server = services.start_mlflow_server(home, port)
    cfg = tiny(toy_data, tmp_path / "run", max_steps=400, eval_interval=50, log_interval=5)
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = launch(cfg, tracking=TrackingTarget(server.url, "outage"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    try:
        worker.start()
        metrics = tmp_path / "run" / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while not (metrics.exists() and metrics.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        services.stop(server)  # the store disappears while the run trains
        time.sleep(4)
        assert worker.is_alive()  # training went on without its store
        server = services.start_mlflow_server(home, port)  # back, same address, same database
        worker.join(timeout=240)
    finally:
        services.stop(server)
        server = services.start_mlflow_server(home, port)
    try:
        assert "error" not in outcome, outcome.get("error")
        result = outcome["result"]
        c = tracking.client(server.url)
        run = c.get_run(result.mlflow_run_id)
        assert run.info.status == "FINISHED"
        logged = sorted(m.step for m in c.get_metric_history(result.mlflow_run_id, "train_loss"))
        assert logged == list(range(5, result.steps + 1, 5))  # every point once, none lost
    finally:
        services.stop(server)
