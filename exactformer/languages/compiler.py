"""Compile a Turing machine into a synchronous Post machine: the tape stored cyclically with one held cell.

``docs/notes/post_machine.md`` §1.3 (a reconstruction of Li & Wang 2025's "delayed append"). The tape has T cells
used cyclically; the Post machine holds one cell (the left neighbour of the queue front) in its state, so the queue
has L = T - 1 cells and *held cell + queue* is always the whole tape in cyclic order.

* Queue symbols: ``"a"`` (tape symbol a) and ``"a^"`` (a, marked as the head cell; set only by a left move).
* States: ``"ARR:q:y"`` (the next cell dequeued is the head cell; y is held), ``"SEEK:q:y"`` (rotate until the marked
  cell comes out) for every working state q and symbol y, and ``"HALT:w"`` for every symbol w.
* A right move costs 1 Post step; a left move marks the held cell, pushes it to the back and rotates T - 2 more
  steps until it comes out. Exactly: Post steps = t + (T - 2)·(non-halting left moves).

An undefined TM transition halts the TM (one step, no write, no move); the Post machine enters ``HALT:a`` keeping
the head symbol a, in one step.

This module is a reference: it imports no construction.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from .errors import InvalidMachineError
from .post import PMResult, PostMachine
from .turing import TMResult, TuringMachine

__all__ = ["CompiledTM", "compile_turing_machine", "predicted_post_steps", "tape_length_for"]


def _sym(a: Hashable, marked: bool = False) -> str:
    return f"{a}^" if marked else f"{a}"


@dataclass(frozen=True)
class CompiledTM:
    """The Turing machine ``tm`` compiled to the Post machine ``machine`` on a cyclic tape of ``tape_length`` cells
    (T; the queue holds T - 1 of them, the state the last)."""

    machine: PostMachine
    tape_length: int
    tm: TuringMachine

    @property
    def queue_length(self) -> int:
        """L = T - 1."""
        return self.tape_length - 1

    def initial_queue(self, tape: Sequence[Hashable] = (), *, head: int = 0) -> tuple[str, ...]:
        """The queue for ``tape`` written on cells 0, 1, ... (blank elsewhere) with the head on ``head``: cells
        head, head + 1, ..., head - 2 (mod T), unmarked. The held cell head - 1 is in :meth:`start_state`."""
        cells = self._cyclic(tape)
        T = self.tape_length
        return tuple(_sym(cells[(head + k) % T]) for k in range(T - 1))

    def start_state(self, tape: Sequence[Hashable] = (), *, head: int = 0) -> str:
        """``ARR:q0:c[head - 1]``; the Post machine's start state is this for a blank tape with the head on 0."""
        cells = self._cyclic(tape)
        return f"ARR:{self.tm.start}:{cells[(head - 1) % self.tape_length]}"

    def _cyclic(self, tape: Sequence[Hashable]) -> list[Hashable]:
        T = self.tape_length
        cells = list(tape)
        if len(cells) > T:
            raise InvalidMachineError(f"the input has {len(cells)} cells; the cyclic tape has only {T}")
        for i, s in enumerate(cells):
            if s not in self.tm.alphabet:
                raise InvalidMachineError(f"tape symbol {s!r} at cell {i} is not in the machine's alphabet")
        return cells + [self.tm.blank] * (T - len(cells))

    def final_tape(self, result: PMResult) -> tuple[tuple[Hashable, ...], bool]:
        """The cyclic tape of a halted run, starting at the cell where the halting transition was applied (the held
        cell, then the queue), marks removed, and whether the TM head's cell was marked."""
        state = str(result.state)
        if not state.startswith("HALT:"):
            raise InvalidMachineError(f"the run ended in {state!r}, not a halting state")
        by_name = {str(a): a for a in self.tm.alphabet}
        held = by_name[state[len("HALT:") :]]
        marked = any(str(s).endswith("^") for s in result.queue)
        return (held, *(by_name[str(s).rstrip("^")] for s in result.queue)), marked


def predicted_post_steps(result: TMResult, tape_length: int) -> int:
    """The exact Post-step count of a halted TM run: t + (T - 2)·(non-halting left moves)."""
    non_halting_left = result.left_moves - (1 if result.halting_move == "L" else 0)
    return result.steps + (tape_length - 2) * non_halting_left


