"""A small correct construction with every part a verifier must watch, and ways to break each part.

``first_is_b`` accepts the words over {a, b} whose first symbol is b:

* L0 (hard attention, all scores equal, tie rule leftmost) copies the first symbol into ``copy:*``;
* L1 (step MLP, threshold 1/2) sets ``fired = [copy:b >= 1/2]``;
* L2 (ReLU MLP) writes ``z = sign * (2 fired - 1)``;
* a looped block adds 1 to ``count`` three times;
* the readout is the sign of ``z``.

Each keyword breaks one thing the way a real construction breaks: a flipped sign, a shifted threshold, a missing
layer, a wrong tie rule, too few loop iterations.
"""

from __future__ import annotations

from fractions import Fraction

from exactformer.core.architecture import (
    MLP,
    Attention,
    Embedding,
    Layer,
    Loop,
    Mask,
    Readout,
    RepeatCount,
    Sublayer,
    Transformer,
)
from exactformer.core.construction import Citation, Construction, Invariant, Probe
from exactformer.core.space import Block, Space, linear_map, vector

SPACE = Space.of(Block("one"), Block("sym", ["a", "b"]), Block("copy", ["a", "b"]), Block("fired"), Block("z"),
                 Block("count"))
UNIT = Space.of(Block("u"))


def first_is_b(*, sign: int = 1, threshold: Fraction = Fraction(1, 2), drop_copy_layer: bool = False,
               tie_rule: str = "leftmost", loops: int = 3) -> Construction:
    head = Space.of(Block("h"))
    vals = Space.of(Block("v", ["a", "b"]))
    copy_first = Layer(attention=Sublayer(Attention(
        W_Q=[linear_map(SPACE, head, {"one": {"h": 1}})],
        W_K=[linear_map(SPACE, head, {"one": {"h": 1}})],
        W_V=[linear_map(SPACE, vals, {"sym:a": {"v:a": 1}, "sym:b": {"v:b": 1}})],
        W_O=[linear_map(vals, SPACE, {"v:a": {"copy:a": 1}, "v:b": {"copy:b": 1}})],
        kind="hard", mask=Mask("causal"), tie_rule=tie_rule,
    )))
    step = Layer(mlp=Sublayer(MLP(W_in=linear_map(SPACE, UNIT, {"copy:b": {"u": 1}}),
                                  W_out=linear_map(UNIT, SPACE, {"u": {"fired": 1}}),
                                  activation="step", threshold=threshold)))
    sign_layer = Layer(mlp=Sublayer(MLP(W_in=linear_map(SPACE, UNIT, {"fired": {"u": 1}}),
                                        W_out=linear_map(UNIT, SPACE, {"u": {"z": 2 * sign}}),
                                        b_out=vector(SPACE, {"z": -sign}))))
    counter = Layer(mlp=Sublayer(MLP(W_in=linear_map(SPACE, UNIT, {"one": {"u": 1}}),
                                     W_out=linear_map(UNIT, SPACE, {"u": {"count": 1}}))))
    layers = (step, sign_layer) if drop_copy_layer else (copy_first, step, sign_layer)
    model = Transformer(
        space=SPACE,
        embedding=Embedding(W_E=[vector(SPACE, {"one": 1, "sym:a": 1}), vector(SPACE, {"one": 1, "sym:b": 1})],
                            vocab=("a", "b")),
        layers=layers,
        loop=Loop(block=(counter,), count=RepeatCount("constant", 1, loops - 1)),
        readout=Readout(W_U=linear_map(SPACE, Space.of(Block("y")), {"z": {"y": 1}}), labels=("b first",),
                        decision="sign"),
    )
    last = (-1,)
    return Construction(
        name="first_is_b" + ("" if (sign, threshold, drop_copy_layer, tie_rule, loops)
                             == (1, Fraction(1, 2), False, "leftmost", 3) else " (broken)"),
        model=model,
        encode=lambda w: list(w),
        interpret=bool,
        tokens_for=lambda n: n,
        citation=Citation("tests", "negative controls", "exactformer test suite", "-"),
        invariants=(
            Invariant("copy.first_symbol", "L0 copies the first symbol", Probe("L0.attn", ("copy:a", "copy:b"), last),
                      lambda w, n: [[int(w[0] == "a"), int(w[0] == "b")]]),
            Invariant("step.fired", "L1 fires iff the first symbol is b", Probe("L1.mlp", ("fired",), last),
                      lambda w, n: [[int(w[0] == "b")]]),
            Invariant("sign.z", "L2 writes +1 for b, -1 for a", Probe("L2.mlp", ("z",), last),
                      lambda w, n: [[1 if w[0] == "b" else -1]]),
            Invariant("loop.count", "the loop runs three times", Probe("final", ("count",), last),
                      lambda w, n: [[3]]),
        ),
    )
