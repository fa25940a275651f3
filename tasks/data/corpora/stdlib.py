"""The default target, `python`: the running interpreter's standard-library .py files.

It ships with every Python, so the target exists on any machine with no download. Test suites are
left out by default (31.5 MB with them, 12.1 MB without, on 3.11): they are repetitive, generated
or deliberately odd code (encoding and syntax-error fixtures) rather than the code a model should
learn. site-packages is never part of it: that is whatever the user installed.
"""
from __future__ import annotations

import os
import platform
import sysconfig
from pathlib import Path

from .corpus import Corpus, Document
from .local import decode_text_file

TEST_FOLDERS = frozenset({"test", "tests", "idle_test"})  # test/, lib2to3/tests, idlelib/idle_test, …
NEVER_STDLIB = frozenset({"site-packages", "dist-packages", "__pycache__"})
PYTHON_LICENCE = "PSF-2.0 (Python Software Foundation License; see LICENSE in the Python distribution)"


def _python_files(root: Path, excluded: frozenset[str]) -> list[Path]:
    """Every .py file below `root`, never descending into an excluded folder (site-packages alone
    holds more files than the standard library: walking it cost seconds on every sweep start)."""
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        subfolders[:] = [d for d in subfolders if d not in excluded]
        found += [Path(folder) / f for f in files if f.endswith(".py")]
    return found


def python_stdlib_corpus(name: str = "python", include_tests: bool = False) -> Corpus:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    excluded = NEVER_STDLIB if include_tests else NEVER_STDLIB | TEST_FOLDERS
    documents, skipped = [], 0
    for path in sorted(_python_files(stdlib, excluded)):
        relative = path.relative_to(stdlib)
        if not path.is_file():
            continue
        text = decode_text_file(path)
        if text is None:
            skipped += 1
        else:
            documents.append(Document(relative.as_posix(), text))
    tests = "with" if include_tests else "without"
    provenance = (f"Python {platform.python_version()} standard library at {stdlib}: "
                  f"{len(documents)} .py files {tests} test folders, site-packages excluded, "
                  f"{skipped} skipped as not UTF-8")
    return Corpus.build(name, documents, provenance, PYTHON_LICENCE, skipped_files=skipped)
