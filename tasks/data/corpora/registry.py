"""`resolve_corpus(spec, cache_dir)`: one entry point from a corpus spec to a `Corpus`.

A spec is a registered name (`list_corpora()`), `hf:OWNER/NAME[:split][:column]`, or a local path:
a text file, a folder, a glob, or a .jsonl/.json/.parquet file with a `text` column. A registered
name wins over a same-named path: write `./english` for a folder called english.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from transfer_laws.tasks.common.errors import InputError

from . import code_other, english
from .cache import CacheManifest, cached_corpus_folder, read_documents
from .corpus import Corpus
from .hub import HUB_PREFIX, read_hub_documents
from .local import USER_LICENCE, find_local_files, read_local_documents
from .packages import PackageError
from .stdlib import PYTHON_LICENCE, python_stdlib_corpus


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    description: str
    licence: str


@dataclass(frozen=True)
class _Recipe:
    info: CorpusInfo
    load: Callable[[Path, str], Corpus]  # (cache_dir, field) -> Corpus


def _downloaded(name: str, version: int, build: Callable[[Path, PackageError], CacheManifest]):
    """A recipe whose documents are fetched once into cache_dir/corpora/<name>/ and read from there."""
    def load(cache_dir: Path, field: str) -> Corpus:
        folder, manifest = cached_corpus_folder(cache_dir, name, version,
                                                lambda tmp: build(tmp, PackageError(field, name)))
        return Corpus.build(name, read_documents(folder), manifest.provenance, manifest.licence)
    return load


_REGISTRY: dict[str, _Recipe] = {
    recipe.info.name: recipe
    for recipe in [
        _Recipe(CorpusInfo("python", "The running Python's standard library .py files, test folders "
                           "excluded (~12 MB; the default target)", PYTHON_LICENCE),
                lambda cache_dir, field: python_stdlib_corpus("python")),
        _Recipe(CorpusInfo("python-with-tests", "The same, test folders included (~31 MB)", PYTHON_LICENCE),
                lambda cache_dir, field: python_stdlib_corpus("python-with-tests", include_tests=True)),
        _Recipe(CorpusInfo("english", english.DESCRIPTION, english.LICENCE),
                _downloaded("english", english.RECIPE_VERSION, english.build_english)),
        _Recipe(CorpusInfo("code-other", code_other.DESCRIPTION, code_other.LICENCE),
                _downloaded("code-other", code_other.RECIPE_VERSION, code_other.build_code_other)),
    ]
}


def list_corpora() -> list[CorpusInfo]:
    """The registered corpora, for --help and the docs."""
    return [recipe.info for recipe in _REGISTRY.values()]


def resolve_corpus(spec: str, cache_dir: Path, *, field: str = "corpus") -> Corpus:
    """The corpus `spec` names. Bad input (unknown name, missing path, nothing usable, a registry
    or hub that cannot be reached) raises InputError naming `field`, before any training."""
    cache_dir = Path(cache_dir)
    if spec in _REGISTRY:
        corpus = _REGISTRY[spec].load(cache_dir, field)
    elif spec.startswith(HUB_PREFIX):
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
