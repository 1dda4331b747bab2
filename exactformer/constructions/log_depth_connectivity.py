"""Graph connectivity by a log-depth looped transformer (Merrill & Sabharwal 2025, Theorem 2 and App. D).

The paper's algorithm is repeated squaring of the reachability relation by midpoints, one level per two layers:

* ``B_0(i, j) = [i = j or A_ij = 1]`` (the note's erratum: the paper prints AND);
* ``C_l(i, k, j) = B_{l-1}(i, k) and B_{l-1}(k, j)`` at the padding token ``(i, k, j)``;
* ``B_l(i, j) = OR_k C_l(i, k, j)`` at the adjacency token ``(i, j)``,

so that ``B_l(i, j) = 1`` iff a path of length ``<= 2^l`` leads from ``i`` to ``j``, and ``B_{ceil(log2 n)}(s, t)``
is the answer. The input is the paper's: the ``n^2`` adjacency bits row-major, ``n^3`` padding tokens, then
``a^(s+1) b^(t+1)`` (vertices are 0-based in the API, 1-based inside the model; the unary codes are 1-based so that
vertex 0 is visible and the last token is always a ``b``).

Proof sketch (each lemma is one function below):

* :func:`graph_coordinates` -- positional features give every adjacency token its cell ``(i, j)`` and every
  padding token its triple ``(i, k, j)`` (1-based), with their squares. **Deviation**: the paper computes these in
  its layers 2-16 (Lemma 1 twice and Lemma 7 on the layer-norm hash); here they are supplied by the positional
  encoding, the quantities the paper's prefix provably writes.
* :func:`count_layer` -- one uniform head (all scores 0) averages ``[token = a]``, ``[token = b]`` and
  ``[position = 0]``: it writes ``(s+1)/N``, ``(t+1)/N`` and ``1/N`` everywhere (the paper's layer 1). Its MLP
  writes the equality bit ``[i = j]`` at adjacency tokens (Lemma 8) as ``1[i - j >= 0] - 1[i - j > 0]``.
* :func:`base_case_layer` -- ``B_0 = 1[eq + A - 1/2 >= 0]`` (OR; the printed AND is ``1[eq + A - 3/2 >= 0]``),
  clears ``eq``, and sets the alternation bit ``r = 1`` (the paper's layer 17).
* :func:`squaring_layer` -- the one looped layer, applied twice per level. Its heads match pointers by the
  quadratic score ``2 x x' - x'^2 (+ 2 y y' - y'^2)``, uniquely maximal at ``x' = x`` with an integer gap of 1;
  keys of the wrong kind of token score 0 and the ``b`` tokens score 1 (a null key whose values are 0), so every
  query has a defined target. With ``r = 1`` (the C half) the padding token ``(i, k, j)`` reads ``B(i, k)``
  and ``B(k, j)`` and its MLP overwrites ``C`` by their AND; with ``r = 0`` (the B half) the adjacency token
  ``(i, j)`` averages ``C(i, ., j)`` over the ``n`` padding tokens (the heads are unmasked: padding comes later),
  a second value gives ``1/(2n)``, and ``B = 1[h - 1/(2n) >= 0]`` overwrites ``B``. A fourth head attends to the
  token itself and subtracts the previous reads, so the scratch cells hold this layer's reads only. ``r`` is
  updated by ``+ (1 - 2r)`` (the paper prints ``+ (1 - r)``, which leaves ``r = 1`` forever).
* :func:`answer_layer` -- the last token's query ``((s+1)/N, (t+1)/N, 1/N)`` matches the adjacency cell
  ``(s, t)`` by the same quadratic score divided by ``N`` and copies ``B(s, t)``; the readout is its sign about 1/2.

Induction: after level l (two applications of the looped layer) ``B = B_l`` at every adjacency token, ``C = C_l``
at every padding token and ``r = 1`` again. Every weight, activation and score is rational, so the exact evaluator
runs the whole model.

**Deviations** from the paper's (17, 2, 1) model (:data:`DEVIATIONS`, ``docs/log_depth_connectivity.md``):
the coordinate prefix is a positional encoding (2 initial layers instead of 17); pointers use the quadratic score
instead of the layer-norm hash (no norm anywhere, so exact arithmetic applies); the sign of the paper's
layer-norm read is replaced by ``step`` units (``1[x >= 0]`` at half-integer margins, and ``1/(2n)`` margins for the
B threshold); the FFNs use a constant ``one`` coordinate instead of biases; the looped "block of 2" is the same
layer twice (which is what makes the alternation bit necessary); all heads are unmasked (the two C heads would
find the same keys under a causal mask, since adjacency tokens come first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import networkx as nx
import numpy as np

from ..core.architecture import MLP, Embedding, Layer, Loop, Readout, RepeatCount, Sublayer, Transformer
from ..core.construction import Citation, Construction, Invariant, Probe
from ..core.errors import InputError
from ..core.positions import GraphCoordinate, IndicatorAt, PositionalFeature
from ..core.positions import graph_vertices_for_length as vertices_for_length
from ..core.space import Block, Space, linear_map
from .gadgets.dfa import ceil_log2
from .gadgets.heads import HeadAction, heads_attention
from .gadgets.units import unit_mlp
from .registry import Entry

__all__ = [
    "GraphCoordinate",
    "vertices_for_length",
    "tokens_for",
    "levels_for",
    "paper_depth",
    "graph_space",
    "graph_coordinates",
    "count_layer",
    "base_case_layer",
    "squaring_layer",
    "answer_layer",
    "encode_graph",
    "reachability_levels",
    "log_depth_connectivity",
    "BFSConnectivityReference",
    "DEVIATIONS",
    "ENTRIES",
]

HALF = Fraction(1, 2)
VOCAB = ("0", "1", "pad", "a", "b")

DEVIATIONS = (
    "coordinates (i, j) / (i, k, j) come from the positional encoding, not from the paper's layers 2-16 "
    "(Lemma 1 twice + Lemma 7): 2 initial layers instead of 17",
    "pointers matched by the quadratic score 2xx' - x'^2 (gap 1) instead of the layer-norm hash (gap ~1/(2q^4))",
    "the sign read of a layer-normed cell is replaced by MLP step units 1[x >= 0] with half-integer margins",
    "FFN constants come from a residual coordinate 'one' instead of biases; no norms at all",
    "the looped block is one layer applied twice per level (the alternation bit r selects the half)",
    "all heads unmasked (a causal mask would leave the C heads' targets unchanged)",
    "the loop count is ceil(log2 num_vertices), fixed at build time: the core's RepeatCount cannot recover n "
    "from N = n^3 + n^2 + s + t (see the proposed diff in docs/log_depth_connectivity.md)",
)


# ---------------------------------------------------------------------------------------------------------------
# sizes
# ---------------------------------------------------------------------------------------------------------------


def tokens_for(n: int, s: int = 0, t: int = 0) -> int:
    """Tokens of the encoding of ``(graph on n vertices, s, t)``: ``n^2 + n^3 + (s + 1) + (t + 1)`` (0-based s, t)."""
    return n * n + n**3 + s + t + 2


def levels_for(n: int) -> int:
    """``ceil(log2 n)`` (0 for n <= 1): the squaring levels after which ``B`` is reachability."""
    return ceil_log2(n)


def paper_depth(n: int) -> int:
    """Theorem 2's depth ``2 ceil(log2 n) + 18``."""
    return 2 * levels_for(n) + 18


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


