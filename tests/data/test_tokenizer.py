"""Tokenizers: BPE training is deterministic, cached, and sees no held-out text; prepared BPE data
holds exactly the raw text's bytes and characters; a Hugging Face folder works as a tokenizer."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.corpora import Corpus, Document
from transfer_laws.tasks.data.prepare import encoder_for, prepare, split_documents
from transfer_laws.tasks.data.tokenizer import TokenizerSpec, encoder_from_folder

HELD_OUT_WORD = "zqxvjkwzqxvjkw"


def corpus() -> Corpus:
    """40 documents of English-like and code-like text (some multi-byte characters); the held-out
    documents get a word no training document has."""
    words = ["the", "model", "loss", "data", "über", "naïve", "def", "return", "(x)", "→", "token"]
    rng = np.random.default_rng(0)
    docs = [Document(f"doc{i:02d}", " ".join(rng.choice(words, 400)) + "\n") for i in range(40)]
    c = Corpus.build("toy", docs, "generated in tests/data/test_tokenizer.py", "CC0")
    _, test = split_documents(c, 0.1)
    held = {doc_id for doc_id, _ in test}
    docs = [Document(d.doc_id, d.text + (f" {HELD_OUT_WORD}" * 50 if d.doc_id in held else "")) for d in docs]
    return Corpus.build("toy", docs, "generated in tests/data/test_tokenizer.py", "CC0")


def test_bpe_is_deterministic_cached_and_never_sees_held_out_text(tmp_path):
    c, spec = corpus(), TokenizerSpec.checked("bpe:300")
    first = encoder_for(spec, tmp_path / "a", [c], 0.1)
    tokenizer_json = tmp_path / "a" / "tokenizers"
    made = {p: p.stat().st_mtime_ns for p in tokenizer_json.rglob("*")}
    again = encoder_for(spec, tmp_path / "a", [c], 0.1)  # a cache hit: nothing rewritten
    assert again == first and {p: p.stat().st_mtime_ns for p in tokenizer_json.rglob("*")} == made
    # another process, another cache: the same tokenizer.json byte for byte
    code = ("import sys; from pathlib import Path; sys.path.insert(0, 'tests/data');"
            "from test_tokenizer import corpus; from transfer_laws.tasks.data.prepare import encoder_for;"
            "from transfer_laws.tasks.data.tokenizer import TokenizerSpec;"
            f"print(encoder_for(TokenizerSpec.checked('bpe:300'), Path({str(tmp_path / 'b')!r}), [corpus()], 0.1).folder)")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert (tmp_path / "b").exists() and other.startswith(str(tmp_path / "b"))
    assert open(f"{other}/tokenizer.json", "rb").read() == open(f"{first.folder}/tokenizer.json", "rb").read()
    assert first.identity == again.identity and first.vocab_size == 300 and first.separator == 0
    vocab = json.loads(open(f"{first.folder}/tokenizer.json").read())["model"]["vocab"]
    assert not any("zqx" in token for token in vocab)  # the held-out word taught nothing
    assert any(len(token) > 3 for token in vocab)  # while training words were merged


def test_prepared_bpe_data_counts_raw_bytes_and_decodes_back(tmp_path):
    c = corpus()
    encoder = encoder_for(TokenizerSpec.checked("bpe:300"), tmp_path, [c], 0.1)
    data = prepare(c, tmp_path, 0.1, encoder=encoder)
    train, test = split_documents(c, 0.1)
    ids = np.asarray(data.train_array())
    assert data.dtype == np.uint16 and ids.max() < 300 and data.tokenizer == "bpe:300"
    assert (ids == encoder.separator).sum() == data.train_documents - 1
    assert data.train_bytes == sum(len(t.encode()) for _, t in train)
    assert data.test_bytes == data.held_out_bytes == sum(len(t.encode()) for _, t in test)
    assert data.bytes_in_prefix(data.train_tokens) == data.train_bytes
    assert data.chars_in_prefix(data.train_tokens) == data.train_chars == sum(len(t) for _, t in train)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(data.tokenizer_dir)
    assert tok.decode(ids.tolist()).split("<|endoftext|>") == [t for _, t in train]
    assert 2.0 < data.train_bytes / data.train_tokens < 6.0  # merges shortened the stream
    # a prefix ending on a document boundary counts that document's bytes exactly
    end_of_first = int(np.load(data.path / "train_doc_offsets.npy")[1])
    assert data.bytes_in_prefix(end_of_first) == len(train[0][1].encode())
    # the byte tokenizer's data is another folder, with the key it always had
    plain = prepare(c, tmp_path, 0.1)
    assert plain.key != data.key and plain.dtype == np.uint8 and plain.train_bytes == data.train_bytes


def test_a_tokenizer_folder_is_used_as_is(tmp_path):
    c = corpus()
    trained = encoder_for(TokenizerSpec.checked("bpe:280"), tmp_path, [c], 0.1)
    spec = TokenizerSpec.checked(trained.folder)
    assert spec.kind == "folder"
    folder = encoder_for(spec, tmp_path, [c], 0.1)
    assert (folder.identity, folder.vocab_size, folder.separator) == (trained.identity, 280, 0)
    assert encoder_from_folder(trained.folder, "x").encode(["the model"])[0].tolist() == \
        trained.encode(["the model"])[0].tolist()


@pytest.mark.parametrize("spec, words", [
    ("bpe:256", "outside 257..131072"), ("bpe:x", "whole-number"), ("sentencepiece", "neither bytes"),
    ("hf:a b", "hf:OWNER/NAME"), ("./missing-folder", "not an existing folder"),
])
def test_bad_specs_name_the_field_and_the_fix(spec, words):
    with pytest.raises(InputError, match="tokenizer") as err:
        TokenizerSpec.checked(spec)
    assert words in str(err.value) and "Fix:" in str(err.value)


def test_a_vocabulary_the_text_cannot_fill_is_refused(tmp_path):
    tiny = Corpus.build("tiny", [Document(f"d{i}", "ab ab ab\n") for i in range(4)], "test", "CC0")
    with pytest.raises(InputError, match="fewer than 4096"):
        encoder_for(TokenizerSpec.checked("bpe:4096"), tmp_path, [tiny], 0.25)


def test_a_hub_tokenizer_in_the_hugging_face_cache_works_offline(tmp_path):
    """`hf:NAME` resolves through the Hugging Face cache (the hub's own folder layout: refs/main
    naming a snapshot) with HF_HUB_OFFLINE=1, is saved beside the project's tokenizers unchanged,
    and `train` reports its loss in nats/token and bits/byte."""
    import os
    import shutil

    trained = encoder_for(TokenizerSpec.checked("bpe:300"), tmp_path / "made", [corpus()], 0.1)
    repo = tmp_path / "hf" / "hub" / "models--acme--tiny-bpe"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(trained.folder, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    text = tmp_path / "text.txt"
    text.write_text(" ".join(["the model", "loss", "data über", "token"] * 400))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("TRANSFER_LAWS_CACHE_DIR", None)  # this project's own cache, so the saved copy is found below
    out = subprocess.run(
        [sys.executable, "-P", "-m", "transfer_laws.flows.cli", "train", "--text", str(text), "--tokenizer",
         "hf:acme/tiny-bpe", "--n-layer", "1", "--d-model", "16", "--n-head", "1", "--n-ctx", "16",
         "--batch-size", "4", "--max-steps", "12", "--warmup-steps", "2", "--eval-interval", "6",
         "--home", str(tmp_path / "home"), "--no-mlflow"],
        env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "hf:acme/tiny-bpe tokens (vocabulary 300" in out.stdout and "bits/byte" in out.stdout
    saved = list((tmp_path / "home" / "cache" / "tokenizers").glob("hf-acme_tiny-bpe-*/tokenizer.json"))
    assert len(saved) == 1
    assert json.loads(saved[0].read_text())["model"] == json.loads((snapshot / "tokenizer.json").read_text())["model"]


def test_a_tokenizers_files_are_told_from_a_model_beside_it(tmp_path):
    """A suite's tokenizer folder is its checkpoint folder: what is logged and exported with the
    tokenizer is its own files, never the weights or the model's config."""
    from transfer_laws.tasks.data.tokenizer import tokenizer_files

    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                 "config.json", "model.safetensors", "model.safetensors.index.json", "README.md"):
        (tmp_path / name).write_text("{}")
    assert [f.name for f in tokenizer_files(tmp_path)] == [
        "merges.txt", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.json"]
