"""Tests of the Zhu et al. continuous-thought reachability construction (exactformer.constructions.superposition).

Expected values come from networkx BFS (``single_source_shortest_path_length``) and the note's formulas, never
from the construction's own helpers.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from exactformer.catalog import get
from exactformer.constructions.superposition import (
    run_thoughts,
    superposition_reachability,
)
from exactformer.core.errors import InputError, NonFiniteError
from exactformer.languages import data_dir
from exactformer.languages.graphs import ReachabilityQuery, load_prosqa
from exactformer.verify import check
from exactformer.verify.check import invariant_holds

DATA = data_dir() / "prosqa"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Two shared cores: torch's thread pool only adds contention for these small matmuls."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def model():
    return superposition_reachability(31, 60, thoughts="distance")


@pytest.fixture(scope="module")
def prosqa():
    return load_prosqa("test", DATA), load_prosqa("valid", DATA)


def ball(query, hops):
    """V_hops by networkx BFS (independent of the construction)."""
    dist = nx.single_source_shortest_path_length(query.graph, query.root, cutoff=hops)
    return {v for v, d in dist.items() if d <= hops}


def expected_vector(model, weights):
    out = np.zeros(model.model.d_model)
    for v, w in weights.items():
        out[model.model.space.index(f"content:{v}")] = w
    return out


def assert_thoughts_and_answer(construction, queries, num_thoughts, tol=1e-12):
    """Every thought equals (1/sqrt|V_c|) sum_{V_c} u_v coordinate by coordinate; the answer and its logits."""
    run = run_thoughts(construction, queries, num_thoughts)
    for b, q in enumerate(queries):
        assert run.thoughts[b].shape[0] == num_thoughts
        for c in range(1, num_thoughts + 1):
            vc = ball(q, c)
            want = expected_vector(construction, {v: 1 / math.sqrt(len(vc)) for v in vc})
            assert np.abs(run.thoughts[b][c - 1] - want).max() <= tol, (q, c)
        vC = ball(q, num_thoughts)
        logits = np.array([float(x) for x in run.raw.output.logits[b]])
        vocab = construction.model.readout.labels
        assert logits[vocab.index(str(q.answer))] == pytest.approx(2 / math.sqrt(len(vC) + 5), abs=tol)
        others = [v for v in vocab if v != str(q.answer)]
        ones = {str(v) for v in vC} - {str(q.answer)} | {str(q.negative), "<A>"}
        for v in others:
            want = 1 / math.sqrt(len(vC) + 5) if v in ones else 0.0
            assert logits[vocab.index(v)] == pytest.approx(want, abs=tol), (q, v)
        assert run.labels[b] == str(q.answer)


def by_shape(queries):
    groups = {}
    for q in queries:
        groups.setdefault((q.graph.number_of_edges(), q.distance), []).append(q)
    return groups


# ------------------------------------------------------------------------------------------------------------------
# constants and resources
# ------------------------------------------------------------------------------------------------------------------


def test_constants_match_the_note():
    """The note's independent numbers: d_PE = 64, M = 1e4, T ~ 200 give eps_T = 0.6235 and xi = 205.3."""
    p = superposition_reachability(31, 54, 200).parameters
    assert float(p.eps_T) == pytest.approx(0.6235, abs=1e-4)
    assert float(p.xi) == pytest.approx(205.3, abs=0.05)
    assert p.eps1 == pytest.approx(1 / 12) and p.eps1 <= 1 / (2 * math.sqrt(31))
    assert p.eps2 == pytest.approx(1 / (4 * 54))
    printed = superposition_reachability(31, 54, 200, printed_eps2=True).parameters
    assert printed.eps2 == pytest.approx(1 / 124)


def test_resources(model):
    r = model.resources(40)
    assert (r.layers, r.heads, r.max_heads_per_layer) == (2, 6, 5)
    assert r.d_model == 3 * 36 + 64 == 172
    assert r.d_mlp == 3 * 36
    assert r.activations == ("step",) and r.norm_kinds == ("l2",) and r.masks == ("causal",)
    ramp = superposition_reachability(31, 60, activation="ramp").resources(40)
    assert ramp.activations == ("relu",) and ramp.d_model == 172


def test_layer_structure(model):
    text = model.model.describe()
    assert "L0.mlp: mlp 108 step(>=1/12); no residual; out: l2" in text
    assert "L0.attn: attn 5x128 softmax(scale=1), mask causal; residual" in text
    assert "L1.attn: attn 1x36 softmax(scale=1), mask causal; residual" in text


# ------------------------------------------------------------------------------------------------------------------
# ProsQA
# ------------------------------------------------------------------------------------------------------------------


def test_prosqa_fast_subset(model, prosqa):
    test, valid = prosqa
    subset = test[:6] + valid[:4]
    for (_, hops), group in by_shape(subset).items():
        assert_thoughts_and_answer(model, group, hops)


def test_answer_batch_runs_the_thoughts(model, prosqa):
    # answer_batch of a construction with its own run_batch (prompt, thoughts, <A>) gives run_batch's answers
    test, _ = prosqa
    for _, group in list(by_shape(test[:6]).items())[:2]:
        assert model.answer_batch(group) == [r.answer for r in model.run_batch(group)] == [q.answer for q in group]


