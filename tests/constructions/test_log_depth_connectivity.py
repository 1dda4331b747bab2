"""Merrill & Sabharwal Theorem 2 (graph connectivity) against BFS written here with networkx."""

from __future__ import annotations

import random
from fractions import Fraction

import networkx as nx
import numpy as np
import pytest
import torch

from exactformer.constructions.log_depth_connectivity import (
    GraphCoordinate,
    encode_graph,
    levels_for,
    log_depth_connectivity,
    paper_depth,
    tokens_for,
    vertices_for_length,
)
from exactformer.core.arith import arithmetic_for
from exactformer.core.errors import InputError
from exactformer.verify import check
from exactformer.verify.check import invariant_holds
from exactformer.verify.graphs import BFSConnectivityReference
from exactformer.verify.reference import CorpusReference


def bfs_reachable(graph: nx.DiGraph, s: int, t: int) -> bool:
    """Plain BFS (the test's own reference)."""
    seen, frontier = {s}, [s]
    while frontier:
        nxt = []
        for u in frontier:
            for v in graph.successors(u) if u in graph else ():
                if v not in seen:
                    seen.add(v)
                    nxt.append(v)
        frontier = nxt
    return t in seen


def bfs_within(graph: nx.DiGraph, n: int, hops: int) -> np.ndarray:
    out = np.zeros((n, n), dtype=int)
    for i in range(n):
        dist = {i: 0}
        frontier = [i]
        for d in range(1, hops + 1):
            nxt = []
            for u in frontier:
                for v in graph.successors(u) if u in graph else ():
                    if v not in dist:
                        dist[v] = d
                        nxt.append(v)
            frontier = nxt
        for j in dist:
            out[i, j] = 1
    return out


def corpus(queries: list[tuple[nx.DiGraph, int, int]], size: int) -> CorpusReference:
    return CorpusReference([(q, bfs_reachable(*q)) for q in queries], size=lambda x: size, name="BFS (test)")


PATH3 = nx.DiGraph([(0, 1), (1, 2)])
PATH3.add_nodes_from(range(3))


# -- input encoding --------------------------------------------------------------------------------------------


def test_encoding_layout() -> None:
    g = nx.DiGraph([(0, 1)])
    toks = encode_graph(g, 1, 0)
    assert toks[:4] == ["0", "1", "0", "0"]
    assert toks[4:12] == ["pad"] * 8
    assert toks[12:] == ["a", "a", "b"]
    assert len(toks) == tokens_for(2, 1, 0)
    und = encode_graph(nx.Graph([(0, 1)]), 0, 0)
    assert und[:4] == ["0", "1", "1", "0"]


def test_vertices_recovered_from_length() -> None:
    for n in range(1, 25):
        for s in range(n):
            for t in (0, n - 1):
                assert vertices_for_length(tokens_for(n, s, t)) == n


@pytest.mark.parametrize(
    "query, message",
    [
        ((PATH3, 3, 0), "at most 3"),
        ((PATH3, -1, 0), "s must be a vertex"),
        ((PATH3, 0, "x"), "t must be a vertex"),
        ((nx.DiGraph([("u", "v")]), 0, 0), "integers"),
        (("not a graph", 0, 0), "networkx graph"),
        ((PATH3, 0), "tuple"),
    ],
)
def test_bad_input(query: object, message: str) -> None:
    c = log_depth_connectivity(3)
    with pytest.raises(InputError, match=message):
        c.encode(query)


def test_too_many_vertices() -> None:
    c = log_depth_connectivity(3)
    with pytest.raises(InputError, match="4 vertices"):
        c.encode((nx.path_graph(4, create_using=nx.DiGraph), 0, 1))
    with pytest.raises(InputError, match="positive integer"):
        log_depth_connectivity(0)


def test_coordinates_exact_and_torch_agree() -> None:
    n, length = 3, tokens_for(3, 2, 1)
    pos = torch.arange(length)
    for part in ("row", "col", "pad_i", "pad_k", "pad_j", "pad_k_is_1"):
        for power in (1, 2):
            f = GraphCoordinate(part, power)
            exact = [f.exact(p, length) for p in range(length)]
            assert [Fraction(int(v)) for v in f.torch(pos, length, torch.float64)] == exact
    # padding token (i, k, j) = (2, 3, 1), 1-based, sits at n^2 + (1 n^2 + 2 n + 0)
    p = n * n + 1 * n * n + 2 * n + 0
    assert [GraphCoordinate(x).exact(p, length) for x in ("pad_i", "pad_k", "pad_j")] == [2, 3, 1]
    # the core owns the feature and round-trips it: saved models load without importing this construction
    from exactformer.core.positions import FEATURE_KINDS, feature_from_json

    assert FEATURE_KINDS["graph_coordinate"] is GraphCoordinate
    assert feature_from_json(GraphCoordinate("pad_k", 2).to_json()) == GraphCoordinate("pad_k", 2)


