"""Tokenizers: the text -> token-id rule of a sweep's data, named by one string (`tokenizer:`).

- `bytes` (the default): UTF-8 bytes, vocabulary 256, byte 0 between documents. Its prepared data
  keeps the key it had before tokenizers were configurable, so no run_key moves.
- `bpe:V`: a byte-level BPE of vocabulary V (256 byte symbols, one end-of-text token, V - 257
  merges), trained with the `tokenizers` library on the sweep's training text only (the target's
  training split and every source's; never a held-out split). Training is deterministic (the same
  text gives the same tokenizer.json byte for byte, across processes: a test checks it) and cached
  by a hash of V and the corpora's fingerprints and split settings, as a Hugging Face tokenizer
  folder under `<cache>/tokenizers/`.
- a folder holding a Hugging Face `tokenizer.json` (any fast tokenizer), or
- `hf:NAME`: a hub tokenizer through `transformers.AutoTokenizer` (the Hugging Face cache first, so
  a name works offline once cached); it is saved into the same cache as a folder.

A tokenizer other than bytes is identified by the sha256 of its tokenizer.json, which enters the
prepared data's key and so every run_key. Documents are separated by the tokenizer's end-of-text
(eos) token, else its bos token.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Literal

import numpy as np

from transfer_laws.tasks.common.atomic_folder import build_once
from transfer_laws.tasks.common.errors import InputError

BYTES = "bytes"
BPE_PREFIX = "bpe:"
HUB_PREFIX = "hf:"
MIN_VOCAB = 257  # 256 byte symbols + the end-of-text token
MAX_VOCAB = 2 ** 17  # token ids are stored as uint32 above 65536; beyond this, a typo
END_OF_TEXT = "<|endoftext|>"
BPE_VERSION = 1  # bump when the BPE recipe changes (it is part of the cache key)
TOKENIZER_HELP = ("bytes (UTF-8 bytes, vocabulary 256; the default) | bpe:V (a byte-level BPE of "
                  f"vocabulary V, {MIN_VOCAB} <= V <= {MAX_VOCAB}, trained on the training text) | a "
                  "Hugging Face tokenizer folder (with tokenizer.json) | hf:NAME (a hub tokenizer; "
                  "offline once cached)")
_FIX = f"use bytes, bpe:V with {MIN_VOCAB} <= V <= {MAX_VOCAB} (e.g. bpe:4096), a tokenizer folder or hf:NAME"


def id_dtype(vocab_size: int):
    """The narrowest unsigned integer type that holds every id of a vocabulary (data on disk)."""
    return np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.uint32


@dataclass(frozen=True)
class TokenizerSpec:
    """A parsed `tokenizer:` value; `checked` below is the only way to make one."""

    kind: Literal["bytes", "bpe", "folder", "hf"]
    text: str  # as written (a folder made absolute): the name runs and reports show
    vocab: int = 0  # bpe: V
    where: str = ""  # folder: its path; hf: the hub name

    @classmethod
    def checked(cls, spec: str, field: str = "tokenizer") -> "TokenizerSpec":
        """Parse `spec`; an InputError names the field, the value and the fix. Reads no tokenizer."""
        if not isinstance(spec, str) or not spec.strip():
            raise InputError(field, spec, "is not a tokenizer", _FIX)
        spec = spec.strip()
        if spec == BYTES:
            return cls("bytes", BYTES, 256)
        if spec.startswith(BPE_PREFIX):
            size = spec[len(BPE_PREFIX):]
            if not size.isdigit():
                raise InputError(field, spec, "is not bpe:V with a whole-number vocabulary V", _FIX)
            vocab = int(size)
            if not MIN_VOCAB <= vocab <= MAX_VOCAB:
                raise InputError(field, spec, f"asks for a vocabulary of {vocab}, outside "
                                 f"{MIN_VOCAB}..{MAX_VOCAB} (256 bytes + end-of-text at least)",
                                 f"use bpe:V with {MIN_VOCAB} <= V <= {MAX_VOCAB}, e.g. bpe:4096")
            return cls("bpe", f"bpe:{vocab}", vocab)
        if spec.startswith(HUB_PREFIX):
            name = spec[len(HUB_PREFIX):]
            if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name):
                raise InputError(field, spec, "is not a hub tokenizer name of the form hf:OWNER/NAME", _FIX)
            return cls("hf", spec, 0, name)
        path = Path(spec).expanduser()
        if not path.is_dir():
            problem = ("is neither bytes, bpe:V, hf:NAME nor an existing folder"
                       if "/" not in spec and not spec.startswith(".") else "is not an existing folder")
            raise InputError(field, spec, problem, _FIX)
        if not (path / "tokenizer.json").is_file():
            raise InputError(field, spec, "is a folder without tokenizer.json (a Hugging Face fast tokenizer)",
                             "save the tokenizer with `tokenizer.save_pretrained(folder)` from a fast "
                             "(Rust) tokenizer, or use bytes or bpe:V")
        return cls("folder", str(path.resolve()), 0, str(path.resolve()))


@dataclass(frozen=True)
class Encoder:
    """A tokenizer ready to use: plain values (safe to pickle and to log); the Hugging Face
    tokenizer itself is loaded on first use in each process."""

    name: str  # the spec's text: bytes, bpe:4096, a folder, hf:NAME
    identity: str  # "bytes", or the sha256 of tokenizer.json (16 hex): part of the data's key
    vocab_size: int  # the model's vocabulary: every id the tokenizer can emit is below it
    separator: int  # the id between documents
    folder: str = ""  # the Hugging Face tokenizer folder ("" for bytes)

    @property
    def dtype(self):
        return id_dtype(self.vocab_size)

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids of each text (no special tokens added), as arrays of `dtype`."""
        if self.identity == BYTES:
            return [np.frombuffer(t.encode("utf-8"), dtype=np.uint8) for t in texts]
        batch = _loaded(self.folder).backend_tokenizer.encode_batch(texts, add_special_tokens=False)
        return [np.asarray(e.ids, dtype=self.dtype) for e in batch]


