"""Hypothesis strategies for small random models with rational weights, covering every architecture option."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from exactformer.core.architecture import (
    MLP,
    Attention,
    Embedding,
    Layer,
    Loop,
    Mask,
    Norm,
    Readout,
    RelativeBias,
    RepeatCount,
    Scale,
    Sublayer,
    Transformer,
)
from exactformer.core.positions import AlternatingSign, Index, IndexOverLength, IndicatorAt, Sinusoid
from exactformer.core.space import Block, Space

VOCAB = ("a", "b", "c")
SMALL = st.fractions(min_value=-2, max_value=2, max_denominator=4)


def matrix(draw, shape):
    return np.array([draw(SMALL) for _ in range(int(np.prod(shape)))], dtype=object).reshape(shape)


@st.composite
def norms(draw, space: Space, rational_only: bool) -> Norm:
    if rational_only:
        return Norm()
    kind = draw(st.sampled_from(["none", "layernorm", "rmsnorm", "l2"]))
    if kind == "none":
        return Norm()
    mask = None
    if draw(st.booleans()):
        mask = tuple(draw(st.lists(st.sampled_from(space.names), min_size=2, unique=True)))
    eps = draw(st.sampled_from([Fraction(0), Fraction(1, 100), Fraction(1)]))
    return Norm(kind, eps=eps, mask=mask)


@st.composite
def attentions(draw, d: int, rational_only: bool, causal_only: bool = False) -> Attention:
    kinds = ["hard", "average_hard"] if rational_only else ["softmax", "hard", "average_hard"]
    kind = draw(st.sampled_from(kinds))
    h = draw(st.integers(1, 2))
    dh = draw(st.integers(1, 2))
    masks = [Mask("causal"), Mask("strict_causal"), Mask("window", draw(st.integers(1, 3)))]
    if not causal_only:
        masks.append(Mask("none"))
    mask = draw(st.sampled_from(masks))
    scale = Scale()
    if kind == "softmax":
        scale = draw(st.sampled_from([Scale(), Scale(sqrt_of=Fraction(1, 2)), Scale(log_length=True),
                                      Scale(coefficient=Fraction(3, 2))]))
    bias = None
    if draw(st.booleans()):
        bias = tuple(
            RelativeBias({draw(st.integers(0, 3)): draw(SMALL)}, default=draw(SMALL)) if draw(st.booleans()) else None
            for _ in range(h)
        )
    return Attention(
        W_Q=matrix(draw, (h, d, dh)), W_K=matrix(draw, (h, d, dh)), W_V=matrix(draw, (h, d, dh)),
        W_O=matrix(draw, (h, dh, d)), b_Q=matrix(draw, (h, dh)), b_K=matrix(draw, (h, dh)),
        b_V=matrix(draw, (h, dh)), b_O=matrix(draw, (d,)),
        kind=kind, scale=scale, mask=mask,
        tie_rule=draw(st.sampled_from(["leftmost", "rightmost"])), relative_bias=bias,
    )


@st.composite
def mlps(draw, d: int) -> MLP:
    w = draw(st.integers(1, 3))
    activation = draw(st.sampled_from(["relu", "step"]))
    return MLP(W_in=matrix(draw, (d, w)), b_in=matrix(draw, (w,)), W_out=matrix(draw, (w, d)),
               b_out=matrix(draw, (d,)), activation=activation,
               threshold=draw(SMALL) if activation == "step" else Fraction(0))


@st.composite
def layers(draw, space: Space, rational_only: bool, causal_only: bool = False) -> Layer:
    d = space.dim
    att = mlp = None
    which = draw(st.sampled_from(["attn", "mlp", "both"]))
    if which in ("attn", "both"):
        att = Sublayer(draw(attentions(d, rational_only, causal_only)), draw(norms(space, rational_only)),
                       draw(st.booleans()), draw(norms(space, rational_only)))
    if which in ("mlp", "both"):
        mlp = Sublayer(draw(mlps(d)), draw(norms(space, rational_only)), draw(st.booleans()),
                       draw(norms(space, rational_only)))
    return Layer(attention=att, mlp=mlp)


@st.composite
def transformers(draw, rational_only: bool = True, causal_only: bool = False, allow_loop: bool = True) -> Transformer:
    space = Space.of(Block("x", [str(k) for k in range(draw(st.integers(2, 4)))]), Block("p", ["a", "b"]))
    d = space.dim
    features = [IndexOverLength(), AlternatingSign(), IndicatorAt(0), IndicatorAt(-1), Index()]
    if not rational_only:
        features.append(Sinusoid(k=1, d=4))
    positional = tuple(
        (coord, draw(st.sampled_from(features))) for coord in ("p:a", "p:b") if draw(st.booleans())
    )
    embedding = Embedding(W_E=matrix(draw, (len(VOCAB), d)), vocab=VOCAB, positional=positional)
    prefix = tuple(draw(st.lists(layers(space, rational_only, causal_only), min_size=1, max_size=2)))
    loop = None
    if allow_loop and draw(st.booleans()):
        loop = Loop(block=(draw(layers(space, rational_only, causal_only)),),
                    count=RepeatCount(draw(st.sampled_from(["constant", "ceil_log2", "floor_log2_plus_1"])),
                                      1, draw(st.integers(0, 1))))
    suffix = tuple(draw(st.lists(layers(space, rational_only, causal_only), max_size=1)))
    decision = draw(st.sampled_from(["sign", "argmax"]))
    n_out = 1 if decision == "sign" else 3
    readout = Readout(W_U=matrix(draw, (d, n_out)), b_U=matrix(draw, (n_out,)),
                      labels=("yes",) if decision == "sign" else VOCAB, decision=decision,
                      position=draw(st.sampled_from([0, -1])))
    return Transformer(space=space, embedding=embedding, layers=prefix, loop=loop, suffix=suffix, readout=readout)


words = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=6)
