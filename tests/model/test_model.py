"""The model family: exact parameter counts and the N -> shape rule."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transfer_laws.model.build import build_model, count_params, gpt2_config
from transfer_laws.model.shapes import Shape, ladder, non_embedding_params, shape_for


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
        gpt2_config(s)  # builds a valid transformers config


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=2e4, max_value=3e9))
def test_shape_for_lands_near_the_target(n):
    s = shape_for(n)
    assert abs(math.log(s.params_non_embedding / n)) < 0.5
    assert 8 <= s.d_model / s.n_layer <= 128


def test_shape_for_rejects_non_positive():
    with pytest.raises(ValueError, match="positive"):
        shape_for(0)
