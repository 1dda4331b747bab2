"""Synchronous Post machines: a finite control and a FIFO queue of fixed length.

In state ``p`` with front symbol ``a`` the machine pops ``a``, pushes ``b`` and enters ``p'``, where
``(b, p') = delta(p, a)``. Every step pops one symbol and pushes one, so the queue length never changes (the
variant Li & Wang 2025 use, ``docs/notes/post_machine.md`` §1.2). The machine stops when it enters a halting state,
or when ``delta(p, a)`` is undefined (then it is *stuck*, which :class:`PMResult` reports apart from halting).

This module is a reference: it imports no construction.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._common import Immutable, canonical_order, freeze_mapping, machine_transitions
from .errors import InvalidMachineError, SymbolNotInAlphabetError

__all__ = ["PostMachine", "PMConfiguration", "PMResult", "machine_fields"]

#: The attributes (or mapping keys) that name each field of a Post machine given as some other object.
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "symbols": ("symbols", "alphabet"),
    "states": ("states",),
    "transitions": ("transitions", "delta"),
    "start": ("start", "start_state", "initial_state"),
    "halting": ("halting", "halting_states", "halt_states"),
}


def machine_fields(machine: Any, error: type[Exception] = InvalidMachineError) -> dict[str, Any]:
    """The fields of a Post machine given as a :class:`PostMachine`, another object or a mapping: per field of
    :data:`FIELD_NAMES`, the first of its names that ``machine`` has (``transitions`` as a dict). Unvalidated; a
    missing field raises ``error`` naming the attributes looked for."""
    out = {}
    for field_name, names in FIELD_NAMES.items():
        for name in names:
            if isinstance(machine, Mapping) and name in machine:
                out[field_name] = machine[name]
                break
            if hasattr(machine, name):
                out[field_name] = getattr(machine, name)
                break
        else:
            raise error(f"the Post machine has none of the attributes {names}")
    out["transitions"] = dict(out["transitions"])
    return out


@dataclass(frozen=True)
class PMConfiguration:
    """A Post-machine configuration: the state and the queue, front first."""

    state: Hashable
    queue: tuple[Hashable, ...]


@dataclass(frozen=True)
class PMResult:
    """The outcome of :meth:`PostMachine.run`.

    Attributes
    ----------
    halted
        Whether the machine entered a halting state within the step budget.
    stuck
        Whether it stopped on an undefined ``delta(p, a)`` (not a halt).
    steps
        Steps taken (one token each in the transformer).
    state
        The final state.
    queue
        The final queue, front first.
    trace
        ``[(pushed symbol, new state), ...]`` for every step, when ``run(trace=True)``; else ``None``.
    """

    halted: bool
    stuck: bool
    steps: int
    state: Hashable
    queue: tuple[Hashable, ...]
    trace: tuple[tuple[Hashable, Hashable], ...] | None = None


class PostMachine(Immutable):
    """A deterministic synchronous Post machine (immutable, validated, keyword-only).

    Parameters
    ----------
    symbols
        The queue alphabet.
    states
        Every state, the halting ones included.
    transitions
        ``{(p, a): (b, p2)}``: in ``p`` with front ``a``, push ``b`` and go to ``p2``. Halting states have none;
        a missing pair of a working state makes the machine stuck there.
    start
        The start state.
    halting
        The halting states.

    Raises
    ------
    InvalidMachineError
        Naming the unknown state or symbol, the halting state with a transition, the malformed entry.

    Examples
    --------
    >>> pm = PostMachine(symbols="01", states=["run", "stop"], start="run", halting=["stop"],
    ...                  transitions={("run", "0"): ("1", "run"), ("run", "1"): ("0", "stop")})
    >>> r = pm.run("001")
    >>> r.halted, r.steps, "".join(r.queue)
    (True, 3, '110')
    """

    __slots__ = ("symbols", "states", "transitions", "start", "halting")

    #: The queue alphabet.
    symbols: tuple[Hashable, ...]
    #: Every state, halting ones included.
    states: tuple[Hashable, ...]
    #: ``{(p, a): (b, p2)}`` (read-only).
    transitions: Mapping[tuple[Hashable, Hashable], tuple[Hashable, Hashable]]
    #: The start state.
    start: Hashable
    #: The halting states.
    halting: frozenset[Hashable]

    def __init__(self, *, symbols: Iterable[Hashable], states: Iterable[Hashable],
                 transitions: Mapping[tuple[Hashable, Hashable], Sequence[Hashable]], start: Hashable,
                 halting: Iterable[Hashable] = ()) -> None:
        symbols_t = canonical_order(set(symbols))
        states_t = canonical_order(set(states))
        halting_f = frozenset(halting)
        if not symbols_t:
            raise InvalidMachineError("a Post machine needs at least one queue symbol")
        if start not in states_t:
            raise InvalidMachineError(f"the start state {start!r} is not a state")
        extra = halting_f - set(states_t)
        if extra:
            raise InvalidMachineError(f"halting states {list(canonical_order(extra))} are not states")
        table: dict[tuple[Hashable, Hashable], tuple[Hashable, Hashable]] = {}
        for p, a, (b, p2) in machine_transitions(transitions, states=states_t, halting=halting_f, targets=states_t,
                                                 shape=("symbol", "next_state")):
            for x in (a, b):
                if x not in symbols_t:
                    raise InvalidMachineError(f"transition ({p!r}, {a!r}) uses symbol {x!r} outside the alphabet")
            table[(p, a)] = (b, p2)
        self._set(symbols=symbols_t, states=states_t, transitions=freeze_mapping(table), start=start,
                  halting=halting_f)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PostMachine):
            return NotImplemented
        return (self.symbols, self.states, dict(self.transitions), self.start, self.halting) == (
            other.symbols,
            other.states,
            dict(other.transitions),
            other.start,
            other.halting,
        )

    def __hash__(self) -> int:
        return hash((self.symbols, self.states, frozenset(self.transitions.items()), self.start, self.halting))

    def __repr__(self) -> str:
        return (
            f"PostMachine(symbols={len(self.symbols)}, states={len(self.states)}, "
            f"transitions={len(self.transitions)}, start={self.start!r})"
        )

    def _check_queue(self, queue: Iterable[Hashable]) -> tuple[Hashable, ...]:
        q = tuple(queue)
        if not q:
            raise SymbolNotInAlphabetError("a synchronous Post machine needs a non-empty queue")
        try:
            if set(q) <= set(self.symbols):  # one pass over a long queue; the loop below names a stray symbol
                return q
        except TypeError:  # an unhashable item: the loop names it
            pass
        for i, s in enumerate(q):
            if s not in self.symbols:
                raise SymbolNotInAlphabetError(
                    f"queue symbol {s!r} at position {i} is not in the alphabet {list(self.symbols)}"
                )
        return q

    def initial(self, queue: Iterable[Hashable]) -> PMConfiguration:
        """The start state with ``queue`` (front first)."""
        return PMConfiguration(self.start, self._check_queue(queue))

    def step(self, configuration: PMConfiguration) -> PMConfiguration | None:
        """The next configuration; ``None`` when halted or stuck."""
        c = configuration
        if c.state in self.halting:
            return None
        move = self.transitions.get((c.state, c.queue[0]))
        if move is None:
            return None
        b, p2 = move
        return PMConfiguration(p2, c.queue[1:] + (b,))

    def configurations(self, queue: Iterable[Hashable], max_steps: int) -> Iterator[PMConfiguration]:
        """Every configuration of the run, the initial one first, at most ``max_steps`` steps."""
        c: PMConfiguration | None = self.initial(queue)
        n = 0
        while c is not None:
            yield c
            if n >= max_steps:
                return
            c = self.step(c)
            n += 1

    def run(
        self, queue: Iterable[Hashable], max_steps: int = 100_000, *, trace: bool = False, state: Hashable | None = None
    ) -> PMResult:
        """Run from ``queue`` in the start state (or ``state``) until a halting state, a stuck pair or
        ``max_steps`` steps."""
        if max_steps < 0:
            raise ValueError(f"max_steps must be non-negative, got {max_steps}")
        if state is None:
            state = self.start
        elif state not in self.states:
            raise InvalidMachineError(f"{state!r} is not a state of this Post machine")
        dq = deque(self._check_queue(queue))
        steps, stuck = 0, False
        delta, halting = self.transitions, self.halting
        out: list[tuple[Hashable, Hashable]] | None = [] if trace else None
        while state not in halting and steps < max_steps:
            move = delta.get((state, dq[0]))
            if move is None:
                stuck = True
                break
            b, state = move
            dq.popleft()
            dq.append(b)
            steps += 1
            if out is not None:
                out.append((b, state))
        return PMResult(
            halted=state in halting,
            stuck=stuck,
            steps=steps,
            state=state,
            queue=tuple(dq),
            trace=tuple(out) if out is not None else None,
        )
