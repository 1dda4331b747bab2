"""The layers of the connectivity construction (Merrill & Sabharwal 2025, Theorem 2 and App. D), one function per
lemma: the residual space and positional coordinates, the count layer, the base case, the looped squaring layer and
the answer layer. :mod:`.log_depth_connectivity` assembles them and states the proof (its module docstring).

Every weight is rational, every MLP unit a step ``1[x >= 0]`` and every head average-hard with integer or
``1/N``-scaled scores, so the exact evaluator runs the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ..core.architecture import MLP, Embedding, Layer, Sublayer
from ..core.positions import GraphCoordinate, IndicatorAt, PositionalFeature
from ..core.space import Block, Space, linear_map
from .gadgets.heads import HeadAction, heads_attention
from .gadgets.units import unit_mlp

__all__ = [
    "HALF",
    "VOCAB",
    "graph_space",
    "graph_coordinates",
    "count_layer",
    "base_case_layer",
    "squaring_layer",
    "answer_layer",
]

HALF = Fraction(1, 2)
VOCAB = ("0", "1", "pad", "a", "b")


# ---------------------------------------------------------------------------------------------------------------
# the residual space
# ---------------------------------------------------------------------------------------------------------------

_COORDS = ("row", "col", "row2", "col2", "pi", "pk", "pj", "pi2", "pk2", "pj2", "k1", "first")


def graph_space() -> Space:
    """The residual stream: token flags, coordinates, counts, the B/C/r state, scratch cells and the answer."""
    return Space.of(
        Block("one"),
        Block("tok", ["adj", "bit", "pad", "a", "b"]),
        Block("coord", _COORDS),
        Block("count", ["s", "t", "inv"]),
        Block("eq"),
        Block("B"),
        Block("C"),
        Block("r"),
        Block("x", ["bik", "bkj", "h", "half"]),
        Block("ans"),
    )


def graph_coordinates() -> tuple[tuple[str, PositionalFeature], ...]:
    """The positional encoding: each coordinate of :func:`graph_space`'s ``coord`` block and its feature."""
    features = {
        "row": GraphCoordinate("row", 1), "col": GraphCoordinate("col", 1),
        "row2": GraphCoordinate("row", 2), "col2": GraphCoordinate("col", 2),
        "pi": GraphCoordinate("pad_i", 1), "pk": GraphCoordinate("pad_k", 1), "pj": GraphCoordinate("pad_j", 1),
        "pi2": GraphCoordinate("pad_i", 2), "pk2": GraphCoordinate("pad_k", 2), "pj2": GraphCoordinate("pad_j", 2),
        "k1": GraphCoordinate("pad_k_is_1", 1), "first": IndicatorAt(0),
    }
    return tuple((f"coord:{name}", features[name]) for name in _COORDS)


def _embedding(space: Space) -> Embedding:
    rows = {
        "0": {"one": 1, "tok:adj": 1},
        "1": {"one": 1, "tok:adj": 1, "tok:bit": 1},
        "pad": {"one": 1, "tok:pad": 1},
        "a": {"one": 1, "tok:a": 1},
        "b": {"one": 1, "tok:b": 1},
    }
    tokens = Space.of(Block("token", VOCAB))
    W_E = linear_map(tokens, space, {f"token:{v}": rows[v] for v in VOCAB})
    return Embedding(W_E=W_E, vocab=VOCAB, positional=graph_coordinates())


# ---------------------------------------------------------------------------------------------------------------
# gadgets
# ---------------------------------------------------------------------------------------------------------------