def tape_length_for(
    tm: TuringMachine, max_steps: int = 100_000, tape: Sequence[Hashable] = (), *, head: int = 0
) -> int:
    """The cyclic tape length T a compiled run of ``tm`` needs: the width of the cells its reference run visits
    (the input's cells included), at least 3 (:func:`compile_turing_machine`'s minimum).

    On T cells the cyclic tape aliases cell c and c + T; a run stays faithful exactly while the cells it has
    visited (and the input) span at most T cells, so this width is the smallest T that never wraps.

    Raises
    ------
    InvalidMachineError
        If the machine does not halt within ``max_steps`` (the width of a run that goes on is unknown).
    """
    result = tm.run(max_steps, tape, head=head)
    if not result.halted:
        raise InvalidMachineError(
            f"the machine does not halt within {max_steps} steps, so the tape it needs is unknown; "
            "give the tape length (or a larger max_steps)"
        )
    lo, hi = result.visited
    if len(tuple(tape)):
        lo, hi = min(lo, 0), max(hi, len(tuple(tape)) - 1)
    return max(hi - lo + 1, 3)


def compile_turing_machine(tm: TuringMachine, tape_length: int) -> CompiledTM:
    """Compile ``tm`` to a synchronous Post machine on a cyclic tape of ``tape_length`` = T cells.

    Proof sketch (invariant: held cell + queue = the tape in cyclic order, the held cell left of the front).
    ``SEEK`` on an unmarked cell a pushes the held y and holds a: a pure rotation, the invariant kept. At the head
    cell a (``ARR`` on unmarked a, or ``SEEK`` on the marked a), with (w, D, q') = delta(q, a): the cell a is
    replaced by w, which becomes the held cell, and y (its left neighbour) is pushed. For D = R the new head is the
    next cell dequeued (``ARR:q':w``). For D = L the new head is y, just pushed with a mark; it comes out after the
    other T - 2 queue cells (``SEEK:q':w``). Hence 1 Post step per right move, T - 1 per left move.

    The Post machine's start state is ``ARR:q0:blank`` (blank tape, head on 0); for other inputs use
    :meth:`CompiledTM.start_state` and :meth:`CompiledTM.initial_queue`.

    Raises
    ------
    InvalidMachineError
        If T < 3 (the rotation needs the held cell, the head cell and one more), or a symbol's name ends in ``^``.
    """
    if not isinstance(tape_length, int) or tape_length < 3:
        raise InvalidMachineError(f"the cyclic tape needs at least 3 cells, got {tape_length!r}")
    gamma = tm.ordered_alphabet
    for a in gamma:
        if str(a).endswith("^") or ":" in str(a):
            raise InvalidMachineError(f"tape symbol {a!r}: names ending in '^' or holding ':' are reserved")
    if len({str(a) for a in gamma}) != len(gamma):
        raise InvalidMachineError("two tape symbols have the same name")
    for q in tm.states:
        if ":" in str(q):
            raise InvalidMachineError(f"state {q!r}: names holding ':' are reserved")
    delta: dict[tuple[str, str], tuple[str, str]] = {}
    for q in tm.ordered_states:
        for y in gamma:
            for a in gamma:
                delta[(f"SEEK:{q}:{y}", _sym(a))] = (_sym(y), f"SEEK:{q}:{a}")
                act = tm.transitions.get((q, a))
                if act is None:
                    move = (_sym(y), f"HALT:{a}")
                elif act.next_state in tm.halting:
                    move = (_sym(y, act.move == "L"), f"HALT:{act.write}")
                elif act.move == "R":
                    move = (_sym(y), f"ARR:{act.next_state}:{act.write}")
                else:
                    move = (_sym(y, True), f"SEEK:{act.next_state}:{act.write}")
                delta[(f"SEEK:{q}:{y}", _sym(a, True))] = move
                delta[(f"ARR:{q}:{y}", _sym(a))] = move
    states = [f"{k}:{q}:{y}" for k in ("ARR", "SEEK") for q in tm.ordered_states for y in gamma] + [
        f"HALT:{w}" for w in gamma
    ]
    symbols = [_sym(a, m) for a in gamma for m in (False, True)]
    pm = PostMachine(
        symbols=symbols,
        states=states,
        transitions=delta,
        start=f"ARR:{tm.start}:{tm.blank}",
        halting=[f"HALT:{w}" for w in gamma],
    )
    return CompiledTM(machine=pm, tape_length=tape_length, tm=tm)
