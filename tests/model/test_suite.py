"""Checkpoints described from their config alone: the exact non-embedding N for any causal-LM family
(counted on the meta device, equal to the closed form where the tool has one), the context, the vocabulary
and the tokenizer's identity."""
from __future__ import annotations

import shutil

import pytest
from transformers import AutoModelForCausalLM, GPTNeoXConfig

from transfer_laws.model.build import count_params, model_config
from transfer_laws.model.shapes import Shape
from transfer_laws.model.suite import count_on_meta, describe


def pythia_like(**over) -> GPTNeoXConfig:
    """Pythia's layout: untied head, parallel residual, rotary on 25 % of each head, MLP 4d."""
    values = dict(vocab_size=50304, hidden_size=128, num_hidden_layers=6, num_attention_heads=4,
                  intermediate_size=512, max_position_embeddings=2048, use_parallel_residual=True,
                  tie_word_embeddings=False, rope_parameters={"rope_theta": 10000.0, "partial_rotary_factor": 0.25,
                                                              "rope_type": "default"})
    return GPTNeoXConfig(**{**values, **over})


def neox_by_hand(layers: int, d: int, mlp: int) -> int:
    """Per layer two LayerNorms (2d each), qkv (3d² + 3d), the output projection (d² + d) and the
    MLP (2·d·mlp + mlp + d); a final LayerNorm (2d)."""
    return layers * (4 * d + 3 * d * d + 3 * d + d * d + d + 2 * d * mlp + mlp + d) + 2 * d


def test_pythia_14m_shape_counts_its_published_non_embedding_size():
    """EleutherAI's Pythia 14m (6 layers, width 128, 4 heads; about 1.2e6 non-embedding
    parameters) on the meta device: no memory, no weights."""
    counts = count_on_meta(pythia_like())
    assert counts["params_non_embedding"] == neox_by_hand(6, 128, 512) == 1_189_888
    assert counts["params_total"] - counts["params_non_embedding"] == 2 * 50304 * 128  # input and untied head


def test_describe_reads_a_folder_and_counts_like_the_built_module(tmp_path):
    small = pythia_like(vocab_size=512, hidden_size=64, num_hidden_layers=2, intermediate_size=256,
                        max_position_embeddings=256)
    small.save_pretrained(tmp_path / "neox")
    info = describe(tmp_path / "neox")
    built = count_params(AutoModelForCausalLM.from_config(small))
    arch = info.architecture
    assert (arch.family, arch.max_ctx, arch.vocab_size) == ("gpt_neox", 256, 512)
    assert arch.params_non_embedding == built["params_non_embedding"] == neox_by_hand(2, 64, 256)
    assert info.tokenizer == ""


@pytest.mark.parametrize("shape", [Shape(2, 32, 2, 64, 300), Shape(2, 32, 4, 64, 300, "llama", 2, False)])
def test_the_closed_form_families_agree_with_the_meta_count(tmp_path, shape):
    config = model_config(shape)
    config.save_pretrained(tmp_path / "m")
    info = describe(tmp_path / "m")
    assert info.architecture.params_non_embedding == shape.params_non_embedding
    assert count_on_meta(config)["params_non_embedding"] == shape.params_non_embedding


def test_the_tokenizer_is_identified_by_content_and_non_causal_models_are_refused(tmp_path):
    from transformers import ViTConfig

    for name in ("a", "b"):
        pythia_like(vocab_size=512, hidden_size=64, num_hidden_layers=1, intermediate_size=256
                    ).save_pretrained(tmp_path / name)
        (tmp_path / name / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"}}')
    assert describe(tmp_path / "a").tokenizer == describe(tmp_path / "b").tokenizer != ""
    shutil.rmtree(tmp_path / "b")
    ViTConfig().save_pretrained(tmp_path / "b")
    with pytest.raises(ValueError, match="'vit' is not a causal language model"):
        describe(tmp_path / "b")
    with pytest.raises(ValueError, match="no config.json"):
        describe(tmp_path / "missing")