BYTE_ENCODER = Encoder(BYTES, BYTES, 256, 0)

_LOADED: dict[str, object] = {}


def _loaded(folder: str):
    if folder not in _LOADED:
        from transformers import AutoTokenizer

        _LOADED[folder] = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return _LOADED[folder]


def encoder_from_folder(folder: str | Path, name: str, field: str = "tokenizer") -> Encoder:
    """The Encoder of a Hugging Face tokenizer folder (must hold tokenizer.json)."""
    folder = str(Path(folder).resolve())
    tok = _loaded(folder)
    separator = tok.eos_token_id if tok.eos_token_id is not None else tok.bos_token_id
    if separator is None:
        raise InputError(field, name, "has neither an eos nor a bos token to separate documents",
                         "use a tokenizer with an end-of-text token, or bytes or bpe:V")
    digest = hashlib.sha256((Path(folder) / "tokenizer.json").read_bytes()).hexdigest()[:16]
    vocab = max(len(tok), max(tok.get_vocab().values()) + 1)
    if vocab > MAX_VOCAB:
        raise InputError(field, name, f"has a vocabulary of {vocab}, above {MAX_VOCAB}",
                         f"use a tokenizer of at most {MAX_VOCAB} tokens, or bpe:V")
    return Encoder(name, digest, vocab, int(separator), folder)


