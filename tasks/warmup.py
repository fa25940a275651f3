"""Start-up work of a local sweep done side by side, before the flow starts, instead of in a row.

Measured on 2 cores (benchmarks/sweep_overhead.py, fresh project folder): 48 s passed before the
first run trained — Prefect's temporary server creating and migrating a new database (19 s, 8 s when
the database exists), the MLflow store (7 s), data preparation (4 s), the training zygote (5 s), one
after the other. Here they start together: the Prefect server in its own process, the zygote in its
own, the MLflow store in a thread (the CLI has prepared and checked the data before, so a bad
config stops before any store exists). A new project's Prefect database starts as a copy of
an empty, migrated one kept in the data cache (per Prefect version), made with SQLite's backup API
from the first project's live database, so only the first project on a machine pays the migrations.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from tasks import env


def _template(cache: Path) -> Path:
    import prefect

    return cache / "prefect-db" / f"empty-{prefect.__version__}.db"


def seed_prefect_db(prefect_home: Path, cache: Path) -> bool:
    """Copy the migrated empty database into a new PREFECT_HOME; True if it was copied."""
    db, template = prefect_home / "prefect.db", _template(cache)
    if db.exists() or not template.exists():
        return False
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name("prefect.db.tmp")
    with sqlite3.connect(template) as src, sqlite3.connect(tmp) as dst:
        src.backup(dst)
    tmp.rename(db)
    return True


def save_prefect_template(prefect_home: Path, cache: Path) -> None:
    """Keep an empty, migrated copy of a database a server has just migrated (before any run)."""
    db, template = prefect_home / "prefect.db", _template(cache)
    if template.exists() or not db.exists():
        return
    template.parent.mkdir(parents=True, exist_ok=True)
    tmp = template.with_name(template.name + f".{os.getpid()}.tmp")
    with sqlite3.connect(db) as src, sqlite3.connect(tmp) as dst:
        src.backup(dst)
    tmp.rename(template)


def start_prefect(paths: env.ProjectPaths) -> None:
    """Start Prefect's temporary server now (the flow reuses it), unless a real server is set."""
    if os.environ.get("PREFECT_API_URL"):
        return
    from prefect.server.api.server import SubprocessASGIServer

    fresh = not (paths.prefect_home / "prefect.db").exists() and not seed_prefect_db(
        paths.prefect_home, paths.cache)
    SubprocessASGIServer().start()
    if fresh:
        save_prefect_template(paths.prefect_home, paths.cache)


def warm_up(cfg, paths: env.ProjectPaths, tracking_uri: str) -> list[threading.Thread]:
    """Start the slow start-up steps in parallel; join the returned threads before the flow."""
    from tasks import tracking
    jobs = [lambda: start_prefect(paths), lambda: tracking.client(tracking_uri)]
    if cfg.executor == "local":
        from tasks.train.zygote import Zygote

        jobs.append(Zygote.get)
    threads = [threading.Thread(target=_quiet(job), daemon=True) for job in jobs]
    for t in threads:
        t.start()
    return threads


def _quiet(job):
    """Errors surface later where the flow does the same step, with its own message."""
    def run():
        try:
            job()
        except Exception:
            pass
    return run
