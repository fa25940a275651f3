"""The on-disk cache of a downloaded corpus: `cache_dir/corpora/<name>/`, built atomically.

A recipe writes its documents as plain text files into a fresh temporary folder, which is renamed
into place only when complete, so a kill mid-way never leaves a half corpus and a second
resolution reads text files and downloads nothing. `manifest.json` (written last) records the
recipe version: bumping it rebuilds the cache when a recipe's conversion changes.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .corpus import Document

MANIFEST = "manifest.json"
TEXT_FOLDER = "text"
STALE_BUILD_AGE_S = 6 * 3600  # a temporary build folder this old belongs to a killed process


@dataclass(frozen=True)
class CacheManifest:
    name: str
    recipe_version: int
    provenance: str
    licence: str


def cached_corpus_folder(
    cache_dir: Path, name: str, recipe_version: int, build: Callable[[Path], CacheManifest]
) -> tuple[Path, CacheManifest]:
    """The folder holding corpus `name`, building it with `build(temporary_folder)` if absent or
    made by another recipe version. Returns the folder and its manifest."""
    corpora_dir = Path(cache_dir) / "corpora"
    final = corpora_dir / name
    manifest = read_manifest(final)
    if manifest is not None and manifest.recipe_version == recipe_version:
        return final, manifest

    corpora_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(corpora_dir, name)
    building = Path(tempfile.mkdtemp(prefix=f".{name}.building-", dir=corpora_dir))
    try:
        manifest = build(building)
        (building / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
        if final.exists():  # an older recipe version: move it aside, then delete it
            shutil.rmtree(final.rename(corpora_dir / f".{name}.old-{os.getpid()}"))
        try:
            building.rename(final)
        except OSError:  # another process finished the same build first: use theirs
            theirs = read_manifest(final)
            if theirs is None or theirs.recipe_version != recipe_version:
                raise
            manifest = theirs
    finally:
        if building.exists():
            shutil.rmtree(building)
    return final, manifest


def read_manifest(folder: Path) -> CacheManifest | None:
    try:
        return CacheManifest(**json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_documents(folder: Path, documents: list[Document]) -> None:
    """Each non-empty document as `folder/text/<doc_id>`, bytes exactly as its UTF-8 text."""
    root = folder / TEXT_FOLDER
    for doc in documents:
        if not doc.text.strip():
            continue
        path = root / doc.doc_id
        if ".." in Path(doc.doc_id).parts or Path(doc.doc_id).is_absolute():
            raise ValueError(f"doc_id {doc.doc_id!r} is not a relative path inside the corpus")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(doc.text.encode("utf-8"))


def read_documents(folder: Path) -> list[Document]:
    """The documents `write_documents` wrote, doc_id = path under `text/`."""
    root = folder / TEXT_FOLDER
    return [
        Document(path.relative_to(root).as_posix(), path.read_bytes().decode("utf-8"))
        for path in sorted(root.rglob("*"))
        if path.is_file()
    ]


def _remove_stale_builds(corpora_dir: Path, name: str) -> None:
    for leftover in list(corpora_dir.glob(f".{name}.building-*")) + list(corpora_dir.glob(f".{name}.old-*")):
        try:
            if time.time() - leftover.stat().st_mtime > STALE_BUILD_AGE_S or leftover.name.startswith(f".{name}.old-"):
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass
