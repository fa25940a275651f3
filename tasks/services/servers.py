"""Local services for the UIs and for scale-out: a Prefect server, an MLflow tracking server, Prefect
workers and (optionally) PostgreSQL, each a process started here on 127.0.0.1 and stopped by PID.

Every service gets its own process group (so stopping it stops its children), a log file and a
record in `HOME/services/services.json`, so `transfer-laws services stop` finds them again from
another shell. Nothing binds beyond loopback unless the caller names another host.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from transfer_laws.tasks.common.process import child_env, python_module
from transfer_laws.tasks.services import auth
from transfer_laws.tasks.services.auth import Credentials

WORK_POOL = "transfer-laws"  # the pool of training workers (one per GPU, or per CPU slot)
CONTROL_POOL = "transfer-laws-control"  # sweeps and aggregations: they only wait on runs
WORKDIR_VAR = "TRANSFER_LAWS_WORKDIR"  # where flow runs start (prefect.yaml's pull step; set by deploy)


@dataclass
class Service:
    name: str
    pid: int
    url: str
    log: str
    stop_signal: int = signal.SIGTERM


class ServiceFailed(RuntimeError):
    """A service did not come up; the message holds the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redact(url: str) -> str:
    """A database URL without its password, for logs and records."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


def _spawn(name: str, cmd: list[str], log_dir: Path, env: dict[str, str] | None = None,
           url: str = "", stop_signal: int = signal.SIGTERM) -> Service:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=child_env(env), start_new_session=True)
    return Service(name, proc.pid, url, str(log), int(stop_signal))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def wait_http(service: Service, path: str, timeout: float = 90.0) -> Service:
    """Block until GET url+path answers 200, or fail with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(service.pid):
            break
        try:
            with urllib.request.urlopen(service.url + path, timeout=2) as r:
                if r.status == 200:
                    return service
        except OSError:
            pass
        time.sleep(0.5)
    tail = Path(service.log).read_text(errors="replace")[-3000:] if Path(service.log).exists() else ""
    stop(service)
    raise ServiceFailed(f"{service.name} did not answer on {service.url}{path} within {timeout:.0f} s; "
                        f"log {service.log}:\n{tail}")


