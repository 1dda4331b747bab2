"""Deterministic finite automata: an immutable, validated reference for regular languages.

A :class:`DFA` knows nothing about transformers. It answers membership, runs words state by state, counts and
samples words of a given length exactly (uniformly over accepted or rejected words), minimizes, compares languages,
combines languages with set operations, and computes its transition monoid. It reads regular expressions (through
automata-lib), OpenFst / AT&T acceptors and Graphviz DOT drawings.

Words are ``str`` (one symbol per character) or sequences of symbols. A *partial* DFA (some transitions missing)
rejects every word that reaches a missing transition.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ._common import (
    RandomSource,
    Word,
    as_rng,
    canonical_order,
    freeze_mapping,
    randbelow,
    render_word,
    word_tuple,
)
from .errors import InvalidAutomatonError, NoSuchWordError
from .formats import parse_att, parse_dot, read_source
from .monoid import TransitionMonoid

__all__ = ["DFA"]

State = Hashable
Symbol = Hashable

_MISSING = object()


def _check_length(length: Any) -> None:
    """A word length is a non-negative integer (``ValueError`` naming the value otherwise)."""
    if isinstance(length, (bool, np.bool_)) or not isinstance(length, (int, np.integer)):
        raise ValueError(f"length must be a non-negative integer, got {type(length).__name__} {length!r}")
    if length < 0:
        raise ValueError(f"length must be non-negative, got {length}")


class DFA:
    """A deterministic finite automaton, possibly partial.

    Parameters
    ----------
    states
        The finite set of states (any hashable objects).
    alphabet
        The finite set of input symbols. Use one-character strings to write words as plain ``str``.
    transitions
        ``{(state, symbol): next_state}``; the nested form ``{state: {symbol: next_state}}`` and a list of
        ``(state, symbol, next_state)`` triples are accepted too. Missing pairs make the DFA partial: a word that
        needs a missing transition is rejected.
    start
        The start state.
    accepting
        The accepting (final) states.

    Raises
    ------
    InvalidAutomatonError
        If a transition, the start state or an accepting state names an unknown state, a transition reads a symbol
        outside the alphabet, or one (state, symbol) is given two different next states (in a list of triples, or
        in the flat and the nested form at once).

    Notes
    -----
    A DFA is immutable and hashable. ``==`` compares structure (same states, alphabet, transitions, start, accepting
    states); use :meth:`equivalent` for language equality. Methods that build a new automaton (:meth:`minimize`,
    :meth:`complete`, :meth:`complement`, :meth:`intersection`, :meth:`union`) return a new DFA.

    Examples
    --------
    >>> from exactformer.languages import DFA
    >>> odd = DFA(states={0, 1}, alphabet={"0", "1"}, start=0, accepting={1},
    ...           transitions={(0, "0"): 0, (0, "1"): 1, (1, "0"): 1, (1, "1"): 0})
    >>> odd.accepts("0110"), odd.accepts("0111")
    (False, True)
    >>> odd.count(4)
    8
    """

    __slots__ = (
        "_states", "_alphabet", "_transitions", "_start", "_accepting",
        "_order", "_symbols", "_index", "_table", "_accept_mask", "_cache", "_hash",
    )

    def __init__(
        self,
        *,
        states: Iterable[State],
        alphabet: Iterable[Symbol],
        transitions: Mapping[Any, Any] | Iterable[tuple[Any, ...]],
        start: State,
        accepting: Iterable[State],
    ) -> None:
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

        order = canonical_order(states_f)
        symbols = canonical_order(alphabet_f)
        index = {q: i for i, q in enumerate(order)}
        col = {a: j for j, a in enumerate(symbols)}
        table = np.full((len(order), len(symbols)), -1, dtype=np.int64)
        for (q, a), q2 in flat.items():
            table[index[q], col[a]] = index[q2]
        table.setflags(write=False)
        accept_mask = np.array([q in accepting_f for q in order], dtype=bool)
        accept_mask.setflags(write=False)

        set_ = object.__setattr__
        set_(self, "_states", states_f)
        set_(self, "_alphabet", alphabet_f)
        set_(self, "_transitions", freeze_mapping(flat))
        set_(self, "_start", start)
        set_(self, "_accepting", accepting_f)
        set_(self, "_order", order)
        set_(self, "_symbols", symbols)
        set_(self, "_index", index)
        set_(self, "_table", table)
        set_(self, "_accept_mask", accept_mask)
        set_(self, "_cache", {})
        set_(self, "_hash", None)

    # ----------------------------------------------------------------------------------------------------------------
    # immutable data

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"DFA is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"DFA is immutable (cannot delete {name!r})")

    @property
    def states(self) -> frozenset[State]:
        """The states."""
        return self._states

    @property
    def alphabet(self) -> frozenset[Symbol]:
        """The input symbols."""
        return self._alphabet

    @property
    def transitions(self) -> Mapping[tuple[State, Symbol], State]:
        """A read-only mapping ``{(state, symbol): next_state}`` (missing pairs reject)."""
        return self._transitions

    @property
    def start(self) -> State:
        """The start state."""
        return self._start

    @property
    def accepting(self) -> frozenset[State]:
        """The accepting states."""
        return self._accepting

    @property
    def ordered_states(self) -> tuple[State, ...]:
        """The states in the fixed order used for indices (natural order when comparable, else by ``repr``)."""
        return self._order

    @property
    def ordered_alphabet(self) -> tuple[Symbol, ...]:
        """The symbols in the fixed order used for enumeration and sampling."""
        return self._symbols

    @property
    def is_complete(self) -> bool:
        """Whether every (state, symbol) pair has a transition."""
        return bool((self._table >= 0).all())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DFA):
            return NotImplemented
        return (
            self._states == other._states
            and self._alphabet == other._alphabet
            and self._start == other._start
            and self._accepting == other._accepting
            and dict(self._transitions) == dict(other._transitions)
        )

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(
                self,
                "_hash",
                hash((self._states, self._alphabet, self._start, self._accepting,
                      frozenset(self._transitions.items()))),
            )
        return self._hash  # type: ignore[return-value]

    def __repr__(self) -> str:
        alphabet = "{" + ", ".join(repr(a) for a in self._symbols) + "}"
        kind = "complete" if self.is_complete else "partial"
        return (f"DFA(states={len(self._states)}, alphabet={alphabet}, start={self._start!r}, "
                f"accepting={len(self._accepting)}, {kind})")

    def __len__(self) -> int:
        """The number of states."""
        return len(self._states)

    # ----------------------------------------------------------------------------------------------------------------
    # reading words

    def symbols_of(self, word: Word) -> tuple[Symbol, ...]:
        """The symbols of ``word``, checked against the alphabet.

        Raises
        ------
        SymbolNotInAlphabetError
            Naming the first symbol outside the alphabet and its position.
        """
        return word_tuple(word, self._alphabet)

    def next_state(self, state: State, symbol: Symbol) -> State | None:
        """``delta(state, symbol)``, or ``None`` where the transition is missing."""
        return self._transitions.get((state, symbol))

    def run(self, word: Word) -> tuple[State | None, ...]:
        """The states visited on ``word``, starting with the start state.

        The result has ``len(word) + 1`` entries when every transition exists. When the word needs a missing
        transition (a partial DFA), the run stops there and its last entry is ``None``: e.g. ``(q0, q1, None)`` when
        the second symbol has no transition from ``q1``.

        Raises
        ------
        SymbolNotInAlphabetError
            If the word has a symbol outside the alphabet (checked before running).
        """
        symbols = self.symbols_of(word)
        q: State | None = self._start
        out: list[State | None] = [q]
        get = self._transitions.get
        for a in symbols:
            q = get((q, a))
            out.append(q)
            if q is None:
                break
        return tuple(out)

    def accepts(self, word: Word) -> bool:
        """Whether the DFA accepts ``word`` (a missing transition rejects).

        Raises
        ------
        SymbolNotInAlphabetError
            If the word has a symbol outside the alphabet (checked before running).
        """
        symbols = self.symbols_of(word)
        q = self._start
        get = self._transitions.get
        for a in symbols:
            q = get((q, a))
            if q is None:
                return False
        return q in self._accepting

    def __contains__(self, word: object) -> bool:
        return self.accepts(word)  # type: ignore[arg-type]

    # ----------------------------------------------------------------------------------------------------------------
    # structure

    def _reachable_indices(self) -> list[int]:
        start = self._index[self._start]
        seen = {start}
        order = [start]
        frontier = deque([start])
        while frontier:
            i = frontier.popleft()
            for j in self._table[i]:
                j = int(j)
                if j >= 0 and j not in seen:
                    seen.add(j)
                    order.append(j)
                    frontier.append(j)
        return order

    def reachable_states(self) -> frozenset[State]:
        """The states reachable from the start state."""
        return frozenset(self._order[i] for i in self._reachable_indices())

    def complete(self, *, sink: Hashable = "sink") -> DFA:
        """An equivalent complete DFA: missing transitions go to a new rejecting ``sink`` state.

        Returns ``self`` when the DFA is already complete. If ``sink`` is already a state name, primes are appended
        (``"sink'"``) until it is fresh.
        """
        if self.is_complete:
            return self
        while sink in self._states:
            sink = f"{sink}'"
        transitions = dict(self._transitions)
        for q in itertools.chain(self._order, [sink]):
            for a in self._symbols:
                transitions.setdefault((q, a), sink)
        return DFA(states=self._states | {sink}, alphabet=self._alphabet, transitions=transitions,
                   start=self._start, accepting=self._accepting)

    def _completed_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The transition table and accepting mask with a sink appended (index n) when the DFA is partial."""
        table = self._table
        accept = self._accept_mask
        if (table < 0).any():
            n, k = table.shape
            table = np.vstack([np.where(table < 0, n, table), np.full((1, k), n, dtype=np.int64)])
            accept = np.append(accept, False)
        return table, accept

    def minimize(self, *, complete: bool | None = None) -> DFA:
        """The minimal DFA of the same language, with states numbered ``0, 1, ...`` in breadth-first order.

        Unreachable states are removed and equivalent states merged (Moore's partition refinement). The numbering
        visits states breadth-first from the start, trying symbols in :attr:`ordered_alphabet`, so two DFAs of the
        same language over the same alphabet minimize to *structurally equal* automata.

        Parameters
        ----------
        complete
            ``True``: the minimal complete DFA (it has a rejecting dead state when some word cannot be extended to an
            accepted word). ``False``: the same automaton with its dead state removed, a partial DFA (the minimal
            *trim* DFA; the start state is kept even when it is dead, i.e. for the empty language). ``None``
            (default): complete exactly when ``self`` is complete.
        """
        if complete is None:
            complete = self.is_complete
        table, accept = self._completed_arrays()
        # restrict to states reachable from the start (the completed table's sink is reachable only if needed)
        start = self._index[self._start]
        seen = [start]
        pos = {start: 0}
        i = 0
        while i < len(seen):
            for j in table[seen[i]]:
                j = int(j)
                if j not in pos:
                    pos[j] = len(seen)
                    seen.append(j)
            i += 1
        reach = np.array(seen, dtype=np.int64)
        remap = np.full(table.shape[0], -1, dtype=np.int64)
        remap[reach] = np.arange(len(reach))
        sub = remap[table[reach]]  # (r, k) over reachable indices
        cls = accept[reach].astype(np.int64)
        n_cls = len(np.unique(cls))
        while True:
            sig = np.column_stack([cls, cls[sub]]) if sub.size else cls[:, None]
            _, inverse = np.unique(sig, axis=0, return_inverse=True)
            inverse = inverse.ravel()
            n_new = int(inverse.max()) + 1
            cls = inverse
            if n_new == n_cls:
                break
            n_cls = n_new
        # class transition table, class acceptance
        rep = np.zeros(n_cls, dtype=np.int64)
        rep[cls] = np.arange(len(cls))
        cls_table = cls[sub[rep]] if sub.size else np.zeros((n_cls, 0), dtype=np.int64)
        cls_accept = accept[reach][rep]
        # canonical numbering: BFS from the start class
        start_cls = int(cls[0])
        number = {start_cls: 0}
        bfs = [start_cls]
        i = 0
        while i < len(bfs):
            for c in cls_table[bfs[i]]:
                c = int(c)
                if c not in number:
                    number[c] = len(bfs)
                    bfs.append(c)
            i += 1
        dead = None
        if not complete:
            for c in bfs:
                if not cls_accept[c] and all(int(x) == c for x in cls_table[c]):
                    dead = c
                    break
        transitions = {}
        for c in bfs:
            if c == dead:
                continue
            for j, a in enumerate(self._symbols):
                c2 = int(cls_table[c, j])
                if c2 != dead:
                    transitions[(number[c], a)] = number[c2]
        states = [number[c] for c in bfs if c != dead or c == start_cls]
        accepting = [number[c] for c in bfs if cls_accept[c] and c != dead]
        return DFA(states=states, alphabet=self._alphabet, transitions=transitions, start=0, accepting=accepting)

    def relabel(self, mapping: Mapping[State, Hashable] | Callable[[State], Hashable]) -> DFA:
        """The same automaton with states renamed by ``mapping`` (a dict or a function; must be injective)."""
        f = mapping.__getitem__ if isinstance(mapping, Mapping) else mapping
        names = {q: f(q) for q in self._order}
        if len(set(names.values())) != len(names):
            raise InvalidAutomatonError("relabel() needs distinct new names for distinct states")
        return DFA(states=names.values(), alphabet=self._alphabet,
                   transitions={(names[q], a): names[q2] for (q, a), q2 in self._transitions.items()},
                   start=names[self._start], accepting={names[q] for q in self._accepting})

    # ----------------------------------------------------------------------------------------------------------------
    # languages: emptiness, equivalence, set operations

    def is_empty(self) -> bool:
        """Whether the language is empty (no accepting state is reachable)."""
        return not any(self._accept_mask[i] for i in self._reachable_indices())

    def _pair_search(self, other: DFA, accept: Callable[[bool, bool], bool], *, stop_at_accepting: bool
                     ) -> tuple[list[tuple[Any, Any]], dict[tuple[Any, Any], tuple[Any, Any] | None], Any]:
        """Breadth-first search of the product automaton over the union alphabet (``None`` = fell off)."""
        symbols = canonical_order(self._alphabet | other._alphabet)
        g1, g2 = self._transitions.get, other._transitions.get
        start = (self._start, other._start)
        parent: dict[tuple[Any, Any], tuple[Any, Any] | None] = {start: None}
        order = [start]
        i = 0
        while i < len(order):
            p, q = order[i]
            i += 1
            if stop_at_accepting and accept(p in self._accepting, q in other._accepting):
                return order, parent, (p, q)
            for a in symbols:
                nxt = (None if p is None else g1((p, a)), None if q is None else g2((q, a)))
                if nxt not in parent:
                    parent[nxt] = ((p, q), a)
                    order.append(nxt)
        return order, parent, None

    def distinguishing_word(self, other: DFA) -> str | tuple[Symbol, ...] | None:
        """A shortest word accepted by exactly one of ``self`` and ``other``, or ``None`` if the languages are equal.

        The DFAs may have different alphabets: a symbol outside a DFA's alphabet makes that DFA reject.
        """
        _, parent, hit = self._pair_search(other, lambda x, y: x != y, stop_at_accepting=True)
        if hit is None:
            return None
        word: list[Symbol] = []
        node = hit
        while parent[node] is not None:
            node, a = parent[node]  # type: ignore[misc]
            word.append(a)
        return render_word(word[::-1], self._alphabet | other._alphabet)

    def equivalent(self, other: DFA) -> bool:
        """Whether ``self`` and ``other`` accept the same words (language equality; ``==`` is structural)."""
        return self.distinguishing_word(other) is None

    def issubset(self, other: DFA) -> bool:
        """Whether every word accepted by ``self`` is accepted by ``other``."""
        _, _, hit = self._pair_search(other, lambda x, y: x and not y, stop_at_accepting=True)
        return hit is None

    def _product(self, other: DFA, accept: Callable[[bool, bool], bool]) -> DFA:
        if not isinstance(other, DFA):
            raise TypeError(f"expected a DFA, not {type(other).__name__}")
        order, _, _ = self._pair_search(other, accept, stop_at_accepting=False)
        symbols = canonical_order(self._alphabet | other._alphabet)
        g1, g2 = self._transitions.get, other._transitions.get
        transitions = {}
        for p, q in order:
            for a in symbols:
                transitions[((p, q), a)] = (None if p is None else g1((p, a)), None if q is None else g2((q, a)))
        accepting = [(p, q) for p, q in order if accept(p in self._accepting, q in other._accepting)]
        return DFA(states=order, alphabet=self._alphabet | other._alphabet, transitions=transitions,
                   start=(self._start, other._start), accepting=accepting)

    def intersection(self, other: DFA) -> DFA:
        """A DFA for the words accepted by both (product construction; states are pairs, ``None`` = fell off)."""
        return self._product(other, lambda x, y: x and y)

    def union(self, other: DFA) -> DFA:
        """A DFA for the words accepted by either (product construction over the union of the alphabets)."""
        return self._product(other, lambda x, y: x or y)

    def difference(self, other: DFA) -> DFA:
        """A DFA for the words accepted by ``self`` and not by ``other``."""
        return self._product(other, lambda x, y: x and not y)

    def symmetric_difference(self, other: DFA) -> DFA:
        """A DFA for the words accepted by exactly one of the two."""
        return self._product(other, lambda x, y: x != y)

    def complement(self) -> DFA:
        """A DFA for the words over the alphabet that ``self`` rejects (completed first, then accepting flipped)."""
        full = self.complete()
        return DFA(states=full._states, alphabet=full._alphabet, transitions=full._transitions, start=full._start,
                   accepting=full._states - full._accepting)

    __and__ = intersection
    __or__ = union
    __sub__ = difference
    __xor__ = symmetric_difference

    def __invert__(self) -> DFA:
        return self.complement()

    # ----------------------------------------------------------------------------------------------------------------
    # the transition monoid

    def transition_monoid(self, *, max_size: int | None = None) -> TransitionMonoid:
        """The transition monoid of the completed DFA, identity included.

        Element ``e`` is a tuple with ``e[i]`` the index of the image of state ``i``; indices refer to
        ``monoid.states``, which is :attr:`ordered_states` followed by the sink when the DFA is partial (a partial
        DFA is completed first; the sink is fixed by every element). Products read left to right:
        ``monoid.multiply(a, b)`` is "first ``a``, then ``b``".

        Only the transformations of *this* automaton are taken (minimize first for the syntactic monoid).

        Parameters
        ----------
        max_size
            Raise instead of growing past this many elements.
        """
        table, _ = self._completed_arrays()
        states = self._order if table.shape[0] == len(self._order) else self._order + ("sink",)
        generators = {a: tuple(int(x) for x in table[:, j]) for j, a in enumerate(self._symbols)}
        return TransitionMonoid(states=states, generators=generators, max_size=max_size)

    # ----------------------------------------------------------------------------------------------------------------
    # counting, enumeration, exact uniform sampling

    def _suffix_counts(self, length: int, accepted: bool) -> list[np.ndarray]:
        """``counts[j][i]`` = number of words of length ``j`` leading state ``i`` to acceptance (or rejection).

        Index ``n`` is the "fell off" state (missing transition), which rejects everything.
        """
        key = bool(accepted)
        entry = self._cache.get(key)
        if entry is None:
            n, k = self._table.shape
            ext = np.vstack([np.where(self._table < 0, n, self._table), np.full((1, k), n, dtype=np.int64)])
            base = np.empty(n + 1, dtype=object)
            mask = np.append(self._accept_mask, False)
            base[:] = [int(m) if accepted else int(not m) for m in mask]
            entry = (ext, [base])
            self._cache[key] = entry
        ext, counts = entry
        while len(counts) <= length:
            prev = counts[-1]
            nxt = prev[ext].sum(axis=1) if ext.shape[1] else np.zeros(len(prev), dtype=object)
            if not ext.shape[1]:
                nxt[:] = 0
            counts.append(nxt)
        return counts

    def count(self, length: int, accepted: bool = True) -> int:
        """The exact number of accepted (or rejected) words of ``length`` symbols.

        Rejected words include those that reach a missing transition, so
        ``count(n, True) + count(n, False) == len(alphabet) ** n``. Computed by dynamic programming over the states
        with Python integers (no overflow).
        """
        _check_length(length)
        return int(self._suffix_counts(length, accepted)[length][self._index[self._start]])

    def sample(self, length: int, accepted: bool = True, rng: RandomSource = None) -> str | tuple[Symbol, ...]:
        """A uniformly random accepted (or rejected) word of ``length`` symbols, exactly uniform.

        Each symbol is drawn with probability proportional to the number of completions that end accepted (or
        rejected), counted exactly; so every word of the requested kind has probability ``1 / count(length,
        accepted)``. Rejected words include words that fall off a partial DFA.

        Parameters
        ----------
        rng
            A :class:`random.Random`, a :class:`numpy.random.Generator`, an ``int`` seed or ``None``.

        Returns
        -------
        str or tuple
            A ``str`` when every symbol is a one-character string, otherwise a tuple of symbols.

        Raises
        ------
        NoSuchWordError
            If there is no such word.
        """
        _check_length(length)
        counts = self._suffix_counts(length, accepted)
        ext, _ = self._cache[bool(accepted)]
        q = self._index[self._start]
        total = int(counts[length][q])
        if total == 0:
            kind = "accepted" if accepted else "rejected"
            raise NoSuchWordError(f"the DFA has no {kind} word of length {length}")
        gen = as_rng(rng)
        word = []
        for remaining in range(length, 0, -1):
            r = randbelow(gen, int(counts[remaining][q]))
            row = ext[q]
            below = counts[remaining - 1]
            for j, a in enumerate(self._symbols):
                c = int(below[row[j]])
                if r < c:
                    word.append(a)
                    q = int(row[j])
                    break
                r -= c
        return render_word(word, self._alphabet)

    def words(self, length: int, accepted: bool | None = True) -> Iterator[str | tuple[Symbol, ...]]:
        """Every word of ``length`` symbols that is accepted (``True``), rejected (``False``) or either (``None``),
        in lexicographic order of :attr:`ordered_alphabet`."""
        _check_length(length)
        if accepted is None:
            for w in itertools.product(self._symbols, repeat=length):
                yield render_word(w, self._alphabet)
            return
        counts = self._suffix_counts(length, accepted)
        ext, _ = self._cache[bool(accepted)]

        def walk(q: int, remaining: int, prefix: list[Symbol]) -> Iterator[str | tuple[Symbol, ...]]:
            if remaining == 0:
                yield render_word(prefix, self._alphabet)
                return
            below = counts[remaining - 1]
            for j, a in enumerate(self._symbols):
                q2 = int(ext[q, j])
                if below[q2]:
                    prefix.append(a)
                    yield from walk(q2, remaining - 1, prefix)
                    prefix.pop()

        if counts[length][self._index[self._start]]:
            yield from walk(self._index[self._start], length, [])

    # ----------------------------------------------------------------------------------------------------------------
    # constructors from other descriptions

    @classmethod
    def from_regex(cls, regex: str, alphabet: Iterable[str]) -> DFA:
        """The minimal complete DFA of a regular expression, compiled by automata-lib.

        The syntax is automata-lib's (``NFA.from_regex``): concatenation, ``|`` (union), ``*``, ``+``, ``?``,
        parentheses, ``.`` (any symbol of the alphabet), ``&`` (intersection) and ``^`` (shuffle); no anchors.
        Symbols must be one-character strings.
        """
        from automata.fa.dfa import DFA as AutomataDFA
        from automata.fa.nfa import NFA as AutomataNFA

        symbols = set(alphabet)
        bad = [a for a in symbols if not (isinstance(a, str) and len(a) == 1)]
        if bad:
            raise InvalidAutomatonError(f"from_regex needs one-character string symbols, got {bad!r}")
        try:
            nfa = AutomataNFA.from_regex(regex, input_symbols=symbols)
        except Exception as error:  # automata-lib raises its own exception types
            raise InvalidAutomatonError(f"cannot compile regex {regex!r}: {error}") from error
        return cls.from_automata_lib(AutomataDFA.from_nfa(nfa)).minimize(complete=True)

    @classmethod
    def from_automata_lib(cls, dfa: Any) -> DFA:
        """A :class:`DFA` from an ``automata.fa.dfa.DFA`` (automata-lib), partial or complete."""
        transitions = {(q, a): q2 for q, row in dfa.transitions.items() for a, q2 in row.items()}
        return cls(states=dfa.states, alphabet=dfa.input_symbols, transitions=transitions,
                   start=dfa.initial_state, accepting=dfa.final_states)

    def to_automata_lib(self) -> Any:
        """The same automaton as an ``automata.fa.dfa.DFA`` (automata-lib needs ``str`` symbols)."""
        from automata.fa.dfa import DFA as AutomataDFA

        rows: dict[Any, dict[Any, Any]] = {q: {} for q in self._order}
        for (q, a), q2 in self._transitions.items():
            rows[q][a] = q2
        return AutomataDFA(states=set(self._states), input_symbols=set(self._alphabet), transitions=rows,
                           initial_state=self._start, final_states=set(self._accepting),
                           allow_partial=not self.is_complete)

    @classmethod
    def from_att(cls, path_or_text: str | os.PathLike[str], *, alphabet: Iterable[Symbol] | None = None) -> DFA:
        """Read an OpenFst / AT&T text acceptor (a path or the text itself).

        Arc lines are ``src dst in out`` (tab- or space-separated, ``in == out``), final lines ``state``. The start
        state is the source of the first line, as in OpenFst (it need not be state 0). Missing arcs reject, so the
        result may be partial. States are ``int``, symbols the label strings. See
        :func:`exactformer.languages.formats.parse_att`.

        Parameters
        ----------
        alphabet
            The alphabet, when some symbols label no arc; by default the arc labels.
        """
        text, name = read_source(path_or_text, suffixes=(".att", ".txt", ".fst"))
        return cls(**parse_att(text, name=name, alphabet=alphabet))

    @classmethod
    def from_dot(cls, path_or_text: str | os.PathLike[str], *, alphabet: Iterable[Symbol] | None = None,
                 start: State | None = None) -> DFA:
        """Read a DFA drawn in Graphviz DOT (a path or the text itself).

        ``shape=doublecircle`` marks accepting states; the start state is the target of the edge from a marker node
        (``shape=none``/``point``, or named ``__start*``); an edge label is a symbol, several separated by commas
        (``"a,b"``), or an interval ``[lo , hi]`` of numeric symbols; a label that cannot be read is a
        :class:`~exactformer.languages.errors.ParseError`. States are the node names (strings). See
        :func:`exactformer.languages.formats.parse_dot`.
        """
        text, name = read_source(path_or_text, suffixes=(".dot", ".gv"))
        return cls(**parse_dot(text, name=name, alphabet=alphabet, start=start))

    def to_dot(self) -> str:
        """The DFA in Graphviz DOT (accepting states drawn as double circles; readable by :meth:`from_dot`).

        One edge per transition, labelled with its symbol. A symbol containing a comma reads back as one symbol only
        when :meth:`from_dot` is given the alphabet (``"a,b"`` otherwise means two symbols).
        """
        ids = {q: f"q{i}" for i, q in enumerate(self._order)}
        lines = ["digraph DFA {", "  rankdir=LR;", '  __start [label="", shape=none];']
        for q in self._order:
            shape = "doublecircle" if q in self._accepting else "circle"
            label = str(q).replace('"', '\\"')
            lines.append(f'  {ids[q]} [label="{label}", shape={shape}];')
        lines.append(f"  __start -> {ids[self._start]};")
        for (q, a), q2 in sorted(self._transitions.items(), key=lambda kv: (self._index[kv[0][0]], repr(kv[0][1]))):
            symbol = str(a).replace('"', '\\"')
            lines.append(f'  {ids[q]} -> {ids[q2]} [label="{symbol}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"
