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

from ._common import canonical_order, freeze_mapping
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


class TuringMachine:
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

    __slots__ = ("_states", "_alphabet", "_transitions", "_start", "_halting", "_blank", "_hash")

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
        for key, value in dict(transitions).items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise InvalidMachineError(f"transition key {key!r} is not a (state, symbol) pair")
            q, a = key
            if q in halting_f:
                raise InvalidMachineError(f"halting state {q!r} has a transition on {a!r}")
            if q not in states_f:
                raise InvalidMachineError(f"transition ({q!r}, {a!r}) leaves {q!r}, which is not a state")
            if a not in alphabet_f:
                raise InvalidMachineError(f"transition ({q!r}, {a!r}) reads {a!r}, which is not in the alphabet")
            try:
                w, d, q2 = value
            except (TypeError, ValueError):
                raise InvalidMachineError(f"transition ({q!r}, {a!r}) must map to (write, move, next_state), "
                                          f"got {value!r}") from None
            if w not in alphabet_f:
                raise InvalidMachineError(f"transition ({q!r}, {a!r}) writes {w!r}, which is not in the alphabet")
            if d not in ("L", "R"):
                raise InvalidMachineError(f"transition ({q!r}, {a!r}) moves {d!r}; a move is 'L' or 'R'")
            if q2 not in states_f and q2 not in halting_f:
                raise InvalidMachineError(f"transition ({q!r}, {a!r}) enters {q2!r}, which is not a state")
            actions[(q, a)] = TMAction(w, d, q2)
        set_ = object.__setattr__
        set_(self, "_states", states_f)
        set_(self, "_alphabet", alphabet_f)
        set_(self, "_transitions", freeze_mapping(actions))
        set_(self, "_start", start)
        set_(self, "_halting", halting_f)
        set_(self, "_blank", blank)
        set_(self, "_hash", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"TuringMachine is immutable (cannot set {name!r})")

    # ----------------------------------------------------------------------------------------------------------------
    # data

    @property
    def states(self) -> frozenset[State]:
        """The working (non-halting) states."""
        return self._states

    @property
    def halting(self) -> frozenset[State]:
        """The halting states."""
        return self._halting

    @property
    def alphabet(self) -> frozenset[Symbol]:
        """The tape symbols."""
        return self._alphabet

    @property
    def transitions(self) -> Mapping[tuple[State, Symbol], TMAction]:
        """``{(state, symbol): TMAction(write, move, next_state)}``; missing pairs are undefined."""
        return self._transitions

    @property
    def start(self) -> State:
        """The start state."""
        return self._start

    @property
    def blank(self) -> Symbol:
        """The blank symbol."""
        return self._blank

    @property
    def ordered_states(self) -> tuple[State, ...]:
        """The working states in a fixed order (``A, B, C, ...`` for machines read from the standard notation)."""
        return canonical_order(self._states)

    @property
    def ordered_alphabet(self) -> tuple[Symbol, ...]:
        """The tape symbols in a fixed order."""
        return canonical_order(self._alphabet)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TuringMachine):
            return NotImplemented
        return (self._states, self._alphabet, self._start, self._halting, self._blank, dict(self._transitions)) == (
            other._states, other._alphabet, other._start, other._halting, other._blank, dict(other._transitions))

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash((self._states, self._alphabet, self._start, self._halting,
                                                    self._blank, frozenset(self._transitions.items()))))
        return self._hash  # type: ignore[return-value]

    def __repr__(self) -> str:
        try:
            return f"TuringMachine.from_standard({self.to_standard()!r})"
        except InvalidMachineError:
            return (f"TuringMachine(states={len(self._states)}, symbols={len(self._alphabet)}, "
                    f"start={self._start!r}, halting={set(self._halting)!r})")

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
        return write_standard(states=self._states, alphabet=self._alphabet, transitions=self._transitions,
                              start=self._start, blank=self._blank)

    # ----------------------------------------------------------------------------------------------------------------
    # simulation

    def _check_input(self, tape: Sequence[Symbol] | str) -> tuple[Symbol, ...]:
        cells = tuple(int(c) if isinstance(c, str) and c.isdigit() and c not in self._alphabet else c for c in tape)
        for i, s in enumerate(cells):
            if s not in self._alphabet:
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
        window = [self._blank] * (hi - lo + 1)
        for i, s in enumerate(cells):
            window[i - lo] = s
        return TMConfiguration(self._start, head, tuple(window), lo, 0)

    def step(self, configuration: TMConfiguration) -> TMConfiguration | None:
        """The next configuration, or ``None`` when ``configuration`` is halted or its transition is undefined."""
        c = configuration
        if c.state in self._halting:
            return None
        act = self._transitions.get((c.state, c.symbol_at(c.head, self._blank)))
        if act is None:
            return None
        tape = list(c.tape)
        origin = c.origin
        tape[c.head - origin] = act.write
        head = c.head + (1 if act.move == "R" else -1)
        if head < origin:
            tape.insert(0, self._blank)
            origin -= 1
        elif head >= origin + len(tape):
            tape.append(self._blank)
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
