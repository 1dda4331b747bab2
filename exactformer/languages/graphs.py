"""Graph reachability references: queries with two candidates, BFS layers, the ProsQA reader and random generators.

A :class:`ReachabilityQuery` is a directed graph (a :class:`networkx.DiGraph`), a root and two candidate nodes of
which exactly one is reachable from the root along directed edges; the reachable one is the answer. This is the task
of ProsQA (Hao et al. 2024, "Coconut") and of the continuous-thought reachability construction, whose proof tracks
the BFS layers ``V_c`` (the nodes within ``c`` hops of the root), computed here by :func:`bfs_layers`.

Everything here is plain graph search on networkx; nothing knows about transformers.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from ._common import RandomSource, as_rng, canonical_order, data_dir, randbelow
from .errors import InvalidQueryError, ParseError

__all__ = [
    "ReachabilityQuery",
    "bfs_layers",
    "reachable_from",
    "load_prosqa",
    "PROSQA_DIR",
    "random_dag",
    "random_cyclic_digraph",
    "random_dense_digraph",
    "random_reachability_query",
    "query_from_edges",
]

#: Where :func:`load_prosqa` looks by default: ``prosqa/`` under :func:`~exactformer.languages._common.data_dir`.
PROSQA_DIR = data_dir() / "prosqa"

Node = Hashable


# --------------------------------------------------------------------------------------------------------------------
# reachability


def _check_graph(graph: Any, what: str = "graph") -> None:
    """Refuse anything but a simple directed graph: an undirected graph has no edge direction to follow, and a
    multigraph's parallel edges would be counted (and encoded) twice."""
    if isinstance(graph, nx.MultiGraph):
        raise InvalidQueryError(f"the {what} is a networkx.{type(graph).__name__}, whose parallel edges reachability "
                                f"would count twice; pass a simple graph: networkx.DiGraph(graph)")
    if not isinstance(graph, nx.DiGraph):
        hint = " (an undirected graph: use graph.to_directed())" if isinstance(graph, nx.Graph) else ""
        raise InvalidQueryError(f"the {what} must be a networkx.DiGraph, not {type(graph).__name__}{hint}")


def _check_node(graph: nx.DiGraph, node: Node, what: str) -> None:
    if node not in graph:
        raise InvalidQueryError(f"the {what} {node!r} is not a node of the graph ({graph.number_of_nodes()} nodes)")


def bfs_layers(graph: nx.DiGraph, root: Node, hops: int | None = None) -> list[frozenset]:
    """The cumulative breadth-first layers ``V_0 ⊆ V_1 ⊆ ...`` of ``graph`` from ``root``.

    ``V_c`` is the set of nodes reachable from ``root`` by a directed path of at most ``c`` edges; ``V_0 = {root}``
    and ``V_{c+1} = V_c ∪ {v : (u, v) an edge, u ∈ V_c}``.

    Parameters
    ----------
    graph
        A directed graph.
    root
        The start node.
    hops
        ``None`` (default): the layers up to the fixed point, ending with the first ``V_c`` equal to ``V_{c+1}``
        (the last element is the set of all nodes reachable from ``root``, and no two consecutive elements are
        equal). An integer ``c >= 0``: exactly ``V_0, ..., V_c`` (repeating the fixed point if ``c`` is larger).

    Raises
    ------
    InvalidQueryError
        If ``graph`` is not a simple directed graph (a ``MultiDiGraph`` or an undirected graph) or ``root`` is not
        one of its nodes.
    ValueError
        If ``hops`` is negative.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph([(0, 1), (1, 2), (2, 0), (3, 0)])
    >>> [sorted(v) for v in bfs_layers(g, 0)]
    [[0], [0, 1], [0, 1, 2]]
    >>> [sorted(v) for v in bfs_layers(g, 3, hops=1)]
    [[3], [0, 3]]
    """
    _check_graph(graph)
    _check_node(graph, root, "root")
    if hops is not None and (isinstance(hops, bool) or not isinstance(hops, (int, np.integer))):
        raise TypeError(f"hops must be an integer or None, got {type(hops).__name__} {hops!r}")
    if hops is not None and hops < 0:
        raise ValueError(f"hops must be non-negative, got {hops}")
    layers = [frozenset([root])]
    frontier = {root}
    while hops is None or len(layers) <= hops:
        seen = layers[-1]
        new = {v for u in frontier for v in graph.successors(u) if v not in seen}
        if not new and hops is None:
            break
        layers.append(seen | new)
        frontier = new
    return layers


def reachable_from(graph: nx.DiGraph, root: Node) -> frozenset:
    """Every node reachable from ``root`` (``root`` included), by breadth-first search.

    Raises
    ------
    InvalidQueryError
        If ``graph`` is not a simple directed graph (a ``MultiDiGraph`` or an undirected graph) or ``root`` is not
        one of its nodes.
    """
    _check_graph(graph)
    _check_node(graph, root, "root")
    return frozenset(nx.descendants(graph, root) | {root})


