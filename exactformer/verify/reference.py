"""Adapters that let the verifier ask any reference the two questions it needs.

A reference is anything that knows the right answer independently of the construction: a DFA, BFS on a graph, a
machine simulator, or a plain function. The verifier needs, per input size, *which inputs to test* and *the right
answer for each*. :func:`as_reference` wraps the usual objects:

* a DFA (anything with ``alphabet`` and ``accepts``; exact uniform sampling is used when it has ``sample`` and
  ``count``): all words of a length when there are few enough, otherwise as many uniformly random accepted words
  as rejected ones (for a DFA of :mod:`exactformer.languages`, ``check`` draws them as index arrays,
  :meth:`LanguageReference.word_indices`, used as they are by its tensor path);
* a :class:`FunctionReference`: an answer function over words of an alphabet;
* a :class:`CorpusReference`: fixed ``(input, answer)`` pairs, grouped by size (e.g. ProsQA problems).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .tensor_inputs import TransitionTable, exhaustive_words, sample_words

__all__ = [
    "Reference",
    "LanguageReference",
    "FunctionReference",
    "CorpusReference",
    "as_reference",
    "shrink_word",
]


@runtime_checkable
class Reference(Protocol):
    """What the verifier asks of a reference."""

    name: str

    def expected(self, x: Any) -> Any:
        """The right answer for input ``x``."""

    def inputs(self, size: int, *, count: int, exhaustive_limit: int, rng: random.Random) -> tuple[list[Any], str]:
        """Inputs of ``size`` to test and how they were chosen (``"exhaustive"``, ``"uniform"``, ``"corpus"``)."""

    def shrink(self, x: Any) -> Iterator[Any]:
        """Smaller inputs to try when minimising a counterexample (may yield nothing)."""


def _words(alphabet: Sequence[str], length: int) -> list[str | tuple[str, ...]]:
    joinable = all(isinstance(a, str) and len(a) == 1 for a in alphabet)
    out = []
    for word in itertools.product(alphabet, repeat=length):
        out.append("".join(word) if joinable else tuple(word))
    return out


def shrink_word(word: Any, alphabet: Sequence[Any]) -> Iterator[Any]:
    """Candidates smaller than ``word``: each symbol deleted, then each symbol lowered to an earlier symbol.

    Greedy minimisation repeats this until no candidate still fails, which gives a 1-minimal counterexample.
    """
    symbols = list(word)
    rebuild = (lambda s: "".join(s)) if isinstance(word, str) else tuple
    for i in range(len(symbols)):
        yield rebuild(symbols[:i] + symbols[i + 1 :])
    order = {a: k for k, a in enumerate(alphabet)}
    for i, s in enumerate(symbols):
        for smaller in alphabet[: order.get(s, 0)]:
            yield rebuild(symbols[:i] + [smaller] + symbols[i + 1 :])


@dataclass
class LanguageReference:
    """A language given by a DFA (or any object with ``alphabet`` and ``accepts``)."""

    dfa: Any
    name: str = "DFA"
    _table: TransitionTable | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.alphabet = sorted(self.dfa.alphabet, key=str)

    def expected(self, x: Any) -> bool:
        return bool(self.dfa.accepts(x))

    @property
    def table(self) -> TransitionTable | None:
        """The DFA's transition table over :attr:`alphabet`'s order (``None`` for an object that is not a DFA of
        :mod:`exactformer.languages`: one without ``transitions``, ``ordered_states``, ``start``, ``accepting``)."""
        if not all(hasattr(self.dfa, a) for a in ("transitions", "ordered_states", "start", "accepting", "sample")):
            return None
        if self._table is None:
            self._table = TransitionTable.from_dfa(self.dfa, self.alphabet)
        return self._table

    def word_indices(self, size: int, *, count: int, exhaustive_limit: int,
                     rng: random.Random) -> tuple[np.ndarray, str]:
        """The words :func:`~exactformer.verify.check` tests at ``size``, as ``[batch, size]`` indices into
        :attr:`alphabet` (of :func:`~exactformer.verify.tensor_inputs.word_dtype`: a byte a symbol up to 256
        symbols), and how they were chosen: every word (in :meth:`inputs`' order), or as many exactly
        uniform accepted words as rejected ones drawn by :func:`~exactformer.verify.tensor_inputs.sample_words`
        (vectorised rejection; other words than :meth:`inputs`' symbol-by-symbol sampler draws from the same
        ``rng``, with the same distribution). Only for a DFA (:attr:`table` not ``None``)."""
        table = self.table
        if table is None:
            raise TypeError(f"{type(self.dfa).__name__} is not a DFA with a transition table")
        if len(self.alphabet) ** size <= exhaustive_limit:
            return exhaustive_words(len(self.alphabet), size), "exhaustive"
        return sample_words(table, self.dfa, self.alphabet, size, count, rng), "uniform accepted/rejected"

    def inputs(self, size: int, *, count: int, exhaustive_limit: int, rng: random.Random) -> tuple[list[Any], str]:
        if len(self.alphabet) ** size <= exhaustive_limit:
            return _words(self.alphabet, size), "exhaustive"
        if hasattr(self.dfa, "sample") and hasattr(self.dfa, "count"):
            accepted = self.dfa.count(size, accepted=True)
            rejected = self.dfa.count(size, accepted=False)
            half = count // 2
            n_acc = min(accepted, half if rejected else count)
            n_rej = min(rejected, count - n_acc)
            words = [self.dfa.sample(size, accepted=True, rng=rng) for _ in range(n_acc)]
            words += [self.dfa.sample(size, accepted=False, rng=rng) for _ in range(n_rej)]
            return words, "uniform accepted/rejected"
        return [self._random_word(size, rng) for _ in range(count)], "uniform words"

    def _random_word(self, size: int, rng: random.Random) -> Any:
        word = [rng.choice(self.alphabet) for _ in range(size)]
        return "".join(word) if all(isinstance(a, str) and len(a) == 1 for a in self.alphabet) else tuple(word)

    def shrink(self, x: Any) -> Iterator[Any]:
        return shrink_word(x, self.alphabet)


@dataclass
class FunctionReference:
    """Words over ``alphabet`` with answers given by ``answer(word)``."""

    answer: Callable[[Any], Any]
    alphabet: Sequence[str]
    name: str = "function"

    def expected(self, x: Any) -> Any:
        return self.answer(x)

    def inputs(self, size: int, *, count: int, exhaustive_limit: int, rng: random.Random) -> tuple[list[Any], str]:
        if len(self.alphabet) ** size <= exhaustive_limit:
            return _words(self.alphabet, size), "exhaustive"
        words = ["".join(rng.choice(self.alphabet) for _ in range(size)) for _ in range(count)]
        return words, "uniform words"

    def shrink(self, x: Any) -> Iterator[Any]:
        return shrink_word(x, self.alphabet)


@dataclass
class CorpusReference:
    """Fixed ``(input, answer)`` pairs; ``size(x)`` groups them (e.g. by number of nodes)."""

    pairs: Sequence[tuple[Any, Any]]
    size: Callable[[Any], int]
    name: str = "corpus"
    _answers: dict[int, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._answers = {id(x): y for x, y in self.pairs}

    def expected(self, x: Any) -> Any:
        try:
            return self._answers[id(x)]
        except KeyError:
            raise KeyError("the corpus reference only answers its own inputs") from None

    def sizes(self) -> list[int]:
        return sorted({self.size(x) for x, _ in self.pairs})

    def inputs(self, size: int, *, count: int, exhaustive_limit: int, rng: random.Random) -> tuple[list[Any], str]:
        return [x for x, _ in self.pairs if self.size(x) == size], "corpus"

    def shrink(self, x: Any) -> Iterator[Any]:
        return iter(())


def as_reference(obj: Any, name: str | None = None) -> Reference:
    """Wrap ``obj`` as a :class:`Reference` (a Reference is returned as is)."""
    if isinstance(obj, (LanguageReference, FunctionReference, CorpusReference)):
        return obj
    if hasattr(obj, "accepts") and hasattr(obj, "alphabet"):
        return LanguageReference(obj, name=name or type(obj).__name__)
    if isinstance(obj, Reference):
        return obj
    raise TypeError(
        f"cannot use {type(obj).__name__} as a reference: give a DFA, a FunctionReference, a CorpusReference, "
        "or an object with expected(), inputs() and shrink()"
    )
