"""The composition MLPs multiply transition-monoid elements exactly: checked on every pair of small monoids.

The reference is the monoid's own multiplication (``TransitionMonoid.multiply`` and ``.table``, computed from the
DFA's letter maps in ``exactformer.languages``); the MLPs are run by the core's exact evaluator.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exactformer.constructions.monoid_composition import (
    ElementCode,
    choose_code,
    function_units,
    lookup_units,
)
from exactformer.core.arith import ExactArithmetic
from exactformer.core.space import Block, Space, vector
from exactformer.languages import named
from exactformer.languages.dfa import DFA


def random_dfa(seed: int, n_states: int, n_symbols: int, partial: bool = False) -> DFA:
    rng = random.Random(seed)
    symbols = "abcdefgh"[:n_symbols]
    transitions = {}
    for q in range(n_states):
        for a in symbols:
            if partial and rng.random() < 0.2:
                continue
            transitions[(q, a)] = rng.randrange(n_states)
    accepting = {q for q in range(n_states) if rng.random() < 0.5}
    return DFA(states=range(n_states), alphabet=symbols, transitions=transitions, start=0, accepting=accepting)


SMALL = {
    "parity": named.parity(),
    "mod3": named.modular_count(0, 3),
    "tomita5": named.tomita(5),
    "S3": named.word_problem("S3"),
    "random4": random_dfa(1, 4, 2),
    "partial3": random_dfa(2, 3, 2, partial=True),
}


def run_all_pairs(code: ElementCode, units_kwargs: dict, pairs: list[tuple[tuple, tuple]]) -> tuple[Space, list]:
    """Write each (left, right) pair into L and R, run the MLP exactly, return the residual after the update."""
    space = Space.of(Block("L", code.labels), Block("R", code.labels), Block("O", code.labels))
    mlp = code.units(**units_kwargs).mlp(space)
    x = np.empty((1, len(pairs), space.dim), dtype=object)
    for k, (a, b) in enumerate(pairs):
        x[0, k] = vector(space, {**code.entries("L", a), **code.entries("R", b)})
    delta = ExactArithmetic().mlp(x, mlp, "test")
    return space, list(x[0] + delta[0])


def block_values(space: Space, row, block: str) -> list:
    return list(row[space.block_slice(block)])


# The exact evaluator multiplies object arrays of Fractions: the wider codes (S3's 252 function units, the random and
# partial DFAs) take 5-40 s each on a loaded machine, so they run with the slow tests.
_HEAVY = {
    ("S3", "function"),
    ("random4", "function"),
    ("partial3", "function"),
    ("partial3", "lookup"),
    ("random4", "lookup"),
}


@pytest.mark.parametrize(
    "name, kind",
    [
        pytest.param(name, kind, marks=[pytest.mark.slow] if (name, kind) in _HEAVY else [])
        for name in sorted(SMALL)
        for kind in ("lookup", "function")
    ],
)
def test_in_place_product_on_every_pair(name: str, kind: str) -> None:
    monoid = SMALL[name].transition_monoid()
    code = ElementCode.lookup(monoid) if kind == "lookup" else ElementCode.function(len(monoid.states))
    pairs = [(a, b) for a in monoid.elements for b in monoid.elements]
    space, rows = run_all_pairs(code, {"left": "L", "right": "R", "out": "R"}, pairs)
    for (a, b), row in zip(pairs, rows):
        right = block_values(space, row, "R")
        assert right == code.code_vector(monoid.multiply(a, b)), (name, a, b)
        assert all(v == 0 for v in block_values(space, row, "L"))
        assert all(v == 0 for v in block_values(space, row, "O"))
        assert all(isinstance(v, Fraction) for v in right)


@pytest.mark.parametrize("kind", ["lookup", "function"])
def test_product_into_a_third_block_keeps_the_operands(kind: str) -> None:
    monoid = SMALL["S3"].transition_monoid()
    code = ElementCode.lookup(monoid) if kind == "lookup" else ElementCode.function(len(monoid.states))
    pairs = [(a, b) for a in monoid.elements for b in monoid.elements]
    if kind == "function":  # 4 of the 36 pairs (every ninth): the exact 252-unit MLP is slow (all pairs: slow tests)
        pairs = pairs[::9]
    space, rows = run_all_pairs(
        code, {"left": "L", "right": "R", "out": "O", "clear_left": False, "clear_right": False}, pairs
    )
    table = monoid.table
    for (a, b), row in zip(pairs, rows):
        assert code.decode(block_values(space, row, "O")) == monoid.elements[table[monoid.index(a), monoid.index(b)]]
        assert code.decode(block_values(space, row, "L")) == a
        assert code.decode(block_values(space, row, "R")) == b


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10_000), n_states=st.integers(1, 3), n_symbols=st.integers(1, 3), partial=st.booleans())
def test_random_dfas_both_codes_agree_with_the_table(seed: int, n_states: int, n_symbols: int, partial: bool) -> None:
    monoid = random_dfa(seed, n_states, n_symbols, partial).transition_monoid()
    rng = random.Random(seed)
    pairs = [(rng.choice(monoid.elements), rng.choice(monoid.elements)) for _ in range(30)]
    for code in (ElementCode.lookup(monoid), ElementCode.function(len(monoid.states))):
        space, rows = run_all_pairs(code, {"left": "L", "right": "R", "out": "R"}, pairs)
        for (a, b), row in zip(pairs, rows):
            assert code.decode(block_values(space, row, "R")) == monoid.multiply(a, b)


def test_empty_left_block_leaves_the_right_block_unchanged() -> None:
    monoid = named.tomita(3).transition_monoid()
    code = ElementCode.lookup(monoid)
    space = Space.of(Block("L", code.labels), Block("R", code.labels))
    mlp = code.units(left="L", right="R", out="R").mlp(space)
    x = np.empty((1, 1, space.dim), dtype=object)
    x[0, 0] = vector(space, code.entries("R", monoid.elements[3]))
    out = x[0, 0] + ExactArithmetic().mlp(x, mlp, "test")[0, 0]
    assert code.decode(list(out[space.block_slice("R")])) == monoid.elements[3]


def test_a_wrong_table_entry_is_caught() -> None:
    """The exhaustive check can fail: corrupt one product of the table and the MLP output disagrees there."""
    monoid = SMALL["S3"].transition_monoid()
    table = monoid.table
    table[1, 2] = (table[1, 2] + 1) % len(monoid)
    code = ElementCode.lookup(monoid)
    space = Space.of(Block("L", code.labels), Block("R", code.labels))
    mlp = lookup_units(table, left="L", right="R", out="R").mlp(space)
    x = np.empty((1, 1, space.dim), dtype=object)
    a, b = monoid.elements[1], monoid.elements[2]
    x[0, 0] = vector(space, {**code.entries("L", a), **code.entries("R", b)})
    out = x[0, 0] + ExactArithmetic().mlp(x, mlp, "test")[0, 0]
    assert code.decode(list(out[space.block_slice("R")])) != monoid.multiply(a, b)


def test_widths_and_choice() -> None:
    # A5 word problem: |M| = |Q| = 60, the lookup (3,600 units) is far narrower than 60^3 + 60^2
    code = choose_code(named.word_problem("A5"))
    assert (code.kind, code.width(), code.dim) == ("lookup", 3600, 60)
    assert len(lookup_units(code.monoid.table, left="L", right="R", out="R")) == 3600
    # a 3-state DFA whose monoid is the full transformation monoid T_3 (27 elements): 27^2 = 729 > 3^3 + 3^2 = 36
    t3 = DFA(
        states=range(3),
        alphabet="abc",
        start=0,
        accepting={0},
        transitions={(q, "a"): (q + 1) % 3 for q in range(3)}
        | {(q, "b"): [1, 0, 2][q] for q in range(3)}
        | {(q, "c"): [0, 0, 2][q] for q in range(3)},
    )
    assert len(t3.transition_monoid()) == 27
    code = choose_code(t3)
    assert (code.kind, code.width(), code.dim) == ("function", 36, 9)
    assert len(function_units(3, left="L", right="R", out="R")) == 36
    assert choose_code(t3, prefer="lookup").width() == 729
    assert choose_code(named.parity(), prefer="function").kind == "function"


def test_bad_element_is_refused() -> None:
    code = ElementCode.function(3)
    with pytest.raises(Exception, match="not a map of 3 state indices"):
        code.entries("L", (0, 1, 5))
