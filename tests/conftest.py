"""Shared test setup: project hygiene variables before any heavy import, a shared data cache.

The corpus/preparation cache is shared between test runs (`$TRANSFER_LAWS_CACHE_DIR`, default
`.transfer-laws/cache` in the repo), like a user's cache: it is content-addressed, so sharing it
cannot make a test pass that should fail. Everything else a test writes goes to its tmp_path.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DATA = REPO / "docs" / "data"  # committed with provenance and licence (docs/data/*/README.md)
os.environ.setdefault("TRANSFER_LAWS_CACHE_DIR", str(REPO / ".transfer-laws" / "cache"))

from transfer_laws.tasks.common import env as _env  # noqa: E402

_env.apply(_env.project_paths(REPO / ".transfer-laws" / "test-home"))


@pytest.fixture
def stack():
    """Services a test starts (tests/services/stack.py), stopped by PID (workers first) even when an
    assertion fails; a service that survives its stop fails the test."""
    from transfer_laws.tasks.services import servers

    started: list = []
    yield started
    for svc in sorted(started, key=lambda s: (not s.name.startswith("worker"), s.name == "postgres")):
        servers.stop(svc)
    for svc in started:
        assert not servers.alive(svc.pid), f"{svc.name} (pid {svc.pid}) survived its stop"
