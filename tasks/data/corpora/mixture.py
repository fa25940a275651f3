"""A weighted mixture of corpora, e.g. the paper's equal mix of text and non-Python code.

Weights are shares of bytes (= byte-level tokens). The mixture is as large as the scarcest part
allows: with weights w_i and part sizes s_i it holds w_i * min_j(s_j / w_j) bytes of part i, taking
each part's documents in a fixed hash order, so the same inputs always give the same mixture.
"""
from __future__ import annotations

import hashlib

from .corpus import Corpus, Document


def mix_corpora(name: str, parts: dict[str, Corpus], weights: dict[str, float]) -> Corpus:
    total = min(parts[k].n_bytes / weights[k] for k in parts)
    documents: list[Document] = []
    for key, corpus in parts.items():
        budget = weights[key] * total
        ordered = sorted(corpus.documents,
                         key=lambda d: hashlib.sha256(f"mix\0{d.doc_id}".encode()).hexdigest())
        taken = 0
        for doc in ordered:
            if taken >= budget:
                break
            documents.append(Document(f"{key}/{doc.doc_id}", doc.text))
            taken += len(doc.text.encode("utf-8"))
    provenance = "\n".join(f"[{k} x {weights[k]:g}] {parts[k].provenance}" for k in parts)
    licence = "\n".join(f"{k}: {parts[k].licence}" for k in parts)
    return Corpus.build(name, documents, provenance, licence)
