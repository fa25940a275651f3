"""Checkpoint folders that are written atomically and verified before they are trusted.

Every checkpoint (a resumable `step_XXXXXXXX` state, or the `best/` model) is written into a
`*.tmp` folder, given a `manifest.json` of sha256 hashes of its files, then renamed into place. A
folder whose manifest is missing or does not match its files (a kill mid-write, a truncated copy,
bit rot) is reported and skipped: resume falls back to the previous good checkpoint, or restarts.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

MANIFEST = "manifest.json"


class DiskFull(OSError):
    """A checkpoint (or another run file) could not be written because its disk is full. The
    message names the folder and the free space; the previous good checkpoint is left intact."""


def disk_full_reason(exc: BaseException, folder: Path) -> str | None:
    """A one-line account when `exc` (raised while writing into `folder`) came from a full disk,
    else None. torch's writer reports ENOSPC as a RuntimeError without an errno ("file write
    failed"), so an unexplained write error on a disk with (almost) nothing free counts too."""
    codes = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
    seen, link = False, exc
    while link is not None and not seen:
        seen = getattr(link, "errno", None) in codes or "No space left on device" in str(link)
        link = link.__cause__ or link.__context__
    try:
        usage = shutil.disk_usage(_existing(folder))
    except OSError:
        usage = None
    if not seen and not (usage is not None and usage.free < 1 << 20
                         and isinstance(exc, (OSError, RuntimeError))):
        return None
    where = f"{folder}: no space left on device"
    if usage is not None:
        where += f" ({_size(usage.free)} free of {_size(usage.total)})"
    return where


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


# ---- test-only fault hook ------------------------------------------------------------------------
_PAUSES: dict[str, int] = {}
PAUSE_MARKER = "FAULT_PAUSED"


def fault_pause(point: str, folder: Path) -> None:
    """Reliability tests only (tests/test_faults.py, tests/test_resource_faults.py); a no-op unless
    `TRANSFER_LAWS_FAULT_PAUSE` is set. `TRANSFER_LAWS_FAULT_PAUSE=<point>@<n>` holds this process
    the n-th time it reaches `point` of a checkpoint write (`begin`: nothing of the step's
    checkpoint written yet; `state`: accelerate's files written, no progress.json nor manifest;
    `manifest`: manifest written, folder not renamed; `swap`: the previous folder moved aside, the
    new one not in place yet). It writes `<run folder>/FAULT_PAUSED` and waits while that file
    exists, so a test can kill -9 the sweep at exactly that moment, or change the world (fill the
    disk) and delete the file to let the write go on."""
    spec = os.environ.get("TRANSFER_LAWS_FAULT_PAUSE")
    if not spec:
        return
    want, _, nth = spec.partition("@")
    if want != point:
        return
    _PAUSES[point] = _PAUSES.get(point, 0) + 1
    if _PAUSES[point] != int(nth or 1):
        return
    run_dir = folder.parent.parent if folder.parent.name == "checkpoints" else folder.parent
    marker = run_dir / PAUSE_MARKER
    marker.write_text(json.dumps({"point": point, "folder": str(folder), "pid": os.getpid(),
                                  "time": time.time()}))
    while marker.exists():
        time.sleep(0.05)


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
    fault_pause("manifest", tmp)
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.rename(final, old)
        fault_pause("swap", final)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def recover_swapped(final: Path) -> bool:
    """A save killed between `publish`'s two renames leaves `final` missing and the previous
    folder, intact, at `final.old`: put it back (True) so the run keeps its best model."""
    old = final.with_name(final.name + ".old")
    if final.exists() or not old.is_dir() or verify(old) is not None:
        return False
    os.rename(old, final)
    return True


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
