"""Start-up of a local sweep: template databases, the sweep's own Prefect server and its lifetime."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from transfer_laws.tasks.common import env
from transfer_laws.tasks.common.sqlite_files import copy_sqlite
from transfer_laws.tasks.services import warmup
from transfer_laws.tasks.services.servers import alive
from transfer_laws.tasks.tracking import mlflow_store

REPO = Path(__file__).resolve().parents[2]


def test_copy_sqlite_is_a_consistent_copy_and_never_overwrites(tmp_path):
    src = tmp_path / "a.db"
    with sqlite3.connect(src) as con:
        con.execute("create table t (x)")
        con.executemany("insert into t values (?)", [(i,) for i in range(100)])
    con.close()
    dst = tmp_path / "sub" / "b.db"
    assert copy_sqlite(src, dst)
    with sqlite3.connect(dst) as con:
        assert con.execute("select count(*), sum(x) from t").fetchone() == (100, 4950)
    con.close()
    assert not copy_sqlite(src, dst), "an existing database must never be replaced"
    assert not copy_sqlite(tmp_path / "missing.db", tmp_path / "c.db")
    assert not list(tmp_path.rglob("*.tmp"))


def test_mlflow_store_from_template_is_migrated_and_usable(tmp_path):
    templates = tmp_path / "cache" / "mlflow-db"
    first = f"sqlite:///{tmp_path / 'one' / 'mlflow.db'}"
    c1 = mlflow_store.client(first, template_dir=templates)
    made = list(templates.glob("mlflow-empty-*.db"))
    assert len(made) == 1, "the first store made must leave an empty template"
    mlflow_store.ensure_experiment(c1, "only-in-one")

    second_db = tmp_path / "two" / "mlflow.db"
    t0 = time.perf_counter()
    c2 = mlflow_store.client(f"sqlite:///{second_db}", template_dir=templates)
    seconds = time.perf_counter() - t0
    with sqlite3.connect(made[0]) as a, sqlite3.connect(second_db) as b:
        version = "select version_num from alembic_version"
        assert a.execute(version).fetchall() == b.execute(version).fetchall()
    a.close()
    b.close()
    assert c2.get_experiment_by_name("only-in-one") is None, "the template must stay empty"
    exp = mlflow_store.ensure_experiment(c2, "two")
    run_id = mlflow_store.start_or_resume(c2, exp, "k", "k", tags={})
    mlflow_store.log_final(c2, run_id, {"best_test_loss": 1.5})
    assert c2.get_run(run_id).data.metrics["best_test_loss"] == 1.5
    print(f"store from template opened in {seconds:.2f} s")


def test_temporary_prefect_serves_then_discard_leaves_nothing(tmp_path):
    paths = env.project_paths(tmp_path / "home")
    server = warmup.TemporaryPrefect(paths).start()
    try:
        server.wait()
        import urllib.request

        with urllib.request.urlopen(server.url + "/health", timeout=5) as r:
            assert r.status == 200
        assert (paths.prefect_home / "prefect.db").exists()
    finally:
        server.discard()
    assert server.proc is None
    assert not (tmp_path / "home").exists(), "discard must remove what starting the server made"


_OWNER = """
import json, sys, time
from transfer_laws.tasks.common import env
from transfer_laws.tasks.services import warmup
server = warmup.TemporaryPrefect(env.project_paths(sys.argv[1])).start()
print(json.dumps({"pid": server.proc.pid}), flush=True)
server.wait()
print("up", flush=True)
time.sleep(600)
"""


def test_temporary_prefect_dies_with_a_killed_sweep(tmp_path):
    """SIGKILL of the sweep process (no atexit, no finally) must not leave its server running."""
    proc = subprocess.Popen([sys.executable, "-c", _OWNER, str(tmp_path / "home")], cwd=REPO,
                            env=dict(os.environ), stdout=subprocess.PIPE, text=True)
    try:
        pid = json.loads(proc.stdout.readline())["pid"]
        assert proc.stdout.readline().strip() == "up"
        assert alive(pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 15
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(pid), "the Prefect server outlived the sweep that started it"
    finally:
        proc.kill()
