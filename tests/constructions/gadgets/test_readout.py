"""The sign readout and the log-depth loop, as the recognizers use them."""

from __future__ import annotations

from exactformer.constructions.gadgets.readout import sign_readout
from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.core.space import Block, Space, vector
from exactformer.languages import named

SPACE = Space.of(Block("S", ["0", "1"]))


def test_sign_readout_is_one_logit_at_the_last_token():
    r = sign_readout(SPACE, {"S:1": 2}, bias=-1)
    assert (r.labels, r.position, r.decision) == (("accept",), -1, "sign")
    assert [vector(SPACE, {f"S:{q}": 1}) @ r.W_U + r.b_U for q in (0, 1)] == [[-1], [1]]
    assert list(sign_readout(SPACE, {"S:0": 1}).b_U) == [0]


def test_log_depth_model_loops_the_block_ceil_log2_n_times():
    model = pointer_jumping_recognizer(named.parity()).model  # built by gadgets.looped.log_depth_model
    assert model.layers == () and model.suffix == ()
    assert (model.loop.count.function, model.loop.count.extra_tokens) == ("ceil_log2", 1)
