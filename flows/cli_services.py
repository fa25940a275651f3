"""`transfer-laws services start | stop | status` and `transfer-laws deploy`: the local services a
sweep needs once it outgrows one process (deployments/README.md)."""
from __future__ import annotations

import os


def register(sub) -> None:
    from transfer_laws.flows.cli import DefaultsHelp

    fmt = DefaultsHelp
    p = sub.add_parser("services", formatter_class=fmt, help="start/stop Prefect + MLflow servers and workers",
                       description="Start a Prefect server, an MLflow tracking server and Prefect process "
                       "workers on 127.0.0.1, with their data in the project run folder (HOME), and "
                       "record their PIDs in HOME/services/services.json; `stop` stops them all by PID. "
                       "Then: `transfer-laws deploy`, and sweeps with `executor: deployments`. "
                       "`init-auth` makes the servers' credentials once (a random Prefect auth string and "
                       "MLflow admin password, in HOME/services/credentials.json, mode 0600; or taken from "
                       "PREFECT_API_AUTH_STRING, MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD): "
                       "when they exist, both servers require them and the workers and the CLI use "
                       "them. Any --host but loopback is refused without them.")
    p.add_argument("action", choices=["start", "stop", "status", "init-auth"])
    p.add_argument("--home", help="project run folder (default $TRANSFER_LAWS_HOME or ./.transfer-laws)")
    p.add_argument("--host", default="127.0.0.1", help="interface the servers bind (loopback unless "
                   "you name another)")
    p.add_argument("--public-url", help="the Prefect server as browsers reach it (its UI calls the API "
                   "there), e.g. https://prefect.lab.example; default http://HOST:PORT, with this "
                   "machine's name for 0.0.0.0")
    p.add_argument("--prefect-port", type=int, default=4200)
    p.add_argument("--mlflow-port", type=int, default=5000)
    p.add_argument("--workers", default="auto", help="training workers: 'auto' = one per GPU (each "
                   "pinned with CUDA_VISIBLE_DEVICES, --limit 1), or one CPU worker; or a number")
    p.add_argument("--postgres", action="store_true", help="also start PostgreSQL (Debian's) and put both "
                   "Prefect's and MLflow's databases on it; it listens on no port, only on a socket "
                   "in HOME/services/postgres that only its owner can enter")
    p.set_defaults(func=cmd_services)

    p = sub.add_parser("worker", formatter_class=fmt, help="a Prefect process worker that stops cleanly",
                       description="Run a Prefect process worker on POOL (the training runs of sweeps with "
                       "`executor: deployments`) against PREFECT_API_URL (default: the server `services "
                       "start` recorded in HOME), with the credentials of the environment or of HOME. "
                       "SIGTERM or SIGINT stops it within seconds (exit 143 / 130): the flow runs it was "
                       "executing are killed, their half-written files removed, and set Scheduled again, "
                       "so the next worker on the pool resumes each from its last checkpoint. Run it as an "
                       "unprivileged user: a flow run executes code as its worker's user.")
    p.add_argument("--pool", default="transfer-laws", help="work pool (transfer-laws-control: sweeps only)")
    p.add_argument("--name", help="worker name, recorded on every run it trains (default: HOSTNAME-PID)")
    p.add_argument("--limit", type=int, default=1, help="flow runs at once (one per GPU: 1; 0: no limit)")
    p.add_argument("--home", help="project run folder whose credentials and recorded server to use")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("deploy", formatter_class=fmt, help="deploy deployments/prefect.yaml to the server",
                       description="Create the work pools and the deployments train-one-run, sweep and "
                       "aggregate on the Prefect server at PREFECT_API_URL (default: the one `services "
                       "start` recorded).")
    p.add_argument("--home")
    p.set_defaults(func=cmd_deploy)


def _api_url(home) -> str:
    from transfer_laws.tasks.services import servers

    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    server = next((s for s in servers.load_record(home) if s.name == "prefect-server"), None)
    if server is None:
        raise SystemExit("no Prefect server: run `transfer-laws services start` or set PREFECT_API_URL")
    return server.url + "/api"


