"""Corpora: named recipes (python, english, code-other) and user files, each a `Corpus` of documents
with provenance, licence and a content fingerprint. See `resolve_corpus` and `list_corpora`.
"""
from .corpus import Corpus, Document
from .mixture import mix_corpora
from .registry import CorpusInfo, Fetch, NotFetched, fetch_notice, list_corpora, resolve_corpus

__all__ = ["Corpus", "CorpusInfo", "Document", "Fetch", "NotFetched", "fetch_notice", "list_corpora", "mix_corpora", "resolve_corpus"]
