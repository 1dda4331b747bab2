"""Small hand-written models shared by the core tests."""

from fractions import Fraction

import pytest

from exactformer.core.architecture import (
    MLP,
    Attention,
    Embedding,
    Layer,
    Mask,
    Norm,
    Readout,
    Scale,
    Sublayer,
    Transformer,
)
from exactformer.core.positions import IndexOverLength
from exactformer.core.space import Block, Space, linear_map, vector

SPACE = Space.of(Block("tok", ["a", "b"]), Block("pos", ["i/N"]), Block("out", ["x"]))
HEAD = Space.of(Block("h", ["0"]))


def _embedding() -> Embedding:
    return Embedding(W_E=[vector(SPACE, {"tok:a": 1}), vector(SPACE, {"tok:b": 1})], vocab=("a", "b"),
                     positional=(("pos:i/N", IndexOverLength()),))


def _readout() -> Readout:
    return Readout(W_U=linear_map(SPACE, Space.of(Block("y")), {"out:x": {"y": 1}}), labels=("accept",),
                   decision="sign")


def _attention(kind: str, key: str) -> Attention:
    return Attention(
        W_Q=[linear_map(SPACE, HEAD, {"tok:a": {"h:0": 1}, "tok:b": {"h:0": 1}})],
        W_K=[linear_map(SPACE, HEAD, {key: {"h:0": 1}})],
        W_V=[linear_map(SPACE, HEAD, {"tok:b": {"h:0": 1}})],
        W_O=[linear_map(HEAD, SPACE, {"h:0": {"out:x": 1}})],
        kind=kind, scale=Scale(sqrt_of=Fraction(1, 2)), mask=Mask("none"),
    )


@pytest.fixture
def softmax_model() -> Transformer:
    """A softmax head averaging 'is b' weighted by position (irrational: exp)."""
    return Transformer(space=SPACE, embedding=_embedding(),
                       layers=(Layer(attention=Sublayer(_attention("softmax", "pos:i/N"))),), readout=_readout())


@pytest.fixture
def tie_model() -> Transformer:
    """A hard head whose scores tie on 'aa' (both keys score 1) and that states no tie rule."""
    return Transformer(space=SPACE, embedding=_embedding(),
                       layers=(Layer(attention=Sublayer(_attention("hard", "tok:a"))),), readout=_readout())


@pytest.fixture
def zero_layernorm_model() -> Transformer:
    """An MLP without residual whose output is the zero vector, then LayerNorm with eps = 0: 0/0."""
    mlp = MLP(W_in=linear_map(SPACE, HEAD, {}), W_out=linear_map(HEAD, SPACE, {}))
    layer = Layer(mlp=Sublayer(mlp, residual=False, output_norm=Norm("layernorm")))
    return Transformer(space=SPACE, embedding=_embedding(), layers=(layer,), readout=_readout())
