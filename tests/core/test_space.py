"""Named spaces: matrices are defined by their action on named directions."""

from fractions import Fraction

import numpy as np
import pytest

from exactformer.core.space import Block, Space, SpaceError, linear_map, vector


def residual() -> Space:
    return Space.of(Block("one"), Block("tokens", ["0", "1"]), Block("pos", ["i/N"]))


def test_coordinates_are_named_in_block_order():
    assert residual().names == ("one", "tokens:0", "tokens:1", "pos:i/N")
    assert residual().block_slice("tokens") == slice(1, 3)


def test_a_linear_map_sends_each_named_direction_where_it_says():
    s = residual()
    W = linear_map(s, s, {"tokens:1": {"pos:i/N": Fraction(1, 3), "one": 2}})
    x = vector(s, {"tokens:1": 1})
    assert s.describe(x @ W) == {"one": 2, "pos:i/N": Fraction(1, 3)}


def test_repeated_contributions_add():
    s = residual()
    W = linear_map(s, s, {"one": {"one": 1}, "tokens:0": {"one": 1}})
    assert (vector(s, {"one": 1, "tokens:0": 1}) @ W)[0] == 2


def test_an_unknown_coordinate_is_an_error_naming_it():
    with pytest.raises(SpaceError, match="no coordinate 'tokens:2'.*blocks: one, tokens, pos"):
        residual().index("tokens:2")


def test_floats_are_refused_as_exact_weights():
    with pytest.raises(TypeError, match="float"):
        vector(residual(), {"one": 0.5})


def test_duplicate_coordinates_are_refused():
    with pytest.raises(ValueError, match="twice"):
        Space.of(Block("a", ["x"]), Block("a", ["y"]))


def test_from_names_round_trips():
    s = residual()
    assert Space.from_names(s.names) == s


def test_weights_are_exact_fractions():
    W = linear_map(residual(), residual(), {"one": {"one": "2/7"}})
    assert W.dtype == object and isinstance(W[0, 0], Fraction) and W[0, 0] == Fraction(2, 7)
    assert np.all([isinstance(v, Fraction) for v in W.flat])
