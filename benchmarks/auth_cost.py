"""What MLflow's basic-auth app costs a REST call, with and without its login cache.

Three real `mlflow server` processes on 127.0.0.1, each started by `tasks.services.servers` as
`transfer-laws services start` starts it: without authentication, with the basic-auth app and its
login cache off (`auth_cache_ttl_seconds = 0`, MLflow's default), and with the cache on (the
project's setting, `MLFLOW_AUTH_CACHE_SECONDS`). Each answers `--requests` (40) `experiments/search`
calls from one keep-alive session, after one warm-up call; the figure is the mean wall time per
call. Without the cache every call checks the admin's PBKDF2 password hash again: that CPU time is
taken from the training runs on a CPU box, and every metric relay and UI page pays it.

    .venv/bin/python benchmarks/auth_cost.py [--requests 40]
"""
from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (project hygiene)
import requests

from transfer_laws.tasks.services import auth, servers


def per_call_ms(home: Path, credentials, n: int) -> float:
    svc = servers.start_mlflow_server(home, credentials=credentials)
    try:
        session = requests.Session()
        login = {"auth": (credentials.mlflow_username, credentials.mlflow_password)} if credentials else {}
        url = svc.url + "/api/2.0/mlflow/experiments/search"
        session.post(url, json={"max_results": 10}, **login).raise_for_status()
        t0 = time.perf_counter()
        for _ in range(n):
            session.post(url, json={"max_results": 10}, **login).raise_for_status()
        return (time.perf_counter() - t0) / n * 1000
    finally:
        servers.stop(svc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=40, help="timed calls per server (default 40)")
    a = ap.parse_args()
    print(_common.load_line())
    creds = auth.Credentials(prefect_auth_string="bench:" + secrets.token_urlsafe(24),
                             mlflow_username="admin", mlflow_password=secrets.token_urlsafe(24))
    kept = servers.MLFLOW_AUTH_CACHE_SECONDS
    with tempfile.TemporaryDirectory() as tmp:
        plain = per_call_ms(Path(tmp) / "plain", None, a.requests)
        servers.MLFLOW_AUTH_CACHE_SECONDS = 0
        try:
            uncached = per_call_ms(Path(tmp) / "uncached", creds, a.requests)
        finally:
            servers.MLFLOW_AUTH_CACHE_SECONDS = kept
        cached = per_call_ms(Path(tmp) / "cached", creds, a.requests)
    print(f"MLflow REST call ({a.requests} experiments/search, one session): no auth {plain:.1f} ms, "
          f"basic-auth without login cache {uncached:.1f} ms ({uncached / plain:.1f}x), with the "
          f"project's {kept} s cache {cached:.1f} ms ({cached / plain:.1f}x)")
    print(f"goal: authentication costs a call at most 2x of no auth: {'met' if cached <= 2 * plain else 'NOT met'}")


if __name__ == "__main__":
    main()
