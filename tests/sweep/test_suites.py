"""Sources made of checkpoints: local folders and `hf:` names (from a cache entry in the hub's own
layout, offline), described from their configs; each bad checkpoint an error naming the field."""
from __future__ import annotations

import shutil

import huggingface_hub.constants
import pytest
from transformers import GPTNeoXConfig, ViTConfig

from transfer_laws.tasks.common.errors import InputError
from transfer_laws.tasks.sweep.suites import describe_source

TOKENIZER = '{"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}}'


def checkpoint(folder, width: int, tokenizer: str = TOKENIZER):
    GPTNeoXConfig(vocab_size=512, hidden_size=width, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=4 * width, max_position_embeddings=256, tie_word_embeddings=False
                  ).save_pretrained(folder)
    (folder / "tokenizer.json").write_text(tokenizer)
    return folder


def in_hub_cache(hub, name: str, folder, commit: str = "a" * 40):
    """The hub's own cache layout: models--OWNER--NAME/snapshots/<commit>/, refs/main naming it."""
    repo = hub / ("models--" + name.replace("/", "--"))
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_local_and_cached_hub_checkpoints_are_described_offline(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    in_hub_cache(hub, "acme/neox-64", checkpoint(tmp_path / "made", 64))
    local = checkpoint(tmp_path / "local", 32)
    infos = describe_source([(str(local), None), ("hf:acme/neox-64", None)], "sources.suite.checkpoints")
    assert [i.model_type for i in infos] == ["gpt_neox", "gpt_neox"]
    assert infos[0].params_non_embedding < infos[1].params_non_embedding and infos[1].n_ctx == 256
    assert infos[1].folder.startswith(str(hub)) and infos[0].tokenizer == infos[1].tokenizer
    with pytest.raises(InputError, match=r"checkpoints\[0\] = 'hf:acme/absent': is a hub checkpoint not in "
                                         "the Hugging Face cache but HF_HUB_OFFLINE=1"):
        describe_source([("hf:acme/absent", None)], "sources.suite.checkpoints")


def test_bad_checkpoints_are_refused_naming_the_field_and_the_fix(tmp_path):
    a = checkpoint(tmp_path / "a", 32)
    other = checkpoint(tmp_path / "b", 32, TOKENIZER.replace("BPE", "Unigram"))
    with pytest.raises(InputError, match=r"sources.s.checkpoints = \[.*\]: use two different tokenizers"):
        describe_source([(str(a), None), (str(other), None)], "sources.s.checkpoints")
    with pytest.raises(InputError, match=r"checkpoints\[0\] = .*: is not an existing folder"):
        describe_source([(str(tmp_path / "nowhere"), None)], "sources.s.checkpoints")
    ViTConfig().save_pretrained(tmp_path / "vit")
    with pytest.raises(InputError, match="is not a causal language model.*Fix: give the folder"):
        describe_source([(str(tmp_path / "vit"), None)], "sources.s.checkpoints")
    (a / "tokenizer.json").unlink()
    with pytest.raises(InputError, match="has no tokenizer.json"):
        describe_source([(str(a), None)], "sources.s.checkpoints")
