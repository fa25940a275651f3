"""A folder on disk built once and atomically, shared by the caches keyed by content (prepared
data, trained tokenizers): a kill mid-way never leaves half a folder, and two processes building
the same content at once end with one folder, either's."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def build_once(final: Path, build: Callable[[Path], None], marker: str) -> bool:
    """Make `final` unless it holds `marker` (its last-written file) already: `build(tmp)` fills a
    fresh temporary folder beside it, renamed into place when complete. True when this call built
    it; False when it was there, or another process renamed its identical build in first."""
    if (final / marker).exists():
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first: its result is identical, keep it
            if not (final / marker).exists():
                raise
            return False
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
