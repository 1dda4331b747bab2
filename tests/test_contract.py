"""DESIGN.md's public entry points, one test each: the names exist, take the documented arguments and return what
the contract says, with answers checked against independent facts (a DFA's language, a Turing machine's own run,
BFS), not against the model itself.

The contract (``../shared/DESIGN.md``, "Public entry points"), in the order it lists them.
"""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pytest
import torch

import exactformer as ef
from exactformer.core.errors import InputError
from exactformer.languages.post import PostMachine

BB4 = "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"  # the 4-state busy beaver: 107 steps, 13 ones



def even_zeros_dfa() -> ef.languages.DFA:
    return ef.languages.DFA(states={"e", "o"}, alphabet={"0", "1"},
                            transitions={("e", "0"): "o", ("e", "1"): "e", ("o", "0"): "e", ("o", "1"): "o"},
                            start="e", accepting={"e"})


def prosqa_record() -> dict:
    """A ProsQA-shaped record: 0 -> 1 -> 2 reaches "c"; "e" (4) is only reached from 3."""
    return {"idx_to_symbol": ["a", "b", "c", "d", "e"], "edges": [[0, 1], [1, 2], [3, 4]], "root": 0,
            "target": 2, "neg_target": 4, "question": "Every a is a b. Is Tom a e or c?"}


# -- references -------------------------------------------------------------------------------------------------------


def test_dfa_from_states_alphabet_transitions_start_accepting():
    dfa = even_zeros_dfa()
    assert dfa.accepts("0110") is True and dfa.accepts("0100") is False


def test_dfa_from_att_text():
    dfa = ef.languages.DFA.from_att("0 1 a a\n1 0 a a\n0\n")  # even number of a's
    assert [dfa.accepts("a" * k) for k in range(4)] == [True, False, True, False]


def test_accepts_a_str_or_a_sequence_of_symbols():
    dfa = even_zeros_dfa()
    assert dfa.accepts("0110") == dfa.accepts(["0", "1", "1", "0"]) == dfa.accepts(("0", "1", "1", "0")) is True


def test_named_languages_parity_first_tomita():
    assert ef.languages.parity().accepts("0111") and not ef.languages.parity().accepts("0110")
    assert ef.languages.first().accepts("10") and not ef.languages.first().accepts("01")
    tomita3 = ef.languages.tomita(3)  # no odd run of 1s followed by an odd run of 0s
    assert tomita3.accepts("1100") and not tomita3.accepts("1000")


def test_turing_machine_from_standard_and_run():
    r = ef.languages.TuringMachine.from_standard(BB4).run(max_steps=10_000)
    assert (r.halted, r.steps, r.ones) == (True, 107, 13)
    assert sum(1 for x in r.tape if str(x) != "0") == 13


def test_reachability_query_from_prosqa():
    q = ef.languages.ReachabilityQuery.from_prosqa(prosqa_record())
    assert isinstance(q.graph, nx.DiGraph) and sorted(q.graph.edges) == [(0, 1), (1, 2), (3, 4)]
    assert q.root == 0 and q.candidates == (4, 2) and q.answer == 2  # the question's order: e, then c


# -- constructions: every constructor of the contract returns a Construction ----------------------------------------


def test_parity_and_first_with_layer_norm():
    for c, language in ((ef.constructions.parity(), ef.languages.parity()),
                        (ef.constructions.first(layer_norm=True), ef.languages.first())):
        assert isinstance(c, ef.core.Construction)
        for word in ("1", "0110", "0111", "1000"):
            assert c.accepts(word, backend="torch", dtype=torch.float64) == language.accepts(word)


def test_log_depth_recognizer_of_a_dfa():
    dfa = even_zeros_dfa()
    c = ef.constructions.log_depth_recognizer(dfa)
    for word in ("", "0", "0110", "00100", "1111"):
        assert c.accepts(word) == dfa.accepts(word)


def test_log_depth_connectivity():
    c = ef.constructions.log_depth_connectivity(num_vertices=8)
    g = nx.DiGraph([(0, 1), (1, 2), (4, 3)])
    g.add_nodes_from(range(5))
    assert c.run((g, 0, 2)).answer is True and c.run((g, 2, 0)).answer is False and c.run((g, 4, 3)).answer is True


