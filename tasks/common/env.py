"""The project's run folder and environment hygiene, set by the project itself.

Everything a sweep writes lives under one folder (`--home`, `$TRANSFER_LAWS_HOME`, default
`./.transfer-laws`): the MLflow store (`mlflow.db` + `mlartifacts/`, absolute paths, since MLflow's
defaults depend on the current directory), Prefect's home, run folders and the data cache.
Telemetry is off and hubs are offline unless the user names a hub corpus: an offline hub lookup
otherwise hangs ~46 s before failing. These variables are read at import time by several
libraries, so `apply()` must run before torch/transformers/datasets/prefect/mlflow are imported.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProjectPaths:
    home: Path

    @property
    def cache(self) -> Path:
        override = os.environ.get("TRANSFER_LAWS_CACHE_DIR")
        return Path(override).resolve() if override else self.home / "cache"

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def mlflow_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db}"

    @property
    def artifacts(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def runs(self) -> Path:
        return self.home / "runs"


def project_paths(home: str | Path | None = None) -> ProjectPaths:
    chosen = home or os.environ.get("TRANSFER_LAWS_HOME") or ".transfer-laws"
    return ProjectPaths(Path(chosen).expanduser().resolve())


def hygiene(paths: ProjectPaths, hub: bool = False, tracking_uri: str | None = None) -> dict[str, str]:
    """The environment variables every process of the project runs with."""
    env = {
        "PREFECT_HOME": str(paths.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HOME": str(paths.cache / "hf"),
        "TORCHINDUCTOR_CACHE_DIR": str(paths.cache / "inductor"),  # compiled runs reuse kernels
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "MLFLOW_TRACKING_URI": tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or paths.mlflow_uri,
    }
    if not hub:
        env["HF_HUB_OFFLINE"] = "1"
        env["HF_DATASETS_OFFLINE"] = "1"
    return env


def check_writable(folder: Path, field: str = "home") -> None:
    """Stop with an InputError naming `folder` unless this process can create files in it: tried
    for real (a probe file made and removed in the folder or its nearest existing parent), since
    permission bits say nothing for root while a read-only mount stops root too. Writes nothing
    that stays."""
    import tempfile

    from transfer_laws.tasks.common.errors import InputError

    fix = ("use a project folder you can write to (--home DIR, the config's home: or "
           "$TRANSFER_LAWS_HOME), or make this one writable (permissions, mount options)")
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        problem = ("is a file, not a folder" if probe == folder else
                   f"cannot be created: {probe} is a file, not a folder")
        raise InputError(field, str(folder), problem, fix)
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".transfer-laws-probe-"):
            pass
    except OSError as exc:
        where = "" if probe == folder else f" (its nearest existing parent {probe})"
        raise InputError(field, str(folder), f"is not writable{where}: {exc.strerror or exc}", fix) from None


def apply(paths: ProjectPaths, hub: bool = False, tracking_uri: str | None = None,
          field: str = "home") -> dict[str, str]:
    """Check that the project folder can be written (InputError naming `field` if not), set the
    hygiene variables in this process (keeping any the user set explicitly) and drop MLflow run
    variables that would hijack our runs if leaked from a parent environment."""
    check_writable(paths.home, field)
    env = hygiene(paths, hub, tracking_uri)
    for key, value in env.items():
        if key in ("MLFLOW_TRACKING_URI", "PREFECT_HOME") or key not in os.environ:
            os.environ[key] = value
    for leaked in ("MLFLOW_RUN_ID", "MLFLOW_NESTED_RUN", "MLFLOW_TAGS", "MLFLOW_EXPERIMENT_NAME"):
        os.environ.pop(leaked, None)
    paths.home.mkdir(parents=True, exist_ok=True)
    return env