@pytest.mark.slow
def test_prosqa_all_800(model, prosqa):
    test, valid = prosqa
    assert len(test) + len(valid) == 800
    for (_, hops), group in by_shape(test + valid).items():
        assert_thoughts_and_answer(model, group, hops)


def test_prosqa_layer1_invariant_and_eccentricity_thoughts(prosqa):
    """With C = root eccentricity (the default), every layer-1 position and the answer follow the proof."""
    c = superposition_reachability(31, 60)
    queries = prosqa[0][20:26]
    results = c.run_batch(queries)
    for r, q in zip(results, queries):
        assert r.answer == q.answer
        for inv in c.invariants:
            ok, why = invariant_holds(inv, r.output.trace, r.batch_index, q, len(c.encode(q)), c.model.space.index,
                                      "torch", torch.float64, None)
            assert ok, (inv.name, why)


def test_code_format_without_last_edge_marker_breaks_it(model, prosqa):
    """The note: the authors' format has no <e> after the last edge, so layer 2 never sees that edge. With the
    edge 1 -> 2 last and unmarked, the second thought misses node 2 (and node 2 is then not favoured)."""
    q = ReachabilityQuery(graph=nx.DiGraph([(0, 1), (1, 2), (3, 4)]), root=0, candidates=(2, 4), answer=2)
    prompt = model.encode(q)
    edges = [tuple(prompt[i:i + 2]) for i in range(1, 3 * 3, 3)]
    assert ("1", "2") in edges
    # move (1, 2) to the end and remove its <e>: layer 2 never sees it
    order = [e for e in edges if e != ("1", "2")] + [("1", "2")]
    seq = ["<s>"] + [t for e in order[:-1] for t in (*e, "<e>")] + ["1", "2"] + prompt[-5:]
    from exactformer.core.arith import arithmetic_for
    from exactformer.core.runners import think

    out = think(model.model, [seq], arithmetic_for("torch"), num_thoughts=2, then=("<A>",))
    second = out.thoughts[0][1].numpy()
    assert second[model.model.space.index("content:2")] == 0.0
    assert second[model.model.space.index("content:1")] > 0.5
    logits = [float(x) for x in out.output.logits[0]]
    labels = model.model.readout.labels
    assert logits[labels.index("2")] == pytest.approx(logits[labels.index("4")])  # no longer decided


# ------------------------------------------------------------------------------------------------------------------
# random digraphs
# ------------------------------------------------------------------------------------------------------------------

SMALL = superposition_reachability(8, 56, 56 * 3 + 7 + 8)


@st.composite
def queries(draw, kind=None):
    n = draw(st.integers(3, 8))
    kind = kind or draw(st.sampled_from(["dag", "cyclic", "dense"]))
    pairs = [(u, v) for u in range(n) for v in range(n) if u != v and (kind != "dag" or u < v)]
    p = 0.75 if kind == "dense" else 0.3
    edges = [e for e in pairs if draw(st.floats(0, 1)) < p]
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    root = draw(st.integers(0, n - 1))
    assume(g.out_degree(root) > 0)
    reach = {root} | nx.descendants(g, root)
    unreach = sorted(set(range(n)) - reach)
    assume(unreach)
    yes = draw(st.sampled_from(sorted(reach - {root}) or [root]))
    no = draw(st.sampled_from(unreach))
    cand = (yes, no) if draw(st.booleans()) else (no, yes)
    return ReachabilityQuery(graph=g, root=root, candidates=cand, answer=yes)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(queries())
def test_random_digraphs_every_thought(q):
    hops = max(nx.single_source_shortest_path_length(q.graph, q.root).values())
    assert_thoughts_and_answer(SMALL, [q], hops)


def test_verifier_check_with_the_bfs_reference():
    c = superposition_reachability(6, 30)
    report = check(c, get("superposition").reference(c), lengths=range(3, 6))
    assert report.passed, str(report)


# ------------------------------------------------------------------------------------------------------------------
# the eps2 erratum
# ------------------------------------------------------------------------------------------------------------------


def counterexample():
    """The note's dense counterexample: complete DAG on 0..12 (78 edges), 12 -> 13, 14 -> 0; root 0."""
    g = nx.DiGraph([(u, v) for u in range(13) for v in range(u + 1, 13)] + [(12, 13), (14, 0)])
    return ReachabilityQuery(graph=g, root=0, candidates=(13, 14), answer=13)


def test_printed_eps2_fails_on_dense_graph():
    q = counterexample()
    assert q.graph.number_of_edges() == 80
    printed = superposition_reachability(31, 80, printed_eps2=True)
    run = run_thoughts(printed, [q], 2)
    t2 = run.thoughts[0][1]
    assert t2[printed.model.space.index("content:13")] == 0.0  # node 13 dropped from the second thought
    assert run.labels[0] != "13"  # and the answer is wrong
    # the new node's weight 1/(sqrt3 |I_1|) = 1/(sqrt3 * 79) is below the printed threshold 1/124
    assert 1 / (math.sqrt(3) * 79) < 1 / 124


