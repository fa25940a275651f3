"""Data preparation: a corpus -> byte tokens, a fixed held-out test split, nested training subsets.

Why these choices:
- The test split is made *by document* (no file on both sides), deterministically from a hash of
  each doc_id, so the same corpus always gives the same split on every machine. A corpus of one
  document (a single text file) is split by position instead: its last `test_fraction`.
- The training documents are laid out once in a fixed hash order; the subset of size D is the
  first D tokens of that stream. So D_1 < D_2 gives D_1's data inside D_2's (nested subsets), as
  the paper's fine-tuning sets are.
- Tokens are UTF-8 bytes (vocabulary 256); byte 0, which never occurs in text, separates documents.
  Characters are counted too, because the paper states D in characters.
- The result is written once under a content hash (`<cache>/prepared/<key>/`), atomically; asking
  again for the same corpus and settings is a cache hit that tokenises and writes nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.corpora import Corpus

PREPARE_VERSION = 1  # bump when the on-disk layout or the split rule changes
DOC_SEPARATOR = 0  # byte id between documents
VOCAB_SIZE = 256


@dataclass(frozen=True)
class PreparedData:
    """A prepared corpus on disk: `train.bin` and `test.bin` (uint8 byte tokens) plus `meta.json`."""

    root: str
    corpus_name: str
    corpus_fingerprint: str
    key: str  # content hash of (corpus, split settings, layout version): names the folder
    tokenizer: str
    vocab_size: int
    test_fraction: float
    train_tokens: int
    test_tokens: int
    train_chars: int
    test_chars: int
    train_documents: int
    test_documents: int

    @property
    def path(self) -> Path:
        return Path(self.root)

    def train_array(self) -> np.ndarray:
        return np.memmap(self.path / "train.bin", dtype=np.uint8, mode="r")

    def test_array(self) -> np.ndarray:
        return np.memmap(self.path / "test.bin", dtype=np.uint8, mode="r")

    def check_subset(self, d_tokens: int | None, field: str = "dataset_tokens") -> int:
        """The number of training tokens a run of size D uses; errors name the field and the fix."""
        if d_tokens is None:
            return self.train_tokens
        if not isinstance(d_tokens, int) or d_tokens <= 0:
            raise InputError(field, d_tokens, "must be a positive whole number of tokens",
                             "give D as an integer > 0, or leave it out to use all training data")
        if d_tokens > self.train_tokens:
            raise InputError(field, d_tokens,
                             f"exceeds the {self.train_tokens:,} training tokens of corpus "
                             f"{self.corpus_name!r} (after holding out {self.test_fraction:.0%})",
                             f"use D <= {self.train_tokens:,} or a larger corpus")
        return d_tokens

    def check_context(self, n_ctx: int, d_tokens: int | None = None, field: str = "corpus",
                      d_field: str = "dataset_tokens", ctx_field: str = "n_ctx") -> None:
        """A run needs more than one context of training tokens and at least one context of
        held-out tokens (the training loop's own conditions), checked before any run starts."""
        train = self.train_tokens if d_tokens is None else d_tokens
        if train <= n_ctx:
            raise InputError(d_field if d_tokens is not None else field,
                             d_tokens if d_tokens is not None else self.corpus_name,
                             f"gives {train:,} training tokens, not more than one context "
                             f"({ctx_field} {n_ctx})",
                             f"use more training text or a smaller {ctx_field}")
        if self.test_tokens < n_ctx:
            raise InputError(field, self.corpus_name,
                             f"holds {self.test_tokens:,} held-out tokens after the "
                             f"{self.test_fraction:g} test split, fewer than one context "
                             f"({ctx_field} {n_ctx})",
                             f"use more text, a larger test fraction or a smaller {ctx_field}")

    def chars_in_prefix(self, d_tokens: int) -> int:
        """Characters in the first `d_tokens` training tokens (exact up to the last document)."""
        offsets = np.load(self.path / "train_doc_offsets.npy")  # token start of each document
        chars = np.load(self.path / "train_doc_chars.npy")
        n_full = int(np.searchsorted(offsets[1:], d_tokens, side="right"))
        full = int(chars[:n_full].sum())
        if n_full >= len(chars):
            return full
        doc_tokens = int(offsets[n_full + 1] - offsets[n_full])
        partial = (d_tokens - int(offsets[n_full])) / max(doc_tokens, 1)
        return full + int(round(partial * int(chars[n_full])))


def _doc_rank(doc_id: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}\0{doc_id}".encode()).hexdigest()


def preparation_key(corpus: Corpus, test_fraction: float, split_salt: str) -> str:
    payload = json.dumps({"fingerprint": corpus.fingerprint, "test_fraction": test_fraction,
                          "salt": split_salt, "tokenizer": "bytes", "version": PREPARE_VERSION},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def split_documents(corpus: Corpus, test_fraction: float, split_salt: str = "split-v1"
                    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, test) lists of (doc_id, text), each in the fixed hash order.

    Test documents are taken in hash order until they hold `test_fraction` of all bytes (at least
    one document, never all of them). A single-document corpus is cut by position instead.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InputError("test_fraction", test_fraction, "must lie strictly between 0 and 1",
                         "use e.g. 0.03 (the paper holds out 3 %)")
    docs = list(corpus.documents)
    if not docs:
        raise InputError("corpus", corpus.name, "has no documents", "choose a non-empty corpus")
    if len(docs) == 1:
        text = docs[0].text
        cut = int(round(len(text) * (1.0 - test_fraction)))
        if cut <= 0 or cut >= len(text):
            raise InputError("corpus", corpus.name, "is too small to split", "use more text")
        return [(docs[0].doc_id + "#train", text[:cut])], [(docs[0].doc_id + "#test", text[cut:])]
    ordered = sorted(docs, key=lambda d: _doc_rank(d.doc_id, split_salt))
    sizes = [len(d.text.encode("utf-8")) for d in ordered]
    target = test_fraction * sum(sizes)
    n_test, held = 0, 0
    while n_test < len(ordered) - 1 and (n_test == 0 or held < target):
        held += sizes[n_test]
        n_test += 1
    test = [(d.doc_id, d.text) for d in ordered[:n_test]]
    train = [(d.doc_id, d.text) for d in ordered[n_test:]]
    return train, test


def _write_stream(docs: list[tuple[str, str]], path: Path) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Write documents as one byte stream; return (tokens, chars, doc token offsets, doc chars)."""
    offsets, chars, total = [0], [], 0
    with open(path, "wb") as f:
        for i, (_, text) in enumerate(docs):
            data = text.encode("utf-8")
            if i:
                f.write(bytes([DOC_SEPARATOR]))
                total += 1
            f.write(data)
            total += len(data)
            offsets.append(total)
            chars.append(len(text))
    return total, sum(chars), np.asarray(offsets, dtype=np.int64), np.asarray(chars, dtype=np.int64)


def prepare(corpus: Corpus, cache_dir: Path, test_fraction: float = 0.03,
            split_salt: str = "split-v1") -> PreparedData:
    """Tokenise and split `corpus` once; later calls with the same inputs return the cached result."""
    key = preparation_key(corpus, test_fraction, split_salt)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(corpus.name.rstrip("/")).name)[:40] or "corpus"
    final = Path(cache_dir).resolve() / "prepared" / f"{slug}-{key}"
    meta_path = final / "meta.json"
    if meta_path.exists():  # the cache is keyed by content: keep the name this caller knows it by
        return replace(PreparedData(**json.loads(meta_path.read_text())), corpus_name=corpus.name)
    train, test = split_documents(corpus, test_fraction, split_salt)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        n_train, c_train, offsets, doc_chars = _write_stream(train, tmp / "train.bin")
        n_test, c_test, _, _ = _write_stream(test, tmp / "test.bin")
        np.save(tmp / "train_doc_offsets.npy", offsets)
        np.save(tmp / "train_doc_chars.npy", doc_chars)
        (tmp / "test_documents.txt").write_text("\n".join(doc_id for doc_id, _ in test))
        meta = PreparedData(
            root=str(final), corpus_name=corpus.name, corpus_fingerprint=corpus.fingerprint,
            key=key, tokenizer="bytes", vocab_size=VOCAB_SIZE, test_fraction=test_fraction,
            train_tokens=n_train, test_tokens=n_test, train_chars=c_train, test_chars=c_test,
            train_documents=len(train), test_documents=len(test))
        (tmp / "provenance.txt").write_text(f"{corpus.provenance}\n\nLicence:\n{corpus.licence}\n")
        (tmp / "meta.json").write_text(json.dumps(asdict(meta), indent=2))
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first: its result is identical, keep it
            if not meta_path.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return replace(PreparedData(**json.loads(meta_path.read_text())), corpus_name=corpus.name)


def load_prepared(path: str | Path) -> PreparedData:
    meta = Path(path) / "meta.json"
    if not meta.exists():
        raise InputError("data", str(path), "is not a prepared data folder (no meta.json)",
                         "prepare it first with tasks.data.prepare.prepare or `transfer-laws train`")
    return PreparedData(**json.loads(meta.read_text()))
