"""The errors raised by :mod:`exactformer.languages`.

Every error is a :class:`ValueError` subclass whose message names what is wrong: the symbol outside the alphabet, the
state that is missing, the line of a file that does not parse.
"""

from __future__ import annotations

__all__ = [
    "LanguagesError",
    "SymbolNotInAlphabetError",
    "InvalidAutomatonError",
    "InvalidMachineError",
    "InvalidQueryError",
    "ParseError",
    "NoSuchWordError",
]


class LanguagesError(ValueError):
    """Base class of every error raised by :mod:`exactformer.languages`."""


class SymbolNotInAlphabetError(LanguagesError):
    """A word, queue or tape holds a symbol that is not in the alphabet of the object reading it."""


class InvalidAutomatonError(LanguagesError):
    """A malformed automaton: an unknown state, a transition on a symbol outside the alphabet, nondeterminism."""


class InvalidMachineError(LanguagesError):
    """A malformed Turing machine, Post machine or tag system."""


class InvalidQueryError(LanguagesError):
    """A malformed reachability query (a node not in the graph, not exactly one reachable candidate)."""


class ParseError(LanguagesError):
    """Text in a file format (AT&T / OpenFst, Graphviz DOT, busy-beaver notation, ProsQA) that does not parse."""


class NoSuchWordError(LanguagesError):
    """A request for a word that does not exist (e.g. sampling an accepted word of a length with none)."""
