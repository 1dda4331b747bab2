"""Deterministic one-tape Turing machines on a two-way infinite tape, with the busy-beaver conventions.

A :class:`TuringMachine` is immutable and validated. :meth:`TuringMachine.from_standard` reads the bbchallenge
standard text notation (``1RB1LB_1LA0LC_1RZ1LD_1RD0RA``). :meth:`TuringMachine.run` simulates from a blank (or
given) tape and returns a :class:`TMResult`. The notation is read and written in ``turing_notation``, the fast
simulations live in ``turing_run`` beside this module.

Conventions (those of the busy-beaver literature, ``docs/notes/data_sources.md``):

* the machine starts in its start state with the head on cell 0 of an all-blank tape (blank = ``0``);
* ``steps`` counts every transition taken, **including the halting transition**, whose write is applied (and whose
  move is made) before the non-blank cells are counted;
* ``ones`` is the number of non-blank cells when the run ends (sigma; the number of 1s for binary machines);
* an undefined transition (``---``) also halts the machine and counts as one step, but it writes nothing and does
  not move (so it may leave one 1 fewer than the same machine with ``1RZ`` in its place).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._common import Immutable, canonical_order, freeze_mapping, machine_transitions
from .errors import InvalidMachineError, SymbolNotInAlphabetError
from .turing_notation import parse_standard, write_standard
from .turing_run import TMResult, run_chain, run_plain

__all__ = ["TuringMachine", "TMAction", "TMResult", "TMConfiguration"]

State = Hashable
Symbol = Hashable


class TMAction(NamedTuple):
    """What a Turing machine does on (state, symbol): write ``write``, move ``move`` (``"L"``/``"R"``), enter
    ``next_state``."""

    write: Symbol
    move: str
    next_state: State


@dataclass(frozen=True)
class TMConfiguration:
    """A configuration: the state, the head cell, and the tape contents on a window of cells.

    Attributes
    ----------
    state
        The current state.
    head
        The head's cell (cells are integers; the run starts at cell 0).
    tape
        The symbols of cells ``origin .. origin + len(tape) - 1``; every other cell is blank.
    origin
        The cell of ``tape[0]``.
    steps
        How many transitions led here.
    """

    state: State
    head: int
    tape: tuple[Symbol, ...]
    origin: int
    steps: int

    def symbol_at(self, cell: int, blank: Symbol = 0) -> Symbol:
        """The symbol of ``cell`` (``blank`` outside the window)."""
        i = cell - self.origin
        return self.tape[i] if 0 <= i < len(self.tape) else blank


class TuringMachine(Immutable):
    """A deterministic Turing machine with one two-way infinite tape.

    Parameters
    ----------
    states
        The working (non-halting) states.
    alphabet
        The tape symbols, the blank included.
    transitions
        ``{(state, symbol): (write, move, next_state)}`` with ``move`` in ``{"L", "R"}``; a missing pair is an
        undefined transition, which halts the machine (see the module notes).
    start
        The start state (a working state).
    halting
        The halting states (disjoint from ``states``); they have no transitions.
    blank
        The blank symbol (default ``0``).

    Raises
    ------
    InvalidMachineError
        On an unknown state or symbol, a move other than L/R, a halting state that is also a working state.

    Examples
    --------
    >>> from exactformer.languages import TuringMachine
    >>> r = TuringMachine.from_standard("1RB1LB_1LA0LC_1RZ1LD_1RD0RA").run(max_steps=10_000)
    >>> r.halted, r.steps, r.ones
    (True, 107, 13)
    """

    __slots__ = ("states", "alphabet", "transitions", "start", "halting", "blank", "_hash")

    #: The working (non-halting) states.
    states: frozenset[State]
    #: The tape symbols.
    alphabet: frozenset[Symbol]
    #: ``{(state, symbol): TMAction(write, move, next_state)}`` (read-only); missing pairs are undefined.
    transitions: Mapping[tuple[State, Symbol], TMAction]
    #: The start state.
    start: State
    #: The halting states.
    halting: frozenset[State]
    #: The blank symbol.
    blank: Symbol

    def __init__(
        self,
        *,
        states: Iterable[State],
        alphabet: Iterable[Symbol],
        transitions: Mapping[tuple[State, Symbol], Sequence[Any]],
        start: State,
        halting: Iterable[State] = (),
        blank: Symbol = 0,
    ) -> None:
        states_f = frozenset(states)
        alphabet_f = frozenset(alphabet)
        halting_f = frozenset(halting)
        if not states_f:
            raise InvalidMachineError("a Turing machine needs at least one working state")
        both = states_f & halting_f
        if both:
            raise InvalidMachineError(f"states {list(canonical_order(both))} are both working and halting states")
        if start not in states_f:
            raise InvalidMachineError(f"the start state {start!r} is not a working state")
        if blank not in alphabet_f:
            raise InvalidMachineError(f"the blank {blank!r} is not in the alphabet")
        actions: dict[tuple[State, Symbol], TMAction] = {}
        for q, a, (w, d, q2) in machine_transitions(transitions, states=states_f, halting=halting_f,
                                                    targets=states_f | halting_f, shape=TMAction._fields):
            if a not in alphabet_f:
                raise InvalidMachineError(f"transition ({q!r}, {a!r}) reads {a!r}, which is not in the alphabet")
            if w not in alphabet_f:
                raise InvalidMachineError(f"transition ({q!r}, {a!r}) writes {w!r}, which is not in the alphabet")
            if d not in ("L", "R"):
                raise InvalidMachineError(f"transition ({q!r}, {a!r}) moves {d!r}; a move is 'L' or 'R'")
            actions[(q, a)] = TMAction(w, d, q2)
        self._set(states=states_f, alphabet=alphabet_f, transitions=freeze_mapping(actions), start=start,
                  halting=halting_f, blank=blank, _hash=None)

    # ----------------------------------------------------------------------------------------------------------------
    # data

    @property
    def ordered_states(self) -> tuple[State, ...]:
        """The working states in a fixed order (``A, B, C, ...`` for machines read from the standard notation)."""
        return canonical_order(self.states)

    @property
    def ordered_alphabet(self) -> tuple[Symbol, ...]:
        """The tape symbols in a fixed order."""
        return canonical_order(self.alphabet)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TuringMachine):
            return NotImplemented
        return (self.states, self.alphabet, self.start, self.halting, self.blank, dict(self.transitions)) == (
            other.states, other.alphabet, other.start, other.halting, other.blank, dict(other.transitions))

    def __hash__(self) -> int:
        if self._hash is None:
            self._set(_hash=hash((self.states, self.alphabet, self.start, self.halting, self.blank,
                                  frozenset(self.transitions.items()))))
        return self._hash  # type: ignore[return-value]

    def __repr__(self) -> str:
        try:
            return f"TuringMachine.from_standard({self.to_standard()!r})"
        except InvalidMachineError:
            return (f"TuringMachine(states={len(self.states)}, symbols={len(self.alphabet)}, "
                    f"start={self.start!r}, halting={set(self.halting)!r})")

    # ----------------------------------------------------------------------------------------------------------------
    # the standard text notation

    @classmethod
    def from_standard(cls, text: str) -> TuringMachine:
        """Read a machine in the bbchallenge standard text notation.

        One ``_``-separated group per state ``A, B, C, ...``; in each group one 3-character cell per symbol read
        ``0, 1, 2, ...``: the symbol written, the move ``L``/``R``, the next state. A next-state letter at or beyond
        ``A + (number of states)`` (conventionally ``Z``, or ``H``) is a halting state; ``---`` is an undefined
        transition. The older space-separated form of the Ligocki lists (``1RB 2LA 1LC  0LA 2RB 1LB ...``: one space
        between cells, two between states) is read too.

        Symbols are ``int`` (blank ``0``); states are one-letter strings, the start state is ``"A"``.

        Raises
        ------
        ParseError
            Naming the malformed group or cell.
        """
        return cls(**parse_standard(text))

    def to_standard(self) -> str:
        """The machine in the standard text notation (needs states ``A..``, start ``A``, symbols ``0..k-1``)."""
        return write_standard(states=self.states, alphabet=self.alphabet, transitions=self.transitions,
                              start=self.start, blank=self.blank)

    # ----------------------------------------------------------------------------------------------------------------
    # simulation

    def _check_input(self, tape: Sequence[Symbol] | str) -> tuple[Symbol, ...]:
        cells = tuple(int(c) if isinstance(c, str) and c.isdigit() and c not in self.alphabet else c for c in tape)
        for i, s in enumerate(cells):
            if s not in self.alphabet:
                raise SymbolNotInAlphabetError(f"tape symbol {s!r} at cell {i} is not in the machine's alphabet "
                                               f"{list(self.ordered_alphabet)}")
        return cells

    def initial_configuration(self, tape: Sequence[Symbol] | str = (), *, head: int = 0) -> TMConfiguration:
        """The start state, the head on ``head``, the input ``tape`` written on cells ``0, 1, ...``.

        A ``str`` input of digits is read as ``int`` symbols.
        """
        cells = self._check_input(tape)
        lo = min(0, head)
        hi = max(len(cells) - 1, head)
        window = [self.blank] * (hi - lo + 1)
        for i, s in enumerate(cells):
            window[i - lo] = s
        return TMConfiguration(self.start, head, tuple(window), lo, 0)

    def step(self, configuration: TMConfiguration) -> TMConfiguration | None:
        """The next configuration, or ``None`` when ``configuration`` is halted or its transition is undefined."""
        c = configuration
        if c.state in self.halting:
            return None
        act = self.transitions.get((c.state, c.symbol_at(c.head, self.blank)))
        if act is None:
            return None
        tape = list(c.tape)
        origin = c.origin
        tape[c.head - origin] = act.write
        head = c.head + (1 if act.move == "R" else -1)
        if head < origin:
            tape.insert(0, self.blank)
            origin -= 1
        elif head >= origin + len(tape):
            tape.append(self.blank)
        return TMConfiguration(act.next_state, head, tuple(tape), origin, c.steps + 1)

    def configurations(self, max_steps: int, tape: Sequence[Symbol] | str = (), *, head: int = 0
                       ) -> Iterator[TMConfiguration]:
        """The configurations of a run, the initial one first, up to ``max_steps`` transitions (one step at a time,
        for checking step by step; use :meth:`run` for long runs)."""
        c: TMConfiguration | None = self.initial_configuration(tape, head=head)
        while c is not None:
            yield c
            if c.steps >= max_steps:
                return
            c = self.step(c)

    def run(self, max_steps: int = 10_000, tape: Sequence[Symbol] | str = (), *, head: int = 0,
            accelerate: bool = True) -> TMResult:
        """Run from ``tape`` (blank by default; written on cells ``0, 1, ...``) with the head on ``head``, until the
        machine halts or ``max_steps`` transitions have been taken.

        Parameters
        ----------
        accelerate
            Use a run-length encoded tape with *chain steps*: when a state moves over a block of equal symbols and
            stays in the same state, the whole block is crossed at once. Exact (same steps, tape and counters as the
            plain simulation, which ``accelerate=False`` runs) and much faster on busy-beaver machines.

        Returns
        -------
        TMResult
            ``halted`` tells whether the machine stopped within ``max_steps``; see :class:`TMResult`.
        """
        if max_steps < 0:
            raise ValueError(f"max_steps must be non-negative, got {max_steps}")
        cells = self._check_input(tape)
        return (run_chain if accelerate else run_plain)(self, max_steps, cells, head)
