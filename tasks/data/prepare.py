"""Data preparation: a corpus -> tokens, a fixed held-out test split, nested training subsets.

Why these choices:
- The test split is made *by document* (no file on both sides), deterministically from a hash of
  each doc_id, so the same corpus always gives the same split on every machine. A corpus of one
  document (a single text file) is split by position instead: its last `test_fraction`.
- The training documents are laid out once in a fixed hash order; the subset of size D is the
  first D tokens of that stream. So D_1 < D_2 gives D_1's data inside D_2's (nested subsets), as
  the paper's fine-tuning sets are.
- Tokens come from an `Encoder` (tasks/data/tokenizer.py): UTF-8 bytes by default (vocabulary 256;
  byte 0, which never occurs in text, separates documents), or a BPE / Hugging Face tokenizer
  (its end-of-text token separates documents). Characters and UTF-8 bytes are counted too, from
  the raw text (never by decoding single tokens): the paper states D in characters, and bits per
  byte compare tokenizers.
- The result is written once under a content hash (`<cache>/prepared/<key>/`), atomically; asking
  again for the same corpus and settings is a cache hit that tokenises and writes nothing.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from transfer_laws.tasks.common.atomic_folder import build_once
from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.corpora import Corpus
from transfer_laws.tasks.data.tokenizer import (
    BYTE_ENCODER,
    BYTES,
    Encoder,
    TokenizerSpec,
    bpe_encoder,
    encoder_from_folder,
    hub_encoder,
    id_dtype,
)

PREPARE_VERSION = 1  # bump when the on-disk layout or the split rule changes
DOC_SEPARATOR = BYTE_ENCODER.separator  # byte id between documents


@dataclass(frozen=True)
class PreparedData:
    """A prepared corpus on disk: `train.bin` and `test.bin` (token ids, the narrowest unsigned
    type for the vocabulary) plus `meta.json`."""

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
    # UTF-8 bytes of the documents (separators not counted); -1 in a cache written before they were
    # recorded (byte tokens only): then derived exactly from the token counts
    train_bytes: int = -1
    test_bytes: int = -1
    tokenizer_dir: str = ""  # the Hugging Face tokenizer folder; "" for bytes

    @property
    def path(self) -> Path:
        return Path(self.root)

    @property
    def dtype(self):
        return id_dtype(self.vocab_size)

    def train_array(self) -> np.ndarray:
        return np.memmap(self.path / "train.bin", dtype=self.dtype, mode="r")

    def test_array(self) -> np.ndarray:
        return np.memmap(self.path / "test.bin", dtype=self.dtype, mode="r")

    @property
    def held_out_bytes(self) -> int:
        """UTF-8 bytes of the held-out text (byte tokens less the separators in an older cache)."""
        return self.test_bytes if self.test_bytes >= 0 else self.test_tokens - max(self.test_documents - 1, 0)

    @property
    def held_out_tokens_per_byte(self) -> float:
        """Tokens per byte of the held-out split, from its raw text."""
        return self.test_tokens / max(self.held_out_bytes, 1)

    def bits_per_byte(self, nats_per_token: float) -> float:
        """A held-out loss in bits per UTF-8 byte, comparable across tokenizers (the evaluation
        windows are spread over the held-out split, whose raw text gives the tokens per byte)."""
        return nats_per_token * self.held_out_tokens_per_byte / math.log(2)

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
        return self._in_prefix(d_tokens, np.load(self.path / "train_doc_chars.npy"))

    def bytes_in_prefix(self, d_tokens: int) -> int:
        """UTF-8 bytes in the first `d_tokens` training tokens (exact up to the last document,
        inside which they are interpolated; exact throughout for byte tokens)."""
        path = self.path / "train_doc_bytes.npy"
        if path.exists():
            return self._in_prefix(d_tokens, np.load(path))
        offsets = np.load(self.path / "train_doc_offsets.npy")  # a byte-token cache of before:
        spans = np.diff(offsets)  # each document's bytes, after the first one's separator
        return self._in_prefix(d_tokens, spans - (np.arange(len(spans)) > 0))

    def _in_prefix(self, d_tokens: int, per_doc: np.ndarray) -> int:
        """The sum of a per-document count over the first `d_tokens` tokens, pro rata inside the
        document the prefix ends in."""
        offsets = np.load(self.path / "train_doc_offsets.npy")  # token end of each document
        n_full = int(np.searchsorted(offsets[1:], d_tokens, side="right"))
        full = int(per_doc[:n_full].sum())
        if n_full >= len(per_doc):
            return full
        doc_tokens = int(offsets[n_full + 1] - offsets[n_full])
        partial = (d_tokens - int(offsets[n_full])) / max(doc_tokens, 1)
        return full + int(round(partial * int(per_doc[n_full])))


def _doc_rank(doc_id: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}\0{doc_id}".encode()).hexdigest()


def preparation_key(corpus: Corpus, test_fraction: float, split_salt: str, tokenizer: str = BYTES) -> str:
    """`tokenizer`: the Encoder's identity ("bytes", or its tokenizer.json's hash)."""
    payload = json.dumps({"fingerprint": corpus.fingerprint, "test_fraction": test_fraction,
                          "salt": split_salt, "tokenizer": tokenizer, "version": PREPARE_VERSION},
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


@dataclass(frozen=True)
class _Stream:
    tokens: int
    offsets: np.ndarray  # token offset of each document's end (after a leading 0)
    chars: np.ndarray  # characters of each document
    bytes: np.ndarray  # UTF-8 bytes of each document


def _write_stream(docs: list[tuple[str, str]], path: Path, encoder: Encoder, batch: int = 256) -> _Stream:
    """Write documents as one token stream, the encoder's separator between documents."""
    offsets, chars, sizes, total = [0], [], [], 0
    separator = np.asarray([encoder.separator], dtype=encoder.dtype)
    with open(path, "wb") as f:
        for start in range(0, len(docs), batch):
            texts = [text for _, text in docs[start:start + batch]]
            for i, ids in enumerate(encoder.encode(texts), start):
                if i:
                    f.write(separator.tobytes())
                    total += 1
                f.write(ids.tobytes())
                total += len(ids)
                offsets.append(total)
            chars += [len(t) for t in texts]
            sizes += [len(t.encode("utf-8")) for t in texts]
    return _Stream(total, *(np.asarray(v, dtype=np.int64) for v in (offsets, chars, sizes)))


