"""The verifier's strategies generate what they promise."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings

from exactformer.verify import strategies as vs


@given(vs.words_of_length("01", 5))
def test_words_of_length_have_that_length_and_alphabet(word):
    assert len(word) == 5 and set(word) <= {"0", "1"}


@given(vs.digraphs(kind="dag"))
def test_dags_are_acyclic(graph):
    assert nx.is_directed_acyclic_graph(graph)


@given(vs.digraphs(kind="cyclic"))
def test_cyclic_graphs_have_a_cycle(graph):
    assert not nx.is_directed_acyclic_graph(graph)


@settings(max_examples=50)
@given(vs.reachability_queries())
def test_exactly_one_candidate_is_reachable(query):
    reach = nx.descendants(query["graph"], query["root"]) | {query["root"]}
    assert [c in reach for c in query["candidates"]].count(True) == 1
    assert query["answer"] in reach and query["answer"] in query["candidates"]


@given(vs.turing_machines())
def test_turing_machines_are_in_standard_notation_with_one_halting_transition(text):
    groups = text.split("_")
    assert all(len(g) == 6 for g in groups)
    assert text.count("Z") == 1


@given(vs.post_machines())
def test_post_machines_are_total_on_non_halting_states(pm):
    live = [p for p in pm["states"] if p not in pm["halting"]]
    assert set(pm["delta"]) == {(p, a) for p in live for a in pm["symbols"]}