def stop(service: Service, timeout: float = 15.0) -> None:
    """Stop the service's whole process group; SIGKILL what is left after `timeout` seconds."""
    for sig, wait in ((service.stop_signal, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(service.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(service.pid):
                return
            time.sleep(0.2)


def prefect_env(api_url: str, prefect_home: Path | None = None) -> dict[str, str]:
    env = {"PREFECT_API_URL": api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_WORKER_QUERY_SECONDS": "0.5", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
    if prefect_home:
        env["PREFECT_HOME"] = str(prefect_home)
    return env


def start_prefect_server(home: Path, port: int | None = None, database_url: str | None = None,
                         host: str = "127.0.0.1", wait: bool = True, credentials: Credentials | None = None,
                         public_url: str | None = None) -> Service:
    """`prefect server start`, its SQLite in HOME/prefect (or `database_url`: postgresql+asyncpg://…).
    A new SQLite database starts as a copy of an empty migrated one (tasks.services.prefect_template): no migrations.
    With `credentials` every API call but /api/health needs the auth string (the UI asks for it on
    its login page) and POSTs need a CSRF token (Prefect's clients fetch one). `public_url`: the
    server as browsers reach it (its UI calls the API there), by default http://HOST:PORT."""
    from transfer_laws.tasks.common import env
    from transfer_laws.tasks.services.prefect_template import save_prefect_template, seed_prefect_db

    port = port or free_port()
    prefect_home = home / "prefect"
    # The UI's pages call the API from the browser: without its own URL they call :4200, the default
    # port, and show "Can't connect to Server API" on any other port. A user browsing from another
    # machine (host 0.0.0.0) sets PREFECT_UI_API_URL to the address that machine sees.
    ui_api = (public_url.rstrip("/") + "/api" if public_url else os.environ.get("PREFECT_UI_API_URL")
              or f"http://{browsable(host)}:{port}/api")
    env_vars = {"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_API_URL": "", "PREFECT_UI_API_URL": ui_api}
    if credentials:
        env_vars |= {auth.PREFECT_SERVER: credentials.prefect_auth_string,
                     "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true"}
    fresh, cache = False, env.project_paths(home).cache
    if database_url:
        env_vars["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    else:
        fresh = not (prefect_home / "prefect.db").exists() and not seed_prefect_db(prefect_home, cache)
    cmd = python_module("prefect", "server", "start", "--host", host, "--port", str(port))
    svc = _spawn("prefect-server", cmd, home / "services", env_vars, url=f"http://{host}:{port}")
    if not wait:
        return svc
    wait_http(svc, "/api/health")
    if fresh:
        save_prefect_template(prefect_home, cache)
    return svc


def start_mlflow_server(home: Path, port: int | None = None, backend_uri: str | None = None,
                        host: str = "127.0.0.1", wait: bool = True, credentials: Credentials | None = None) -> Service:
    """`mlflow server --workers 1`: runs in HOME/mlflow.db (or `backend_uri`), artifacts served from
    HOME/mlartifacts, so workers upload through HTTP and need no shared folder for them. With
    `credentials`, MLflow's basic-auth app: every page and REST call but /health needs the admin
    login (its users in HOME/services/mlflow-auth.db; the password reaches it only by environment)."""
    port = port or free_port()
    backend = backend_uri or f"sqlite:///{(home / 'mlflow.db').resolve()}"
    auth_args: tuple[str, ...] = ()
    env = {"MLFLOW_ENABLE_TELEMETRY": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
           # MLflow 3's GenAI job runners (~7 processes) are unused here and take the CPU runs need
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if credentials:
        env |= mlflow_auth_env(home, credentials)
        auth_args = ("--app-name", "basic-auth")
    cmd = python_module("mlflow", "server", "--backend-store-uri", backend,
                        "--artifacts-destination", str((home / "mlartifacts").resolve()), "--host", host,
                        "--port", str(port), "--workers", "1", *auth_args)
    svc = _spawn("mlflow-server", cmd, home / "services", env, url=f"http://{host}:{port}")
    return wait_http(svc, "/health") if wait else svc


def browsable(host: str) -> str:
    """An address a browser can use for a server bound to `host` (never 0.0.0.0 or ::)."""
    return socket.gethostname() if host in ("0.0.0.0", "::", "") else host


def check_auth_app() -> None:
    """MLflow's basic-auth app needs Flask-WTF (the `auth` extra): say so before anything starts."""
    import importlib.util

    if importlib.util.find_spec("flask_wtf") is None:  # its server process imports it, not this one
        raise ServiceFailed("MLflow's basic-auth app needs Flask-WTF: pip install 'transfer-laws[auth]'")


MLFLOW_AUTH_CACHE_SECONDS = 60  # MLflow's own example value; a cached login expires after it


def mlflow_auth_env(home: Path, credentials: Credentials) -> dict[str, str]:
    """The environment of MLflow's basic-auth app: its config (a 0600 file in HOME/services), the
    admin's login and the Flask session key, derived from the credentials (so every restart agrees)."""
    check_auth_app()
    folder = (home / "services").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    users = folder / auth.MLFLOW_AUTH_DB
    if not users.exists():  # SQLite takes an empty file as a new database: owner-only from the start
        os.close(os.open(users, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(users, 0o600)
    config = auth.private_file(folder / "mlflow-auth.ini", (
        "[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{users}\n"
        f"admin_username = {credentials.mlflow_username}\n"
        # MLflow checks the password's PBKDF2 hash on every request unless it may cache a success:
        # measured 310 ms a REST call without the cache, 13 ms without auth (benchmarks/auth_cost.py).
        # One server worker, and new credentials restart it: nothing stale outlives a rotation.
        f"auth_cache_ttl_seconds = {MLFLOW_AUTH_CACHE_SECONDS}\n"))
    key = hashlib.sha256(("flask-session:" + credentials.mlflow_password).encode()).hexdigest()
    return {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_AUTH_ADMIN_USERNAME": credentials.mlflow_username,
            "MLFLOW_AUTH_ADMIN_PASSWORD": credentials.mlflow_password, "MLFLOW_FLASK_SERVER_SECRET_KEY": key}


LOCKED_JOB_VARIABLES = ("command", "env", "working_dir")


def locked_job_template() -> dict:
    """The process worker's default job template without the variables that would let a flow run
    choose what its worker executes (`command`), with which environment (`env`) or where
    (`working_dir`); any other variable is refused when a flow run is created (422)."""
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    for key in LOCKED_JOB_VARIABLES:
        template["job_configuration"].pop(key, None)
        template["variables"]["properties"].pop(key, None)
    template["variables"]["additionalProperties"] = False
    return template


def ensure_pools(api_url: str, credentials: Credentials | None = None) -> None:
    """The process work pools of training runs and of sweeps, with the locked job template (created
    once; an existing pool gets the template too)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    updates = {PREFECT_API_URL: api_url}
    if credentials:
        updates[PREFECT_API_AUTH_STRING] = credentials.prefect_auth_string
    template = locked_job_template()
    with temporary_settings(updates=updates), get_client(sync_client=True) as client:
        for pool in (WORK_POOL, CONTROL_POOL):
            try:
                client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template))
            except ObjectAlreadyExists:
                client.update_work_pool(pool, WorkPoolUpdate(base_job_template=template))


def start_worker(home: Path, api_url: str, name: str, pool: str = WORK_POOL, limit: int | None = 1,
                 env: dict[str, str] | None = None, credentials: Credentials | None = None) -> Service:
    """A process worker on `pool`; `env` pins it (e.g. CUDA_VISIBLE_DEVICES=1 for GPU 1). Its flow runs
    import the installed package, so no checkout is needed on the worker's box."""
    cmd = python_module("transfer_laws.flows.cli", "worker", "--pool", pool, "--name", name,
                        "--limit", str(limit or 0))  # stops cleanly on SIGTERM (tasks/services/worker.py)
    full_env = {**prefect_env(api_url), **(env or {}), **(credentials.client_env() if credentials else {})}
    return _spawn(f"worker-{name}", cmd, home / "services", full_env, url="")


def worker_command(pool: str, name: str, limit: int | None) -> list[str]:
    """`prefect worker start` of a process worker on `pool` (limit None or 0: no limit)."""
    return python_module("prefect", "worker", "start", "--pool", pool, "--name", name, "--type", "process",
                         *(["--limit", str(limit)] if limit else []))


def deployments_file() -> Path:
    """The packaged deployments/prefect.yaml (package data: the same file in a checkout and a wheel)."""
    from importlib.resources import files

    return Path(str(files("transfer_laws.deployments") / "prefect.yaml"))


def deploy(api_url: str, workdir: Path, names: list[str] | None = None,
           credentials: Credentials | None = None) -> str:
    """`prefect deploy` of the packaged prefect.yaml (all deployments, or `names`). The flows are found
    by module path, never in a checkout; `workdir` (the project home, a path every worker can reach)
    becomes the folder their flow runs start in: Prefect resolves the pull step's template now."""
    ensure_pools(api_url, credentials)
    which = [a for n in names for a in ("--name", n)] if names else ["--all"]
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(python_module("prefect", "--no-prompt", "deploy", *which,
                                        "--prefect-file", str(deployments_file())),
                          cwd=workdir, capture_output=True, text=True,
                          env=child_env({**prefect_env(api_url), WORKDIR_VAR: str(workdir),
                                         **(credentials.client_env() if credentials else {})}))
    if proc.returncode != 0:
        raise ServiceFailed(f"prefect deploy failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


# ---- PostgreSQL (Debian's postgresql; as a user with several machines would run it) -------------

def _as_db_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: there, run it as the `postgres` system user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        raise ServiceFailed(f"PostgreSQL's {name} is not installed: `apt-get install postgresql` "
                            "(or `make services-deps`)")
    return str(found)


SOCKET_PATH_MAX = 100  # Linux's sun_path holds 107 bytes; PostgreSQL refuses longer socket paths


def start_postgres(data_dir: Path | None = None,
                   databases: tuple[str, ...] = ("prefect", "mlflow")) -> tuple[Service, Path]:
    """A PostgreSQL server in a fresh data folder that listens on no TCP port at all: only on a Unix
    socket inside that folder, which only its owner can enter (0700). So no other local user, and
    nothing on the network, can reach the databases Prefect and MLflow trust; the servers that use
    them run on the same box. `databases` are created (and pg_trgm, which Prefect needs).
    Returns the service (its url: `database_url` makes a driver's URL of it) and its data folder."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="transfer-laws-pg-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    pgdata = data_dir / "data"
    init = subprocess.run(_as_db_owner([_pg_bin("initdb"), "-D", str(pgdata), "-U", "postgres",
                                        "--auth=trust", "-E", "UTF8"]), capture_output=True, text=True)
    if init.returncode != 0:
        raise ServiceFailed(f"initdb failed: {init.stderr[-2000:]}")
    socket_dir = data_dir
    if len(str(data_dir / ".s.PGSQL.5432")) > SOCKET_PATH_MAX:  # a deep HOME: a short private folder
        socket_dir = Path(tempfile.mkdtemp(prefix="tl-pg-"))
        if os.geteuid() == 0:
            shutil.chown(socket_dir, "postgres", "postgres")
    cmd = _as_db_owner([_pg_bin("postgres"), "-D", str(pgdata), "-k", str(socket_dir),
                        "-c", "listen_addresses="])
    svc = _spawn("postgres", cmd, data_dir, url=f"postgresql://postgres@/?host={quote(str(socket_dir), safe='/')}",
                 stop_signal=signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown
    psql = ["psql", "-h", str(socket_dir), "-U", "postgres"]
    deadline = time.monotonic() + 30
    while subprocess.run([*psql, "-c", "select 1"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline or not alive(svc.pid):
            stop(svc)
            raise ServiceFailed(f"PostgreSQL did not start; log {svc.log}:\n"
                                f"{Path(svc.log).read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)
    for db in databases:
        subprocess.run([*psql, "-c", f"CREATE DATABASE {db}"], capture_output=True, check=True)
    subprocess.run([*psql, "-d", "prefect", "-c", "CREATE EXTENSION IF NOT EXISTS pg_trgm"],
                   capture_output=True, check=True)
    return svc, data_dir


def database_url(pg: Service, driver: str, database: str) -> str:
    """The SQLAlchemy URL of `database` on `start_postgres`'s server through its socket folder:
    driver `asyncpg` for Prefect, `psycopg2` for MLflow."""
    folder = pg.url.split("?host=", 1)[1]  # quoted already
    return f"postgresql+{driver}://postgres@/{database}?host={folder}"


# ---- the record of what runs, for `transfer-laws services stop` from another shell --------------

def record(home: Path, services: list[Service]) -> Path:
    path = home / "services" / "services.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    known = [s for s in load_record(home) if alive(s.pid)]
    path.write_text(json.dumps([asdict(s) for s in known + services], indent=2))
    return path


def load_record(home: Path) -> list[Service]:
    path = home / "services" / "services.json"
    if not path.exists():
        return []
    return [Service(**s) for s in json.loads(path.read_text())]


def stop_recorded(home: Path) -> list[Service]:
    """Stop every recorded service still alive (workers first, then servers); clear the record."""
    services = load_record(home)
    order = sorted(services, key=lambda s: (not s.name.startswith("worker"), s.name == "postgres"))
    stopped = [s for s in order if alive(s.pid)]
    for s in stopped:
        stop(s)
    (home / "services" / "services.json").unlink(missing_ok=True)
    return stopped
