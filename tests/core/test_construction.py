"""A Construction runs on every backend, states its resources, and exposes its weights by TransformerLens name."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from exactformer.constructions import copy_first
from exactformer.core.errors import InputError


@pytest.mark.parametrize("n", [1, 2, 5])
def test_the_demo_answers_the_first_symbol_on_all_three_evaluators(n):
    demo = copy_first()
    for word in map("".join, itertools.product("ab", repeat=n)):
        answers = {demo.run(word, backend=b).answer for b in ("exact", "certified", "torch")}
        answers.add(demo.run(word, backend="torch", dtype=torch.float16).answer)
        assert answers == {word[0]}


def test_the_demo_invariant_holds_in_exact_arithmetic():
    demo = copy_first()
    (invariant,) = demo.invariants
    result = demo.run("bab", backend="exact")
    got = invariant.probe.read(result.output.trace, demo.model.space.index)
    assert np.array_equal(got, np.array(invariant.expected("bab", 3), dtype=object))


def test_exact_decisions_are_certified_and_torch_decisions_are_not():
    demo = copy_first()
    assert demo.run("ab", backend="exact").certified
    assert demo.run("ab", backend="certified").certified
    assert not demo.run("ab", backend="torch").certified


def test_resources_are_measured_from_the_model():
    r = copy_first().resources(7)
    assert (r.layers, r.heads, r.d_model, r.d_mlp, r.tokens) == (1, 1, 6, 0, 7)
    assert r.attention_kinds == ("hard",) and r.masks == ("causal",)


def test_weights_follow_transformer_lens_names_and_shapes():
    w = copy_first().weights(n=4)
    assert w["blocks.0.attn.W_Q"].shape == (1, 6, 1)
    assert w["blocks.0.attn.W_O"].shape == (1, 2, 6)
    assert w["pos_embed.W_pos"].shape == (4, 6)
    sd = copy_first().state_dict(torch.float32)
    assert sd["unembed.W_U"].dtype == torch.float32 and sd["embed.W_E"].shape == (2, 6)


def test_bad_input_names_the_symbol():
    with pytest.raises(InputError, match="symbol 'c' is not in the alphabet"):
        copy_first().run("abc")


def test_repr_is_a_table_of_layers():
    text = repr(copy_first())
    assert "L0.attn: attn 1x1 hard, mask causal" in text and "invariants: attention.copies_first_symbol" in text