# -- resources -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9, 12, 16])
def test_depth(n: int) -> None:
    r = log_depth_connectivity(n).resources(n)
    assert r.layers == 2 * levels_for(n) + 3
    assert paper_depth(n) - r.layers == 15
    assert r.tokens == n * n + n**3 + 2 * n
    assert r.attention_kinds == ("average_hard",)
    assert r.max_heads_per_layer == (4 if n > 1 else 1)


def test_looped_layer_does_not_depend_on_n() -> None:
    w4 = log_depth_connectivity(4).weights()
    w16 = log_depth_connectivity(16).weights()
    assert set(w4) == set(w16)
    for name in w4:
        assert np.array_equal(w4[name], w16[name]), name


# -- correctness -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_exact_path_graph() -> None:
    c = log_depth_connectivity(3)
    assert c.run((PATH3, 0, 2), backend="exact").answer is True
    assert c.run((PATH3, 2, 0), backend="exact").answer is False


def test_exact_with_invariants_small() -> None:
    c = log_depth_connectivity(2)
    queries = [(nx.DiGraph([(0, 1)]), 0, 1), (nx.DiGraph([(0, 1)]), 1, 0)]
    report = check(c, corpus(queries, 2), lengths=[2], backend="exact")
    assert report.passed, report.failures
    tallies = report.lengths[0].invariants
    assert set(tallies) == {"base_case", "level1.C", "level1.B"}
    assert all(t.checked == 2 and t.held == 2 for t in tallies.values())


def test_float64_all_pairs_up_to_3_vertices_with_invariants() -> None:
    c = log_depth_connectivity(3)
    report = check(c, BFSConnectivityReference(graphs_per_size=2), lengths=[1, 2, 3], backend="torch")
    assert report.passed, report.failures
    assert report.tested == 2 * (1 + 4 + 9)
    assert all(t.held == t.checked > 0 for lr in report.lengths for t in lr.invariants.values())


def test_level_invariant_matches_bfs_within_powers_of_two() -> None:
    c = log_depth_connectivity(5)
    g = nx.path_graph(5, create_using=nx.DiGraph)
    g.add_edge(4, 2)
    out = c.run((g, 0, 4), backend="torch", dtype=torch.float64)
    assert out.answer is True
    for level in range(1, levels_for(5) + 1):
        resid = out.output.trace[f"loop{level - 1}.B1.mlp"][0]
        col = c.model.space.index("B")
        got = np.rint(resid[:25, col].numpy()).astype(int).reshape(5, 5)
        assert np.array_equal(got, bfs_within(g, 5, 2**level)), level


# -- errata: the printed forms fail, the fixes pass -------------------------------------------------------------


def _fails_as_construction_error(c, query, size: int = 3):
    report = check(c, corpus([query], size), lengths=[size], backend="torch", shrink=False)
    assert not report.passed
    f = report.failures[0]
    assert f.reason.startswith("construction error"), f.reason
    return report


def test_erratum_base_case_and() -> None:
    query = (nx.DiGraph([(0, 1)]), 0, 1)  # one edge: AND of [i = j] and A_ij is 0 off the diagonal
    assert log_depth_connectivity(2).run(query).answer is True
    c = log_depth_connectivity(2, printed_base_case=True)
    assert c.run(query).answer is False
    _fails_as_construction_error(c, query, size=2)


def _broken_invariants(c, query) -> dict[str, str]:
    """The declared invariants that fail on ``query`` (float64), with the verifier's explanation."""
    out = c.run(query, backend="torch", dtype=torch.float64)
    n_tokens = len(c.encode(query))
    broken = {}
    for inv in c.invariants:
        held, detail = invariant_holds(
            inv, out.output.trace, 0, query, n_tokens, c.model.space.index, "torch", torch.float64
        )
        if not held:
            broken[inv.name] = detail
    return broken


def test_erratum_alternation_flip() -> None:
    query = (PATH3, 0, 2)  # distance 2: needs one B half, which the printed r += 1 - r never runs
    assert log_depth_connectivity(3).run(query).answer is True
    assert _broken_invariants(log_depth_connectivity(3), query) == {}
    c = log_depth_connectivity(3, printed_flip=True)
    assert c.run(query).answer is False
    out = c.run(query, backend="torch", dtype=torch.float64)
    r = out.output.trace["loop0.B0.mlp"][0][:, c.model.space.index("r")]
    assert bool((r == 1).all())  # r never reaches 0
    broken = _broken_invariants(c, query)
    assert "level1.C" in broken  # the verifier's invariant names the first broken half: r stays 1 after the C half
    assert "level1.B" in broken


