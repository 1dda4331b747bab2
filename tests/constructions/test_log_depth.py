"""Merrill & Sabharwal Theorem 1 (the activeness tree): checked against the languages' DFAs by the verifier.

References are the DFAs of ``exactformer.languages`` (their own ``accepts``/``run``); the invariants' expected
values are the proof's formulas (dyadic-block and tail products from the monoid's letter maps), not model runs.
"""

from __future__ import annotations

import itertools
import random

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from exactformer.constructions.log_depth import (
    levels_for,
    log_depth_recognizer,
    paper_depth,
)
from exactformer.core.arith import arithmetic_for
from exactformer.core.errors import InputError
from exactformer.languages import named
from exactformer.languages.dfa import DFA
from exactformer.verify import check
from exactformer.verify.check import invariant_holds

F64 = {"backend": "torch", "dtype": torch.float64}

# The models are small; on a loaded machine torch's thread pool makes each forward pass ~40x slower.
torch.set_num_threads(1)


def random_dfa(seed: int, n_states: int, n_symbols: int) -> DFA:
    rng = random.Random(seed)
    symbols = "abcd"[:n_symbols]
    transitions = {(q, a): rng.randrange(n_states) for q in range(n_states) for a in symbols}
    accepting = {q for q in range(n_states) if rng.random() < 0.5}
    return DFA(states=range(n_states), alphabet=symbols, transitions=transitions, start=0, accepting=accepting)


def test_parity_exact_arithmetic_all_words_up_to_3():
    dfa = named.parity()
    c = log_depth_recognizer(dfa)
    arith = arithmetic_for("exact")
    for n in range(0, 4):
        words = ["".join(w) for w in itertools.product("01", repeat=n)] if n < 3 else ["011", "100"]
        for word, result in zip(words, c.run_batch(words, arith=arith)):
            assert result.answer == dfa.accepts(word), word
            assert result.certified


def test_parity_verifier_exhaustive_with_invariants():
    dfa = named.parity()
    report = check(log_depth_recognizer(dfa), dfa, lengths=range(0, 7), **F64)
    assert report.passed, report.summary()


@pytest.mark.parametrize("k", range(1, 8))
def test_tomita(k):
    """Answers and the declared tree invariants (dyadic blocks, $ tail), checked by the verifier at every input."""
    dfa = named.tomita(k)
    report = check(
        log_depth_recognizer(dfa),
        dfa,
        lengths=[0, 1, 2, 3, 5, 8, 9],
        samples_per_length=4,
        exhaustive_up_to=8,
        shrink=False,
        **F64,
    )
    assert report.passed, report.summary()
    assert all(t.held == t.checked == lr.tested for lr in report.lengths for t in lr.invariants.values())


@pytest.mark.parametrize("dfa", [named.modular_count(1, 3), named.modular_count(2, 5)], ids=["mod(1,3)", "mod(2,5)"])
def test_modular_counter(dfa):
    report = check(
        log_depth_recognizer(dfa),
        dfa,
        lengths=[0, 1, 2, 3, 4, 7, 8, 9, 16],
        samples_per_length=6,
        exhaustive_up_to=16,
        shrink=False,
        **F64,
    )
    assert report.passed, report.summary()
    assert all(t.held == t.checked == lr.tested for lr in report.lengths for t in lr.invariants.values())


def test_s3_word_problem_powers_of_two_and_neighbours():
    """A non-commutative group (S3, |M| = 6): blocks must be multiplied in order."""
    dfa = named.word_problem("S3")
    report = check(
        log_depth_recognizer(dfa),
        dfa,
        lengths=[2, 4, 7, 8, 9],
        samples_per_length=4,
        exhaustive_up_to=1,
        shrink=False,
        **F64,
    )
    assert report.passed, report.summary()


