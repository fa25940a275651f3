"""An empty, migrated Prefect database kept in the data cache (one per Prefect version), so a new
project's server starts from a copy instead of paying ~19 s of migrations. Used by both the
long-lived server (`servers`) and a local sweep's temporary one (`warmup`)."""
from __future__ import annotations

from pathlib import Path

from transfer_laws.tasks.common.sqlite_files import copy_sqlite


def _template(cache: Path) -> Path:
    from importlib.metadata import version

    return cache / "prefect-db" / f"empty-{version('prefect')}.db"


def seed_prefect_db(prefect_home: Path, cache: Path) -> bool:
    """Copy the migrated empty database into a new PREFECT_HOME; True if it was copied."""
    return copy_sqlite(_template(cache), prefect_home / "prefect.db")


def save_prefect_template(prefect_home: Path, cache: Path) -> None:
    """Keep an empty, migrated copy of a database a server has just migrated (before any run)."""
    copy_sqlite(prefect_home / "prefect.db", _template(cache))
