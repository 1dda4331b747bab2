"""DFA setup shared by the log-depth recognizers: token strings, the end-marked encoding, the transition monoid's
start and accepting elements, the letter maps of a completed DFA and the ``ceil(log2 n)`` level counts.

A recognizer reads ``BOS w_1 .. w_n`` (optionally followed by the end marker ``$``); every symbol of the DFA's
alphabet is one token, named by its string form. These functions take an :class:`exactformer.languages.DFA` (the
input type the constructions are built from) and check it, naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from ...core.batch_encoding import framed_encoder, with_batch
from ...core.errors import InputError

__all__ = [
    "BOS",
    "END",
    "ceil_log2",
    "tree_levels",
    "dfa_symbols",
    "word_encoder",
    "recognizer_io",
    "MonoidDFA",
    "monoid_dfa",
    "LetterMaps",
    "letter_maps",
]

BOS = "<bos>"
END = "$"


def ceil_log2(n: int) -> int:
    """``ceil(log2 n)``, taken as 0 for n <= 1: the doublings after which a span of 1 covers n positions."""
    return (n - 1).bit_length() if n > 1 else 0


def tree_levels(n: int, *, final_level: bool = True) -> int:
    """Tree levels the activeness-tree recognizers run on n letters: ``ceil(log2 n)`` loop iterations plus the
    final level (the paper's final block; without it a power of two is one level short)."""
    return ceil_log2(n) + int(final_level)


def dfa_symbols(dfa: Any, builder: str, *, reserved: Sequence[str] = (BOS, END)) -> tuple[tuple[Hashable, ...],
                                                                                          tuple[str, ...]]:
    """The DFA's symbols (in its alphabet's order) and their token strings, checked.

    Raises
    ------
    InputError
        If ``dfa`` is not a DFA of :mod:`exactformer.languages` (``builder`` names the caller), or two symbols share
        a string form, or a symbol's string form is one of the ``reserved`` tokens (BOS, the end marker).
    """
    if not (hasattr(dfa, "transition_monoid") and hasattr(dfa, "ordered_alphabet")):
        raise InputError(f"{builder} needs an exactformer.languages.DFA, got {type(dfa).__name__}")
    symbols = tuple(dfa.ordered_alphabet)
    tokens = tuple(str(a) for a in symbols)
    if len(set(tokens)) != len(tokens) or any(r in tokens for r in reserved):
        others = " and ".join(repr(r) for r in reserved)
        raise InputError(f"the DFA's symbols must have distinct string forms other than {others}: {tokens}")
    return symbols, tokens


def word_encoder(dfa: Any, *, end: str | None = END) -> Callable[[Any], list[str]]:
    """``word -> [BOS, w_1, .., w_n]`` followed by ``end`` (``None``: no end marker), naming a symbol outside the
    DFA's alphabet."""
    tail = [] if end is None else [end]

    def encode(word: Any) -> list[str]:
        try:
            symbols = dfa.symbols_of(word)
        except ValueError as exc:
            raise InputError(f"not a word of the DFA's alphabet: {exc}") from None
        return [BOS] + [str(a) for a in symbols] + tail

    return encode


def recognizer_io(dfa: Any, *, end: str | None = END, vocab: Sequence[str] | None = None) -> dict[str, Any]:
    """The input/output fields of a recognizer's :class:`~exactformer.core.construction.Construction`: ``encode``
    (:func:`word_encoder`), ``interpret=bool`` (the sign readout's label is the answer) and ``tokens_for`` (n letters,
    BOS and the end marker if any). With the model's ``vocab``, ``encode`` carries its batched form (``BOS``, the
    symbols' tokens, the end marker: :func:`~exactformer.core.batch_encoding.framed_encoder`)."""
    extra = 1 if end is None else 2
    encode = word_encoder(dfa, end=end)
    if vocab is not None:
        symbols = tuple(dfa.ordered_alphabet)
        with_batch(encode, framed_encoder(vocab, symbols, tuple(str(a) for a in symbols), prefix=(BOS,),
                                          suffix=() if end is None else (end,)))
    return {"encode": encode, "interpret": bool, "tokens_for": lambda n: n + extra}


@dataclass(frozen=True)
class MonoidDFA:
    """A DFA prepared for a monoid-product recognizer.

    Attributes
    ----------
    symbols, tokens
        The alphabet and the token strings (:func:`dfa_symbols`).
    monoid
        The transition monoid (a partial DFA is completed with a sink).
    start
        The index of the start state among ``monoid.states``.
    accepting
        The indices of the accepting states among ``monoid.states``.
    """

    symbols: tuple[Hashable, ...]
    tokens: tuple[str, ...]
    monoid: Any
    start: int
    accepting: frozenset[int]

    @property
    def size(self) -> int:
        """|M|, the number of monoid elements."""
        return len(self.monoid)

    def accepts_from_start(self, element: int) -> bool:
        """Whether the monoid element of index ``element`` sends the start state into an accepting state."""
        return self.monoid.elements[element][self.start] in self.accepting


def monoid_dfa(dfa: Any, builder: str) -> MonoidDFA:
    """``dfa`` checked (:func:`dfa_symbols`, builder ``builder``) and its transition monoid enumerated.

    A construction's own setup dataclass extends :class:`MonoidDFA` and is built as
    ``_Setup(**vars(monoid_dfa(dfa, name)), space=..., ...)``.
    """
    symbols, tokens = dfa_symbols(dfa, builder)
    monoid = dfa.transition_monoid()
    states = list(monoid.states)
    return MonoidDFA(symbols, tokens, monoid, states.index(dfa.start),
                     frozenset(k for k, q in enumerate(states) if q in dfa.accepting))


@dataclass(frozen=True)
class LetterMaps:
    """A DFA as maps on state indices (no monoid enumerated): ``letters[a][q]`` is the index of ``delta(q, a)``.

    A partial DFA is completed with a sink, the last index (as :meth:`DFA.transition_monoid` does).
    """

    letters: dict[Hashable, tuple[int, ...]]
    n_states: int
    start: int
    accepting: frozenset[int]


def letter_maps(dfa: Any, symbols: Sequence[Hashable]) -> LetterMaps:
    """The letter maps of ``dfa`` over ``symbols`` on ``dfa.ordered_states`` (plus a sink where a transition is
    missing)."""
    states = list(dfa.ordered_states)
    complete = all((q, a) in dfa.transitions for q in states for a in symbols)
    n_states = len(states) + (0 if complete else 1)  # the sink, last, as in DFA.transition_monoid
    index = {q: k for k, q in enumerate(states)}
    sink = len(states)
    letters = {
        a: tuple(index[dfa.transitions[(q, a)]] if (q, a) in dfa.transitions else sink for q in states)
        + ((sink,) if not complete else ())
        for a in symbols
    }
    return LetterMaps(letters, n_states, index[dfa.start], frozenset(index[q] for q in dfa.accepting))
