"""The corpus value every recipe returns: documents plus where they came from and under what licence.

`Corpus.build` is the only constructor recipes use, so every corpus gets the same cleaning: empty
documents dropped, exact duplicates removed (the first by doc_id wins), documents sorted by doc_id,
and a content fingerprint the data-preparation cache keys on.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Document:
    """One unit of the by-document train/test split: a file, a book, a commentary section."""

    doc_id: str  # stable across machines and runs, e.g. the path relative to the corpus root
    text: str


@dataclass(frozen=True)
class Corpus:
    name: str
    documents: tuple[Document, ...]
    provenance: str  # one line per source: package name and version, or path
    licence: str
    fingerprint: str  # sha256 over the sorted (doc_id, text) pairs; independent of `name`
    skipped_files: int = 0  # binary or non-UTF-8 files left out
    duplicates_removed: int = 0

    @property
    def n_documents(self) -> int:
        return len(self.documents)

    @property
    def n_chars(self) -> int:
        return sum(len(d.text) for d in self.documents)

    @property
    def n_bytes(self) -> int:
        """UTF-8 bytes: the token count under the default byte-level tokeniser."""
        return sum(len(d.text.encode("utf-8")) for d in self.documents)

    @classmethod
    def build(
        cls,
        name: str,
        documents: Iterable[Document],
        provenance: str,
        licence: str,
        skipped_files: int = 0,
    ) -> "Corpus":
        ordered = sorted((d for d in documents if d.text.strip()), key=lambda d: d.doc_id)
        kept: list[Document] = []
        seen_texts: set[str] = set()
        seen_ids: set[str] = set()
        for doc in ordered:
            if doc.doc_id in seen_ids:
                raise ValueError(f"corpus {name!r}: two documents share doc_id {doc.doc_id!r}")
            seen_ids.add(doc.doc_id)
            if doc.text in seen_texts:
                continue
            seen_texts.add(doc.text)
            kept.append(doc)
        return cls(
            name=name,
            documents=tuple(kept),
            provenance=provenance,
            licence=licence,
            fingerprint=fingerprint_documents(kept),
            skipped_files=skipped_files,
            duplicates_removed=len(ordered) - len(kept),
        )


def fingerprint_documents(documents: Iterable[Document]) -> str:
    """sha256 over length-prefixed (doc_id, text) pairs, so no two different corpora can collide by
    shifting text between a document's id and its body or between neighbouring documents."""
    digest = hashlib.sha256()
    for doc in sorted(documents, key=lambda d: d.doc_id):
        doc_id, text = doc.doc_id.encode("utf-8"), doc.text.encode("utf-8")
        digest.update(f"{len(doc_id)}:{len(text)}:".encode())
        digest.update(doc_id)
        digest.update(text)
    return digest.hexdigest()