def prepare(corpus: Corpus, cache_dir: Path, test_fraction: float = 0.03,
            split_salt: str = "split-v1", encoder: Encoder = BYTE_ENCODER) -> PreparedData:
    """Tokenise and split `corpus` once; later calls with the same inputs return the cached result."""
    key = preparation_key(corpus, test_fraction, split_salt, encoder.identity)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(corpus.name.rstrip("/")).name)[:40] or "corpus"
    final = Path(cache_dir).resolve() / "prepared" / f"{slug}-{key}"

    def build(tmp: Path) -> None:
        train, test = split_documents(corpus, test_fraction, split_salt)
        tr = _write_stream(train, tmp / "train.bin", encoder)
        te = _write_stream(test, tmp / "test.bin", encoder)
        np.save(tmp / "train_doc_offsets.npy", tr.offsets)
        np.save(tmp / "train_doc_chars.npy", tr.chars)
        np.save(tmp / "train_doc_bytes.npy", tr.bytes)
        (tmp / "test_documents.txt").write_text("\n".join(doc_id for doc_id, _ in test))
        meta = PreparedData(
            root=str(final), corpus_name=corpus.name, corpus_fingerprint=corpus.fingerprint,
            key=key, tokenizer=encoder.name, vocab_size=encoder.vocab_size, test_fraction=test_fraction,
            train_tokens=tr.tokens, test_tokens=te.tokens, train_chars=int(tr.chars.sum()),
            test_chars=int(te.chars.sum()), train_documents=len(train), test_documents=len(test),
            train_bytes=int(tr.bytes.sum()), test_bytes=int(te.bytes.sum()), tokenizer_dir=encoder.folder)
        (tmp / "provenance.txt").write_text(f"{corpus.provenance}\n\nLicence:\n{corpus.licence}\n")
        (tmp / "meta.json").write_text(json.dumps(asdict(meta), indent=2))  # last: marks it complete

    build_once(final, build, "meta.json")
    # the cache is keyed by content: keep the names this caller knows the corpus and tokenizer by
    return replace(PreparedData(**json.loads((final / "meta.json").read_text())), corpus_name=corpus.name,
                   tokenizer=encoder.name)


def encoder_for(spec: TokenizerSpec, cache_dir: Path, corpora: list[Corpus], test_fraction: float = 0.03,
                split_salt: str = "split-v1", field: str = "tokenizer") -> Encoder:
    """The tokenizer of `spec` for data made of `corpora`; a BPE is trained on their training
    splits (the same split `prepare` makes), once: it is cached by their fingerprints."""
    if spec.kind == "bytes":
        return BYTE_ENCODER
    if spec.kind == "folder":
        return encoder_from_folder(spec.where, spec.text, field)
    if spec.kind == "hf":
        return hub_encoder(spec, cache_dir, field)

    def training_texts():
        for corpus in corpora:
            yield from (text for _, text in split_documents(corpus, test_fraction, split_salt)[0])

    return bpe_encoder(spec, cache_dir, corpora, training_texts, test_fraction, split_salt)


def load_prepared(path: str | Path) -> PreparedData:
    meta = Path(path) / "meta.json"
    if not meta.exists():
        raise InputError("data", str(path), "is not a prepared data folder (no meta.json)",
                         "prepare it first with tasks.data.prepare.prepare or `transfer-laws train`")
    return PreparedData(**json.loads(meta.read_text()))
