"""Fetch packages from the registries a fresh machine can reach (Debian apt, npm) and read their files.

Nothing is installed: `apt-get download` and `npm pack` only fetch archives into a folder we own,
and files are read straight out of the archives (`dpkg-deb --fsys-tarfile` streams a .deb's tar),
so no root is needed once apt's package lists exist. Any failure is an InputError that names the
corpus and the way around it: a folder of text files.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from transfer_laws.tasks.common.errors import InputError

FALLBACK_FIX = "pass a folder of text files with --corpus PATH instead"
APT_FIX = ("run `sudo apt-get update` once (on Ubuntu, enable the universe component) and retry, or "
           + FALLBACK_FIX)
DOWNLOAD_TIMEOUT_S = 600


@dataclass(frozen=True)
class Package:
    registry: str  # "debian" or "npm"
    name: str
    version: str
    archive: Path

    def __str__(self) -> str:
        return f"{self.registry} package {self.name} {self.version}"


@dataclass(frozen=True)
class PackageError:
    """Where a recipe's failure should point: the field being resolved and the corpus name."""

    field: str
    corpus: str

    def __call__(self, problem: str, fix: str = FALLBACK_FIX) -> InputError:
        return InputError(self.field, self.corpus, problem, fix)


def download_debian_packages(names: list[str], dest: Path, error: PackageError) -> list[Package]:
    """`apt-get download` each package at the newest version a configured repository offers.

    When that fails (no package lists on a fresh container, or stale lists naming versions the
    mirror no longer has) and we are root, run `apt-get update` once and try again.
    """
    _require_tools(["apt-get", "apt-cache", "dpkg-deb"], error, "Debian or Ubuntu")
    try:
        return _download_debian(names, dest, error)
    except InputError:
        if os.geteuid() != 0:
            raise
    _run(["apt-get", "update"], dest, error)
    for partial in dest.glob("*.deb"):
        partial.unlink()
    return _download_debian(names, dest, error)


def _download_debian(names: list[str], dest: Path, error: PackageError) -> list[Package]:
    """The version is named explicitly because apt's candidate can be an installed version that no
    repository carries any more, which `apt-get download` cannot fetch."""
    versions = {name: _repository_version(name, error) for name in names}
    _run(["apt-get", "download", *[f"{n}={v}" for n, v in versions.items()]], dest, error, APT_FIX)
    packages = []
    for name, version in versions.items():
        archives = sorted(dest.glob(f"{name}_*.deb"))
        if len(archives) != 1:
            raise error(f"apt-get download left {len(archives)} archives for {name} in {dest}")
        packages.append(Package("debian", name, version, archives[0]))
    return packages


def download_npm_package(name: str, version: str, dest: Path, error: PackageError) -> Package:
    """`npm pack NAME@VERSION`: the exact published tarball (npm versions are immutable)."""
    _require_tools(["npm"], error, "Node.js")
    before = set(dest.glob("*.tgz"))
    _run(["npm", "pack", f"{name}@{version}"], dest, error)
    created = sorted(set(dest.glob("*.tgz")) - before)
    if len(created) != 1:
        raise error(f"npm pack {name}@{version} left {len(created)} new archives in {dest}")
    return Package("npm", name, version, created[0])


def read_package_files(package: Package, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of every regular file in the package whose path `wanted` accepts.

    Paths drop the archive's leading `./` (Debian) or `package/` (npm).
    """
    if package.registry == "npm":
        with tarfile.open(package.archive, mode="r:gz") as archive:
            yield from _wanted_members(archive, "package/", wanted)
        return
    process = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(package.archive)], stdout=subprocess.PIPE)
    assert process.stdout is not None
    try:
        with tarfile.open(fileobj=process.stdout, mode="r|*") as archive:
            yield from _wanted_members(archive, "./", wanted)
        process.stdout.read()  # drain the tar's trailing padding so dpkg-deb never sees a broken pipe
    finally:
        process.stdout.close()
        if process.wait() != 0:
            raise RuntimeError(f"dpkg-deb --fsys-tarfile {package.archive} exited {process.returncode}")


def _wanted_members(archive: tarfile.TarFile, prefix: str, wanted: Callable[[str], bool]):
    for member in archive:
        path = member.name.removeprefix(prefix)
        if member.isfile() and wanted(path):
            handle = archive.extractfile(member)
            assert handle is not None
            yield path, handle.read()


def _repository_version(name: str, error: PackageError) -> str:
    version = _madison_version(name)
    if version is None:
        raise error(f"Debian package {name} is not in apt's package lists", APT_FIX)
    return version


def _madison_version(name: str) -> str | None:
    """`apt-cache madison` lists repository versions only (never the dpkg status file), newest first."""
    result = subprocess.run(["apt-cache", "madison", name], capture_output=True, text=True)
    for line in result.stdout.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 3 and fields[0] == name and "Packages" in fields[2]:
            return fields[1]
    return None


def _require_tools(tools: list[str], error: PackageError, platform: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise error(f"needs {', '.join(tools)} ({platform}); not found: {', '.join(missing)}")


def _run(command: list[str], cwd: Path, error: PackageError, fix: str = FALLBACK_FIX) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise error(f"`{' '.join(command)}` took more than {DOWNLOAD_TIMEOUT_S} s", fix) from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-800:]
        raise error(f"`{' '.join(command)}` failed (exit {result.returncode}): {tail}", fix)