def test_superposition_reachability_answers_a_query():
    c = ef.constructions.superposition_reachability(max_nodes=32)
    q = ef.languages.ReachabilityQuery.from_prosqa(prosqa_record())
    assert c.answer(q) == q.answer == 2


def test_post_machine():
    pm = PostMachine(symbols="01", states=["run", "stop"], start="run", halting=["stop"],
                     transitions={("run", "0"): ("1", "run"), ("run", "1"): ("0", "stop")})
    c = ef.constructions.post_machine(pm, queue_length=3)
    s = c.simulate("001", max_tokens=100)
    reference = pm.run("001")
    assert s.halted and s.steps == reference.steps == 3 and "".join(s.queue) == "".join(reference.queue) == "110"
    with pytest.raises(InputError, match="queue_length"):  # no window given, none on the machine
        ef.constructions.post_machine(pm)


def test_turing_machine_simulate_from_the_blank_tape():
    """``simulate(max_tokens=...)`` with no queue runs the machine from its blank tape (it used to refuse: "the prompt
    must be exactly the queue of 15 symbols, got 0") and reads halted, tokens, tm_steps, tape and ones."""
    tm = ef.languages.TuringMachine.from_standard(BB4)
    c = ef.constructions.turing_machine(tm, tape_length=16)
    s = c.simulate(max_tokens=10_000)
    reference = tm.run(max_steps=10_000)
    assert s.halted is True and s.tm_steps == reference.steps == 107 and s.ones == reference.ones == 13
    assert s.tokens > s.tm_steps and len(s.tape) == 16
    short = c.simulate(max_tokens=50)
    assert short.halted is False and short.tokens == 50


# -- a Construction's methods ---------------------------------------------------------------------------------------


def test_accepts_with_backend_and_dtype():
    c = ef.constructions.parity()
    assert c.accepts("0111", backend="torch", dtype=torch.float64) is True
    assert c.accepts("0110", backend="certified") is False
    with pytest.raises(ef.core.errors.IrrationalOperation):  # softmax is not rational: exact arithmetic refuses it
        c.accepts("0110", backend="exact")
    rational = ef.constructions.log_depth_recognizer(ef.languages.parity())
    assert rational.accepts("0111", backend="exact") is True and rational.accepts("0110", backend="exact") is False


def test_answer_of_a_query_is_the_bfs_candidate():
    c = ef.constructions.superposition_reachability(max_nodes=8, max_edges=8)
    g = nx.DiGraph([(0, 1), (1, 2), (3, 4), (0, 5)])
    q = ef.languages.ReachabilityQuery(graph=g, root=0, candidates=(4, 2), answer=2)
    assert c.answer(q) == 2


@pytest.mark.parametrize("backend", ["certified", "torch"])  # FIRST's softmax is irrational: no exact run
def test_run_answer_and_residuals_at_the_readout_position(backend):
    """``t.residuals`` is the residual at the readout position, by coordinate name: for FIRST that is CLS at
    position 0 (it used to be read at the last position)."""
    c = ef.constructions.first()
    assert c.model.readout.position == 0
    t = c.run("100", backend=backend)
    assert t.answer is True
    assert list(t.residuals) == t.output.trace.labels
    for label, row in t.residuals.items():
        assert list(row) == list(c.model.space.names)
        assert row == t.residual(label, 0)
    last = t.residual("L1.mlp", -1)["answer"]
    assert t.residuals["L1.mlp"]["answer"] != last  # CLS holds the answer; the last bit does not


def test_run_exact_residuals_are_fractions_at_the_readout_position():
    c = ef.constructions.copy_first()
    t = c.run("abba", backend="exact")
    assert t.answer == "a" and t.residuals["L0.attn"]["copy:a"] == 1 and t.residuals["L0.attn"]["copy:b"] == 0
    assert t.residuals == {label: t.residual(label, -1) for label in t.output.trace.labels}


def test_run_residuals_of_a_readout_only_pass():
    c = ef.constructions.first()
    (t,) = c.run_batch(["100"], keep_trace=False)
    (full,) = c.run_batch(["100"])
    (label,) = t.output.trace.labels
    assert t.residuals[label]["answer"] == full.residuals[label]["answer"]


