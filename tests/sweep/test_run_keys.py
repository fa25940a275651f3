"""Run identity survives refactors: the run_keys that configs/demo.yaml plans are pinned.

A run_key names the MLflow run, the run folder and the Prefect idempotency key (docs/interface.md,
Run identity), so a code change that moved one would retrain every finished run of every user's sweep. The config is
frozen here as it was when the keys were recorded (commit b1b94e4; the fields added since set to
their old behaviour), so redesigning the demo does not move the pins; the data keys come from the real corpora (python, code-other) on this machine.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from transfer_laws.tasks.sweep.config import GROUP_OF, SweepConfig
from transfer_laws.tasks.sweep.run_graph import run_graph
from transfer_laws.tasks.sweep.units import prepare_all

DEMO_AT_B1B94E4 = """
name: demo
target: python
sources:
  code: {corpus: code-other}
sizes: [3300, 13000, 50000]
finetune_tokens: [3000, 10000, 30000, 100000]
scratch_tokens: [300000]
pretrain_tokens: 1000000
n_ctx: 128
batch_size: 32
lr: kaplan
finetune_lr_scale: 1.0
warmup_steps: 50
max_steps: 600
eval_interval: 25
eval_tokens: 16384
patience: 4
seed: 0
zero_shot: false               # the two defaults added since (issue 29) switched off: the same runs
finetune_steps_per_epoch: 0
"""

PINNED = {  # every run_key `transfer-laws dry-run configs/demo.yaml` listed at b1b94e4
    "0474f1ad0d98", "05f4ebf1d54e", "06bff7d87cd3", "113e97638e00", "1785dd1024a8", "1bdf8562f7ae",
    "2d52403b70b7", "2fe43228da0a", "56ee37ae59e9", "5732037a86d6", "5ae2b46b0b42", "6dcd9d7cc973",
    "791a16efffed", "86d3a335b0f2", "8fb2a9dff9a8", "91bf7e2b319c", "95ff82800d4f", "9e57ec08b955",
    "b0eebaacfe8b", "b98f69b0329f", "bc4d049ee0dd", "bc5ad44b35c8", "c98fa4730d54", "d58e052de878",
    "d9fd7b476dde", "e51b7503e4e4", "e5bfae155744", "f1ed25f62712", "fa37a95c2ab7", "ff444cea572f",
}


def demo_at_b1b94e4(**over) -> dict:
    """The frozen config (written flat, as configs were then) with overrides, each key put in its
    group (GROUP_OF): the nested form a config takes today."""
    cfg: dict = {}
    for key, value in {**yaml.safe_load(DEMO_AT_B1B94E4), **over}.items():
        cfg.setdefault(GROUP_OF[key], {})[key] = value
    return cfg


def test_demo_run_keys_are_pinned(tmp_path):
    cfg = SweepConfig.checked(demo_at_b1b94e4(home=str(tmp_path)))
    target, sources = prepare_all(cfg, Path(os.environ["TRANSFER_LAWS_CACHE_DIR"]))
    runs = run_graph(cfg, target, sources, tmp_path / "runs")
    assert len(runs) == 30 and {r.run_key for r in runs} == PINNED


def test_the_family_moves_every_run_key_and_gpt2_spelt_out_moves_none(tmp_path):
    """`family: gpt2` (and kv_group 1, tied embeddings, byte tokens) written out is the default: the pinned keys
    and the config hash stay; `family: llama` plans Llama shapes and new keys for every run."""
    home = str(tmp_path)
    explicit = SweepConfig.checked(demo_at_b1b94e4(home=home, family="gpt2", kv_group=1, tie_embeddings=True,
                                                   tokenizer="bytes"))
    llama = SweepConfig.checked(demo_at_b1b94e4(home=home, family="llama", kv_group=2))
    assert explicit.config_hash() == SweepConfig.checked(demo_at_b1b94e4(home=home)).config_hash() \
        != llama.config_hash()
    target, sources = prepare_all(explicit, Path(os.environ["TRANSFER_LAWS_CACHE_DIR"]))
    assert {r.run_key for r in run_graph(explicit, target, sources, tmp_path / "runs")} == PINNED
    runs = run_graph(llama, target, sources, tmp_path / "runs")
    assert len(runs) == 30 and not {r.run_key for r in runs} & PINNED
    assert {r.config.family for r in runs} == {"llama"} and {r.shape.family for r in runs} == {"llama"}
    grouped = [r for r in runs if r.shape.n_head >= 2]
    assert grouped and all(r.config.n_kv_head == r.shape.n_head // 2 for r in grouped)


def test_kv_group_without_llama_is_refused_naming_the_field(tmp_path):
    from transfer_laws.tasks.common.errors import InputError

    with pytest.raises(InputError, match="kv_group.*needs family llama") as err:
        SweepConfig.checked(demo_at_b1b94e4(home=str(tmp_path), kv_group=2))
    assert err.value.field == "experiment.kv_group"


def test_a_tokenizer_folder_is_identified_by_the_data_not_its_path():
    """A suite's (or any) tokenizer folder is a path: moved elsewhere, the same prepared data (same
    data_key, which hashes the tokenizer's files) keeps every run_key; a named tokenizer still counts."""
    from transfer_laws.tasks.train.config import RunConfig

    def key(tokenizer: str, data_key: str = "d" * 16) -> str:
        return RunConfig(data_dir="-", out_dir="-", tokenizer=tokenizer, vocab_size=300, data_key=data_key).run_key()

    assert key("/home/a/suite/pythia-14m") == key("/mnt/shared/suite/pythia-14m")
    assert key("/home/a/suite/pythia-14m") != key("/home/a/suite/pythia-14m", data_key="e" * 16)
    assert key("bpe:300") != key("hf:acme/tok")
