"""Small helpers shared by the reference objects: ordering, freezing, words and random sources."""

from __future__ import annotations

import os
import random
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np

from .errors import InvalidMachineError, LanguagesError, SymbolNotInAlphabetError

__all__ = [
    "Immutable",
    "MonoidElements",
    "compose",
    "machine_transitions",
    "RandomSource",
    "Word",
    "canonical_order",
    "freeze_mapping",
    "as_rng",
    "randbelow",
    "word_tuple",
    "render_word",
    "symbols_are_characters",
    "data_dir",
]

#: What the samplers and generators accept as randomness: a :class:`random.Random`, a :class:`numpy.random.Generator`,
#: an integer seed, or ``None`` for fresh entropy.
RandomSource: TypeAlias = "random.Random | np.random.Generator | int | None"

#: A word: a ``str`` (one symbol per character) or a sequence of symbols.
Word: TypeAlias = "str | Sequence[Hashable]"


class Immutable:
    """Base of the immutable reference objects (automata, machines): attributes are set once, by :meth:`_set`.

    Setting or deleting an attribute afterwards raises ``AttributeError`` naming the class and the attribute.
    """

    __slots__ = ()

    def _set(self, **slots: Any) -> None:
        """Set each slot ``name`` to its value (for ``__init__`` and lazily computed caches only)."""
        for name, value in slots.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable (cannot delete {name!r})")


