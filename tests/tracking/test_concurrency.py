"""Concurrent writers on the embedded MLflow store: 8 processes start together on a store that does
not exist yet; it is created exactly once and no run and no metric point is lost."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from transfer_laws.tasks.tracking import mlflow_store

REPO = Path(__file__).resolve().parents[2]
WRITERS, POINTS = 8, 300

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from transfer_laws.tasks.tracking import mlflow_store

    uri, go, i, points = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    while not go.exists():  # every writer is imported and waiting: start together
        time.sleep(0.01)
    c = mlflow_store.client(uri)  # creates the store, once, under a file lock
    exp = mlflow_store.ensure_experiment(c, "concurrent")
    run_id = mlflow_store.start_or_resume(c, exp, f"key-{i}", f"writer {i}", tags={"kind": "scratch"})
    sink = mlflow_store.MlflowSink(c, run_id, flush_every=50)
    for step in range(points):
        sink.log_metrics({"train_loss": 1.0 / (step + 1) + i}, step)
    sink.flush()
    mlflow_store.log_final(c, run_id, {"best_test_loss": float(i)})
    c.set_terminated(run_id, "FINISHED")
""")


def test_eight_writers_create_the_store_once_and_lose_nothing(tmp_path):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    go = tmp_path / "go"
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, uri, str(go), str(i), str(POINTS)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(WRITERS)]
    time.sleep(1.0)
    go.touch()
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * WRITERS, "\n".join(o[-2000:] for o in outs)
    assert not db.with_name("mlflow.db.corrupt").exists()

    c = mlflow_store.client(uri)
    exps = [e for e in c.search_experiments() if e.name == "concurrent"]
    assert len(exps) == 1  # created once, though 8 processes asked at once
    runs = c.search_runs([exps[0].experiment_id])
    assert sorted(r.data.tags["run_key"] for r in runs) == sorted(f"key-{i}" for i in range(WRITERS))
    for r in runs:
        i = int(r.data.tags["run_key"].split("-")[1])
        history = c.get_metric_history(r.info.run_id, "train_loss")
        assert sorted(m.step for m in history) == list(range(POINTS))  # no point lost or doubled
        assert r.info.status == "FINISHED" and r.data.metrics["best_test_loss"] == float(i)
