"""DFA setup: checked symbols, the end-marked encoding, the monoid's start and accepting elements, letter maps."""

from __future__ import annotations

import pytest

from exactformer.constructions.gadgets.dfa import (
    BOS,
    END,
    ceil_log2,
    dfa_symbols,
    letter_maps,
    monoid_dfa,
    recognizer_io,
    tree_levels,
)
from exactformer.core.errors import InputError
from exactformer.languages import named
from exactformer.languages.dfa import DFA


def test_level_counts():
    assert [ceil_log2(n) for n in range(0, 10)] == [0, 0, 1, 2, 2, 3, 3, 3, 3, 4]
    assert tree_levels(8) == 4 and tree_levels(8, final_level=False) == 3


def test_symbols_are_checked():
    assert dfa_symbols(named.parity(), "b") == (("0", "1"), ("0", "1"))
    with pytest.raises(InputError, match="b needs an exactformer.languages.DFA"):
        dfa_symbols("not a dfa", "b")
    clash = DFA(states=[0], alphabet=["$"], transitions={(0, "$"): 0}, start=0, accepting={0})
    with pytest.raises(InputError, match="other than '<bos>' and '\\$'"):
        dfa_symbols(clash, "b")
    assert dfa_symbols(clash, "b", reserved=(BOS,))[1] == ("$",)


def test_recognizer_io_encodes_words_and_counts_tokens():
    io = recognizer_io(named.parity())
    assert io["encode"]("01") == [BOS, "0", "1", END] and io["tokens_for"](2) == 4
    bare = recognizer_io(named.parity(), end=None)
    assert bare["encode"]("01") == [BOS, "0", "1"] and bare["tokens_for"](2) == 3
    with pytest.raises(InputError, match="alphabet"):
        io["encode"]("012")


def test_monoid_dfa_and_letter_maps_agree_with_the_dfa():
    dfa = named.tomita(3)
    prepared = monoid_dfa(dfa, "test")
    for word in ("", "0", "110", "1101", "10100"):
        element = prepared.monoid.element_of(dfa.symbols_of(word))
        assert prepared.accepts_from_start(prepared.monoid.index(element)) == dfa.accepts(word)
    partial = DFA(states=[0, 1], alphabet="ab", transitions={(0, "a"): 1}, start=0, accepting={1})
    maps = letter_maps(partial, ("a", "b"))
    assert maps.n_states == 3 and maps.letters == {"a": (1, 2, 2), "b": (2, 2, 2)}  # the sink is state 2
    assert (maps.start, maps.accepting) == (0, frozenset({1}))