def _step_mlp(space: Space, units: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> MLP:
    """Step units ``1[x . w_in >= 0]`` writing ``w_out``; each unit is ``(w_in, w_out)`` over named coordinates."""
    return unit_mlp(space, {str(k): unit for k, unit in enumerate(units)}, activation="step", hidden="u")


def count_layer(space: Space) -> Layer:
    """Paper layer 1 (counts) with the equality bit of Lemma 8.

    Attention: one head with all scores 0 averages over the ``N`` tokens: value ``[a]`` gives ``(s+1)/N``, ``[b]``
    gives ``(t+1)/N`` and ``[position 0]`` gives ``1/N``. MLP: at an adjacency token ``d = row - col`` is an
    integer, so ``1[d + 1/2 >= 0] - 1[d - 1/2 >= 0] = [d = 0]``; the first unit is gated by ``adj`` (elsewhere
    ``d = 0`` too, but ``-1/2 < 0``).
    """
    head = HeadAction(
        query={}, key={},
        value={"tok:a": {"v:0": 1}, "tok:b": {"v:1": 1}, "coord:first": {"v:2": 1}},
        output={"v:0": {"count:s": 1}, "v:1": {"count:t": 1}, "v:2": {"count:inv": 1}},
    )
    mlp = _step_mlp(space, [
        ({"coord:row": 1, "coord:col": -1, "tok:adj": 1, "one": -HALF}, {"eq": 1}),
        ({"coord:row": 1, "coord:col": -1, "one": -HALF}, {"eq": -1}),
    ])
    return Layer(attention=Sublayer(heads_attention(space, [head], 1, 3)), mlp=Sublayer(mlp), name="count")


def base_case_layer(space: Space, *, printed: bool = False) -> Layer:
    """Paper layer 17: ``B_0 = [i = j] OR A_ij`` at adjacency tokens, clear ``eq``, set ``r = 1``.

    ``eq, A`` are bits, so ``1[eq + A - 1/2 >= 0]`` is their OR. ``printed=True`` builds the paper's text, "output 1
    if both are 1": ``1[eq + A - 3/2 >= 0]`` (AND), which loses every edge ``i -> j`` with ``i != j``.
    """
    threshold = Fraction(3, 2) if printed else HALF
    mlp = _step_mlp(space, [
        ({"eq": 1, "tok:bit": 1, "one": -threshold}, {"B": 1}),
        ({"eq": 1, "one": -HALF}, {"eq": -1}),
        ({"one": HALF}, {"r": 1}),
    ])
    return Layer(mlp=Sublayer(mlp), name="base_case")


def _pointer(query_pairs: Sequence[tuple[str, str]], key_pairs: Sequence[tuple[str, str]], gate: str,
             null: str = "tok:b") -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Query/key maps of the quadratic pointer match.

    Query ``(2x_1, -g, 2x_2, -g, ..., 1)`` against key ``(x'_1, x'_1^2, x'_2, x'_2^2, ..., [null])`` scores
    ``sum_m (2 x_m x'_m - x'_m^2) + [null] = sum_m x_m^2 - sum_m (x_m - x'_m)^2 + [null]`` when the gate ``g = 1``:
    uniquely maximal (``>= 2`` with 1-based coordinates, two or more of them) at the key with ``x' = x``, gap 1;
    tokens without these coordinates score 0 and the null tokens 1. A query whose gate is 0 (its coordinates are
    0) scores 1 at the null tokens and 0 elsewhere, so it averages the null tokens' values.
    """
    q: dict[str, dict[str, Any]] = {}
    k: dict[str, dict[str, Any]] = {}
    d = 0
    for (qx, _), (kx, kx2) in zip(query_pairs, key_pairs):
        q.setdefault(qx, {})[f"d:{d}"] = 2
        q.setdefault(gate, {})[f"d:{d + 1}"] = -1
        k.setdefault(kx, {})[f"d:{d}"] = 1
        k.setdefault(kx2, {})[f"d:{d + 1}"] = 1
        d += 2
    q.setdefault("one", {})[f"d:{d}"] = 1
    k.setdefault(null, {})[f"d:{d}"] = 1
    return q, k


def _self_pointer() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """A token's match with itself: adjacency tokens by ``(row, col)``, padding tokens by ``(i, k, j)``.

    Dimensions 0-3 are the adjacency pairs (gated by ``adj``), 4-9 the padding pairs (gated by ``pad``), 10 the
    null key: a token of one kind scores 0 on tokens of the other kind (their coordinates are 0) and its own
    square norm (``>= 2``) on itself.
    """
    q: dict[str, dict[str, Any]] = {}
    k: dict[str, dict[str, Any]] = {}
    pairs = [("row", "tok:adj"), ("col", "tok:adj"), ("pi", "tok:pad"), ("pk", "tok:pad"), ("pj", "tok:pad")]
    for m, (c, gate) in enumerate(pairs):
        q.setdefault(f"coord:{c}", {})[f"d:{2 * m}"] = 2
        q.setdefault(gate, {})[f"d:{2 * m + 1}"] = -1
        k.setdefault(f"coord:{c}", {})[f"d:{2 * m}"] = 1
        k.setdefault(f"coord:{c}2", {})[f"d:{2 * m + 1}"] = 1
    q["one"] = {"d:10": 1}
    k["tok:b"] = {"d:10": 1}
    return q, k


def squaring_layer(space: Space, *, printed_flip: bool = False, printed_threshold: bool = False) -> Layer:
    """The looped layer: the C half when ``r = 1``, the B half when ``r = 0``; then ``r <- r + (1 - 2r)``.

    Heads (average-hard, unmasked, quadratic pointers, see :func:`_pointer`):

    * ``left``: padding ``(i, k, j)`` reads ``B(i, k)`` into ``x:bik``;
    * ``right``: padding ``(i, k, j)`` reads ``B(k, j)`` into ``x:bkj``;
    * ``collect``: adjacency ``(i, j)`` ties on the ``n`` padding tokens ``(i, ., j)``: ``x:h = (1/n) sum_k C``,
      and ``x:half = (1/n) sum_k [k = 1] / 2 = 1/(2n)``;
    * ``clear``: every token reads minus its own scratch, so the scratch holds this layer's reads only.

    Step units (all arguments are integers or multiples of ``1/(2n)``, so each decision has a margin ``>= 1/(2n)``):

    * C half: ``C += 1[bik + bkj + r + pad - 7/2 >= 0] - 1[C + r - 3/2 >= 0]`` (AND, overwrite);
    * B half: ``B += 1[h - half - r + 2 adj - 2 >= 0] - (1[B - r - 1/4 >= 0] + 1[B - r - 3/4 >= 0]) / 2``; since
      ``h`` is a multiple of ``1/n``, ``h >= 1/(2n)`` iff some ``C(i, k, j) = 1``. ``printed_threshold`` writes the
      paper's ``z = (1 + ReLU(sigma)) / 2`` instead: ``B = 1/2`` where no midpoint exists, which the next C half
      reads as half a path.
    * ``r += 1[1/2 >= 0] - 2 * 1[r - 1/2 >= 0]`` (``1 - 2r``); ``printed_flip`` adds ``1 - r`` (r stays 1, the B
      half never runs).
    """
    lq, lk = _pointer([("coord:pi", ""), ("coord:pk", "")], [("coord:row", "coord:row2"), ("coord:col", "coord:col2")],
                      "tok:pad")
    rq, rk = _pointer([("coord:pk", ""), ("coord:pj", "")], [("coord:row", "coord:row2"), ("coord:col", "coord:col2")],
                      "tok:pad")
    cq, ck = _pointer([("coord:row", ""), ("coord:col", "")], [("coord:pi", "coord:pi2"), ("coord:pj", "coord:pj2")],
                      "tok:adj")
    sq, sk = _self_pointer()
    heads = [
        HeadAction(lq, lk, {"B": {"v:0": 1}}, {"v:0": {"x:bik": 1}}),
        HeadAction(rq, rk, {"B": {"v:0": 1}}, {"v:0": {"x:bkj": 1}}),
        HeadAction(cq, ck, {"C": {"v:0": 1}, "coord:k1": {"v:1": HALF}}, {"v:0": {"x:h": 1}, "v:1": {"x:half": 1}}),
        HeadAction(sq, sk, {f"x:{c}": {f"v:{m}": -1} for m, c in enumerate(("bik", "bkj", "h", "half"))},
              {f"v:{m}": {f"x:{c}": 1} for m, c in enumerate(("bik", "bkj", "h", "half"))}),
    ]
    units: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"x:bik": 1, "x:bkj": 1, "r": 1, "tok:pad": 1, "one": Fraction(-7, 2)}, {"C": 1}),
        ({"C": 1, "r": 1, "one": Fraction(-3, 2)}, {"C": -1}),
        ({"B": 1, "r": -1, "one": Fraction(-1, 4)}, {"B": -HALF}),
        ({"B": 1, "r": -1, "one": Fraction(-3, 4)}, {"B": -HALF}),
        ({"one": HALF}, {"r": 1}),
        ({"r": 1, "one": -HALF}, {"r": -1 if printed_flip else -2}),
    ]
    decide = {"x:h": 1, "x:half": -1, "r": -1, "tok:adj": 2, "one": -2}
    if printed_threshold:
        units += [(decide, {"B": HALF}), ({"tok:adj": 1, "r": -1, "one": -HALF}, {"B": HALF})]
    else:
        units.append((decide, {"B": 1}))
    attention = heads_attention(space, heads, 11, 4)
    return Layer(attention=Sublayer(attention), mlp=Sublayer(_step_mlp(space, units)), name="square")


def answer_layer(space: Space) -> Layer:
    """The final layer: the last token reads ``B(s, t)`` into ``ans``.

    Query ``(2 (s+1)/N, -1/N, 2 (t+1)/N, -1/N)`` against adjacency keys ``(row, row^2, col, col^2)`` scores
    ``((s+1)^2 + (t+1)^2 - (row - s - 1)^2 - (col - t - 1)^2) / N``: unique maximum at the cell ``(s, t)``,
    positive, while every other token's key is 0.
    """
    q = {"count:s": {"d:0": 2}, "count:inv": {"d:1": -1, "d:3": -1}, "count:t": {"d:2": 2}}
    k = {"coord:row": {"d:0": 1}, "coord:row2": {"d:1": 1}, "coord:col": {"d:2": 1}, "coord:col2": {"d:3": 1}}
    head = HeadAction(q, k, {"B": {"v:0": 1}}, {"v:0": {"ans": 1}})
    return Layer(attention=Sublayer(heads_attention(space, [head], 4, 1)), name="answer")