def test_run_with_torch_dtype_and_device():
    c = ef.constructions.parity()
    t = c.run("0111", backend="torch", dtype=torch.float32, device="cpu")
    assert t.answer is True and t.logits.dtype == torch.float32


def test_resources_of_n():
    r = ef.constructions.parity().resources(8)
    assert (r.n, r.tokens, r.layers, r.heads, r.d_model) == (8, 9, 2, 4, 10)
    assert r.params > 0 and r.attention_kinds == ("softmax",) and r.d_mlp == 3
    assert "none" in r.norm_kinds or r.norm_kinds == ()
    assert ef.constructions.parity(layer_norm=True).resources(8).d_model == 20


def test_citation_paper_and_theorem():
    c = ef.constructions.first()
    assert c.citation.authors == "David Chiang and Peter Cholak" and c.citation.arxiv == "2202.12172"
    assert "FIRST" in c.citation.theorem and "Chiang" in str(c.citation)


def test_weights_are_exact_rationals_by_transformer_lens_name():
    c = ef.constructions.parity()
    w = c.weights()
    assert {"embed.W_E", "unembed.W_U", "blocks.0.attn.W_Q", "blocks.1.mlp.W_in"} <= set(w)
    assert all(isinstance(v, (int, float)) is False for v in w.values())
    unrolled = c.weights(n=4)
    assert unrolled["pos_embed.W_pos"].shape == (5, c.model.d_model)
    from fractions import Fraction

    assert all(isinstance(x, Fraction) for x in np.ravel(np.asarray(w["embed.W_E"], dtype=object)))


def test_state_dict_as_torch_tensors():
    c = ef.constructions.parity()
    sd = c.state_dict(dtype=torch.float32)
    assert set(sd) == set(c.weights()) and all(t.dtype == torch.float32 for t in sd.values())
    assert c.state_dict(dtype=torch.float64, n=4)["pos_embed.W_pos"].shape == (5, c.model.d_model)


# -- verification -----------------------------------------------------------------------------------------------------


def test_check_and_its_report():
    c = ef.constructions.parity()
    report = ef.verify.check(c, ef.languages.parity(), lengths=range(1, 6), samples_per_length=20, backend="torch",
                             seed=0)
    assert report.passed is True and report.failures == [] and report.tested == 2 + 4 + 8 + 16 + 32
    assert json.loads(report.to_json())["construction"] == "parity"
    assert report.to_markdown().startswith("**")


def test_check_report_of_a_wrong_reference_fails():
    c = ef.constructions.parity()
    report = ef.verify.check(c, ef.languages.first(), lengths=range(1, 4), backend="torch", seed=0)
    assert report.passed is False and report.failures
    assert not math.isnan(report.lengths[0].min_margin)


def test_thinking_run_batch_honours_keep_trace():
    """``ThinkingConstruction.run_batch(keep_trace=False)`` (superposition) keeps only the final residual at the
    readout position, as ``Construction.run_batch`` does, with the same answers, logits and margins, bit for bit."""
    c = ef.constructions.superposition_reachability(max_nodes=8, max_edges=8)
    queries = [ef.languages.ReachabilityQuery(graph=nx.DiGraph([(0, 1), (1, 2), (3, 4), (0, 5)]), root=0,
                                              candidates=(4, 2), answer=2),
               ef.languages.ReachabilityQuery(graph=nx.DiGraph([(0, 1), (2, 3)]), root=0, candidates=(1, 3),
                                              answer=1)]
    full = c.run_batch(queries)
    lean = c.run_batch(queries, keep_trace=False)
    assert [r.answer for r in lean] == [r.answer for r in full] == [2, 1]
    for a, b in zip(full, lean):
        assert torch.equal(a.logits, b.logits) and a.margin == b.margin
        (label,) = b.output.trace.labels
        assert label == a.output.trace.labels[-1] and b.output.trace[label].shape[1] == 1
        assert b.residuals[label] == a.residuals[label]
    assert len(full[0].output.trace.labels) > 1