@pytest.mark.slow
def test_a5_word_problem_powers_of_two_and_neighbours():
    dfa = named.word_problem("A5")
    report = check(log_depth_recognizer(dfa), dfa, lengths=[4, 8, 9], samples_per_length=2, exhaustive_up_to=1, **F64)
    assert report.passed, report.summary()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(seed=st.integers(0, 10**6), n_states=st.integers(1, 4), n_symbols=st.integers(1, 3))
def test_random_dfas(seed, n_states, n_symbols):
    """Random DFAs: answers and the tree invariants at every tested input.

    The tree's MLP has 2|M|^2 lookup units and a random 4-state DFA's monoid can have ~200 elements (minutes per
    check), so the default run keeps DFAs whose transition monoid has at most 16 elements.
    """
    dfa = random_dfa(seed, n_states, n_symbols)
    assume(len(dfa.transition_monoid()) <= 16)
    report = check(
        log_depth_recognizer(dfa),
        dfa,
        lengths=[0, 1, 2, 4, 5, 8],
        samples_per_length=4,
        exhaustive_up_to=8,
        shrink=False,
        seed=seed,
        **F64,
    )
    assert report.passed, report.summary()
    assert all(t.held == t.checked == lr.tested for lr in report.lengths for t in lr.invariants.values())


# -- errata: the printed form fails on a concrete input, the fixed form passes ------------------------------------


def _answer(c, word):
    return c.accepts(word, **F64)


def test_partner_key_printed_fails():
    dfa = named.parity()
    printed = log_depth_recognizer(dfa, partner_key_fix=False)
    fixed = log_depth_recognizer(dfa)
    # n = 1: the printed key makes $ pick the active token itself and read D_0 (BOS, empty): the block is lost
    assert _answer(printed, "1") is False and dfa.accepts("1") is True
    assert _answer(fixed, "1") is True
    report = check(printed, dfa, lengths=[1], check_invariants=False, shrink=False, **F64)
    assert not report.passed and report.failures[0].kind == "answer"


def test_activeness_and_printed_fails():
    dfa = named.parity()
    printed = log_depth_recognizer(dfa, activeness_and_fix=False)
    fixed = log_depth_recognizer(dfa)
    # "0001": without the AND, BOS (count 0, even) and other inactive tokens become active at level 1
    assert _answer(printed, "0001") != dfa.accepts("0001")
    assert _answer(fixed, "0001") == dfa.accepts("0001")
    report = check(printed, dfa, lengths=[4], check_invariants=True, shrink=False, **F64)
    assert not report.passed


def test_final_level_printed_count_fails_exactly_at_powers_of_two():
    dfa = named.parity()
    printed = log_depth_recognizer(dfa, final_level=False)
    fixed = log_depth_recognizer(dfa)
    for word in ["1", "01", "0001", "00000001"]:  # n = 1, 2, 4, 8: the top block is never absorbed into $
        assert _answer(printed, word) != dfa.accepts(word), word
        assert _answer(fixed, word) == dfa.accepts(word), word
    for word in ["001", "00101", "0000001"]:  # n = 3, 5, 7: ceil(log2 n) levels suffice
        assert _answer(printed, word) == dfa.accepts(word), word
    assert levels_for(8, final_level=False) == 3 and (8).bit_length() == 4


def test_ungated_combine_breaks_the_invariant_not_the_answer():
    """Finding: with every block read gated by activeness, the printed ungated overwrite leaves stale products at
    inactive tokens (the tree invariant fails) but never changes the answer."""
    dfa = named.parity()
    printed = log_depth_recognizer(dfa, gate_combine=False)
    answers = check(printed, dfa, lengths=range(0, 7), check_invariants=False, shrink=False, **F64)
    assert answers.passed, answers.summary()
    with_invariants = check(printed, dfa, lengths=[2], check_invariants=True, shrink=False, **F64)
    assert not with_invariants.passed
    assert all(f.kind == "invariant" for f in with_invariants.failures)
    tallies = with_invariants.lengths[0].invariants
    # level 1 of "ab": the loser at position 1 keeps its stale block a; level 0 (the embedding) is still right
    assert tallies["level0.tree"].held == 4 and tallies["level1.tree"].held == 0
    assert "level1.tree" in with_invariants.failures[0].where


