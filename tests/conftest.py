"""Shared test setup: project hygiene variables before any heavy import, a shared data cache.

The corpus/preparation cache is shared between test runs (`$TRANSFER_LAWS_CACHE_DIR`, default
`.transfer-laws/cache` in the repo), like a user's cache: it is content-addressed, so sharing it
cannot make a test pass that should fail. Everything else a test writes goes to its tmp_path.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
os.environ.setdefault("TRANSFER_LAWS_CACHE_DIR", str(REPO / ".transfer-laws" / "cache"))

from tasks.common import env as _env  # noqa: E402

_env.apply(_env.project_paths(REPO / ".transfer-laws" / "test-home"))
