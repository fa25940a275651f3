"""The model families: exact parameter counts and the N -> shape rule, GPT-2 and Llama, tied and untied."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transfer_laws.model.build import (
    build_model,
    checkpoint_shape,
    count_params,
    load_pretrained,
    model_config,
    shape_of,
)
from transfer_laws.model.shapes import FAMILIES, Shape, ladder, llama_mlp_width, non_embedding_params, shape_for


@pytest.mark.parametrize("n_layer,d_model,n_head,expected", [
    # hand computation: L * (12 d^2 + 13 d) + 2 d
    (1, 32, 2, 1 * (12 * 32 * 32 + 13 * 32) + 2 * 32),   # 12,768
    (2, 64, 4, 2 * (12 * 64 * 64 + 13 * 64) + 2 * 64),   # 100,096
    (4, 128, 4, 4 * (12 * 128 * 128 + 13 * 128) + 2 * 128),  # 793,344 (tinyshakespeare reference)
])
def test_non_embedding_count_matches_hand_computation_and_the_built_model(n_layer, d_model, n_head, expected):
    shape = Shape(n_layer, d_model, n_head, n_ctx=64, vocab_size=256)
    assert non_embedding_params(n_layer, d_model) == expected == shape.params_non_embedding
    counted = count_params(build_model(shape, seed=0))
    assert counted["params_non_embedding"] == expected
    assert counted["params_embedding"] == 256 * d_model + 64 * d_model == shape.params_embedding
    assert counted["params_total"] == shape.params_total  # tied head counted once


def test_head_is_tied_so_it_adds_no_parameters():
    model = build_model(Shape(1, 32, 2, 16, 256), seed=0)
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()


def test_ladder_spans_1e4_to_1e9_in_order_with_valid_heads():
    shapes = ladder(5e3, 1e9, per_decade=2)
    ns = [s.params_non_embedding for s in shapes]
    assert ns[0] <= 1e4 and ns[-1] >= 1e9 * 0.9
    assert ns == sorted(ns) and len(set(ns)) == len(ns)
    for s in shapes:
        assert s.d_model % s.n_head == 0
        model_config(s)  # builds a valid transformers config


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=2e4, max_value=3e9), st.sampled_from(FAMILIES), st.sampled_from([1, 2, 4]))
def test_shape_for_lands_near_the_target(n, family, kv_group):
    s = shape_for(n, family=family, kv_group=kv_group)
    assert abs(math.log(s.params_non_embedding / n)) < 0.5
    assert 8 <= s.d_model / s.n_layer <= 128
    assert s.family == family and s.n_head % s.kv_heads == 0


def test_llama_hand_computation():
    """L * (2d^2 + 2 d kv + 3 d h + 2d) + d, h = 8d/3 rounded up to 8; kv = d without GQA."""
    assert llama_mlp_width(96) == 256 and llama_mlp_width(64) == 176
    full = Shape(3, 96, 4, family="llama")
    assert full.params_non_embedding == 3 * (2 * 96**2 + 2 * 96 * 96 + 3 * 96 * 256 + 2 * 96) + 96
    grouped = Shape(3, 96, 4, family="llama", n_kv_head=2)  # kv = 2 heads x 24
    assert grouped.params_non_embedding == 3 * (2 * 96**2 + 2 * 96 * 48 + 3 * 96 * 256 + 2 * 96) + 96
    assert non_embedding_params(3, 96, "llama", 48) == grouped.params_non_embedding


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("kv_group", [1, 2])
def test_the_closed_form_matches_the_built_module_for_every_family_tied_and_untied(family, tied, kv_group, tmp_path):
    """N excludes the token embedding, an untied head and GPT-2's positions; transformers'
    num_parameters(exclude_embeddings=True) keeps an untied head in (why the closed form exists).
    The saved folder gives back the same shape, read without weights and loaded generically."""
    shape = shape_for(3e5, n_ctx=32, family=family, kv_group=kv_group, tied=tied)
    model = build_model(shape, seed=0)
    counted = count_params(model)
    assert counted == {"params_total": shape.params_total, "params_embedding": shape.params_embedding,
                       "params_non_embedding": shape.params_non_embedding}
    head_shared = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert head_shared == tied
    miscount = model.num_parameters(exclude_embeddings=True) - shape.params_non_embedding
    assert miscount == (0 if tied else shape.vocab_size * shape.d_model)
    assert (shape.kv_heads < shape.n_head) == (family == "llama" and kv_group > 1)
    model.save_pretrained(tmp_path)
    assert checkpoint_shape(tmp_path) == shape == shape_of(load_pretrained(tmp_path))
    assert type(load_pretrained(tmp_path)) is type(model)


def test_a_bad_shape_names_the_field():
    with pytest.raises(ValueError, match="n_kv_head=3 needs family llama and must divide n_head=4"):
        model_config(Shape(2, 64, 4, family="llama", n_kv_head=3))
    with pytest.raises(ValueError, match="n_kv_head=2 needs family llama"):
        model_config(Shape(2, 64, 4, n_kv_head=2))
    with pytest.raises(ValueError, match="family must be one of"):
        shape_for(1e5, family="mamba")


def test_shape_for_rejects_non_positive():
    with pytest.raises(ValueError, match="positive"):
        shape_for(0)
