"""The shared heads by their scores and copies, computed exactly from the weights on named residual vectors."""

from __future__ import annotations

import itertools

from exactformer.constructions.gadgets.heads import chooser_head, copy_maps, pointer_head, quadratic_pointer
from exactformer.core.space import Block, Space, vector

SPACE = Space.of(Block("one"), Block("pos", ["i", "i2"]), Block("P", ["p", "p2"]), Block("F"), Block("x"), Block("y"))


def _token(i: int, p: int, flag: int = 0, x: int = 0) -> object:
    return vector(SPACE, {"one": 1, "pos:i": i, "pos:i2": i * i, "P:p": p, "P:p2": p * p, "F": flag, "x": x})


def test_quadratic_pointer_scores_minus_the_squared_distance():
    W_Q, W_K = quadratic_pointer(SPACE, {"P:p": 1}, {"P:p2": 1})
    for i, p, j in itertools.product(range(6), range(6), range(6)):
        score = (_token(i, p) @ W_Q) @ (_token(j, 0) @ W_K)
        assert score == -((j - p) ** 2)  # unique maximum 0 at j = p, gap 1


def test_the_previous_token_pointer_reads_p_as_a_linear_form():
    # p = i - 1 from the position features alone (the rational tree's previous-token head)
    W_Q, W_K = quadratic_pointer(SPACE, {"pos:i": 1, "one": -1}, {"pos:i2": 1, "pos:i": -2, "one": 1})
    for i, j in itertools.product(range(1, 7), range(7)):
        assert (_token(i, 0) @ W_Q) @ (_token(j, 0) @ W_K) == -((j - i + 1) ** 2)


def test_copy_maps_send_each_source_to_its_destination():
    W_V, W_O = copy_maps(SPACE, [("x", "y"), ("F", "x")], read_scale=3, write_scale=2)
    out = _token(0, 0, flag=1, x=5) @ W_V @ W_O
    assert out[SPACE.index("y")] == 30 and out[SPACE.index("x")] == 6
    assert sum(1 for v in out if v != 0) == 2


def test_pointer_and_chooser_heads_are_hard_causal_single_heads():
    head = pointer_head(SPACE, {"P:p": 1}, {"P:p2": 1}, [("x", "y")])
    assert (head.kind, head.mask.kind, head.tie_rule, head.n_heads) == ("hard", "causal", "error", 1)
    chooser = chooser_head(SPACE, {"one": 1}, {"F": 1}, [("x", "y")])
    assert (chooser.kind, chooser.tie_rule) == ("hard", "rightmost")
    q = _token(4, 0) @ chooser.W_Q[0]
    assert [q @ (_token(j, 0, flag=f) @ chooser.W_K[0]) for j, f in ((1, 0), (2, 1))] == [0, 1]
