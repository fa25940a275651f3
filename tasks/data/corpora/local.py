"""User corpora from local files: a text file, a folder, a glob, or a .jsonl/.json/.parquet table.

Plain files become one document each, named by their path relative to the corpus root, so the
by-document split is a by-file split. Tables go through `datasets.load_dataset` (one document per
row of the `text` column). Binary or non-UTF-8 files are skipped and counted, not fatal.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from transfer_laws.tasks.common.errors import InputError

from .corpus import Document

TABLE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}  # suffix -> datasets builder
TEXT_COLUMN = "text"
_GLOB_MAGIC = re.compile(r"[*?\[]")
USER_LICENCE = "unknown: user-supplied files; their licence is the user's responsibility"


@dataclass(frozen=True)
class LocalFiles:
    files: tuple[Path, ...]
    root: Path  # doc_ids are paths relative to this folder
    description: str


def is_glob(spec: str) -> bool:
    return bool(_GLOB_MAGIC.search(spec))


def find_local_files(spec: str) -> LocalFiles | None:
    """The files a path or glob names, or None when it names nothing that exists."""
    if is_glob(spec):
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(spec), recursive=True))
        files = tuple(p for p in matches if p.is_file())
        if not files:
            return None
        return LocalFiles(files, _glob_root(os.path.expanduser(spec)), f"local glob {spec!r}")
    path = Path(spec).expanduser()
    if path.is_file():
        return LocalFiles((path,), path.parent, f"local file {path.resolve()}")
    if path.is_dir():
        return LocalFiles(tuple(_walk_visible_files(path)), path, f"local folder {path.resolve()}")
    return None


def read_local_documents(
    local: LocalFiles, cache_dir: Path, field: str, spec: str
) -> tuple[list[Document], int]:
    """All documents under `local`, and the number of files skipped as binary or non-UTF-8."""
    documents: list[Document] = []
    skipped = 0
    for path in local.files:
        doc_id = path.relative_to(local.root).as_posix()
        builder = TABLE_BUILDERS.get(path.suffix.lower())
        if builder is not None:
            documents.extend(_read_table(path, builder, doc_id, cache_dir, field, spec))
            continue
        text = decode_text_file(path)
        if text is None:
            skipped += 1
        else:
            documents.append(Document(doc_id, text))
    return documents, skipped


def decode_text_file(path: Path) -> str | None:
    """The file's text, or None when it is binary (has NUL bytes) or not valid UTF-8."""
    raw = path.read_bytes()
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _read_table(
    path: Path, builder: str, doc_id: str, cache_dir: Path, field: str, spec: str
) -> list[Document]:
    from datasets import load_dataset

    try:
        table = load_dataset(
            builder, data_files=str(path), split="train", cache_dir=str(cache_dir / "datasets")
        )
    except Exception as error:  # datasets raises many types for a malformed file
        raise InputError(
            field, spec, f"{path} could not be read as {builder}: {error}",
            f"check the file is valid {builder} with a `{TEXT_COLUMN}` column",
        ) from error
    if TEXT_COLUMN not in table.column_names:
        raise InputError(
            field, spec, f"{path} has no `{TEXT_COLUMN}` column (it has {table.column_names})",
            f"name the column that holds the documents `{TEXT_COLUMN}`",
        )
    return [
        Document(f"{doc_id}#{row:08d}", text)
        for row, text in enumerate(table[TEXT_COLUMN])
        if isinstance(text, str)
    ]


def _walk_visible_files(folder: Path) -> list[Path]:
    """Every file under `folder`, skipping hidden files and folders (.git, .venv) and __pycache__."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return files


def _glob_root(pattern: str) -> Path:
    """The folder before the first wildcard: `data/**/*.txt` -> `data`."""
    fixed = []
    for part in Path(pattern).parts:
        if is_glob(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")