@dataclass(frozen=True, kw_only=True, eq=False)
class ReachabilityQuery:
    """A reachability question: which of two candidate nodes can be reached from ``root``?

    Parameters
    ----------
    graph
        The directed graph. A frozen private copy is kept (later changes to the argument do not affect the query,
        and the stored graph cannot be modified).
    root
        The node the question is about.
    candidates
        The two candidate nodes (distinct), in the order they are offered.
    answer
        The candidate that is reachable from ``root``.

    Raises
    ------
    InvalidQueryError
        If ``graph`` is not a simple directed graph (a ``MultiDiGraph`` is refused: convert it with
        ``networkx.DiGraph(graph)``), a node is not in the graph, ``candidates`` is not two distinct nodes,
        ``answer`` is not a candidate, or not exactly one candidate is reachable from ``root`` (the root itself
        counts as reachable), or the reachable one is not ``answer``.

    Examples
    --------
    >>> import networkx as nx
    >>> q = ReachabilityQuery(graph=nx.DiGraph([(0, 1), (1, 2), (3, 2)]), root=0, candidates=(3, 2), answer=2)
    >>> q.edges, q.distance, q.negative
    ([(0, 1), (1, 2), (3, 2)], 2, 3)
    """

    graph: nx.DiGraph
    root: Node
    candidates: tuple
    answer: Node

    def __post_init__(self) -> None:
        _check_graph(self.graph)
        try:
            candidates = tuple(self.candidates)
        except TypeError:
            raise InvalidQueryError(f"candidates must be a pair of nodes, not {self.candidates!r}") from None
        if len(candidates) != 2:
            raise InvalidQueryError(f"a query has exactly two candidates, got {len(candidates)}: {candidates!r}")
        if candidates[0] == candidates[1]:
            raise InvalidQueryError(f"the two candidates must differ, got {candidates[0]!r} twice")
        graph = nx.freeze(self.graph.copy())
        _check_node(graph, self.root, "root")
        for c in candidates:
            _check_node(graph, c, "candidate")
        if self.answer not in candidates:
            raise InvalidQueryError(f"the answer {self.answer!r} is not one of the candidates {candidates!r}")
        reach = reachable_from(graph, self.root)
        reachable = [c for c in candidates if c in reach]
        if len(reachable) != 1:
            raise InvalidQueryError(
                f"exactly one candidate must be reachable from the root {self.root!r}; reachable: {reachable!r} "
                f"of {candidates!r}"
            )
        if reachable[0] != self.answer:
            raise InvalidQueryError(f"the answer {self.answer!r} is not reachable from the root {self.root!r}; "
                                    f"the reachable candidate is {reachable[0]!r}")
        object.__setattr__(self, "graph", graph)
        object.__setattr__(self, "candidates", candidates)

    # -- derived quantities ------------------------------------------------------------------------------------------

    @property
    def nodes(self) -> list:
        """The nodes in a stable order (natural order when comparable, else by type and ``repr``)."""
        return list(canonical_order(self.graph.nodes))

    @property
    def edges(self) -> list[tuple]:
        """The edges ``(u, v)`` in a stable order (sorted like :attr:`nodes`), independent of insertion order."""
        rank = {v: i for i, v in enumerate(self.nodes)}
        return sorted(self.graph.edges, key=lambda e: (rank[e[0]], rank[e[1]]))

    @property
    def negative(self) -> Node:
        """The candidate that is not reachable."""
        return self.candidates[1] if self.candidates[0] == self.answer else self.candidates[0]

    @property
    def answer_index(self) -> int:
        """The position (0 or 1) of the answer in :attr:`candidates`."""
        return self.candidates.index(self.answer)

    @property
    def distance(self) -> int:
        """The number of edges on a shortest path from the root to the answer."""
        return int(nx.shortest_path_length(self.graph, self.root, self.answer))

    def layers(self, hops: int | None = None) -> list[frozenset]:
        """:func:`bfs_layers` of the graph from the root."""
        return bfs_layers(self.graph, self.root, hops)

    # -- comparison, compatibility ---------------------------------------------------------------------------------

    def _key(self) -> tuple:
        return (frozenset(self.graph.nodes), frozenset(self.graph.edges), self.root, self.candidates, self.answer)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReachabilityQuery):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __getitem__(self, key: str) -> Any:
        """Dictionary-style access (``query["graph"]``), for code written against the earlier dict form."""
        if key in ("graph", "root", "candidates", "answer"):
            return getattr(self, key)
        raise KeyError(key)

    def __repr__(self) -> str:
        return (f"ReachabilityQuery(nodes={self.graph.number_of_nodes()}, edges={self.graph.number_of_edges()}, "
                f"root={self.root!r}, candidates={self.candidates!r}, answer={self.answer!r})")

    # -- readers -----------------------------------------------------------------------------------------------------

    @classmethod
    def from_prosqa(cls, record: Mapping[str, Any]) -> ReachabilityQuery:
        """A query from one ProsQA record (facebookresearch/coconut ``data/prosqa_*.json``).

        Nodes are the integers ``0 .. len(idx_to_symbol) - 1``, each with the attribute ``symbol`` (its name in the
        question); edge ``[u, v]`` ("every u is a v") is the directed edge ``u -> v``. The root is ``root``, the
        answer ``target``; the candidates are ``target`` and ``neg_target`` in the order the question names them
        ("Is Tom a A or B?"), or ``(target, neg_target)`` when the question does not name both.

        Raises
        ------
        ParseError
            If a field is missing or malformed.
        InvalidQueryError
            If ``target`` is not reachable from ``root`` or ``neg_target`` is.
        """
        try:
            symbols = list(record["idx_to_symbol"])
            edges = [(int(u), int(v)) for u, v in record["edges"]]
            root, target, negative = int(record["root"]), int(record["target"]), int(record["neg_target"])
        except (KeyError, TypeError, ValueError) as error:
            raise ParseError(f"not a ProsQA record (needs idx_to_symbol, edges, root, target, neg_target): "
                             f"{error!r}") from None
        n = len(symbols)
        for u, v in edges:
            if not (0 <= u < n and 0 <= v < n):
                raise ParseError(f"ProsQA edge ({u}, {v}) names a node outside 0..{n - 1}")
        graph = nx.DiGraph()
        graph.add_nodes_from((i, {"symbol": s}) for i, s in enumerate(symbols))
        graph.add_edges_from(edges)
        candidates = (target, negative)
        question = str(record.get("question", ""))
        m = re.search(r"Is \S+ an? (\S+) or (?:an? )?(\S+?)\?\s*$", question)
        if m is not None:
            first, second = m.group(1), m.group(2)
            if (first, second) == (symbols[negative], symbols[target]):
                candidates = (negative, target)
        return cls(graph=graph, root=root, candidates=candidates, answer=target)


