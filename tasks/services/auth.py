"""Credentials of the scale-out servers: a Prefect API auth string and an MLflow admin login.

Nothing listens beyond loopback without them. They are made once (`transfer-laws services
init-auth`) into HOME/services/credentials.json, readable by its owner only (0600), or taken from
the environment (PREFECT_API_AUTH_STRING, MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD: what
the Prefect and MLflow clients read). Servers, workers and the CLI get them through the environment
of the processes the project starts, never through a command line (`ps` shows those), a sweep
config, a parameter or a log line.
"""
from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

PREFECT_CLIENT = "PREFECT_API_AUTH_STRING"
PREFECT_SERVER = "PREFECT_SERVER_API_AUTH_STRING"
MLFLOW_USER = "MLFLOW_TRACKING_USERNAME"
MLFLOW_PASSWORD = "MLFLOW_TRACKING_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    prefect_auth_string: str  # "user:password", what Prefect's server and clients compare
    mlflow_username: str
    mlflow_password: str

    def client_env(self) -> dict[str, str]:
        """What a Prefect or MLflow client (a worker, a sweep, the CLI) reads from its environment."""
        return {PREFECT_CLIENT: self.prefect_auth_string, MLFLOW_USER: self.mlflow_username,
                MLFLOW_PASSWORD: self.mlflow_password}

    def secrets(self) -> list[str]:
        """The strings that must never appear in a log, a parameter or a command line."""
        return [self.prefect_auth_string, self.prefect_auth_string.split(":", 1)[-1], self.mlflow_password]

    def __repr__(self) -> str:  # never printed by accident
        return f"Credentials(mlflow_username={self.mlflow_username!r}, secrets=***)"


def credentials_file(home: Path) -> Path:
    return Path(home) / "services" / "credentials.json"


def from_environment() -> Credentials | None:
    """The credentials the environment names in full, else None."""
    values = [os.environ.get(k) for k in (PREFECT_CLIENT, MLFLOW_USER, MLFLOW_PASSWORD)]
    return Credentials(*values) if all(values) else None


def load(home: Path) -> Credentials | None:
    """The environment's credentials, else HOME's credentials file, else None (no authentication)."""
    found = from_environment()
    path = credentials_file(home)
    if found is None and path.is_file():
        found = Credentials(**json.loads(path.read_text()))
    return found


def init(home: Path) -> tuple[Credentials, bool]:
    """(credentials, made now): those already in the environment or HOME, else new random ones,
    written to HOME/services/credentials.json with mode 0600."""
    existing = load(home)
    if existing is not None:
        return existing, False
    made = Credentials(f"admin:{secrets.token_urlsafe(24)}", "admin", secrets.token_urlsafe(24))
    private_file(credentials_file(home), json.dumps(asdict(made)), replace=False)
    # MLflow keeps an existing admin's password: its user database goes with the old credentials
    (credentials_file(home).parent / MLFLOW_AUTH_DB).unlink(missing_ok=True)
    return made, True


MLFLOW_AUTH_DB = "mlflow-auth.db"  # MLflow's users (password hashes), beside the credentials


def private_file(path: Path, text: str, replace: bool = True) -> Path:
    """Write `text` to a file only its owner can read (0600), replacing any earlier one (or, with
    replace=False, failing if one exists: two processes never both make credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if replace:
        path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def for_targets(home: Path, targets: list[str | None], recorded: list[str]) -> Credentials | None:
    """HOME's credentials, but only when a target URL (PREFECT_API_URL, a tracking URI) is one of
    the servers `services start` recorded there: they are never sent to another server (Prefect
    Cloud, a colleague's MLflow)."""
    if os.environ.get("PREFECT_API_KEY"):
        return None
    ours = [u.rstrip("/") for u in recorded if u]
    if not any(t and any(t.startswith(u) for u in ours) for t in targets):
        return None
    return load(home)


def is_loopback(host: str) -> bool:
    """True when `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
        except (socket.gaierror, ValueError):
            return False
