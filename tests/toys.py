"""Small shared test fixtures: a metric sink that keeps rows, and a toy Python-like corpus."""
from __future__ import annotations

import numpy as np

from tasks.corpora import Corpus, Document
from tasks.data import prepare


class ListSink:
    def __init__(self):
        self.rows: list[tuple[int, dict]] = []

    def log_metrics(self, metrics, step):
        self.rows.append((step, dict(metrics)))

    def curve(self, key):
        return [(s, m[key]) for s, m in self.rows if key in m]


def toy_prepared(cache_dir):
    """60 documents of random Python keywords, prepared with a 10 % held-out split."""
    rng = np.random.default_rng(0)
    words = ["def", "return", "self", "import", "class", "for", "in", "if", "else", "x", "y", "(", ")", ":"]
    docs = [Document(f"f{i:03d}.py", " ".join(rng.choice(words, 400)) + "\n") for i in range(60)]
    corpus = Corpus.build("toy", docs, "generated in the test", "none")
    return prepare(corpus, cache_dir, test_fraction=0.1)
