"""Consistent, atomic copies of SQLite databases: the empty, migrated stores kept as templates."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def copy_sqlite(src: Path, dst: Path) -> bool:
    """Copy `src` to `dst` with SQLite's backup API (consistent even while `src` is open), then rename
    into place; False, copying nothing, if `src` is missing, `dst` exists or its folder can't be made."""
    src, dst = Path(src), Path(dst)
    if not src.exists() or dst.exists():
        return False
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
    a, b = sqlite3.connect(src), sqlite3.connect(tmp)
    try:
        a.backup(b)
    finally:
        b.close()
        a.close()
    tmp.rename(dst)
    return True