# ---------------------------------------------------------------------------------------------------------------
# input, reference quantities, the construction
# ---------------------------------------------------------------------------------------------------------------


def _graph_query(x: Any) -> tuple[nx.DiGraph, int, int]:
    if not (isinstance(x, tuple) and len(x) == 3):
        raise InputError(f"a connectivity input is a tuple (graph, s, t), got {type(x).__name__}")
    graph, s, t = x
    if not isinstance(graph, nx.Graph):
        raise InputError(f"the graph must be a networkx graph, got {type(graph).__name__}")
    if isinstance(graph, nx.MultiGraph):
        raise InputError(f"the graph is a networkx.{type(graph).__name__}; the adjacency-bit encoding takes a simple "
                         f"graph (pass networkx.DiGraph(graph) or networkx.Graph(graph))")
    return graph, s, t


def _size(graph: nx.Graph) -> int:
    nodes = list(graph.nodes)
    bad = [v for v in nodes if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0)]
    if bad:
        raise InputError(f"graph vertices must be integers 0..n-1; got {bad[:5]}")
    return max(nodes) + 1 if nodes else 0


def encode_graph(graph: nx.Graph, s: int, t: int, *, max_vertices: int | None = None) -> list[str]:
    """The paper's input: adjacency bits row-major, ``n^3`` padding tokens, ``a^(s+1) b^(t+1)``.

    ``n`` is ``max vertex + 1`` (vertices are the integers ``0..n-1``; missing ones are isolated). An undirected
    graph gives a symmetric matrix.

    Raises
    ------
    InputError
        On non-integer vertices, ``s`` or ``t`` out of range, or more than ``max_vertices`` vertices.
    """
    n = _size(graph)
    for name, v in (("s", s), ("t", t)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 0 <= v:
            raise InputError(f"{name} must be a vertex 0..n-1, got {v!r}")
    n = max(n, int(s) + 1, int(t) + 1)
    if max_vertices is not None and n > max_vertices:
        raise InputError(f"the graph (with s={s}, t={t}) has {n} vertices; this model handles at most {max_vertices}")
    bits = ["0"] * (n * n)
    for u, v in graph.edges:
        bits[u * n + v] = "1"
        if not graph.is_directed():
            bits[v * n + u] = "1"
    return bits + ["pad"] * n**3 + ["a"] * (int(s) + 1) + ["b"] * (int(t) + 1)


def reachability_levels(graph: nx.Graph, n: int, level: int) -> np.ndarray:
    """``[dist(i, j) <= 2^level]`` for ``i, j < n`` (BFS distances), as an ``n x n`` 0/1 integer array."""
    out = np.zeros((n, n), dtype=np.int64)
    g = graph if graph.is_directed() else graph.to_directed()
    for i in range(n):
        dist = nx.single_source_shortest_path_length(g, i, cutoff=2**level) if i in g else {i: 0}
        for j in dist:
            if j < n:
                out[i, j] = 1
    return out


def _state_expected(level: int, half: str) -> Callable[[Any, int], Any]:
    """Expected ``(B, C, r)`` at every token after ``level`` levels (``half='C'``: after the C half of that level)."""

    def expected(x: Any, length: int) -> Any:
        graph, _, _ = _graph_query(x)
        n = vertices_for_length(length)
        out = np.zeros((length, 3), dtype=object)
        b_prev = reachability_levels(graph, n, level - 1) if level > 0 else None
        b_now = reachability_levels(graph, n, level) if half == "B" else b_prev
        for p in range(n * n):
            out[p, 0] = Fraction(int(b_now[p // n, p % n]))
        if half == "C":
            for i in range(n):
                for k in range(n):
                    for j in range(n):
                        out[n * n + i * n * n + k * n + j, 1] = Fraction(int(b_prev[i, k] and b_prev[k, j]))
        elif level > 0:
            c = np.einsum("ik,kj->ikj", b_prev, b_prev).reshape(-1)
            for q, v in enumerate(c):
                out[n * n + q, 1] = Fraction(int(v))
        for p in range(length):
            out[p, 2] = Fraction(0 if half == "C" else 1)
        return out

    return expected


def _invariants(levels: int) -> tuple[Invariant, ...]:
    coords = ("B", "C", "r")
    out = [Invariant(
        name="base_case",
        statement="after layer L1, B(i, j) = [i = j or A_ij] at every adjacency token, C = 0, r = 1",
        probe=Probe("L1.mlp", coords),
        expected=_state_expected(0, "B"),
    )]
    for level in range(1, levels + 1):
        out.append(Invariant(
            name=f"level{level}.C",
            statement=f"after the C half of level {level}, C(i, k, j) = B_{level - 1}(i, k) and B_{level - 1}(k, j), "
                      f"B = B_{level - 1}, r = 0",
            probe=Probe(f"loop{level - 1}.B0.mlp", coords),
            expected=_state_expected(level, "C"),
        ))
        out.append(Invariant(
            name=f"level{level}.B",
            statement=f"after level {level}, B(i, j) = [a path of length <= 2^{level} leads from i to j] (BFS), r = 1",
            probe=Probe(f"loop{level - 1}.B1.mlp", coords),
            expected=_state_expected(level, "B"),
        ))
    return tuple(out)


def log_depth_connectivity(
    num_vertices: int = 8,
    *,
    printed_base_case: bool = False,
    printed_flip: bool = False,
    printed_threshold: bool = False,
) -> Construction:
    """Merrill & Sabharwal's Theorem 2: s-t reachability on up to ``num_vertices`` vertices by repeated squaring.

    Parameters
    ----------
    num_vertices
        The largest graph handled; the loop runs ``ceil(log2 num_vertices)`` levels (2 layers each). A smaller
        graph is encoded at its own size (``n = max vertex + 1``) and read correctly: extra levels keep ``B``.
    printed_base_case, printed_flip, printed_threshold
        Build the paper's printed text instead of the note's fix: ``B_0`` by AND, ``r += 1 - r``,
        ``z = (1 + ReLU(sigma)) / 2``. Each printed form fails on concrete graphs (see the tests).

    Returns
    -------
    Construction
        Input ``(graph, s, t)`` (a networkx graph on vertices ``0..n-1``, 0-based ``s``, ``t``); answer ``True``
        iff ``t`` is reachable from ``s``.
    """
    if isinstance(num_vertices, bool) or not isinstance(num_vertices, int) or num_vertices < 1:
        raise InputError(f"num_vertices must be a positive integer, got {num_vertices!r}")
    levels = levels_for(num_vertices)
    space = graph_space()
    square = squaring_layer(space, printed_flip=printed_flip, printed_threshold=printed_threshold)
    W_U = linear_map(space, Space.of(Block("out", ["reachable"])), {"ans": {"out:reachable": 1},
                                                                      "one": {"out:reachable": -HALF}})
    model = Transformer(
        space=space,
        embedding=_embedding(space),
        layers=(count_layer(space), base_case_layer(space, printed=printed_base_case)),
        loop=Loop(block=(square, square), count=RepeatCount("constant", multiplier=levels)) if levels else None,
        suffix=(answer_layer(space),),
        readout=Readout(W_U=W_U, labels=("reachable",), position=-1, decision="sign"),
        max_length=tokens_for(num_vertices, num_vertices - 1, num_vertices - 1),
    )
    variant = [name for flag, name in ((printed_base_case, "printed_and"), (printed_flip, "printed_flip"),
                                       (printed_threshold, "printed_threshold")) if flag]

    def encode(x: Any) -> list[str]:
        graph, s, t = _graph_query(x)
        return encode_graph(graph, s, t, max_vertices=num_vertices)

    def tokens(n: int) -> int:
        return tokens_for(n, n - 1, n - 1)

    return Construction(
        name="connectivity" + ("[" + ",".join(variant) + "]" if variant else ""),
        model=model,
        encode=encode,
        interpret=lambda label: bool(label),
        tokens_for=tokens,
        citation=Citation(
            authors="W. Merrill and A. Sabharwal",
            title="A Little Depth Goes a Long Way: The Expressive Power of Log-Depth Transformers",
            venue="NeurIPS 2025",
            theorem="Theorem 2 (graph connectivity, (17, 2, 1)-universal, depth 2 ceil(log2 n) + 18) and App. D",
            arxiv="2503.03961",
        ),
        invariants=_invariants(levels),
        description=(
            "s-t reachability by repeated squaring of the reachability relation by midpoints: one looped layer "
            "(twice per level), n^3 padding tokens, ceil(log2 n) levels; exact rational weights, no norms."
        ),
        extras={
            "num_vertices": num_vertices,
            "levels": levels,
            "depth": 2 * levels + 3,
            "paper_depth": paper_depth(num_vertices),
            "deviations": DEVIATIONS,
            "precision_prediction": (
                "scores are integers up to 2 n^2 (exact in float16 to n ~ 32) except the answer head's, "
                "((s+1)^2 + (t+1)^2 - ...)/N with gap 1/N ~ 1/n^3; the B threshold has margin 1/(2n)"
            ),
        },
    )


# ---------------------------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------------------------


class BFSConnectivityReference:
    """The verifier's view of s-t reachability: inputs ``(graph, s, t)`` and answers from
    :func:`exactformer.languages.graphs.reachable_from` (BFS, independent of the model).

    ``inputs(size)``: graphs on ``size`` vertices (random ``G(n, p)`` digraphs, ``p`` cycling through 0.1 .. 0.5,
    plus the directed path), every ``(s, t)`` pair of each graph while the count allows (exhaustive over pairs).
    """

    name = "BFS reachability"

    def __init__(self, graphs_per_size: int = 4) -> None:
        self.graphs_per_size = graphs_per_size

    def expected(self, x: Any) -> bool:
        from ..languages.graphs import reachable_from  # noqa: PLC0415

        graph, s, t = x
        g = graph if graph.is_directed() else graph.to_directed()
        return t == s or (s in g and t in reachable_from(g, s))

    def inputs(self, size: int, *, count: int, exhaustive_limit: int, rng: Any) -> tuple[list[Any], str]:
        if size < 1:
            return [], "none"
        graphs = [nx.path_graph(size, create_using=nx.DiGraph)]
        for m in range(self.graphs_per_size - 1):
            g = nx.gnp_random_graph(size, 0.1 + 0.1 * (m % 5), seed=rng.randrange(2**31), directed=True)
            graphs.append(g)
        pairs = [(s, t) for s in range(size) for t in range(size)]
        out = [(g, s, t) for g in graphs for s, t in pairs]
        if len(out) <= max(count, exhaustive_limit):
            return out, "random graphs, all (s, t)"
        return rng.sample(out, count), "random graphs, sampled (s, t)"

    def shrink(self, x: Any) -> Any:
        graph, s, t = x
        for edge in list(graph.edges):
            smaller = graph.copy()
            smaller.remove_edge(*edge)
            yield (smaller, s, t)


ENTRIES: list[Entry] = [
    Entry(
        name="connectivity",
        builder=log_depth_connectivity,
        summary="Merrill & Sabharwal Thm 2: s-t reachability by a looped log-depth transformer (repeated squaring)",
        example=(nx.DiGraph([(0, 1), (1, 2), (2, 3)]), 0, 3),
        options={"num_vertices": 8, "printed_base_case": False, "printed_flip": False, "printed_threshold": False},
        reference=lambda c: BFSConnectivityReference(),
        lengths=lambda c: tuple(range(1, c.extras["num_vertices"] + 1)),
    ),
]