def test_erratum_threshold() -> None:
    query = (PATH3, 2, 0)  # unreachable: printed z = (1 + ReLU(sigma))/2 leaves B = 1/2, read as a midpoint
    assert log_depth_connectivity(3).run(query).answer is False
    c = log_depth_connectivity(3, printed_threshold=True)
    assert c.run(query).answer is True
    broken = _broken_invariants(c, query)
    assert "level1.B" in broken and broken["level1.B"].startswith("B at position")


@pytest.mark.slow
@pytest.mark.parametrize("option, query", [("printed_flip", (PATH3, 0, 2)), ("printed_threshold", (PATH3, 2, 0))])
def test_errata_diagnosed_as_construction_errors(option: str, query) -> None:
    """The verifier's diagnosis (an exact rerun) calls each printed form a construction error, not precision."""
    report = _fails_as_construction_error(log_depth_connectivity(3, **{option: True}), query)
    if option == "printed_flip":
        assert report.lengths[0].invariants["level1.B"].held == 0


def test_declared_invariants() -> None:
    names = [inv.name for inv in log_depth_connectivity(5).invariants]
    assert names == ["base_case"] + [f"level{lv}.{h}" for lv in (1, 2, 3) for h in ("C", "B")]


# -- sweep -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("n", range(5, 13))
def test_float64_random_digraphs_up_to_12(n: int) -> None:
    c = log_depth_connectivity(n)
    rng = random.Random(n)
    queries = []
    for p in (0.1, 0.2, 0.35):
        g = nx.gnp_random_graph(n, p, seed=rng.randrange(2**31), directed=True)
        queries += [(g, s, t) for s in range(n) for t in range(n)]
    arith = arithmetic_for("torch", dtype=torch.float64)  # weights rendered once for the whole sweep
    by_len: dict[int, list] = {}
    for q in queries:
        by_len.setdefault(len(c.encode(q)), []).append(q)
    results = []
    for group in by_len.values():
        for start in range(0, len(group), 32):
            batch = group[start : start + 32]
            results += [(q, r.answer) for q, r in zip(batch, c.run_batch(batch, arith=arith, keep_trace=False))]
    wrong = [(q[1], q[2]) for q, got in results if got != bfs_reachable(*q)]
    assert not wrong


def test_registry_entry_and_reference() -> None:
    from exactformer.catalog import get

    entry = get("connectivity")
    assert entry.name == "connectivity"
    c = entry.builder()
    ref = entry.reference(c)
    for s in range(3):
        for t in range(3):
            assert ref.expected((PATH3, s, t)) == bfs_reachable(PATH3, s, t)
    xs, mode = ref.inputs(3, count=100, exhaustive_limit=100, rng=random.Random(0))
    assert len(xs) == 4 * 9 and mode.endswith("all (s, t)")


def test_invariant_expectations_are_the_bfs_relations_entry_by_entry() -> None:
    """Each invariant's expected state (filled by array operations) is, token by token, B(i, j) = [dist(i, j) <=
    2^level] at the adjacency tokens, C(i, k, j) = B_{level-1}(i, k) and B_{level-1}(k, j) at the padding tokens and
    the alternation bit r, as exact integers; computed here by BFS distances in plain loops."""
    import random as _random

    from exactformer.constructions.log_depth_connectivity import tokens_for

    rng = _random.Random(4)
    for n in (2, 3, 5):
        graph = nx.gnp_random_graph(n, 0.4, seed=rng.randrange(100), directed=True)
        c = log_depth_connectivity(num_vertices=n)
        length = tokens_for(n, 0, n - 1)
        dist = dict(nx.all_pairs_shortest_path_length(graph))

        def b(level: int, i: int, j: int, dist: dict = dist) -> int:
            return int(i == j or dist.get(i, {}).get(j, float("inf")) <= 2**level)

        for inv in c.invariants:
            got = inv.expected((graph, 0, n - 1), length)
            level = 0 if inv.name == "base_case" else int(inv.name[5:].split(".")[0])
            half = "B" if inv.name == "base_case" else inv.name.split(".")[1]
            now = level if half == "B" else level - 1
            for p in range(length):
                want_b = b(now, p // n, p % n) if p < n * n else 0
                q = p - n * n
                want_c = (b(level - 1, q // (n * n), q // n % n) * b(level - 1, q // n % n, q % n)
                          if level > 0 and 0 <= q < n**3 else 0)
                assert list(got[p]) == [want_b, want_c, 0 if half == "C" else 1], (inv.name, p)
                assert all(type(v) is int for v in got[p])
