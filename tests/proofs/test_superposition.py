"""The superposition certificate is tested, not proven, and says so; the printed eps2 fails its bound."""

from __future__ import annotations

from fractions import Fraction

import exactformer as ef
from exactformer.languages.graphs import reachable_from
from exactformer.proofs.superposition import every_query
from exactformer.verify.certificate import prove
from exactformer.verify.mutants import Mutation, apply_mutation


def test_the_certificate_is_tested_and_names_its_range():
    cert = prove(ef.constructions.superposition_reachability(max_nodes=8, max_edges=16))
    assert cert.holds and not cert.proven
    assert [lm.name for lm in cert.tested_only] == ["answers_every_3_node_query", "answers_tested",
                                                    "thoughts_are_frontiers"]
    assert cert.lemma("eps2_bound").proven
    assert cert.status == "tested to n = 8 (sampled graphs)"


def test_the_printed_eps2_fails_the_bound():
    cert = prove(ef.constructions.superposition_reachability(max_nodes=8, max_edges=16, printed_eps2=True))
    assert cert.lemma("eps2_bound").failed


def test_every_query_on_three_nodes_is_every_digraph_root_and_candidate_pair():
    """64 digraphs x 3 roots x 6 ordered candidate pairs, kept where exactly one candidate is reachable: 384."""
    queries = every_query(3)
    assert len(queries) == 384
    assert len({(tuple(sorted(q.graph.edges)), q.root, q.candidates) for q in queries}) == 384
    assert all(q.answer in reachable_from(q.graph, q.root) for q in queries)


def test_a_mutant_that_only_ties_the_readout_breaks_the_answer_lemmas():
    """``L0.attn.W_V[2,164,30] +1`` returns the right label but ties the readout (a margin of 0: nothing decided)
    on small graphs, e.g. the 3-node graph 0 -> 1 asked about (0, 2): both answer lemmas count a margin of 0 as a
    failure (the certificate held for it when they compared the label alone)."""
    c = ef.constructions.superposition_reachability()
    mutant = apply_mutation(c, Mutation(site="L0.attn.W_V", index=(2, 164, 30), operator="+1",
                                        before=Fraction(0), after=Fraction(1)))
    cert = prove(mutant)
    assert cert.lemma("answers_every_3_node_query").failed
    assert "margin 0.0 on [(0, 1)]" in cert.lemma("answers_every_3_node_query").detail
    assert "margin 0.0" in cert.lemma("answers_tested").detail
