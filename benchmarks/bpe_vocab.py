"""How large a BPE vocabulary the demo can afford: per V, the text one token holds and the sweep's cost.

For each V it trains (or finds cached) the byte-level BPE of the demo's corpora (configs/demo.yaml
with `tokenizer: bpe:V`), then prints the held-out target's UTF-8 bytes per token, how many
pre-training tokens the source holds, and dry-run's cost model for the whole sweep on this machine
(each shape's step time measured with its vocabulary: the LM head is V x d, a large share of a
small model's work once V is in the thousands). V = 256 rows the byte tokenizer for comparison.
A larger V packs more text into the same token grid (the demo's D_F and pre-training budgets are
in tokens), at the price of a wider head; docs/results.md says which V the BPE demo took and why.

    .venv/bin/python benchmarks/bpe_vocab.py [--vocab 256 512 1024 2048 4096]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from transfer_laws.tasks.common import env  # noqa: E402

env.apply(env.project_paths(REPO / ".transfer-laws"))

from transfer_laws.tasks.sweep import slots  # noqa: E402
from transfer_laws.tasks.sweep.config import SweepConfig  # noqa: E402
from transfer_laws.tasks.sweep.estimate import estimate  # noqa: E402
from transfer_laws.tasks.sweep.run_graph import run_graph  # noqa: E402
from transfer_laws.tasks.sweep.units import prepare_all  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", nargs="+", type=int, default=[256, 512, 1024, 2048, 4096],
                   help="vocabularies to measure (256 = the byte tokenizer)")
    p.add_argument("--config", default=str(REPO / "configs" / "demo.yaml"))
    a = p.parse_args()
    cache = env.project_paths(REPO / ".transfer-laws").cache
    base = SweepConfig.load(a.config)
    print(f"{'tokenizer':>10} {'target bytes/token':>19} {'source tokens':>14} {'pre-train text':>15} "
          f"{'sweep est.':>11} {'vs bytes':>9}")
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        for v in a.vocab:
            cfg = base.updated(tokenizer="bytes" if v == 256 else f"bpe:{v}")
            target, sources = prepare_all(cfg, cache)
            lay = slots.layout_for(cfg)
            runs = run_graph(cfg, target, sources, Path(tmp), threads=lay.threads, device_kind=lay.device_kind)
            wall = estimate(runs, len(lay.devices), lay.threads, lay.device_kind).wall_seconds / 60
            first = first or wall
            source = next(iter(sources.values()))
            text_mb = cfg.pretrain_budget(cfg.experiment.sizes[0]) * source.bytes_in_prefix(source.train_tokens) / source.train_tokens / 1e6
            print(f"{cfg.experiment.tokenizer:>10} {1 / target.held_out_tokens_per_byte:19.3f} {source.train_tokens:14,} "
                  f"{text_mb:12.1f} MB {wall:9.1f} m {wall / first:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
