"""The DFA reference (issue 3 item 1), checked against brute force and independent characterisations in this file."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exactformer.languages import (
    DFA,
    InvalidAutomatonError,
    NoSuchWordError,
    SymbolNotInAlphabetError,
)


def odd_ones() -> DFA:
    return DFA(states={0, 1}, alphabet={"0", "1"}, start=0, accepting={1},
               transitions={(0, "0"): 0, (0, "1"): 1, (1, "0"): 1, (1, "1"): 0})


def ab_partial() -> DFA:
    """(ab)* as a partial DFA: no dead state; any other word falls off."""
    return DFA(states={"p", "q"}, alphabet={"a", "b"}, start="p", accepting={"p"},
               transitions={("p", "a"): "q", ("q", "b"): "p"})


def all_words(alphabet, n):
    return ["".join(w) for w in itertools.product(sorted(alphabet), repeat=n)]


# ---------------------------------------------------------------------------------------------------------------------
# construction: keyword-only, validated, immutable


def test_constructor_is_keyword_only():
    with pytest.raises(TypeError):
        DFA({0}, {"a"}, {}, 0, set())  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (dict(states={0}, alphabet={"a"}, transitions={(0, "a"): 1}, start=0, accepting=set()), "goes to 1"),
        (dict(states={0}, alphabet={"a"}, transitions={(0, "b"): 0}, start=0, accepting=set()), "reads 'b'"),
        (dict(states={0}, alphabet={"a"}, transitions={(5, "a"): 0}, start=0, accepting=set()), "leaves 5"),
        (dict(states={0}, alphabet={"a"}, transitions={}, start=3, accepting=set()), "start state 3"),
        (dict(states={0}, alphabet={"a"}, transitions={}, start=0, accepting={7}), "[7]"),
        (dict(states=set(), alphabet={"a"}, transitions={}, start=0, accepting=set()), "at least one state"),
        (dict(states={0}, alphabet={"a"}, transitions={0: 0}, start=0, accepting=set()), "not a (state, symbol)"),
        (dict(states={0, None}, alphabet={"a"}, transitions={}, start=0, accepting=set()), "None cannot be a state"),
    ],
)
def test_malformed_automata_are_rejected_with_a_message_naming_the_problem(kwargs, fragment):
    with pytest.raises(InvalidAutomatonError, match=None) as info:
        DFA(**kwargs)
    assert fragment in str(info.value)


def test_a_list_of_triples_is_the_same_automaton_and_repeats_must_agree():
    triples = [(0, "0", 0), (0, "1", 1), (1, "0", 1), (1, "1", 0), (0, "1", 1)]  # a repeat with the same target
    assert DFA(states={0, 1}, alphabet="01", start=0, accepting={1}, transitions=triples) == odd_ones()
    with pytest.raises(InvalidAutomatonError, match=r"\(1, '1'\) is given twice, to 0 and to 1"):
        DFA(states={0, 1}, alphabet="01", start=0, accepting={1}, transitions=triples + [(1, "1", 1)])


def test_nested_transition_form_is_the_same_automaton():
    nested = DFA(states={0, 1}, alphabet="01", start=0, accepting={1},
                 transitions={0: {"0": 0, "1": 1}, 1: {"0": 1, "1": 0}})
    assert nested == odd_ones()
    assert hash(nested) == hash(odd_ones())


def test_dfa_is_immutable():
    d = odd_ones()
    with pytest.raises(AttributeError):
        d.start = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.transitions[(0, "0")] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        del d.accepting  # type: ignore[misc]


def test_input_mapping_is_copied():
    transitions = {(0, "0"): 0, (0, "1"): 1, (1, "0"): 1, (1, "1"): 0}
    d = DFA(states={0, 1}, alphabet="01", start=0, accepting={1}, transitions=transitions)
    transitions[(0, "1")] = 0
    assert d.accepts("1")


# ---------------------------------------------------------------------------------------------------------------------
# reading words


@pytest.mark.parametrize("n", range(7))
def test_accepts_matches_counting_ones(n):
    d = odd_ones()
    for w in all_words("01", n):
        assert d.accepts(w) == (w.count("1") % 2 == 1)
        assert (w in d) == d.accepts(w)


def test_run_lists_the_states_visited():
    assert odd_ones().run("0110") == (0, 0, 1, 0, 0)
    assert odd_ones().run("") == (0,)


def test_partial_dfa_rejects_on_a_missing_transition_and_run_stops_there():
    d = ab_partial()
    assert not d.is_complete
    assert d.accepts("abab") and d.accepts("")
    assert not d.accepts("aa") and not d.accepts("b") and not d.accepts("aba")
    assert d.run("abb") == ("p", "q", "p", None)
    assert d.run("ba") == ("p", None)


@pytest.mark.parametrize("method", ["accepts", "run", "symbols_of"])
def test_symbol_outside_the_alphabet_is_an_error_naming_it(method):
    with pytest.raises(SymbolNotInAlphabetError, match=r"symbol '2' at position 3"):
        getattr(odd_ones(), method)("0102")


def test_wrong_symbol_type_gets_a_hint():
    with pytest.raises(SymbolNotInAlphabetError, match="int"):
        odd_ones().accepts([0, 1])


def test_sequence_words_over_multi_character_symbols():
    d = DFA(states={0, 1}, alphabet={"push", "pop"}, start=0, accepting={0},
            transitions={(0, "push"): 1, (1, "pop"): 0})
    assert d.accepts(["push", "pop"]) and not d.accepts(["pop"])
    with pytest.raises(SymbolNotInAlphabetError, match="one character per symbol"):
        d.accepts("push")


# ---------------------------------------------------------------------------------------------------------------------
# counting, enumeration, sampling


def random_dfa(seed: int, *, partial: bool, max_states: int = 5) -> DFA:
    rng = random.Random(seed)
    n = rng.randint(1, max_states)
    alphabet = "abc"[: rng.randint(1, 3)]
    transitions = {(q, a): rng.randrange(n) for q in range(n) for a in alphabet if not (partial and rng.random() < .3)}
    accepting = {q for q in range(n) if rng.random() < .5}
    return DFA(states=range(n), alphabet=alphabet, transitions=transitions, start=0, accepting=accepting)


def brute_accepts(d: DFA, word: str) -> bool:
    """Independent membership: follow the transition mapping by hand."""
    q = d.start
    for a in word:
        if (q, a) not in d.transitions:
            return False
        q = d.transitions[(q, a)]
    return q in d.accepting


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.booleans())
def test_counts_and_enumeration_match_brute_force(seed, partial):
    d = random_dfa(seed, partial=partial)
    for n in range(6):
        words = all_words(d.alphabet, n)
        accepted = [w for w in words if brute_accepts(d, w)]
        assert d.count(n) == len(accepted)
        assert d.count(n, accepted=False) == len(words) - len(accepted)
        assert list(d.words(n)) == accepted  # lexicographic order
        assert list(d.words(n, accepted=False)) == [w for w in words if w not in set(accepted)]
        assert list(d.words(n, accepted=None)) == words


def test_counts_are_exact_big_integers():
    d = odd_ones()
    # half of the 2^n words have an odd number of ones (n >= 1): exact far beyond 2^64
    assert d.count(300) == 2**299
    assert d.count(300, accepted=False) == 2**299
    assert isinstance(d.count(300), int)
    # (ab)*: exactly one accepted word of each even length
    assert [ab_partial().count(n) for n in range(8)] == [1, 0, 1, 0, 1, 0, 1, 0]
    assert ab_partial().count(200, accepted=False) == 2**200 - 1


def test_count_rejects_negative_length():
    with pytest.raises(ValueError, match="non-negative"):
        odd_ones().count(-1)


@pytest.mark.parametrize("accepted", [True, False])
def test_sampling_is_exactly_uniform_on_a_tiny_language(accepted):
    """Chi-square goodness of fit against the uniform distribution on the (enumerated) accepted/rejected words.

    Language: words over {a, b} of length 4 with no 'bb' factor (8 accepted, 8 rejected). 16000 draws; the
    0.001 critical value of chi-square with 7 degrees of freedom is 24.32. The seed is fixed, so the test is
    deterministic; a sampler biased by as little as one word getting 2/16 instead of 1/16 fails it (checked below).
    """
    d = DFA(states={"x", "b", "dead"}, alphabet="ab", start="x", accepting={"x", "b"},
            transitions={("x", "a"): "x", ("x", "b"): "b", ("b", "a"): "x", ("b", "b"): "dead",
                         ("dead", "a"): "dead", ("dead", "b"): "dead"})
    support = [w for w in all_words("ab", 4) if ("bb" not in w) == accepted]
    assert len(support) == d.count(4, accepted) == 8
    rng = random.Random(1234)
    draws = 16000
    counts = Counter(d.sample(4, accepted, rng=rng) for _ in range(draws))
    assert set(counts) == set(support)
    expected = draws / len(support)
    chi2 = sum((counts[w] - expected) ** 2 / expected for w in support)
    assert chi2 < 24.32
    # the same statistic does detect a biased sampler (one word twice as likely): the test can fail
    biased = Counter(rng.choice(support + support[:1]) for _ in range(draws))
    assert sum((biased[w] - expected) ** 2 / expected for w in support) > 24.32


def test_sampling_with_numpy_generator_and_big_counts():
    d = odd_ones()
    w = d.sample(200, rng=np.random.default_rng(0))
    assert len(w) == 200 and w.count("1") % 2 == 1
    w = d.sample(200, accepted=False, rng=7)
    assert w.count("1") % 2 == 0


def test_sampling_is_reproducible_with_a_seed():
    assert odd_ones().sample(30, rng=5) == odd_ones().sample(30, rng=5)


def test_sampling_a_word_that_does_not_exist_is_an_error():
    with pytest.raises(NoSuchWordError, match="no accepted word of length 3"):
        ab_partial().sample(3)


def test_sampling_rejected_words_includes_words_that_fall_off():
    d = ab_partial()
    seen = {d.sample(2, accepted=False, rng=random.Random(s)) for s in range(200)}
    assert seen == {"aa", "ba", "bb"}


# ---------------------------------------------------------------------------------------------------------------------
# minimization, equivalence, set operations


def test_minimize_merges_equivalent_states_and_removes_unreachable_ones():
    # 4 states for "odd number of 1s": duplicated states 0/2 and 1/3, plus unreachable 9
    d = DFA(states={0, 1, 2, 3, 9}, alphabet="01", start=0, accepting={1, 3},
            transitions={(0, "0"): 2, (0, "1"): 1, (1, "0"): 3, (1, "1"): 2, (2, "0"): 0, (2, "1"): 3,
                         (3, "0"): 1, (3, "1"): 0, (9, "0"): 9, (9, "1"): 9})
    m = d.minimize()
    assert len(m) == 2 and m.is_complete
    assert m.equivalent(d) and m.equivalent(odd_ones())
    assert m == odd_ones().minimize()  # canonical numbering: same language -> same minimal DFA


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.booleans())
def test_minimize_preserves_the_language_and_is_idempotent(seed, partial):
    d = random_dfa(seed, partial=partial)
    for complete in (True, False):
        m = d.minimize(complete=complete)
        assert m.is_complete or not complete
        for n in range(5):
            assert all(m.accepts(w) == brute_accepts(d, w) for w in all_words(d.alphabet, n))
        assert m.minimize(complete=complete) == m
        assert len(m) <= len(d) + (1 if complete else 0)


def test_minimize_trim_drops_the_dead_state():
    from exactformer.languages import tomita

    t1 = tomita(1)
    assert len(t1.minimize(complete=True)) == 2
    trim = t1.minimize(complete=False)
    assert len(trim) == 1 and not trim.is_complete and trim.equivalent(t1)


def test_equivalence_and_distinguishing_word():
    even_zeros = DFA(states={0, 1}, alphabet="01", start=0, accepting={0},
                     transitions={(0, "0"): 1, (0, "1"): 0, (1, "0"): 0, (1, "1"): 1})
    assert odd_ones().equivalent(odd_ones().minimize().relabel(lambda q: f"s{q}"))
    assert not odd_ones().equivalent(even_zeros)
    w = odd_ones().distinguishing_word(even_zeros)
    assert w == ""  # the empty word: accepted by even_zeros only
    assert odd_ones().accepts(w) != even_zeros.accepts(w)


def test_equivalence_compares_partial_and_complete_forms():
    assert ab_partial().equivalent(ab_partial().complete())
    assert ab_partial().complete().is_complete and len(ab_partial().complete()) == 3


def test_set_operations_against_brute_force():
    a, b = odd_ones(), DFA.from_regex("(0|1)*11(0|1)*", "01")
    ops = {"&": lambda x, y: x and y, "|": lambda x, y: x or y, "-": lambda x, y: x and not y,
           "^": lambda x, y: x != y}
    dfas = {"&": a & b, "|": a | b, "-": a - b, "^": a ^ b}
    for n in range(7):
        for w in all_words("01", n):
            for op, f in ops.items():
                assert dfas[op].accepts(w) == f(w.count("1") % 2 == 1, "11" in w)
            assert (~a).accepts(w) == (w.count("1") % 2 == 0)
    assert (a & b).issubset(a) and not a.issubset(b)


def test_is_empty():
    assert not odd_ones().is_empty()
    assert (odd_ones() & ~odd_ones()).is_empty()


# ---------------------------------------------------------------------------------------------------------------------
# transition monoid


def test_transition_monoid_of_parity_is_z2():
    m = odd_ones().transition_monoid()
    assert len(m) == 2 and m.is_group()
    assert m.identity == (0, 1)
    assert set(m.elements) == {(0, 1), (1, 0)}
    t = m.table
    assert t.tolist() == [[0, 1], [1, 0]]


def test_transition_monoid_of_a_partial_dfa_has_the_sink_and_a_zero():
    m = ab_partial().transition_monoid()
    # (ab)*: syntactic monoid {1, a, b, ab, ba, 0} has 6 elements
    assert len(m) == 6
    assert m.states[-1] == "sink"
    zero = m.element_of("aa")
    assert all(m.multiply(zero, e) == zero == m.multiply(e, zero) for e in m.elements)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6))
def test_transition_monoid_is_closed_and_table_matches_composition(seed):
    d = random_dfa(seed, partial=False, max_states=3)  # at most 3^3 = 27 elements: the table check stays fast
    m = d.transition_monoid()
    order = d.ordered_states
    table = m.table
    for i, e in enumerate(m.elements):
        # each element is the action of its word, computed here by running the DFA from every state
        word = m.words[i]
        assert e == tuple(order.index(_run_from(d, q, word)) for q in order)
        for j, f in enumerate(m.elements):
            assert m.elements[table[i, j]] == tuple(f[x] for x in e)  # first e, then f
    # brute force: the actions of all words of length <= 4 are elements, and every element's shortest word is short
    actions = {tuple(order.index(_run_from(d, q, w)) for q in order)
               for n in range(5) for w in itertools.product(sorted(d.alphabet), repeat=n)}
    assert actions <= set(m.elements)
    assert actions == {e for e, w in zip(m.elements, m.words) if len(w) <= 4}


def _run_from(d: DFA, q, word):
    for a in word:
        q = d.transitions[(q, a)]
    return q


def test_monoid_max_size_guard():
    from exactformer.languages import LanguagesError, word_problem

    with pytest.raises(LanguagesError, match="more than 10 elements"):
        word_problem("S5", alphabet="generators").transition_monoid(max_size=10)


# ---------------------------------------------------------------------------------------------------------------------
# readers


@pytest.mark.parametrize(
    ("regex", "predicate"),
    [
        ("(0|1)*1", lambda w: w.endswith("1")),
        ("0*1*", lambda w: "10" not in w),
        ("(00|11)*", lambda w: len(w) % 2 == 0 and all(w[i] == w[i + 1] for i in range(0, len(w), 2))),
        ("1(0|1)*", lambda w: w.startswith("1")),
    ],
)
def test_from_regex_against_python_predicates(regex, predicate):
    d = DFA.from_regex(regex, "01")
    assert d.is_complete
    for n in range(8):
        for w in all_words("01", n):
            assert d.accepts(w) == predicate(w), (regex, w)


def test_from_regex_uses_automata_lib_and_reports_bad_regex():
    with pytest.raises(InvalidAutomatonError, match="cannot compile regex"):
        DFA.from_regex("(01", "01")
    with pytest.raises(InvalidAutomatonError, match="one-character"):
        DFA.from_regex("ab", ["ab"])


def test_automata_lib_round_trip():
    d = DFA.from_regex("(0|1)*11", "01")
    back = DFA.from_automata_lib(d.to_automata_lib())
    assert back == d
    partial = DFA.from_automata_lib(ab_partial().to_automata_lib())
    assert partial == ab_partial()


def test_dot_round_trip():
    for d in (odd_ones(), ab_partial(), DFA.from_regex("(0|1)*101", "01")):
        back = DFA.from_dot(d.to_dot())
        assert back.equivalent(d)
        assert len(back) == len(d)


def test_counting_a_million_lengths_is_not_needed_but_long_lengths_work():
    d = DFA.from_regex("(0|1)*101(0|1)*", "01")
    # complement counts: words of length n avoiding 101 satisfy a(n) = a(n-1) + a(n-3) + a(n-4) for n >= 4? verify
    # against brute force for n <= 12 instead of a formula, and check the total identity for a large n
    for n in range(13):
        assert d.count(n, accepted=False) == sum("101" not in w for w in all_words("01", n))
    n = 500
    assert d.count(n) + d.count(n, accepted=False) == 2**n
    assert math.log2(d.count(n, accepted=False)) < n


@pytest.mark.parametrize("module", ["dfa", "graphs", "named", "groups", "monoid", "formats"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"exactformer.languages.{module}"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("collide", [False, True], ids=["hashed", "every-key-colliding"])
def test_the_table_is_checked_against_the_products_it_looks_up(collide, monkeypatch):
    """The table is looked up by a hash of each product (its states in base |Q|, mod 2^64), and every looked-up
    element is compared with the product: with every lookup made wrong on purpose the table is still the
    composition table (the element-by-element fallback)."""
    import exactformer.languages.monoid as monoid_module

    d = random_dfa(7, partial=False, max_states=4)
    m = d.transition_monoid()
    if collide:
        monkeypatch.setattr(monoid_module.np, "searchsorted", lambda keys, values: np.zeros(len(values), dtype=int))
    table = m.table
    for i, e in enumerate(m.elements):
        for j, f in enumerate(m.elements):
            assert m.elements[table[i, j]] == tuple(f[x] for x in e)
    assert len(m) > 2  # so that a wrong lookup (always element 0) is wrong somewhere
