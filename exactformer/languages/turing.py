"""Deterministic one-tape Turing machines on a two-way infinite tape, with the busy-beaver conventions.

A :class:`TuringMachine` is immutable and validated. :meth:`TuringMachine.from_standard` reads the bbchallenge
standard text notation (``1RB1LB_1LA0LC_1RZ1LD_1RD0RA``). :meth:`TuringMachine.run` simulates from a blank (or
given) tape and returns a :class:`TMResult`.

Conventions (those of the busy-beaver literature, ``docs/notes/data_sources.md``):

* the machine starts in its start state with the head on cell 0 of an all-blank tape (blank = ``0``);
* ``steps`` counts every transition taken, **including the halting transition**, whose write is applied (and whose
  move is made) before the non-blank cells are counted;
* ``ones`` is the number of non-blank cells when the run ends (sigma; the number of 1s for binary machines);
* an undefined transition (``---``) also halts the machine and counts as one step, but it writes nothing and does
  not move (so it may leave one 1 fewer than the same machine with ``1RZ`` in its place).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._common import canonical_order, freeze_mapping
from .errors import InvalidMachineError, ParseError, SymbolNotInAlphabetError

__all__ = ["TuringMachine", "TMAction", "TMResult", "TMConfiguration"]

State = Hashable
Symbol = Hashable
_STATE_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


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


@dataclass(frozen=True)
class TMResult:
    """The outcome of :meth:`TuringMachine.run`.

    Attributes
    ----------
    halted
        Whether the machine entered a halting state (or met an undefined transition) within ``max_steps``.
    steps
        Transitions taken, the halting transition included.
    ones
        Non-blank cells at the end (sigma).
    tape
        The symbols of cells ``origin .. origin + len(tape) - 1``: the smallest window holding every cell the head
        visited and every cell of the input; every other cell is blank.
    origin
        The cell of ``tape[0]``.
    head
        The head's cell at the end.
    state
        The state at the end (a halting state, or the state whose transition was undefined, or the current state if
        the step budget ran out).
    visited
        ``(lowest, highest)`` cell the head was on (the start cell included); its width ``highest - lowest + 1`` is
        the tape length a cyclic simulation needs.
    left_moves
        Steps that moved the head left, the halting step included.
    halting_move
        The move of the halting transition (``"L"``, ``"R"``, or ``None`` when it was undefined or the machine did
        not halt).
    """

    halted: bool
    steps: int
    ones: int
    tape: tuple[Symbol, ...]
    origin: int
    head: int
    state: State
    visited: tuple[int, int]
    left_moves: int
    halting_move: str | None

    @property
    def width(self) -> int:
        """The number of cells the head visited, ``visited[1] - visited[0] + 1``."""
        return self.visited[1] - self.visited[0] + 1

    def cells(self, blank: Symbol = 0) -> dict[int, Symbol]:
        """The non-blank cells, ``{cell: symbol}``."""
        return {self.origin + i: s for i, s in enumerate(self.tape) if s != blank}


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
        if not isinstance(text, str):
            raise TypeError(f"expected the machine's text, not {type(text).__name__}")
        body = text.strip()
        if "_" in body or " " not in body:
            groups = body.split("_")
        else:
            groups = [g.replace(" ", "") for g in re.split(r"\s{2,}", body)]
        if not groups or not groups[0]:
            raise ParseError(f"empty Turing machine text {text!r}")
        n = len(groups)
        if n > len(_STATE_LETTERS):
            raise ParseError(f"{n} states; the standard notation names at most {len(_STATE_LETTERS)}")
        width = len(groups[0])
        if width % 3 or width == 0:
            raise ParseError(f"group {groups[0]!r} of {text!r} is not a whole number of 3-character cells")
        k = width // 3
        names = _STATE_LETTERS[:n]
        transitions: dict[tuple[str, int], tuple[int, str, str]] = {}
        halting: set[str] = set()
        for qi, group in enumerate(groups):
            if len(group) != width:
                raise ParseError(f"group {qi + 1} ({group!r}) of {text!r} has {len(group)} characters, "
                                 f"expected {width} (every state reads the same {k} symbols)")
            for a in range(k):
                cell = group[3 * a: 3 * a + 3]
                if cell == "---":
                    continue
                m = re.fullmatch(r"(\d)([LR])([A-Z])", cell)
                if m is None:
                    raise ParseError(f"cell {cell!r} (state {names[qi]}, symbol {a}) of {text!r} is not "
                                     "<digit><L|R><state letter> or ---")
                w, d, q2 = int(m.group(1)), m.group(2), m.group(3)
                if w >= k:
                    raise ParseError(f"cell {cell!r} of {text!r} writes {w}, but the machine has {k} symbols")
                if _STATE_LETTERS.index(q2) >= n:
                    halting.add(q2)
                transitions[(names[qi], a)] = (w, d, q2)
        return cls(states=names, alphabet=range(k), transitions=transitions, start="A", halting=halting, blank=0)

    def to_standard(self) -> str:
        """The machine in the standard text notation (needs states ``A..``, start ``A``, symbols ``0..k-1``)."""
        n = len(self._states)
        names = _STATE_LETTERS[:n]
        if set(names) != set(self._states) or self._start != "A":
            raise InvalidMachineError("to_standard() needs working states named A, B, ... with start A")
        k = len(self._alphabet)
        if set(self._alphabet) != set(range(k)) or self._blank != 0:
            raise InvalidMachineError("to_standard() needs symbols 0..k-1 with blank 0")
        groups = []
        for q in names:
            cells = []
            for a in range(k):
                act = self._transitions.get((q, a))
                cells.append("---" if act is None else f"{act.write}{act.move}{act.next_state}")
            groups.append("".join(cells))
        return "_".join(groups)

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
        return self._run_chain(max_steps, cells, head) if accelerate else self._run_plain(max_steps, cells, head)

    def _tables(self) -> tuple[list[State], list[Symbol], dict[State, int], dict[Symbol, int], list[list[Any]]]:
        qs = list(self.ordered_states) + list(canonical_order(self._halting))
        syms = list(self.ordered_alphabet)
        qi = {q: i for i, q in enumerate(qs)}
        si = {s: i for i, s in enumerate(syms)}
        n_work = len(self._states)
        table: list[list[Any]] = []
        for q in qs[:n_work]:
            row = []
            for s in syms:
                act = self._transitions.get((q, s))
                row.append(None if act is None else (si[act.write], 1 if act.move == "R" else -1,
                                                     qi[act.next_state]))
            table.append(row)
        return qs, syms, qi, si, table

    def _result(self, *, halted: bool, steps: int, tape: list[int], origin: int, head: int, state: int,
                lo: int, hi: int, left: int, halting_move: str | None, qs: list[State], syms: list[Symbol],
                input_len: int) -> TMResult:
        blank = syms.index(self._blank)
        lo_w = min(lo, 0 if input_len else lo)
        hi_w = max(hi, input_len - 1)
        window = tuple(syms[tape[c - origin]] if 0 <= c - origin < len(tape) else self._blank
                       for c in range(lo_w, hi_w + 1))
        ones = sum(1 for x in tape if x != blank)
        return TMResult(halted=halted, steps=steps, ones=ones, tape=window, origin=lo_w, head=head,
                        state=qs[state], visited=(lo, hi), left_moves=left, halting_move=halting_move)

    def _run_plain(self, max_steps: int, cells: tuple[Symbol, ...], head: int) -> TMResult:
        qs, syms, qi, si, table = self._tables()
        n_work = len(self._states)
        blank = si[self._blank]
        pad = 64
        origin = min(0, head) - pad
        size = max(len(cells), head + 1) - origin + pad
        tape = [blank] * size
        for i, s in enumerate(cells):
            tape[i - origin] = si[s]
        q = qi[self._start]
        h = head - origin  # index into tape
        steps = left = 0
        lo = hi = head
        halted = False
        halting_move = None
        while steps < max_steps:
            act = table[q][tape[h]]
            steps += 1
            if act is None:
                halted = True
                break
            w, d, q = act
            tape[h] = w
            h += d
            if d < 0:
                left += 1
                if h < 0:
                    tape[:0] = [blank] * len(tape)
                    h += len(tape) // 2
                    origin -= len(tape) // 2
            elif h >= len(tape):
                tape.extend([blank] * len(tape))
            cell = h + origin
            if cell < lo:
                lo = cell
            elif cell > hi:
                hi = cell
            if q >= n_work:
                halted = True
                halting_move = "R" if d > 0 else "L"
                break
        return self._result(halted=halted, steps=steps, tape=tape, origin=origin, head=h + origin, state=q,
                            lo=lo, hi=hi, left=left, halting_move=halting_move, qs=qs, syms=syms,
                            input_len=len(cells))

    def _run_chain(self, max_steps: int, cells: tuple[Symbol, ...], head: int) -> TMResult:
        qs, syms, qi, si, table = self._tables()
        n_work = len(self._states)
        blank = si[self._blank]
        # the tape: runs [symbol, count] on each side of the head, nearest run last; beyond them, blanks
        full = [si[s] for s in cells]
        lo_in = min(0, head)
        hi_in = max(len(full) - 1, head)
        dense = [blank] * (hi_in - lo_in + 1)
        for i, s in enumerate(full):
            dense[i - lo_in] = s
        hpos = head - lo_in

        def runs(seq: list[int]) -> list[list[int]]:
            out: list[list[int]] = []
            for s in seq:
                if out and out[-1][0] == s:
                    out[-1][1] += 1
                else:
                    out.append([s, 1])
            return out

        left_runs = runs(dense[:hpos])  # nearest last
        right_runs = runs(dense[hpos + 1:][::-1])  # nearest last
        cur = dense[hpos]
        q = qi[self._start]
        h = head
        steps = left = 0
        lo, hi = head, head
        halted = False
        halting_move = None

        def push(stack: list[list[int]], s: int, count: int) -> None:
            if stack and stack[-1][0] == s:
                stack[-1][1] += count
            else:
                stack.append([s, count])

        def pop(stack: list[list[int]]) -> int:
            if not stack:
                return blank
            top = stack[-1]
            top[1] -= 1
            if top[1] == 0:
                stack.pop()
            return top[0]

        while steps < max_steps:
            act = table[q][cur]
            if act is None:
                steps += 1
                halted = True
                break
            w, d, q2 = act
            ahead, behind = (right_runs, left_runs) if d > 0 else (left_runs, right_runs)
            if q2 == q:  # chain step: cross the block of `cur` symbols ahead in one go
                remaining = max_steps - steps
                if ahead and ahead[-1][0] == cur:
                    block = ahead[-1][1]
                elif not ahead and cur == blank:
                    block = remaining  # blank forever: the machine never leaves this state
                else:
                    block = 0
                m = min(block + 1, remaining)  # cells written (the head cell and m - 1 of the block)
                push(behind, w, m)
                if m <= block:  # the head lands inside the block
                    if ahead:
                        ahead[-1][1] -= m
                        if ahead[-1][1] == 0:
                            ahead.pop()
                    # cur stays the same symbol
                else:
                    if ahead and block:
                        ahead.pop()
                    cur = pop(ahead)
                steps += m
                h += d * m
                if d < 0:
                    left += m
                    lo = min(lo, h)
                else:
                    hi = max(hi, h)
                continue
            push(behind, w, 1)
            cur = pop(ahead)
            steps += 1
            h += d
            q = q2
            if d < 0:
                left += 1
                lo = min(lo, h)
            else:
                hi = max(hi, h)
            if q >= n_work:
                halted = True
                halting_move = "R" if d > 0 else "L"
                break
        # back to a dense window around the head
        left_cells = [s for s, c in left_runs for _ in range(c)]  # farthest first
        right_cells = [s for s, c in reversed(right_runs) for _ in range(c)]  # nearest first
        tape = left_cells + [cur] + right_cells
        origin = h - len(left_cells)
        return self._result(halted=halted, steps=steps, tape=tape, origin=origin, head=h, state=q, lo=lo, hi=hi,
                            left=left, halting_move=halting_move, qs=qs, syms=syms, input_len=len(cells))
