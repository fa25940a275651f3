"""Nothing listens beyond loopback without authentication: real Prefect and MLflow servers on
127.0.0.1 with the credentials of `services init-auth`, an authenticated sweep through them, and the
refusal to open a server to the network without them. Every process is stopped by PID."""
from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from transfer_laws.tasks.services import auth, servers


def status(url: str, method: str = "GET", user_pass: str | None = None) -> int:
    req = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None,
                                 headers={"Content-Type": "application/json"})
    if user_pass is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(user_pass.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_init_auth_makes_owner_only_credentials_once(tmp_path, monkeypatch):
    for key in (auth.PREFECT_CLIENT, auth.MLFLOW_USER, auth.MLFLOW_PASSWORD):
        monkeypatch.delenv(key, raising=False)
    made, created = auth.init(tmp_path)
    again, created_again = auth.init(tmp_path)
    path = auth.credentials_file(tmp_path)
    assert created and not created_again and again == made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(made.mlflow_password) >= 12 and made.prefect_auth_string.startswith("admin:")
    assert made.mlflow_password not in repr(made)
    monkeypatch.setenv(auth.PREFECT_CLIENT, "u:from-env")
    monkeypatch.setenv(auth.MLFLOW_USER, "alice")
    monkeypatch.setenv(auth.MLFLOW_PASSWORD, "a-password-from-env")
    assert auth.load(tmp_path) == auth.Credentials("u:from-env", "alice", "a-password-from-env")
    assert [auth.is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.1.2.3")] == [
        True, True, True, False, False]


def test_credentials_go_only_to_the_servers_recorded_in_home(tmp_path, monkeypatch):
    auth.init(tmp_path)
    ours = ["http://127.0.0.1:4200", "http://127.0.0.1:5000", ""]
    assert auth.for_targets(tmp_path, ["http://127.0.0.1:4200/api", None], ours) == auth.load(tmp_path)
    assert auth.for_targets(tmp_path, ["https://api.prefect.cloud/api/accounts/x", "http://mlflow.other:5000"],
                            ours) is None
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_cloud")  # a Prefect Cloud user: never our string
    assert auth.for_targets(tmp_path, ["http://127.0.0.1:4200/api"], ours) is None


def test_services_beyond_loopback_are_refused_without_credentials(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in (auth.PREFECT_CLIENT, auth.MLFLOW_PASSWORD)}
    proc = subprocess.run([sys.executable, "-P", "-m", "transfer_laws.flows.cli", "services", "start", "--host",
                           "0.0.0.0", "--home", str(home)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--host = '0.0.0.0'" in lines[0] and "services init-auth" in lines[0]
    assert servers.load_record(home) == []  # nothing started, nothing recorded
    assert not (home / "services").exists()


def test_authenticated_servers_refuse_strangers(tmp_path, stack):
    """Both servers with the credentials of init-auth: 401 without them or with wrong ones, 200 with
    them; the health checks stay open. (The sweep through such a stack, and the search for the
    secrets in everything it wrote, is tests/services/test_deployments.py's PostgreSQL test.)"""
    home = tmp_path / "home"
    credentials, _ = auth.init(home)
    prefect = servers.start_prefect_server(home, credentials=credentials, wait=False)
    stack.append(prefect)
    mlflow = servers.start_mlflow_server(home, credentials=credentials, wait=False)
    stack.append(mlflow)
    servers.wait_http(prefect, "/api/health")
    servers.wait_http(mlflow, "/health")
    api, right = prefect.url + "/api", credentials.prefect_auth_string
    assert [status(f"{api}/version", user_pass=p) for p in (None, "admin:wrong", right)] == [401, 401, 200]
    assert status(f"{api}/work_pools/filter", "POST", right) == 403  # no CSRF token: a forged browser POST
    ml_right = f"{credentials.mlflow_username}:{credentials.mlflow_password}"
    search = f"{mlflow.url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert [status(search, user_pass=p) for p in (None, "admin:wrong-password", ml_right)] == [401, 401, 200]
    assert [status(f"{mlflow.url}/", user_pass=p) for p in (None, ml_right)] == [401, 200]  # the UI
    assert status(f"{mlflow.url}/health") == 200


@pytest.fixture(autouse=True)
def _no_inherited_credentials(monkeypatch):
    """The tests decide the credentials; none leak in from the developer's shell."""
    for key in (auth.PREFECT_CLIENT, auth.MLFLOW_USER, auth.MLFLOW_PASSWORD):
        monkeypatch.delenv(key, raising=False)
