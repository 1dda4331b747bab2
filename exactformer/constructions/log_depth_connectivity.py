"""Graph connectivity by a log-depth looped transformer (Merrill & Sabharwal 2025, Theorem 2 and App. D).

The paper's algorithm is repeated squaring of the reachability relation by midpoints, one level per two layers:

* ``B_0(i, j) = [i = j or A_ij = 1]`` (``docs/notes/log_depth.md`` §4 erratum: the paper prints AND);
* ``C_l(i, k, j) = B_{l-1}(i, k) and B_{l-1}(k, j)`` at the padding token ``(i, k, j)``;
* ``B_l(i, j) = OR_k C_l(i, k, j)`` at the adjacency token ``(i, j)``,

so that ``B_l(i, j) = 1`` iff a path of length ``<= 2^l`` leads from ``i`` to ``j``, and ``B_{ceil(log2 n)}(s, t)``
is the answer. The input is the paper's: the ``n^2`` adjacency bits row-major, ``n^3`` padding tokens, then
``a^(s+1) b^(t+1)`` (vertices are 0-based in the API, 1-based inside the model; the unary codes are 1-based so that
vertex 0 is visible and the last token is always a ``b``).

Proof sketch (each lemma is one function of :mod:`.log_depth_connectivity_layers`, re-exported here):

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from ..core.architecture import Loop, Readout, RepeatCount, Transformer
from ..core.claims import Claim, ClaimedResources, constant
from ..core.construction import Citation, Construction, Invariant, Probe
from ..core.errors import InputError
from ..core.positions import GraphCoordinate
from ..core.positions import graph_vertices_for_length as vertices_for_length
from ..core.space import Block, Space, linear_map
from .gadgets.dfa import ceil_log2
from .log_depth_connectivity_layers import (
    HALF,
    _embedding,
    answer_layer,
    base_case_layer,
    count_layer,
    graph_space,
    squaring_layer,
)

__all__ = [
    "GraphCoordinate",
    "vertices_for_length",
    "tokens_for",
    "levels_for",
    "paper_depth",
    "encode_graph",
    "reachability_levels",
    "log_depth_connectivity",
    "DEVIATIONS",
    "ConnectivityParameters",
]

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


@dataclass(frozen=True)
class ConnectivityParameters:
    """What :func:`log_depth_connectivity` was built for.

    Attributes
    ----------
    num_vertices
        The most vertices of an input graph (the encoding pads every graph to it).
    levels
        ``⌈log2 num_vertices⌉``: the squaring levels, fixed at build time (the model runs ``2 levels + 3`` layers
        on every graph it accepts).
    paper_depth
        Theorem 2's depth ``2⌈log2 n⌉ + 18`` at ``n = num_vertices``.
    """

    num_vertices: int
    levels: int
    paper_depth: int


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
        out = np.zeros((length, 3), dtype=np.int64)
        b_prev = reachability_levels(graph, n, level - 1) if level > 0 else None
        b_now = reachability_levels(graph, n, level) if half == "B" else b_prev
        if b_now is not None:
            out[: n * n, 0] = b_now.reshape(-1)  # B(i, j) at the adjacency token n i + j
        if b_prev is not None:  # C(i, k, j) = B(i, k) and B(k, j) at the padding token n^2 + n^2 i + n k + j
            out[n * n : n * n + n**3, 1] = np.einsum("ik,kj->ikj", b_prev, b_prev).reshape(-1)
        out[:, 2] = 0 if half == "C" else 1
        return out.astype(object)  # exact integers (Python ints), compared as they are by every backend

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
        claims=ClaimedResources(
            claims=(Claim("layers", "<=", paper_depth, "2⌈log2 n⌉ + 18"),
                    Claim("layers", "==", constant(2 * levels + 3), f"2 levels + 3 (levels = {levels})",
                          source="build")),
            attention=("average_hard",),
            precision="scores are integers up to 2 n^2 (exact in float16 to n ~ 32) except the answer head's, "
                      "((s+1)^2 + (t+1)^2 - ...)/N with gap 1/N ~ 1/n^3; the B threshold has margin 1/(2n)",
        ),
        deviations=DEVIATIONS,
        parameters=ConnectivityParameters(num_vertices=num_vertices, levels=levels,
                                          paper_depth=paper_depth(num_vertices)),
    )
