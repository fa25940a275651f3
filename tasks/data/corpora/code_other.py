"""`code-other`: ~22 MB of non-Python source code, the paper's second pre-training source (mixed
half-and-half with `english`).

Three languages, all obtainable on a fresh Debian machine without a hub: C (the Linux UAPI and
GNU C library headers), C++ (the libstdc++ headers, templates included, so real code rather than
declarations only) and JavaScript (ESLint's hand-written sources, no minified bundles). One
document per file. Licences: GPL/LGPL and MIT; training a model on them is use, not redistribution.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .cache import CacheManifest, write_documents
from .corpus import Document
from .packages import (
    Package,
    PackageError,
    download_debian_packages,
    download_npm_package,
    read_package_files,
)

RECIPE_VERSION = 1
# What a first build costs, measured at recipe version 1 (2026-12, Debian 12 + npm): dry-run,
# plan and status price an unbuilt corpus with these instead of fetching it.
DOWNLOAD_BYTES = 6_889_969  # the three .deb archives and the npm tarball
TEXT_BYTES = 23_117_286  # the documents written to the cache


@dataclass(frozen=True)
class CodeSource:
    package: str
    wanted: Callable[[str], bool]  # which files of the package are source code
    licence: str


DEBIAN_SOURCES = (
    CodeSource("linux-libc-dev", lambda p: p.startswith("usr/include/") and p.endswith(".h"),
               "Linux kernel UAPI headers: GPL-2.0 WITH Linux-syscall-note"),
    CodeSource("libc6-dev", lambda p: p.startswith("usr/include/") and p.endswith(".h"),
               "GNU C Library headers: LGPL-2.1-or-later"),
    CodeSource("libstdc++-12-dev", lambda p: p.startswith("usr/include/"),  # <vector> etc. have no suffix
               "GNU C++ library headers: GPL-3.0-or-later WITH GCC-exception-3.1"),
)
ESLINT_VERSION = "10.15.0"  # pinned: npm versions are immutable
NPM_SOURCE = CodeSource(
    "eslint",
    lambda p: re.fullmatch(r"(lib|bin|conf)/.+\.(js|cjs|mjs|ts)", p) is not None and not p.endswith(".min.js"),
    "ESLint sources: MIT",
)
LICENCE = "; ".join(source.licence for source in [*DEBIAN_SOURCES, NPM_SOURCE])
DESCRIPTION = ("Non-Python source code (~22 MB): C headers (linux-libc-dev, libc6-dev), C++ headers "
               "(libstdc++-12-dev) from Debian, JavaScript (eslint) from npm")


def fetched_packages() -> list[str]:
    return [f"{s.package} (Debian)" for s in DEBIAN_SOURCES] + [f"{NPM_SOURCE.package} {ESLINT_VERSION} (npm)"]


def build_code_other(folder: Path, error: PackageError) -> CacheManifest:
    downloads = folder / "downloads"
    downloads.mkdir()
    packages = download_debian_packages([s.package for s in DEBIAN_SOURCES], downloads, error)
    packages.append(download_npm_package(NPM_SOURCE.package, ESLINT_VERSION, downloads, error))
    documents = []
    for package, source in zip(packages, [*DEBIAN_SOURCES, NPM_SOURCE]):
        documents.extend(_code_documents(package, source, folder))
    write_documents(folder, documents)
    provenance = "\n".join(f"{p} ({p.archive.name})" for p in packages)
    return CacheManifest("code-other", RECIPE_VERSION, provenance, LICENCE)


def _code_documents(package: Package, source: CodeSource, folder: Path) -> list[Document]:
    licence_paths = {f"usr/share/doc/{package.name}/copyright", "LICENSE"}
    documents = []
    for path, raw in read_package_files(package, lambda p: source.wanted(p) or p in licence_paths):
        if path in licence_paths:
            (folder / "licences").mkdir(exist_ok=True)
            (folder / "licences" / f"{package.name}.txt").write_bytes(raw)
            continue
        try:
            documents.append(Document(f"{package.name}/{path}", raw.decode("utf-8")))
        except UnicodeDecodeError:
            continue  # none in these packages today; a non-UTF-8 header is not worth a crash
    return documents
