"""Data preparation: split by document, nested deterministic subsets, the content-hash cache."""
from __future__ import annotations

import time

import numpy as np
import pytest

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.corpora import Corpus, Document, resolve_corpus
from transfer_laws.tasks.data.prepare import DOC_SEPARATOR, load_prepared, prepare, split_documents


def make_corpus(n_docs=200, seed=0) -> Corpus:
    rng = np.random.default_rng(seed)
    docs = [Document(f"dir{i % 7}/file{i:04d}.py",
                     f"# file {i}\n" + "".join(chr(97 + c) for c in rng.integers(0, 26, 50 + i % 90)))
            for i in range(n_docs)]
    return Corpus.build("toy", docs, "generated", "none")


def test_test_split_is_disjoint_by_document_and_near_the_fraction(tmp_path):
    corpus = make_corpus()
    train, test = split_documents(corpus, 0.03)
    train_ids, test_ids = {d for d, _ in train}, {d for d, _ in test}
    assert not train_ids & test_ids
    assert train_ids | test_ids == {d.doc_id for d in corpus.documents}
    test_bytes = sum(len(t) for _, t in test)
    total = sum(len(d.text) for d in corpus.documents)
    assert 0.03 <= test_bytes / total < 0.03 + 0.01
    prepared = prepare(corpus, tmp_path)
    held = (prepared.path / "test_documents.txt").read_text().split("\n")
    assert set(held) == test_ids
    test_stream = bytes(prepared.test_array())
    for doc_id, text in train:  # no training document appears in the held-out stream
        assert text.encode() not in test_stream


def test_split_is_deterministic_and_independent_of_document_order():
    corpus = make_corpus()
    shuffled = Corpus.build("toy", reversed(corpus.documents), "generated", "none")
    assert split_documents(corpus, 0.05) == split_documents(shuffled, 0.05)


def test_single_document_is_split_by_position():
    corpus = Corpus.build("one", [Document("a.txt", "x" * 900 + "y" * 100)], "g", "none")
    train, test = split_documents(corpus, 0.1)
    assert train[0][1] == "x" * 900 and test[0][1] == "y" * 100


def test_subsets_are_nested_prefixes_and_deterministic(tmp_path):
    corpus = make_corpus()
    a = prepare(corpus, tmp_path / "a")
    b = prepare(corpus, tmp_path / "b")
    ta, tb = np.asarray(a.train_array()), np.asarray(b.train_array())
    assert np.array_equal(ta, tb)  # same corpus -> same stream, wherever prepared
    sizes = [100, 1000, 5000, a.train_tokens]
    subsets = [ta[: a.check_subset(d)] for d in sizes]
    for small, big in zip(subsets, subsets[1:]):
        assert np.array_equal(big[: len(small)], small)
    assert (ta == DOC_SEPARATOR).sum() == a.train_documents - 1
    assert a.train_chars == sum(len(d.text) for d in corpus.documents) - a.test_chars
    assert a.chars_in_prefix(a.train_tokens) == a.train_chars


def test_second_preparation_is_a_cache_hit_that_rewrites_nothing(tmp_path):
    corpus = make_corpus(400)
    first = prepare(corpus, tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in first.path.iterdir()}
    t0 = time.perf_counter()
    second = prepare(corpus, tmp_path)
    assert time.perf_counter() - t0 < 0.05
    assert second == first
    assert {p.name: p.stat().st_mtime_ns for p in second.path.iterdir()} == stamps
    assert len(list((tmp_path / "prepared").iterdir())) == 1
    changed = Corpus.build("toy", list(corpus.documents) + [Document("new.py", "x = 1\n")], "g", "n")
    assert prepare(changed, tmp_path).key != first.key


def test_subset_larger_than_the_data_names_the_field_and_the_limit(tmp_path):
    prepared = prepare(make_corpus(), tmp_path)
    with pytest.raises(InputError, match=r"dataset_tokens.*exceeds the [\d,]+ training tokens"):
        prepared.check_subset(prepared.train_tokens + 1)
    with pytest.raises(InputError, match="positive"):
        prepared.check_subset(0)
    with pytest.raises(InputError, match="meta.json"):
        load_prepared(tmp_path / "nowhere")


def test_python_corpus_prepares_with_a_3_percent_file_split(tmp_path):
    import os
    from pathlib import Path

    from tests.conftest import REPO  # noqa: F401  (env set)

    cache = Path(os.environ["TRANSFER_LAWS_CACHE_DIR"])
    prepared = prepare(resolve_corpus("python", cache), cache)
    assert prepared.train_documents > 600 and prepared.test_documents >= 10
    assert 0.029 < prepared.test_tokens / (prepared.train_tokens + prepared.test_tokens) < 0.045
