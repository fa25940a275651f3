"""Start-up work of a local sweep done side by side, before the flow starts, instead of in a row.

Measured on 2 cores (benchmarks/sweep_overhead.py, fresh project folder): 48 s passed before the
first run trained when Prefect's temporary server (19 s creating and migrating a new database), the
MLflow store (7 s of migrations), data preparation (4 s) and the training zygote (5 s) came one
after the other; 30 s when they started together in threads of one process, where they still
queued on its GIL (importing Prefect's server alone takes 6 s). Now:
- the zygote and Prefect's API server start first, each in its own process, as soon as the config
  is valid; the server is the same uvicorn app as Prefect's own temporary server, started here so
  this process never imports `prefect.server` (6 s), and the flow talks to it through
  PREFECT_API_URL; it dies with this process, even on SIGKILL;
- the data are prepared and checked meanwhile; on bad data the server is stopped and what it made
  in the project folder removed, so a bad config still leaves nothing behind;
- new Prefect and MLflow databases start as copies of empty, migrated ones kept in the data cache
  (per version, copied with SQLite's backup API from the first ones made), so only the first
  project on a machine pays the migrations.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from transfer_laws.tasks.common import env
from transfer_laws.tasks.common.process import child_env, die_with_parent, python_module
from transfer_laws.tasks.services.prefect_template import save_prefect_template, seed_prefect_db
from transfer_laws.tasks.services.servers import free_port


class TemporaryPrefect:
    """Prefect's API server for one local sweep, owned by this process (see the module docstring).

    `start()` must run on the main thread: the server is told to die with the thread that forked it.
    """

    def __init__(self, paths: env.ProjectPaths) -> None:
        self.paths = paths
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log = paths.prefect_home / "server.log"
        self.fresh = False

    def start(self) -> "TemporaryPrefect":
        home = self.paths.prefect_home
        self._made = [p for p in (self.paths.home, home, home / "prefect.db", self.log) if not p.exists()]
        self.fresh = not (home / "prefect.db").exists() and not seed_prefect_db(home, self.paths.cache)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        prefect_dir = Path(importlib.util.find_spec("prefect").origin).parent
        cmd = python_module("uvicorn", "--app-dir", str(prefect_dir.parent), "--factory",
                            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
                            "--log-level", "error", "--lifespan", "on")
        server_env = {**child_env(), "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                      "PREFECT__SERVER_FINAL": "1", "PREFECT_HOME": str(home)}
        server_env.pop("PREFECT_API_URL", None)
        home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=server_env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=partial(die_with_parent, signal.SIGTERM))
        return self

    def wait(self, timeout: float = 120.0) -> None:
        """Block until the server answers /health; a server that could not bind starts again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                if code == 3:  # uvicorn: the port was taken meanwhile
                    self.start()
                    continue
                break
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        if self.fresh:
                            save_prefect_template(self.paths.prefect_home, self.paths.cache)
                        return
            except OSError:
                pass
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        self.stop()
        raise RuntimeError(f"Prefect's temporary server did not start (log {self.log}):\n{tail}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def discard(self) -> None:
        """Stop the server and remove what starting it made (the sweep stopped on bad input)."""
        import shutil

        self.stop()
        for path in reversed(self._made):
            for extra in [path] + [path.with_name(path.name + x) for x in ("-journal", "-wal", "-shm")]:
                if extra.is_dir():
                    shutil.rmtree(extra, ignore_errors=True)
                elif extra.exists():
                    extra.unlink()

    @contextmanager
    def serving(self):
        """The flow inside talks to this server; it is stopped on the way out."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        try:
            self.wait()
            with temporary_settings({PREFECT_API_URL: self.url}):
                try:
                    yield self
                finally:
                    _drain_prefect_clients()
        finally:
            self.stop()


def _drain_prefect_clients(timeout: float = 10.0) -> None:
    """Send the flow's last logs and events while the server still listens: drained after it
    stops, Prefect's background workers retry a dead address for a minute before the process exits."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout)
        except Exception:
            pass


def start_zygote() -> threading.Thread:
    """Start the training zygote (imports torch & co. in its own process) and return at once."""
    from transfer_laws.tasks.train.zygote import Zygote

    t = threading.Thread(target=_quiet(Zygote.get), daemon=True, name="zygote-start")
    t.start()
    return t


def start_prefect(paths: env.ProjectPaths) -> TemporaryPrefect | None:
    """Prefect's temporary server, started now unless PREFECT_API_URL names a server to use."""
    return None if os.environ.get("PREFECT_API_URL") else TemporaryPrefect(paths).start()


@contextmanager
def local_services(prefect: TemporaryPrefect | None, paths: env.ProjectPaths, tracking_uri: str):
    """The MLflow store opened while Prefect's server (from `start_prefect`) comes up; the flow
    runs inside."""
    from transfer_laws.tasks.tracking import mlflow_store

    mlflow_up = threading.Thread(target=_quiet(lambda: mlflow_store.client(
        tracking_uri, template_dir=paths.cache / "mlflow-db")), daemon=True, name="mlflow-store")
    mlflow_up.start()
    if prefect is None:
        mlflow_up.join()
        yield
        return
    with prefect.serving():
        mlflow_up.join()
        yield


def _quiet(job):
    """Errors surface later where the flow does the same step, with its own message."""
    def run():
        try:
            job()
        except Exception:
            pass
    return run
