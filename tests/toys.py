"""Small shared test fixtures: a metric sink that keeps rows, a toy Python-like corpus, and a tiny
run config on it."""
from __future__ import annotations

import numpy as np

from transfer_laws.tasks.data.corpora import Corpus, Document
from transfer_laws.tasks.data.prepare import prepare
from transfer_laws.tasks.train.config import RunConfig


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


def tiny(data, out, **over) -> RunConfig:
    fields = dict(n_layer=1, d_model=32, n_head=2, n_ctx=32, batch_size=8, lr=3e-3, min_lr=3e-4,
                  warmup_steps=5, max_steps=60, eval_interval=10, eval_tokens=2048, patience=0,
                  log_interval=5, threads=1, data_dir=data.root, data_key=data.key, out_dir=str(out))
    fields.update(over)
    return RunConfig(**fields)
