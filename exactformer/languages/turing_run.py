"""Running a Turing machine fast: integer tables, and a run-length encoded tape with chain steps.

:func:`run_plain` simulates one transition at a time on a dense tape; :func:`run_chain` keeps the tape as runs of
equal symbols and crosses a whole run at once when a state moves over it without changing (a *chain step*). Both
give the same :class:`TMResult` (steps, tape, counters), which :meth:`TuringMachine.run
<exactformer.languages.turing.TuringMachine.run>` returns.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._common import canonical_order

if TYPE_CHECKING:
    from .turing import TuringMachine

__all__ = ["TMResult", "run_plain", "run_chain"]

State = Hashable
Symbol = Hashable


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


def _tables(tm: TuringMachine
            ) -> tuple[list[State], list[Symbol], dict[State, int], dict[Symbol, int], list[list[Any]]]:
    """States (working first, then halting), symbols, their indices, and ``table[q][s] = (write, move, next)``
    over indices (``None`` where undefined)."""
    qs = list(tm.ordered_states) + list(canonical_order(tm.halting))
    syms = list(tm.ordered_alphabet)
    qi = {q: i for i, q in enumerate(qs)}
    si = {s: i for i, s in enumerate(syms)}
    n_work = len(tm.states)
    table: list[list[Any]] = []
    for q in qs[:n_work]:
        row = []
        for s in syms:
            act = tm.transitions.get((q, s))
            row.append(None if act is None else (si[act.write], 1 if act.move == "R" else -1,
                                                 qi[act.next_state]))
        table.append(row)
    return qs, syms, qi, si, table

def _result(tm: TuringMachine, *, halted: bool, steps: int, tape: list[int], origin: int, head: int, state: int,
            lo: int, hi: int, left: int, halting_move: str | None, qs: list[State], syms: list[Symbol],
            input_len: int) -> TMResult:
    blank = syms.index(tm.blank)
    lo_w = min(lo, 0 if input_len else lo)
    hi_w = max(hi, input_len - 1)
    window = tuple(syms[tape[c - origin]] if 0 <= c - origin < len(tape) else tm.blank
                   for c in range(lo_w, hi_w + 1))
    ones = sum(1 for x in tape if x != blank)
    return TMResult(halted=halted, steps=steps, ones=ones, tape=window, origin=lo_w, head=head,
                    state=qs[state], visited=(lo, hi), left_moves=left, halting_move=halting_move)

def run_plain(tm: TuringMachine, max_steps: int, cells: tuple[Symbol, ...], head: int) -> TMResult:
    qs, syms, qi, si, table = _tables(tm)
    n_work = len(tm.states)
    blank = si[tm.blank]
    pad = 64
    origin = min(0, head) - pad
    size = max(len(cells), head + 1) - origin + pad
    tape = [blank] * size
    for i, s in enumerate(cells):
        tape[i - origin] = si[s]
    q = qi[tm.start]
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
    return _result(tm, halted=halted, steps=steps, tape=tape, origin=origin, head=h + origin, state=q,
                        lo=lo, hi=hi, left=left, halting_move=halting_move, qs=qs, syms=syms,
                        input_len=len(cells))

def run_chain(tm: TuringMachine, max_steps: int, cells: tuple[Symbol, ...], head: int) -> TMResult:
    qs, syms, qi, si, table = _tables(tm)
    n_work = len(tm.states)
    blank = si[tm.blank]
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
    q = qi[tm.start]
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
    return _result(tm, halted=halted, steps=steps, tape=tape, origin=origin, head=h, state=q, lo=lo, hi=hi,
                        left=left, halting_move=halting_move, qs=qs, syms=syms, input_len=len(cells))
