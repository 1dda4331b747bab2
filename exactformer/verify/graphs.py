"""The verifier's references for graph questions: inputs and answers by breadth-first search, never by a model.

* :class:`BFSConnectivityReference`: s-t reachability, inputs ``(graph, s, t)``;
* :class:`BFSReachabilityReference`: which candidate the root reaches, inputs
  :class:`~exactformer.languages.graphs.ReachabilityQuery`.

Both answer with :func:`exactformer.languages.graphs.reachable_from` and know nothing of the constructions they check.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import networkx as nx

from ..languages.graphs import random_reachability_query, reachable_from

__all__ = ["BFSConnectivityReference", "BFSReachabilityReference"]


class BFSConnectivityReference:
    """s-t reachability: inputs ``(graph, s, t)`` and answers by BFS (:func:`reachable_from`).

    ``inputs(size)``: graphs on ``size`` vertices (random ``G(n, p)`` digraphs, ``p`` cycling through 0.1 .. 0.5,
    plus the directed path), every ``(s, t)`` pair of each graph while the count allows (exhaustive over pairs).
    """

    name = "BFS reachability"

    def __init__(self, graphs_per_size: int = 4) -> None:
        self.graphs_per_size = graphs_per_size

    def expected(self, x: Any) -> bool:
        graph, s, t = x
        g = graph if graph.is_directed() else graph.to_directed()
        return t == s or (s in g and t in reachable_from(g, s))

    def inputs(self, size: int, *, count: int, exhaustive_limit: int, rng: random.Random) -> tuple[list[Any], str]:
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

    def shrink(self, x: Any) -> Iterator[Any]:
        graph, s, t = x
        for edge in list(graph.edges):
            smaller = graph.copy()
            smaller.remove_edge(*edge)
            yield (smaller, s, t)


class BFSReachabilityReference:
    """Inputs are :class:`~exactformer.languages.graphs.ReachabilityQuery` objects (random digraphs, size = number
    of nodes); the answer is the one candidate BFS reaches from the root (``None`` when not exactly one)."""

    name = "BFS reachability (candidate choice)"

    def __init__(self, kinds: Sequence[str] = ("dag", "cyclic", "dense"), per_kind: int = 3,
                 max_edges: int | None = None) -> None:
        self.kinds = tuple(kinds)
        self.per_kind = per_kind
        self.max_edges = max_edges

    def expected(self, x: Any) -> Any:
        reach = reachable_from(x.graph, x.root)
        found = [c for c in x.candidates if c in reach]
        return found[0] if len(found) == 1 else None

    def inputs(self, size: int, *, count: int, exhaustive_limit: int, rng: random.Random) -> tuple[list[Any], str]:
        out = []
        for kind in self.kinds:
            made = 0
            for _ in range(50 * self.per_kind):
                if made >= min(count, self.per_kind):
                    break
                q = random_reachability_query(size, kind=kind, rng=rng.randrange(2**32))
                small = self.max_edges is None or q.graph.number_of_edges() <= self.max_edges
                if q.graph.out_degree(q.root) > 0 and small:
                    out.append(q)
                    made += 1
        return out, "random"

    def shrink(self, x: Any) -> Iterator[Any]:
        return iter(())
