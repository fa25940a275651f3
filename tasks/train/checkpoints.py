"""Checkpoint folders that are written atomically and verified before they are trusted.

Every checkpoint (a resumable `step_XXXXXXXX` state, or the `best/` model) is written into a
`*.tmp` folder, given a `manifest.json` of sha256 hashes of its files, then renamed into place. A
folder whose manifest is missing or does not match its files (a kill mid-write, a truncated copy,
bit rot) is reported and skipped: resume falls back to the previous good checkpoint, or restarts.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path) -> dict[str, str]:
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps(files, indent=1))
    return files


def verify(folder: Path) -> str | None:
    """None when the folder matches its manifest, else the reason it cannot be trusted."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return f"{folder.name}: no {MANIFEST} (written by an interrupted save?)"
    try:
        files = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return f"{folder.name}: unreadable {MANIFEST}"
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            return f"{folder.name}: {name} is missing"
        if sha256_file(path) != digest:
            return f"{folder.name}: {name} does not match its recorded sha256 (corrupted or truncated)"
    return None


def publish(tmp: Path, final: Path) -> None:
    """Hash `tmp`'s files, then move it to `final` (replacing an older `final`) by renames only."""
    write_manifest(tmp)
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def step_folders(root: Path) -> list[Path]:
    """Complete-looking step folders, newest first."""
    return sorted((p for p in root.glob("step_*") if p.is_dir() and p.suffix not in (".tmp", ".old")),
                  reverse=True)


def newest_valid(root: Path, warn=print) -> Path | None:
    """The newest step folder that verifies; bad ones are reported and removed."""
    for folder in step_folders(root):
        reason = verify(folder)
        if reason is None:
            return folder
        warn(f"skipping checkpoint {reason}; falling back to an earlier one")
        shutil.rmtree(folder, ignore_errors=True)
    return None


def prune(root: Path, keep: int = 2) -> None:
    for folder in step_folders(root)[keep:]:
        shutil.rmtree(folder, ignore_errors=True)
    for leftover in list(root.glob("step_*.tmp")) + list(root.glob("step_*.old")):
        shutil.rmtree(leftover, ignore_errors=True)