def test_declared_invariants():
    c = log_depth_recognizer(named.parity(), probe_levels=3)
    assert [inv.name for inv in c.invariants] == ["level0.tree", "level1.tree", "level2.tree", "level3.tree"]
    assert all("dyadic block" in inv.statement and "tail" in inv.statement for inv in c.invariants)


def test_printed_partner_key_breaks_the_dollar_tail_invariant():
    """The verifier's invariant machinery names the broken quantity: with the printed key, $ (position 2 of
    ``BOS 1 $``) picks itself at level 0 and never absorbs the block ``1``, so DS is not the tail product."""
    dfa = named.parity()
    printed = log_depth_recognizer(dfa, partner_key_fix=False)
    fixed = log_depth_recognizer(dfa)
    for c, should_hold in ((fixed, True), (printed, False)):
        result = c.run("1", **F64)
        inv = {i.name: i for i in c.invariants}["level1.tree"]
        held, detail = invariant_holds(inv, result.output.trace, 0, "1", 3, c.model.space.index, "torch", torch.float64)
        assert held is should_hold, detail
    assert detail.startswith("DS:") and "position 2" in detail


def test_erratum_fixes_switch_sets_all_flags():
    c = log_depth_recognizer(named.parity(), erratum_fixes=False)
    p = c.parameters
    assert (p.partner_key_fix, p.activeness_and_fix, p.gate_combine, p.final_level) == (False, False, False, False)
    assert c.deviations == ()  # no erratum fixed: the printed construction
    fixed = log_depth_recognizer(named.parity(), erratum_fixes=True)
    assert len(fixed.deviations) == 4 and all("§3.4" in d for d in fixed.deviations)


# -- resources -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9, 16, 17, 64, 100, 1024])
def test_depth_is_three_per_level(n):
    c = log_depth_recognizer(named.parity())
    ceil_log = (n - 1).bit_length() if n > 1 else 0
    assert c.resources(n).layers == 3 * ceil_log + 3
    assert paper_depth(n) == 8 * ceil_log + 9
    assert levels_for(n) >= n.bit_length()  # floor(log2 n) + 1 levels are needed


def test_widths():
    c = log_depth_recognizer(named.word_problem("S3"))
    r = c.resources(8)
    assert r.d_model == 13 + 4 * 6
    assert r.d_mlp == 2 * 6 * 6 + 3 * 6 + 8


@pytest.mark.slow
def test_widths_a5():
    c = log_depth_recognizer(named.word_problem("A5"))
    r = c.resources(8)
    assert r.d_model == 13 + 4 * 60
    assert r.d_mlp == 2 * 60 * 60 + 3 * 60 + 8


def test_bad_input():
    c = log_depth_recognizer(named.parity())
    with pytest.raises(InputError):
        c.encode("012")
    with pytest.raises(InputError):
        log_depth_recognizer("not a dfa")


# -- slow sweeps -----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["parity", "tomita3", "tomita5", "mod3", "a5", "s5"])
def test_sweep_lengths_0_to_64(name):
    dfa = {
        "parity": named.parity,
        "tomita3": lambda: named.tomita(3),
        "tomita5": lambda: named.tomita(5),
        "mod3": lambda: named.modular_count(1, 3),
        "a5": lambda: named.word_problem("A5"),
        "s5": lambda: named.word_problem("S5"),
    }[name]()
    report = check(
        log_depth_recognizer(dfa),
        dfa,
        lengths=range(0, 65),
        samples_per_length=50,
        exhaustive_up_to=256,
        check_invariants=False,
        **F64,
    )
    assert report.passed, report.summary()
