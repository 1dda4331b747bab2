"""Hypothesis strategies for the verifier's inputs: words, uniform accepted/rejected words, graphs, queries, machines.

All of them shrink the way hypothesis does (shorter words, fewer edges, smaller machines), so a failing property
reports a small counterexample.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import networkx as nx
from hypothesis import strategies as st

__all__ = [
    "words",
    "words_of_length",
    "language_words",
    "accepted_words",
    "rejected_words",
    "digraphs",
    "reachability_queries",
    "turing_machines",
    "post_machines",
]


def words(alphabet: Sequence[str], *, min_size: int = 0, max_size: int = 16) -> st.SearchStrategy[str]:
    """Words over ``alphabet`` (one-character symbols) of length ``min_size..max_size``."""
    return st.lists(st.sampled_from(list(alphabet)), min_size=min_size, max_size=max_size).map("".join)


def words_of_length(alphabet: Sequence[str], length: int) -> st.SearchStrategy[str]:
    """Words over ``alphabet`` of exactly ``length`` symbols."""
    return words(alphabet, min_size=length, max_size=length)


def language_words(dfa: Any, length: int, *, accepted: bool) -> st.SearchStrategy[Any]:
    """Uniformly random accepted (or rejected) words of ``length`` from a DFA with exact ``sample``.

    The randomness comes from a hypothesis-drawn seed, so examples replay; shrinking moves towards seed 0.
    """
    if dfa.count(length, accepted=accepted) == 0:
        kind = "accepted" if accepted else "rejected"
        raise ValueError(f"the DFA has no {kind} words of length {length}")
    return st.integers(0, 2**32 - 1).map(lambda seed: dfa.sample(length, accepted=accepted, rng=random.Random(seed)))


def accepted_words(dfa: Any, length: int) -> st.SearchStrategy[Any]:
    """Exactly uniform accepted words of ``length`` (``language_words(dfa, length, accepted=True)``)."""
    return language_words(dfa, length, accepted=True)


def rejected_words(dfa: Any, length: int) -> st.SearchStrategy[Any]:
    """Exactly uniform rejected words of ``length`` (``language_words(dfa, length, accepted=False)``)."""
    return language_words(dfa, length, accepted=False)


@st.composite
def digraphs(draw: Any, *, min_nodes: int = 2, max_nodes: int = 8, kind: str = "any") -> nx.DiGraph:
    """Directed graphs on nodes ``0..k-1``: ``kind`` is ``"dag"`` (edges go from lower to higher nodes),
    ``"cyclic"`` (at least one cycle), ``"dense"`` (each ordered pair an edge with probability 3/4) or ``"any"``."""
    k = draw(st.integers(min_nodes, max_nodes))
    kind = draw(st.sampled_from(["dag", "cyclic", "dense"])) if kind == "any" else kind
    pairs = [(u, v) for u in range(k) for v in range(k) if u != v and (kind != "dag" or u < v)]
    if kind == "dense":
        chosen = [p for p in pairs if draw(st.integers(0, 3)) > 0]
    else:
        chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=3 * k)) if pairs else []
    graph = nx.DiGraph()
    graph.add_nodes_from(range(k))
    graph.add_edges_from(chosen)
    if kind == "cyclic" and nx.is_directed_acyclic_graph(graph):
        cycle = draw(st.lists(st.integers(0, k - 1), min_size=2, max_size=k, unique=True))
        graph.add_edges_from(zip(cycle, cycle[1:] + cycle[:1]))
    return graph


@st.composite
def reachability_queries(draw: Any, *, min_nodes: int = 3, max_nodes: int = 8, kind: str = "any") -> Any:
    """:class:`~exactformer.languages.ReachabilityQuery` objects (graph, root, two candidates, answer) with exactly
    one candidate reachable from the root.

    The graph comes from :func:`digraphs`; if every node is reachable from the root, the incoming edges of one other
    node are cut. The query also answers ``query["graph"]`` etc. (the earlier dict form).
    """
    from exactformer.languages.graphs import ReachabilityQuery, reachable_from

    if min_nodes < 3:
        raise ValueError(f"a reachability query needs min_nodes >= 3, got {min_nodes}")
    graph = draw(digraphs(min_nodes=min_nodes, max_nodes=max_nodes, kind=kind))
    root = draw(st.sampled_from(sorted(graph.nodes)))
    reachable = sorted(reachable_from(graph, root))
    unreachable = sorted(set(graph.nodes) - set(reachable))
    if not unreachable:  # make one node unreachable by cutting its incoming edges
        victim = draw(st.sampled_from([v for v in graph.nodes if v != root]))
        graph.remove_edges_from(list(graph.in_edges(victim)))
        reachable = sorted(reachable_from(graph, root))
        unreachable = sorted(set(graph.nodes) - set(reachable))
    yes = draw(st.sampled_from(reachable))
    no = draw(st.sampled_from(unreachable))
    candidates = (yes, no) if draw(st.booleans()) else (no, yes)
    return ReachabilityQuery(graph=graph, root=root, candidates=candidates, answer=yes)


@st.composite
def turing_machines(draw: Any, *, max_states: int = 4, symbols: int = 2) -> str:
    """Random Turing machines in the standard text notation (e.g. ``1RB1LB_1LA0LC``), with a halting transition.

    Halting is not guaranteed: run them with a step bound.
    """
    n = draw(st.integers(1, max_states))
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXY"[:n]
    cells = [(q, a) for q in range(n) for a in range(symbols)]
    halting = draw(st.sampled_from(cells))
    groups = []
    for q in range(n):
        parts = []
        for a in range(symbols):
            if (q, a) == halting:
                parts.append(f"{draw(st.integers(0, symbols - 1))}{draw(st.sampled_from('LR'))}Z")
            else:
                parts.append(f"{draw(st.integers(0, symbols - 1))}{draw(st.sampled_from('LR'))}"
                             f"{draw(st.sampled_from(letters))}")
        groups.append("".join(parts))
    return "_".join(groups)


@st.composite
def post_machines(draw: Any, *, max_states: int = 4, max_symbols: int = 3, max_queue: int = 6) -> dict[str, Any]:
    """Random synchronous Post machines as plain data: ``{"states", "symbols", "delta", "start", "halting",
    "queue"}`` with ``delta[(p, a)] = (b, p2)`` total on the non-halting states."""
    states = [f"p{k}" for k in range(draw(st.integers(2, max_states)))]
    symbols = [str(k) for k in range(draw(st.integers(2, max_symbols)))]
    halting = {states[-1]}
    delta = {
        (p, a): (draw(st.sampled_from(symbols)), draw(st.sampled_from(states)))
        for p in states
        if p not in halting
        for a in symbols
    }
    queue = draw(st.lists(st.sampled_from(symbols), min_size=2, max_size=max_queue))
    return {"states": states, "symbols": symbols, "delta": delta, "start": states[0], "halting": halting,
            "queue": queue}