def test_fixed_eps2_passes_on_dense_graph():
    assert_thoughts_and_answer(superposition_reachability(31, 80), [counterexample()], 2)


# ------------------------------------------------------------------------------------------------------------------
# ReLU ramp variant
# ------------------------------------------------------------------------------------------------------------------

RAMP_SMALL = superposition_reachability(8, 56, 56 * 3 + 7 + 8, activation="ramp")


def test_ramp_variant_prosqa(prosqa):
    ramp = superposition_reachability(31, 60, activation="ramp")
    for (_, hops), group in by_shape(prosqa[0][:4] + prosqa[1][:2]).items():
        assert_thoughts_and_answer(ramp, group, hops)
    assert_thoughts_and_answer(superposition_reachability(31, 80, activation="ramp"), [counterexample()], 2)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(queries())
def test_ramp_variant_random_digraphs(q):
    hops = max(nx.single_source_shortest_path_length(q.graph, q.root).values())
    assert_thoughts_and_answer(RAMP_SMALL, [q], hops)


# ------------------------------------------------------------------------------------------------------------------
# precision
# ------------------------------------------------------------------------------------------------------------------


def test_lower_precision(model, prosqa):
    """float32 and bfloat16 answer right with the invariants inside the verifier's tolerance; float16 overflows:
    the chooser scores reach eta * xi * <u_xbar, h> * d_PE/2 ~ 1e6 > 65504."""
    c = model
    queries = prosqa[0][:2]
    for dtype in (torch.float32, torch.bfloat16):
        for r, q in zip(c.run_batch(queries, dtype=dtype), queries):
            assert r.answer == q.answer
            for inv in c.invariants:
                ok, why = invariant_holds(inv, r.output.trace, r.batch_index, q, len(c.encode(q)),
                                          c.model.space.index, "torch", dtype, None)
                assert ok, (dtype, inv.name, why)
    with pytest.raises(NonFiniteError, match="L0.attn"):
        c.run_batch(queries[:1], dtype=torch.float16)


def test_tau_frontier(model, prosqa):
    """A small tau leaks attention onto unmatched keys: the thoughts pick up spurious nodes and answers go wrong.
    The derived tau (~392) holds; tau = 10 does not."""
    queries = prosqa[0][:6]
    derived = model
    assert float(derived.parameters.tau) > 300
    assert all(r.answer == q.answer for r, q in zip(derived.run_batch(queries), queries))
    weak = superposition_reachability(31, 60, tau=10, thoughts="distance")
    assert sum(r.answer != q.answer for r, q in zip(weak.run_batch(queries), queries)) >= 3


# ------------------------------------------------------------------------------------------------------------------
# inputs and registry
# ------------------------------------------------------------------------------------------------------------------


def test_bad_inputs(model):
    big = ReachabilityQuery(graph=nx.DiGraph([(0, 31), (0, 1), (2, 3)]), root=0, candidates=(1, 2), answer=1)
    with pytest.raises(InputError, match="node 31"):
        model.encode(big)
    sink = ReachabilityQuery(graph=nx.DiGraph([(1, 0), (2, 1)]), root=0, candidates=(0, 2), answer=0)
    with pytest.raises(InputError, match="no out-edge"):
        model.encode(sink)
    dense = nx.DiGraph([(u, v) for u in range(12) for v in range(12) if u != v])
    dense.add_node(12)
    too_many = ReachabilityQuery(graph=dense, root=0, candidates=(1, 12), answer=1)
    with pytest.raises(InputError, match="132 edges"):
        model.encode(too_many)
    with pytest.raises(InputError, match="ReachabilityQuery"):
        model.encode("0 1")
    with pytest.raises(InputError, match="activation"):
        superposition_reachability(5, 5, activation="gelu")
    with pytest.raises(InputError, match="d_pe"):
        superposition_reachability(5, 5, d_pe=7)
    with pytest.raises(InputError, match="thoughts"):
        superposition_reachability(5, 10, thoughts="lots").run_batch(
            [ReachabilityQuery(graph=nx.DiGraph([(0, 1), (2, 3)]), root=0, candidates=(1, 2), answer=1)]
        )


def test_entry():
    entry = get("superposition")
    assert entry.name == "superposition"
    c = entry.builder(**entry.options)
    ref = entry.reference(c)
    assert ref.expected(entry.example) == 3
    assert c.run(entry.example).answer == 3


@pytest.mark.slow
def test_certified_tiny_instance():
    """The certified (mpmath interval) evaluator certifies every decision of a small instance (d_PE = 8; ~30 s)."""
    q = ReachabilityQuery(graph=nx.DiGraph([(0, 1), (1, 2), (3, 2)]), root=0, candidates=(2, 3), answer=2)
    c = superposition_reachability(4, 3, d_pe=8, thoughts="distance")
    r = c.run_batch([q], backend="certified", precision=64)[0]
    assert r.answer == 2 and r.certified
    assert r.margin == pytest.approx(2 / math.sqrt(3 + 5) - 1 / math.sqrt(3 + 5))