def cmd_services(a) -> int:
    from transfer_laws.tasks.common import env
    from transfer_laws.tasks.common.errors import InputError
    from transfer_laws.tasks.services import auth, servers
    from transfer_laws.tasks.sweep.slots import gpu_count

    home = env.project_paths(a.home).home
    if a.action == "init-auth":
        _, made = auth.init(home)
        where = "the environment" if auth.from_environment() else auth.credentials_file(home)
        print(("made new credentials in " if made else "credentials already exist in ") + f"{where} "
              "(owner-only); `services start` now runs both servers with authentication")
        return 0
    if a.action == "stop":
        stopped = servers.stop_recorded(home)
        print("stopped: " + (", ".join(f"{s.name} (pid {s.pid})" for s in stopped) or "nothing was running"))
        return 0
    if a.action == "status":
        for s in servers.load_record(home):
            state = "up" if servers.alive(s.pid) else "gone"
            print(f"{s.name:22} pid {s.pid:<8} {state:5} {s.url or '-':28} log {s.log}")
        return 0
    credentials = auth.load(home)
    if credentials is None and not auth.is_loopback(a.host):
        raise InputError("--host", a.host, "would let anyone who reaches it run commands on the workers "
                         "and read every MLflow run: both servers need authentication beyond loopback",
                         f"run `transfer-laws services init-auth --home {home}` first (or set "
                         "PREFECT_API_AUTH_STRING, MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)")
    if credentials:
        servers.check_auth_app()
    started: list = []
    try:
        prefect_db = mlflow_db = None
        if a.postgres:
            pg, data = servers.start_postgres(data_dir=home / "services" / "postgres")
            started.append(pg)
            prefect_db = servers.database_url(pg, "asyncpg", "prefect")
            mlflow_db = servers.database_url(pg, "psycopg2", "mlflow")
            print(f"postgres       {servers.redact(pg.url)} (data {data})")
        prefect = servers.start_prefect_server(home, a.prefect_port, prefect_db, host=a.host, wait=False,
                                               credentials=credentials, public_url=a.public_url)
        started.append(prefect)  # stopped below if anything after it fails
        mlflow = servers.start_mlflow_server(home, a.mlflow_port, mlflow_db, host=a.host, wait=False,
                                             credentials=credentials)
        started.append(mlflow)  # both start at once; then wait for each
        servers.wait_http(prefect, "/api/health")
        servers.wait_http(mlflow, "/health")
        api = prefect.url + "/api"
        servers.ensure_pools(api, credentials)
        n_gpu = gpu_count()
        n = (n_gpu or 1) if a.workers == "auto" else int(a.workers)
        for i in range(n):
            pin = {"CUDA_VISIBLE_DEVICES": str(i % n_gpu)} if n_gpu else {"CUDA_VISIBLE_DEVICES": ""}
            started.append(servers.start_worker(home, api, f"{'gpu' if n_gpu else 'cpu'}-{i}", env=pin,
                                                credentials=credentials))
        started.append(servers.start_worker(home, api, "control", pool=servers.CONTROL_POOL, limit=None,
                                            credentials=credentials))
    except Exception:
        for s in reversed(started):
            servers.stop(s)
        raise
    servers.record(home, started)
    for s in started:
        print(f"{s.name:22} pid {s.pid:<8} {servers.redact(s.url) or '-':28} log {s.log}")
    if credentials:
        print(f"authentication on: clients take it from {auth.credentials_file(home)} (owner-only) or the "
              "environment (PREFECT_API_AUTH_STRING, MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD)")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        print("warning: the workers run as root, and a flow run executes code as its worker's user: "
              "start the services as an unprivileged user (docs/scale-out.md)")
    prefect_public = (a.public_url or prefect.url.replace(a.host, servers.browsable(a.host), 1)).rstrip("/")
    print(f"\nexport PREFECT_API_URL={prefect_public}/api")
    print(f"Prefect UI: {prefect_public}    MLflow UI: {mlflow.url.replace(a.host, servers.browsable(a.host), 1)}")
    print("next: transfer-laws deploy; stop all: transfer-laws services stop")
    return 0


def cmd_worker(a) -> int:
    import socket

    from transfer_laws.tasks.common import env
    from transfer_laws.tasks.services import auth, servers
    from transfer_laws.tasks.services.worker import run_worker

    home = env.project_paths(a.home).home
    api = _api_url(home)
    name = a.name or f"{socket.gethostname()}-{os.getpid()}"
    credentials = auth.for_targets(home, [api], [s.url for s in servers.load_record(home)])
    extra = {"PREFECT_API_URL": api, "TRANSFER_LAWS_WORKER": name,
             **(credentials.client_env() if credentials else {})}
    os.environ.update(extra)  # this process talks to the server too, when it reschedules its runs
    return run_worker(servers.worker_command(a.pool, name, a.limit), extra, name, a.pool)


def cmd_deploy(a) -> int:
    from transfer_laws.tasks.common import env
    from transfer_laws.tasks.services import auth, servers

    home = env.project_paths(a.home).home
    print(servers.deploy(_api_url(home), home, credentials=auth.load(home)))
    return 0