def load_prosqa(split: str = "test", path: str | os.PathLike[str] | None = None) -> list[ReachabilityQuery]:
    """Every ProsQA problem of a split as a :class:`ReachabilityQuery` (see :meth:`ReachabilityQuery.from_prosqa`).

    Parameters
    ----------
    split
        ``"test"`` (500 problems) or ``"valid"`` (300 problems).
    path
        A ``prosqa_<split>.json`` file, or the folder that holds it; by default :data:`PROSQA_DIR`.

    Raises
    ------
    ValueError
        On an unknown split.
    FileNotFoundError
        If the file does not exist.
    ParseError
        If the file is not a JSON array of ProsQA records.
    """
    if split not in ("test", "valid", "train"):
        raise ValueError(f"ProsQA split must be 'test' or 'valid' (or 'train' with an explicit path), not {split!r}")
    where = Path(path) if path is not None else PROSQA_DIR
    file = where / f"prosqa_{split}.json" if where.is_dir() else where
    if not file.is_file():
        raise FileNotFoundError(f"no ProsQA file at {file}")
    try:
        records = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ParseError(f"{file}: not JSON ({error})") from None
    if not isinstance(records, list):
        raise ParseError(f"{file}: expected a JSON array of records, found {type(records).__name__}")
    out = []
    for i, record in enumerate(records):
        try:
            out.append(ReachabilityQuery.from_prosqa(record))
        except (ParseError, InvalidQueryError) as error:
            raise type(error)(f"{file}, record {i}: {error}") from None
    return out


# --------------------------------------------------------------------------------------------------------------------
# random generators


def _unit(gen: random.Random | np.random.Generator) -> float:
    return gen.random()