def compose(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """"First ``a``, then ``b``": the map ``i -> b[a[i]]`` of two maps of ``range(n)`` written as tuples."""
    return tuple(b[i] for i in a)


class MonoidElements:
    """The element lookup of the finite monoids here (permutation groups, transition monoids).

    ``elements`` holds every element, the identity first; ``_index`` maps an element to its position.
    """

    __slots__ = ()

    elements: tuple[tuple[int, ...], ...]
    _index: Mapping[tuple[int, ...], int]

    def _owner(self) -> str:
        """How an error message names this monoid."""
        return "this monoid"

    @property
    def identity(self) -> tuple[int, ...]:
        """The identity (the first element: the empty word's transformation, the identity permutation)."""
        return self.elements[0]

    def index(self, element: Sequence[int]) -> int:
        """The position of ``element`` in :attr:`elements`."""
        try:
            return self._index[tuple(element)]
        except KeyError:
            raise LanguagesError(f"{tuple(element)} is not an element of {self._owner()}") from None


def machine_transitions(
    transitions: Mapping[Any, Any], *, states: Iterable[Hashable], halting: Iterable[Hashable],
    targets: Iterable[Hashable], shape: tuple[str, ...],
) -> Iterator[tuple[Any, Any, tuple[Any, ...]]]:
    """Each transition ``(state, symbol) -> action`` of a machine, checked, as ``(state, symbol, action)``.

    The key must be a (state, symbol) pair whose state is in ``states`` and not in ``halting`` (a halting state has
    no transitions); the action a tuple with one entry per name of ``shape`` (the next state named ``"next_state"``,
    which must be in ``targets``). What the symbols may be is the machine's to check.

    Raises
    ------
    InvalidMachineError
        Naming the transition and what is wrong with it.
    """
    states, halting, targets = set(states), set(halting), set(targets)
    entry = shape.index("next_state")
    for key, value in dict(transitions).items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise InvalidMachineError(f"transition key {key!r} is not a (state, symbol) pair")
        q, a = key
        if q in halting:
            raise InvalidMachineError(f"halting state {q!r} has a transition on {a!r}")
        if q not in states:
            raise InvalidMachineError(f"transition ({q!r}, {a!r}) leaves {q!r}, which is not a state")
        try:
            action = tuple(value)
        except TypeError:
            action = ()
        if len(action) != len(shape):
            raise InvalidMachineError(f"transition ({q!r}, {a!r}) must map to ({', '.join(shape)}), got {value!r}")
        if action[entry] not in targets:
            raise InvalidMachineError(f"transition ({q!r}, {a!r}) enters {action[entry]!r}, which is not a state")
        yield q, a, action


def _order_key(x: Any) -> tuple[str, str]:
    return (type(x).__name__, repr(x))


def canonical_order(items: Iterable[Hashable]) -> tuple[Hashable, ...]:
    """``items`` sorted naturally when they are mutually comparable, otherwise by type name and ``repr``."""
    items = list(items)
    try:
        return tuple(sorted(items))  # type: ignore[type-var]
    except TypeError:
        return tuple(sorted(items, key=_order_key))


def freeze_mapping(mapping: Mapping[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only view of a private copy of ``mapping``."""
    return MappingProxyType(dict(mapping))


def as_rng(rng: Any) -> random.Random | np.random.Generator:
    """Turn a :data:`RandomSource` into a generator (``None`` draws fresh entropy; an ``int`` is a seed)."""
    if rng is None:
        return random.Random()
    if isinstance(rng, (random.Random, np.random.Generator)):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return random.Random(int(rng))
    raise TypeError(f"rng must be a random.Random, a numpy Generator, an int seed or None, not {type(rng).__name__}")


def randbelow(rng: random.Random | np.random.Generator, n: int) -> int:
    """A uniformly random integer in ``[0, n)``, exact for integers of any size."""
    if n <= 0:
        raise ValueError(f"randbelow needs a positive bound, got {n}")
    if isinstance(rng, random.Random):
        return rng.randrange(n)
    if n < 2**62:
        return int(rng.integers(0, n))
    bits = n.bit_length()  # rejection sampling on `bits` uniform bits: exact, expected < 2 rounds
    chunks = (bits + 31) // 32
    while True:
        value = 0
        for chunk in rng.integers(0, 2**32, size=chunks, dtype=np.uint64):
            value = (value << 32) | int(chunk)
        value >>= chunks * 32 - bits
        if value < n:
            return value


def symbols_are_characters(symbols: Iterable[Hashable]) -> bool:
    """Whether every symbol is a one-character ``str`` (so words can be written as plain strings)."""
    return all(isinstance(s, str) and len(s) == 1 for s in symbols)


def word_tuple(word: Any, alphabet: frozenset[Hashable] | None = None, *, what: str = "word") -> tuple[Hashable, ...]:
    """The symbols of ``word`` (a ``str`` is read one character per symbol), checked against ``alphabet``."""
    if isinstance(word, str):
        symbols: tuple[Hashable, ...] = tuple(word)
    elif isinstance(word, Iterable):
        symbols = tuple(word)
    else:
        raise TypeError(f"a {what} is a str or a sequence of symbols, not {type(word).__name__}")
    if alphabet is not None:
        for i, s in enumerate(symbols):
            if s not in alphabet:
                hint = ""
                kinds = {type(a).__name__ for a in alphabet}
                if type(s).__name__ not in kinds:
                    hint = f"; the alphabet holds {'/'.join(sorted(kinds))} symbols, this one is a {type(s).__name__}"
                elif isinstance(word, str) and not symbols_are_characters(alphabet):
                    hint = "; a str word is read one character per symbol, pass a sequence for longer symbols"
                shown = "{" + ", ".join(repr(a) for a in canonical_order(alphabet)) + "}"
                raise SymbolNotInAlphabetError(
                    f"symbol {s!r} at position {i} of the {what} is not in the alphabet {shown}{hint}"
                )
    return symbols


def render_word(symbols: Sequence[Hashable], alphabet: Iterable[Hashable]) -> str | tuple[Hashable, ...]:
    """A word as a ``str`` when every symbol of the alphabet is one character, otherwise as a tuple."""
    if symbols_are_characters(alphabet):
        return "".join(symbols)  # type: ignore[arg-type]
    return tuple(symbols)


def data_dir() -> Path:
    """The external test data folder (MLRegTest, Tomita, busy beavers, tag systems, ProsQA; not in the repository).

    ``$EXACTFORMER_DATA`` when set; else the first ``shared/data`` found in the repository's folder or in one of the
    folders above it (the workplace layout puts it beside the checkout: ``<parent>/shared/data``); else the path
    beside the repository, which may be absent. This function only computes the path: a test or loader that needs
    a file reports the missing file by name.
    """
    env = os.environ.get("EXACTFORMER_DATA")
    if env:
        return Path(env)
    repository = Path(__file__).resolve().parents[2]
    for folder in (repository, *repository.parents):
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return repository.parent / "shared" / "data"
