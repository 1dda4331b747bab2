"""The parts of a DFA as its constructor is given them, read and checked.

Transitions come flat (``{(state, symbol): next_state}``), nested (``{state: {symbol: next_state}}``) or as a list
of ``(state, symbol, next_state)`` triples; :func:`checked_parts` reads any of them and checks every part against
the others, raising an :class:`~exactformer.languages.errors.InvalidAutomatonError` that names the first problem.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from ._common import canonical_order
from .errors import InvalidAutomatonError

__all__ = ["flat_transitions", "checked_parts"]

State = Hashable
Symbol = Hashable

_MISSING = object()


def flat_transitions(transitions: Mapping[Any, Any] | Iterable[tuple[Any, ...]]) -> dict[tuple[State, Symbol], State]:
    """``{(state, symbol): next_state}`` from any of the accepted forms (flat, nested, triples), repeats checked."""
    flat: dict[tuple[State, Symbol], State] = {}

    def add(q: State, a: Symbol, q2: State) -> None:
        try:
            previous = flat.get((q, a), _MISSING)
        except TypeError:
            raise InvalidAutomatonError(f"transition ({q!r}, {a!r}) -> {q2!r}: states and symbols must be "
                                        "hashable") from None
        if previous is not _MISSING and previous != q2:
            raise InvalidAutomatonError(f"transition ({q!r}, {a!r}) is given twice, to {previous!r} and to "
                                        f"{q2!r}; a DFA has one next state per (state, symbol)")
        flat[(q, a)] = q2

    if isinstance(transitions, Mapping):
        items: Iterable[Any] = transitions.items()
    elif isinstance(transitions, (str, bytes)) or not isinstance(transitions, Iterable):
        raise InvalidAutomatonError(f"transitions must be a mapping {{(state, symbol): next_state}} or a list of "
                                    f"(state, symbol, next_state) triples, not {type(transitions).__name__}")
    else:
        items = []
        for entry in transitions:
            if isinstance(entry, tuple) and len(entry) == 3:
                items.append(((entry[0], entry[1]), entry[2]))
            elif isinstance(entry, tuple) and len(entry) == 2:
                items.append(entry)
            else:
                raise InvalidAutomatonError(f"transition {entry!r} is not a (state, symbol, next_state) triple")
    for key, value in items:
        if isinstance(value, Mapping):  # nested {q: {a: q2}}
            for a, q2 in value.items():
                add(key, a, q2)
        else:
            if not (isinstance(key, tuple) and len(key) == 2):
                raise InvalidAutomatonError(f"transition key {key!r} is not a (state, symbol) pair")
            add(key[0], key[1], value)
    return flat


def checked_parts(states: Iterable[State], alphabet: Iterable[Symbol],
                  transitions: Mapping[Any, Any] | Iterable[tuple[Any, ...]], start: State, accepting: Iterable[State]
                  ) -> tuple[frozenset[State], frozenset[Symbol], dict[tuple[State, Symbol], State], frozenset[State]]:
    """The states, the alphabet, the flat transitions and the accepting states, checked against each other."""
    try:
        states_f = frozenset(states)
        alphabet_f = frozenset(alphabet)
    except TypeError as exc:
        raise InvalidAutomatonError(f"states and symbols must be hashable (e.g. ints or strings): {exc}") from None
    if not states_f:
        raise InvalidAutomatonError("a DFA needs at least one state (the start state)")
    if None in states_f:
        raise InvalidAutomatonError("None cannot be a state: it marks a missing transition in run() and in "
                                    "product automata")
    flat = flat_transitions(transitions)
    for (q, a), q2 in flat.items():
        if q not in states_f:
            raise InvalidAutomatonError(f"transition ({q!r}, {a!r}) -> {q2!r} leaves {q!r}, which is not a state")
        if a not in alphabet_f:
            raise InvalidAutomatonError(
                f"transition ({q!r}, {a!r}) -> {q2!r} reads {a!r}, which is not in the alphabet "
                f"{{{', '.join(repr(s) for s in canonical_order(alphabet_f))}}}"
            )
        if q2 not in states_f:
            raise InvalidAutomatonError(f"transition ({q!r}, {a!r}) goes to {q2!r}, which is not a state")
    if start not in states_f:
        raise InvalidAutomatonError(f"the start state {start!r} is not a state")
    accepting_f = frozenset(accepting)
    unknown = accepting_f - states_f
    if unknown:
        raise InvalidAutomatonError(f"accepting states {list(canonical_order(unknown))} are not states")
    return states_f, alphabet_f, flat, accepting_f