def _check_size(num_nodes: int, p: float, minimum: int = 1) -> None:
    if not isinstance(num_nodes, (int, np.integer)) or num_nodes < minimum:
        raise ValueError(f"num_nodes must be an integer >= {minimum}, got {num_nodes!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"edge_probability must be in [0, 1], got {p!r}")


def _shuffled(gen: random.Random | np.random.Generator, items: Sequence[Any]) -> list[Any]:
    items = list(items)
    for i in range(len(items) - 1, 0, -1):  # Fisher-Yates with the exact randbelow, for both kinds of generator
        j = randbelow(gen, i + 1)
        items[i], items[j] = items[j], items[i]
    return items


def random_dag(num_nodes: int, *, edge_probability: float = 0.3, rng: RandomSource = None) -> nx.DiGraph:
    """A random directed acyclic graph on nodes ``0 .. num_nodes-1``.

    A random topological order is drawn, then each pair ``(u, v)`` with ``u`` before ``v`` in that order is an edge
    with probability ``edge_probability`` (so node labels carry no information about the order).
    """
    _check_size(num_nodes, edge_probability)
    gen = as_rng(rng)
    order = _shuffled(gen, range(num_nodes))
    graph = nx.DiGraph()
    graph.add_nodes_from(range(num_nodes))
    for i, u in enumerate(order):
        for v in order[i + 1:]:
            if _unit(gen) < edge_probability:
                graph.add_edge(u, v)
    return graph


def random_dense_digraph(num_nodes: int, *, edge_probability: float = 0.75, rng: RandomSource = None) -> nx.DiGraph:
    """A random directed graph on ``0 .. num_nodes-1``: each ordered pair ``u != v`` is an edge with probability
    ``edge_probability`` (default 3/4). No self-loops."""
    _check_size(num_nodes, edge_probability)
    gen = as_rng(rng)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(num_nodes))
    for u in range(num_nodes):
        for v in range(num_nodes):
            if u != v and _unit(gen) < edge_probability:
                graph.add_edge(u, v)
    return graph


def random_cyclic_digraph(num_nodes: int, *, edge_probability: float = 0.2, rng: RandomSource = None
                          ) -> nx.DiGraph:
    """A random directed graph on ``0 .. num_nodes-1`` (``num_nodes >= 2``) with at least one directed cycle.

    Each ordered pair is an edge with probability ``edge_probability``; if the result is acyclic, a directed cycle
    through 2 to ``num_nodes`` random nodes is added. No self-loops.
    """
    _check_size(num_nodes, edge_probability, minimum=2)
    gen = as_rng(rng)
    graph = random_dense_digraph(num_nodes, edge_probability=edge_probability, rng=gen)
    if nx.is_directed_acyclic_graph(graph):
        length = 2 + randbelow(gen, num_nodes - 1)
        cycle = _shuffled(gen, range(num_nodes))[:length]
        graph.add_edges_from(zip(cycle, cycle[1:] + cycle[:1]))
    return graph


_GENERATORS = {"dag": random_dag, "cyclic": random_cyclic_digraph, "dense": random_dense_digraph}


def random_reachability_query(num_nodes: int, *, kind: str = "cyclic", edge_probability: float | None = None,
                              rng: RandomSource = None) -> ReachabilityQuery:
    """A random :class:`ReachabilityQuery` on ``num_nodes >= 3`` nodes.

    A graph of the given ``kind`` (``"dag"``, ``"cyclic"`` or ``"dense"``; ``edge_probability`` is passed on when
    given) and a random root are drawn. If every node is reachable from the root, the incoming edges of a random
    other node are removed so that some node is not. The answer is a random reachable node other than the root
    (the root itself when nothing else is reachable), the distractor a random unreachable node, and their order in
    ``candidates`` is random.
    """
    if kind not in _GENERATORS:
        raise ValueError(f"kind must be one of {sorted(_GENERATORS)}, not {kind!r}")
    if not isinstance(num_nodes, (int, np.integer)) or num_nodes < 3:
        raise ValueError(f"a reachability query needs num_nodes >= 3, got {num_nodes!r}")
    gen = as_rng(rng)
    kwargs = {} if edge_probability is None else {"edge_probability": edge_probability}
    graph = _GENERATORS[kind](num_nodes, rng=gen, **kwargs)
    root = randbelow(gen, num_nodes)
    reach = reachable_from(graph, root)
    if len(reach) == num_nodes:
        others = [v for v in range(num_nodes) if v != root]
        victim = others[randbelow(gen, len(others))]
        graph.remove_edges_from(list(graph.in_edges(victim)))
        reach = reachable_from(graph, root)
    positives = sorted(reach - {root}) or [root]
    negatives = sorted(set(graph.nodes) - reach)
    yes = positives[randbelow(gen, len(positives))]
    no = negatives[randbelow(gen, len(negatives))]
    candidates = (yes, no) if randbelow(gen, 2) else (no, yes)
    return ReachabilityQuery(graph=graph, root=root, candidates=candidates, answer=yes)


def query_from_edges(edges: Iterable[tuple[Node, Node]], *, root: Node, candidates: Sequence[Node], answer: Node,
                     nodes: Iterable[Node] = ()) -> ReachabilityQuery:
    """A :class:`ReachabilityQuery` from an edge list (plus isolated ``nodes``), validated like the constructor."""
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    for v in (root, *candidates):
        if v not in graph:
            raise InvalidQueryError(f"node {v!r} is neither an edge endpoint nor in nodes")
    return ReachabilityQuery(graph=graph, root=root, candidates=tuple(candidates), answer=answer)

