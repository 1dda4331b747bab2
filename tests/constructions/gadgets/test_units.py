"""The unit-MLP builder: hidden coordinates named after the units, reads and writes by named coordinates."""

from __future__ import annotations

from fractions import Fraction

import pytest

from exactformer.constructions.gadgets.units import delta, unit_mlp
from exactformer.core.space import Block, Space, vector

SPACE = Space.of(Block("one"), Block("a"), Block("b"))


def test_unit_mlp_reads_and_writes_named_coordinates():
    mlp = unit_mlp(SPACE, {"copy": ({"a": 1}, {"b": 2}), "neg": ({"a": -1, "one": 1}, {"one": -1})})
    assert mlp.W_in.shape == (3, 2) and all(b == 0 for b in mlp.b_in) and mlp.activation == "relu"
    x = vector(SPACE, {"one": 1, "a": Fraction(1, 3)})
    hidden = [max(v, 0) for v in x @ mlp.W_in]
    assert hidden == [Fraction(1, 3), Fraction(2, 3)]
    assert list(hidden @ mlp.W_out) == [Fraction(-2, 3), 0, Fraction(2, 3)]


def test_biases_step_activation_and_sparse_storage():
    mlp = unit_mlp(SPACE, {"u": ({"a": 1}, {"b": 1}), "v": ({"b": 1}, {"a": 1})}, biases={"u": -1},
                   activation="step", hidden="h", sparse=True)
    assert list(mlp.b_in) == [-1, 0] and mlp.activation == "step"
    assert mlp.W_in.toarray()[SPACE.index("a"), 0] == 1
    with pytest.raises(ValueError, match="at least one unit"):
        unit_mlp(SPACE, {})


def test_delta_moves_a_one_hot():
    assert delta("D:2", "D:1") == {"D:2": 1, "D:1": -1} and delta("D:1", "D:1") == {}
