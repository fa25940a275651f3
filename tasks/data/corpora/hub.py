"""Hub corpora, `hf:OWNER/NAME[:split][:column]`, through `datasets.load_dataset`.

Offline is the project's default (HF_HUB_OFFLINE=1 unless a hub corpus is named), and without it a
hub lookup on a machine with no route out hangs ~46 s before failing. So: offline fails at once,
and online first probes the endpoint with a short timeout.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from transfer_laws.tasks.common.errors import InputError

from .corpus import Document

HUB_PREFIX = "hf:"
PROBE_TIMEOUT_S = 3.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class HubSpec:
    repo: str  # OWNER/NAME
    split: str = "train"
    column: str = "text"

    @property
    def description(self) -> str:
        return f"Hugging Face hub dataset {self.repo}, split {self.split}, column {self.column}"


def parse_hub_spec(spec: str, field: str) -> HubSpec:
    parts = spec[len(HUB_PREFIX):].split(":")
    if not parts[0] or "/" not in parts[0] or len(parts) > 3 or not all(parts):
        raise InputError(field, spec, "is not a hub corpus of the form hf:OWNER/NAME[:split][:column]",
                         "write for example hf:roneneldan/TinyStories:train:text")
    return HubSpec(*parts)


def read_hub_documents(spec: str, cache_dir: Path, field: str) -> tuple[HubSpec, list[Document]]:
    hub = parse_hub_spec(spec, field)
    local = "pass a local folder, text, .jsonl or .parquet file with --corpus PATH"
    check_hub_reachable(spec, field, "a hub dataset", local)
    from datasets import load_dataset

    try:
        table = load_dataset(hub.repo, split=hub.split, cache_dir=str(cache_dir / "datasets"))
    except Exception as error:  # network, missing repo, gated repo, bad split: all user-facing
        raise InputError(field, spec, f"could not be loaded from the hub: {error}",
                         "check the dataset name and split, or pass a local file with --corpus PATH") from error
    if hub.column not in table.column_names:
        raise InputError(field, spec, f"has no column {hub.column!r} (it has {table.column_names})",
                         "name the text column as the last part: hf:OWNER/NAME:SPLIT:COLUMN")
    documents = [
        Document(f"{hub.split}#{row:08d}", text)
        for row, text in enumerate(table[hub.column])
        if isinstance(text, str)
    ]
    return hub, documents


def check_hub_reachable(spec: str, field: str, what: str, local: str) -> None:
    """Fail at once when HF_HUB_OFFLINE is set, and in seconds, not ~46 s, when the hub is
    unreachable (the probe is skipped behind a proxy, where a direct connection says nothing).
    `what` names the thing asked for ("a hub dataset"), `local` the way to do without the hub."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        raise InputError(field, spec, f"is {what} but HF_HUB_OFFLINE=1 (no hub access)",
                         f"unset HF_HUB_OFFLINE on a machine that can reach the hub, or {local}")
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as error:
        raise InputError(field, spec, f"is {what} but {host}:{port} cannot be reached ({error})",
                         f"run where the hub is reachable, or {local}") from error
