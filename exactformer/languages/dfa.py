"""Deterministic finite automata: an immutable, validated reference for regular languages.

A :class:`DFA` knows nothing about transformers. It answers membership, runs words state by state, counts and
samples words of a given length exactly (uniformly over accepted or rejected words), minimizes, compares languages,
combines languages with set operations, and computes its transition monoid. It reads regular expressions (through
automata-lib), OpenFst / AT&T acceptors and Graphviz DOT drawings.

Words are ``str`` (one symbol per character) or sequences of symbols. A *partial* DFA (some transitions missing)
rejects every word that reaches a missing transition. The work is done in ``dfa_validation`` (the constructor's
checks), ``dfa_algorithms`` (minimization, products), ``dfa_counting`` and ``formats`` beside this module.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ._common import Immutable, RandomSource, Word, as_rng, canonical_order, freeze_mapping, render_word, word_tuple
from .dfa_algorithms import breadth_first, completed_arrays, distinguishing_symbols, minimal_parts, product_parts
from .dfa_counting import SuffixCounts, check_length
from .dfa_validation import checked_parts
from .errors import InvalidAutomatonError, NoSuchWordError
from .formats import automata_lib_parts, compile_regex, parse_att, parse_dot, read_source, to_automata_lib, write_dot
from .monoid import TransitionMonoid

__all__ = ["DFA"]

State = Hashable
Symbol = Hashable

class DFA(Immutable):
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
        "states", "alphabet", "transitions", "start", "accepting",
        "_order", "_symbols", "_index", "_table", "_accept_mask", "_cache", "_hash",
    )

    #: The states.
    states: frozenset[State]
    #: The input symbols.
    alphabet: frozenset[Symbol]
    #: A read-only mapping ``{(state, symbol): next_state}`` (missing pairs reject).
    transitions: Mapping[tuple[State, Symbol], State]
    #: The start state.
    start: State
    #: The accepting states.
    accepting: frozenset[State]

    def __init__(
        self,
        *,
        states: Iterable[State],
        alphabet: Iterable[Symbol],
        transitions: Mapping[Any, Any] | Iterable[tuple[Any, ...]],
        start: State,
        accepting: Iterable[State],
    ) -> None:
        states_f, alphabet_f, flat, accepting_f = checked_parts(states, alphabet, transitions, start, accepting)
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

        self._set(states=states_f, alphabet=alphabet_f, transitions=freeze_mapping(flat), start=start,
                  accepting=accepting_f, _order=order, _symbols=symbols, _index=index, _table=table,
                  _accept_mask=accept_mask, _cache={}, _hash=None)

    # ----------------------------------------------------------------------------------------------------------------
    # immutable data

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
            self.states == other.states
            and self.alphabet == other.alphabet
            and self.start == other.start
            and self.accepting == other.accepting
            and dict(self.transitions) == dict(other.transitions)
        )

    def __hash__(self) -> int:
        if self._hash is None:
            self._set(_hash=hash((self.states, self.alphabet, self.start, self.accepting,
                                  frozenset(self.transitions.items()))))
        return self._hash  # type: ignore[return-value]

    def __repr__(self) -> str:
        alphabet = "{" + ", ".join(repr(a) for a in self._symbols) + "}"
        kind = "complete" if self.is_complete else "partial"
        return (f"DFA(states={len(self.states)}, alphabet={alphabet}, start={self.start!r}, "
                f"accepting={len(self.accepting)}, {kind})")

    def __len__(self) -> int:
        """The number of states."""
        return len(self.states)

    # ----------------------------------------------------------------------------------------------------------------
    # reading words

    def symbols_of(self, word: Word) -> tuple[Symbol, ...]:
        """The symbols of ``word``, checked against the alphabet.

        Raises
        ------
        SymbolNotInAlphabetError
            Naming the first symbol outside the alphabet and its position.
        """
        return word_tuple(word, self.alphabet)

    def next_state(self, state: State, symbol: Symbol) -> State | None:
        """``delta(state, symbol)``, or ``None`` where the transition is missing."""
        return self.transitions.get((state, symbol))

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
        q: State | None = self.start
        out: list[State | None] = [q]
        get = self.transitions.get
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
        q = self.start
        get = self.transitions.get
        for a in symbols:
            q = get((q, a))
            if q is None:
                return False
        return q in self.accepting

    def __contains__(self, word: object) -> bool:
        return self.accepts(word)  # type: ignore[arg-type]

    # ----------------------------------------------------------------------------------------------------------------
    # structure

    def _reachable_indices(self) -> list[int]:
        return breadth_first(self._table, self._index[self.start])

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
        while sink in self.states:
            sink = f"{sink}'"
        transitions = dict(self.transitions)
        for q in itertools.chain(self._order, [sink]):
            for a in self._symbols:
                transitions.setdefault((q, a), sink)
        return DFA(states=self.states | {sink}, alphabet=self.alphabet, transitions=transitions,
                   start=self.start, accepting=self.accepting)

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
        parts = minimal_parts(self._table, self._accept_mask, self._index[self.start], self._symbols,
                              complete=complete)
        return DFA(alphabet=self.alphabet, **parts)

    def relabel(self, mapping: Mapping[State, Hashable] | Callable[[State], Hashable]) -> DFA:
        """The same automaton with states renamed by ``mapping`` (a dict or a function; must be injective)."""
        f = mapping.__getitem__ if isinstance(mapping, Mapping) else mapping
        names = {q: f(q) for q in self._order}
        if len(set(names.values())) != len(names):
            raise InvalidAutomatonError("relabel() needs distinct new names for distinct states")
        return DFA(states=names.values(), alphabet=self.alphabet,
                   transitions={(names[q], a): names[q2] for (q, a), q2 in self.transitions.items()},
                   start=names[self.start], accepting={names[q] for q in self.accepting})

    # ----------------------------------------------------------------------------------------------------------------
    # languages: emptiness, equivalence, set operations

    def is_empty(self) -> bool:
        """Whether the language is empty (no accepting state is reachable)."""
        return not any(self._accept_mask[i] for i in self._reachable_indices())

    def distinguishing_word(self, other: DFA) -> str | tuple[Symbol, ...] | None:
        """A shortest word accepted by exactly one of ``self`` and ``other``, or ``None`` if the languages are equal.

        The DFAs may have different alphabets: a symbol outside a DFA's alphabet makes that DFA reject.
        """
        word = distinguishing_symbols(self, other, lambda x, y: x != y)
        return None if word is None else render_word(word, self.alphabet | other.alphabet)

    def equivalent(self, other: DFA) -> bool:
        """Whether ``self`` and ``other`` accept the same words (language equality; ``==`` is structural)."""
        return self.distinguishing_word(other) is None

    def issubset(self, other: DFA) -> bool:
        """Whether every word accepted by ``self`` is accepted by ``other``."""
        return distinguishing_symbols(self, other, lambda x, y: x and not y) is None

    def _product(self, other: DFA, accept: Callable[[bool, bool], bool]) -> DFA:
        if not isinstance(other, DFA):
            raise TypeError(f"expected a DFA, not {type(other).__name__}")
        return DFA(**product_parts(self, other, accept))

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
        return DFA(states=full.states, alphabet=full.alphabet, transitions=full.transitions, start=full.start,
                   accepting=full.states - full.accepting)

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
        table, _ = completed_arrays(self._table, self._accept_mask)
        states = self._order if table.shape[0] == len(self._order) else self._order + ("sink",)
        generators = {a: tuple(int(x) for x in table[:, j]) for j, a in enumerate(self._symbols)}
        return TransitionMonoid(states=states, generators=generators, max_size=max_size)

    # ----------------------------------------------------------------------------------------------------------------
    # counting, enumeration, exact uniform sampling

    def _counts(self, accepted: bool) -> SuffixCounts:
        """The word counts by length and state for accepted (or rejected) words, kept for later calls."""
        key = bool(accepted)
        if key not in self._cache:
            self._cache[key] = SuffixCounts(self._table, self._accept_mask, key)
        return self._cache[key]

    def count(self, length: int, accepted: bool = True) -> int:
        """The exact number of accepted (or rejected) words of ``length`` symbols.

        Rejected words include those that reach a missing transition, so
        ``count(n, True) + count(n, False) == len(alphabet) ** n``. Computed by dynamic programming over the states
        with Python integers (no overflow).
        """
        check_length(length)
        return self._counts(accepted).count(self._index[self.start], length)

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
        check_length(length)
        counts = self._counts(accepted)
        start = self._index[self.start]
        if counts.count(start, length) == 0:
            kind = "accepted" if accepted else "rejected"
            raise NoSuchWordError(f"the DFA has no {kind} word of length {length}")
        return render_word(counts.sample(start, length, self._symbols, as_rng(rng)), self.alphabet)

    def words(self, length: int, accepted: bool | None = True) -> Iterator[str | tuple[Symbol, ...]]:
        """Every word of ``length`` symbols that is accepted (``True``), rejected (``False``) or either (``None``),
        in lexicographic order of :attr:`ordered_alphabet`."""
        check_length(length)
        if accepted is None:
            for w in itertools.product(self._symbols, repeat=length):
                yield render_word(w, self.alphabet)
            return
        for word in self._counts(accepted).words(self._index[self.start], length, self._symbols):
            yield render_word(word, self.alphabet)

    # ----------------------------------------------------------------------------------------------------------------
    # constructors from other descriptions

    @classmethod
    def from_regex(cls, regex: str, alphabet: Iterable[str]) -> DFA:
        """The minimal complete DFA of a regular expression, compiled by automata-lib.

        The syntax is automata-lib's (``NFA.from_regex``): concatenation, ``|`` (union), ``*``, ``+``, ``?``,
        parentheses, ``.`` (any symbol of the alphabet), ``&`` (intersection) and ``^`` (shuffle); no anchors.
        Symbols must be one-character strings.
        """
        return cls.from_automata_lib(compile_regex(regex, alphabet)).minimize(complete=True)

    @classmethod
    def from_automata_lib(cls, dfa: Any) -> DFA:
        """A :class:`DFA` from an ``automata.fa.dfa.DFA`` (automata-lib), partial or complete."""
        return cls(**automata_lib_parts(dfa))

    def to_automata_lib(self) -> Any:
        """The same automaton as an ``automata.fa.dfa.DFA`` (automata-lib needs ``str`` symbols)."""
        return to_automata_lib(states=self._order, alphabet=self.alphabet, transitions=self.transitions,
                               start=self.start, accepting=self.accepting, complete=self.is_complete)

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
        return write_dot(states=self._order, transitions=self.transitions, start=self.start,
                         accepting=self.accepting)