def bpe_key(vocab: int, corpora: Iterable, test_fraction: float, split_salt: str) -> str:
    """The cache key of a trained BPE: its vocabulary and the identity of its training text."""
    payload = json.dumps({"vocab": vocab, "version": BPE_VERSION, "test_fraction": test_fraction,
                          "salt": split_salt, "corpora": sorted({c.fingerprint for c in corpora})})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train_bpe(vocab: int, texts: Iterable[str], folder: Path) -> None:
    """Train a byte-level BPE of `vocab` ids on `texts` and save it as a Hugging Face folder.
    GPT-2's pre-tokenizer (no prefix space), the 256 byte symbols always in the vocabulary, the
    end-of-text token first (id 0)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[END_OF_TEXT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=END_OF_TEXT, bos_token=END_OF_TEXT
                            ).save_pretrained(str(folder))


def bpe_encoder(spec: TokenizerSpec, cache_dir: Path, corpora: list, training_texts: Callable[[], Iterable[str]],
                test_fraction: float, split_salt: str) -> Encoder:
    """The BPE of `spec` for these corpora, trained once (`training_texts` is called only on a miss)."""
    key = bpe_key(spec.vocab, corpora, test_fraction, split_salt)
    final = Path(cache_dir).resolve() / "tokenizers" / f"bpe-{spec.vocab}-{key}"
    build_once(final, lambda tmp: train_bpe(spec.vocab, training_texts(), tmp), "tokenizer.json")
    encoder = encoder_from_folder(final, spec.text)
    if encoder.vocab_size != spec.vocab:  # too little text to learn V - 257 merges
        raise InputError("tokenizer", spec.text, f"the training text yields only {encoder.vocab_size} "
                         f"tokens, fewer than {spec.vocab}", f"use bpe:{encoder.vocab_size} or fewer, or more text")
    return encoder


# The files of a Hugging Face tokenizer (fnmatch patterns): what is fetched, logged and exported
# with a tokenizer, never a model's weights that share its folder.
TOKENIZER_FILES = ("tokenizer*", "special_tokens_map.json", "vocab*", "merges.txt", "added_tokens.json", "*.model")


def tokenizer_files(folder: str | Path) -> list[Path]:
    """The tokenizer's own files in `folder` (which may also hold a model)."""
    from fnmatch import fnmatch

    return sorted(f for f in Path(folder).iterdir() if f.is_file() and any(fnmatch(f.name, p) for p in TOKENIZER_FILES))


def hub_encoder(spec: TokenizerSpec, cache_dir: Path, field: str = "tokenizer") -> Encoder:
    """A hub tokenizer: its tokenizer files from the Hugging Face cache when there (the hub's own
    layout, so a name works offline once cached), else downloaded where a network exists (the
    tokenizer files only, never weights); saved as a folder under `<cache>/tokenizers/` named by
    its content."""
    from huggingface_hub import snapshot_download
    from transformers import AutoTokenizer

    from transfer_laws.tasks.data.corpora.hub import check_hub_reachable

    files = [*TOKENIZER_FILES, "config.json"]
    try:
        snapshot = snapshot_download(spec.where, allow_patterns=files, local_files_only=True)
    except Exception:  # not in the cache (huggingface_hub raises its own error types)
        check_hub_reachable(spec.text, field, "a hub tokenizer not in the Hugging Face cache",
                            "use bytes, bpe:V or a local tokenizer folder")
        try:
            snapshot = snapshot_download(spec.where, allow_patterns=files)
        except Exception as error:  # a missing or gated repo: user-facing
            raise InputError(field, spec.text, f"could not be loaded from the hub: {error}",
                             "check the name, or use a local tokenizer folder") from error
    tok = AutoTokenizer.from_pretrained(snapshot, local_files_only=True)
    if not getattr(tok, "is_fast", False):
        raise InputError(field, spec.text, "has no fast (tokenizer.json) form",
                         "use a tokenizer with a tokenizer.json, or bpe:V")
    with tempfile.TemporaryDirectory() as scratch:
        tok.save_pretrained(scratch)
        digest = hashlib.sha256((Path(scratch) / "tokenizer.json").read_bytes()).hexdigest()[:16]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.where)[:60]
        final = Path(cache_dir).resolve() / "tokenizers" / f"hf-{slug}-{digest}"
        build_once(final, lambda tmp: shutil.copytree(scratch, tmp, dirs_exist_ok=True), "tokenizer.json")
    return encoder_from_folder(final, spec.text, field)


def static_vocab(spec: TokenizerSpec) -> int | None:
    """The vocabulary a spec gives without training or downloading anything (None for hf: names
    not yet cached here): dry-run and the planner size models by it before any data exists."""
    if spec.kind in ("bytes", "bpe"):
        return spec.vocab
    if spec.kind == "folder":
        return encoder_from_folder(spec.where, spec.text).vocab_size
    return None
