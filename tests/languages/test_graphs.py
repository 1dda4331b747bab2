"""Graph references: ReachabilityQuery validation, BFS layers (against an independent shortest-path count),
the ProsQA reader on a hand-written record, the random generators and the hypothesis strategies."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings

from exactformer.languages import (
    InvalidQueryError,
    ParseError,
    ReachabilityQuery,
    bfs_layers,
    load_prosqa,
    query_from_edges,
    random_cyclic_digraph,
    random_dag,
    random_dense_digraph,
    random_reachability_query,
)
from exactformer.verify import strategies as vs


def within(graph, root, c):
    """V_c by repeated relaxation of a distance table (Bellman-Ford style, no BFS)."""
    dist = {v: float("inf") for v in graph}
    dist[root] = 0
    for _ in range(len(graph)):
        for u, v in graph.edges:
            dist[v] = min(dist[v], dist[u] + 1)
    return frozenset(v for v, d in dist.items() if d <= c)


def test_bfs_layers_small_example():
    g = nx.DiGraph([(0, 1), (1, 2), (2, 0), (3, 0), (2, 4)])
    assert bfs_layers(g, 0) == [frozenset({0}), frozenset({0, 1}), frozenset({0, 1, 2}), frozenset({0, 1, 2, 4})]
    assert bfs_layers(g, 4) == [frozenset({4})]
    assert bfs_layers(g, 0, hops=6)[-1] == frozenset({0, 1, 2, 4}) and len(bfs_layers(g, 0, hops=6)) == 7
    assert bfs_layers(g, 0, hops=0) == [frozenset({0})]


@settings(max_examples=60, deadline=None)
@given(vs.digraphs(max_nodes=9))
def test_bfs_layers_match_distances(graph):
    root = min(graph.nodes)
    layers = bfs_layers(graph, root)
    for c, layer in enumerate(layers):
        assert layer == within(graph, root, c)
    assert layers[-1] == within(graph, root, len(graph))
    assert all(a < b for a, b in zip(layers, layers[1:]))  # strictly growing up to the fixed point


def test_bfs_layers_errors():
    g = nx.DiGraph([(0, 1)])
    with pytest.raises(InvalidQueryError, match="root 5"):
        bfs_layers(g, 5)
    with pytest.raises(ValueError, match="non-negative"):
        bfs_layers(g, 0, hops=-1)


def test_query_validation():
    g = nx.DiGraph([(0, 1), (1, 2), (3, 2)])
    q = ReachabilityQuery(graph=g, root=0, candidates=(3, 2), answer=2)
    assert q.edges == [(0, 1), (1, 2), (3, 2)] and q.negative == 3 and q.distance == 2 and q.answer_index == 1
    assert q["graph"] is q.graph and q["candidates"] == (3, 2)
    cases = [
        (dict(root=0, candidates=(1, 2), answer=1), "reachable: [1, 2]"),  # both reachable
        (dict(root=3, candidates=(0, 1), answer=0), "reachable: []"),  # neither
        (dict(root=0, candidates=(3, 2), answer=3), "not reachable"),
        (dict(root=0, candidates=(3, 2), answer=1), "not one of the candidates"),
        (dict(root=0, candidates=(2, 2), answer=2), "must differ"),
        (dict(root=0, candidates=(1, 2, 3), answer=1), "exactly two"),
        (dict(root=9, candidates=(3, 2), answer=2), "root 9"),
        (dict(root=0, candidates=(3, 8), answer=3), "candidate 8"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(InvalidQueryError) as info:
            ReachabilityQuery(graph=g, **kwargs)
        assert fragment in str(info.value), (kwargs, str(info.value))
    with pytest.raises(TypeError):
        ReachabilityQuery(g, 0, (3, 2), 2)  # type: ignore[misc]


def test_query_is_frozen_and_keeps_its_own_graph():
    g = nx.DiGraph([(0, 1), (2, 1)])
    q = ReachabilityQuery(graph=g, root=0, candidates=(1, 2), answer=1)
    g.add_edge(0, 2)  # does not affect q
    assert not q.graph.has_edge(0, 2)
    with pytest.raises(nx.NetworkXError):
        q.graph.add_edge(0, 2)
    with pytest.raises(AttributeError):
        q.root = 2  # type: ignore[misc]
    same = query_from_edges([(2, 1), (0, 1)], root=0, candidates=(1, 2), answer=1)
    assert same == q and hash(same) == hash(q) and same.edges == q.edges


RECORD = {
    "question": "Every wumpus is a yumpus. Tom is a wumpus. Every zorpus is a gorpus. Is Tom a gorpus or yumpus?",
    "answer": "Tom is a yumpus.",
    "steps": ["Tom is a wumpus.", "Every wumpus is a yumpus."],
    "idx_to_symbol": ["Tom", "wumpus", "yumpus", "zorpus", "gorpus"],
    "edges": [[1, 2], [0, 1], [3, 4]],
    "root": 0,
    "target": 2,
    "neg_target": 4,
}


def test_from_prosqa_record():
    q = ReachabilityQuery.from_prosqa(RECORD)
    assert q.root == 0 and q.answer == 2 and q.negative == 4
    assert q.candidates == (4, 2)  # the order of the question: "gorpus or yumpus"
    assert q.graph.nodes[2]["symbol"] == "yumpus"
    assert q.distance == len(RECORD["steps"])
    swapped = dict(RECORD, question=RECORD["question"].replace("gorpus or yumpus", "yumpus or gorpus"))
    assert ReachabilityQuery.from_prosqa(swapped).candidates == (2, 4)


def test_from_prosqa_errors():
    with pytest.raises(ParseError, match="not a ProsQA record"):
        ReachabilityQuery.from_prosqa({"edges": []})
    with pytest.raises(ParseError, match="outside"):
        ReachabilityQuery.from_prosqa(dict(RECORD, edges=[[0, 9]]))
    with pytest.raises(InvalidQueryError):
        ReachabilityQuery.from_prosqa(dict(RECORD, target=4, neg_target=2))


def test_load_prosqa_errors(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_prosqa("dev")
    with pytest.raises(FileNotFoundError):
        load_prosqa("test", path=tmp_path)
    (tmp_path / "prosqa_test.json").write_text("{}")
    with pytest.raises(ParseError, match="JSON array"):
        load_prosqa("test", path=tmp_path)
    import json

    (tmp_path / "prosqa_test.json").write_text(json.dumps([RECORD, RECORD]))
    assert len(load_prosqa("test", path=tmp_path)) == 2


@pytest.mark.parametrize("seed", range(20))
def test_generators(seed):
    dag = random_dag(12, edge_probability=0.4, rng=seed)
    assert set(dag) == set(range(12)) and nx.is_directed_acyclic_graph(dag)
    cyc = random_cyclic_digraph(7, edge_probability=0.05, rng=seed)
    assert not nx.is_directed_acyclic_graph(cyc) and nx.number_of_selfloops(cyc) == 0
    dense = random_dense_digraph(10, rng=np.random.default_rng(seed))
    assert nx.number_of_selfloops(dense) == 0
    for kind in ("dag", "cyclic", "dense"):
        q = random_reachability_query(9, kind=kind, rng=random.Random(seed))
        reach = nx.descendants(q.graph, q.root) | {q.root}
        assert [c in reach for c in q.candidates].count(True) == 1 and q.answer in reach


def test_generators_are_reproducible_and_dense_is_dense():
    assert random_dag(10, rng=3).edges == random_dag(10, rng=3).edges
    assert random_reachability_query(10, rng=4) == random_reachability_query(10, rng=4)
    edges = sum(random_dense_digraph(20, rng=s).number_of_edges() for s in range(5))
    assert abs(edges / (5 * 20 * 19) - 0.75) < 0.03  # 1900 Bernoulli(3/4) pairs: sd ~ 0.01


def test_generator_errors():
    with pytest.raises(ValueError, match="num_nodes"):
        random_dag(0)
    with pytest.raises(ValueError, match="edge_probability"):
        random_dense_digraph(3, edge_probability=2)
    with pytest.raises(ValueError, match="kind"):
        random_reachability_query(5, kind="tree")
    with pytest.raises(ValueError, match=">= 3"):
        random_reachability_query(2)


@settings(max_examples=50, deadline=None)
@given(vs.reachability_queries())
def test_strategy_produces_valid_reachability_query_objects(q):
    assert isinstance(q, ReachabilityQuery)
    reach = nx.descendants(q.graph, q.root) | {q.root}
    assert [c in reach for c in q.candidates].count(True) == 1
