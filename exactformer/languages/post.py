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

from ._common import canonical_order, freeze_mapping
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


class PostMachine:
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

    __slots__ = ("_symbols", "_states", "_transitions", "_start", "_halting")

    def __init__(
        self,
        *,
        symbols: Iterable[Hashable],
        states: Iterable[Hashable],
        transitions: Mapping[tuple[Hashable, Hashable], Sequence[Hashable]],
        start: Hashable,
        halting: Iterable[Hashable] = (),
    ) -> None:
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
        for key, value in dict(transitions).items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise InvalidMachineError(f"transition key {key!r} is not a (state, symbol) pair")
            p, a = key
            try:
                b, p2 = value
            except (TypeError, ValueError):
                raise InvalidMachineError(
                    f"transition ({p!r}, {a!r}) must map to (symbol, state), got {value!r}"
                ) from None
            if p not in states_t:
                raise InvalidMachineError(f"transition ({p!r}, {a!r}) leaves {p!r}, which is not a state")
            if p in halting_f:
                raise InvalidMachineError(f"halting state {p!r} has a transition on {a!r}")
            for s in (a, b):
                if s not in symbols_t:
                    raise InvalidMachineError(f"transition ({p!r}, {a!r}) uses symbol {s!r} outside the alphabet")
            if p2 not in states_t:
                raise InvalidMachineError(f"transition ({p!r}, {a!r}) enters {p2!r}, which is not a state")
            table[(p, a)] = (b, p2)
        set_ = object.__setattr__
        set_(self, "_symbols", symbols_t)
        set_(self, "_states", states_t)
        set_(self, "_transitions", freeze_mapping(table))
        set_(self, "_start", start)
        set_(self, "_halting", halting_f)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"PostMachine is immutable (cannot set {name!r})")

    @property
    def symbols(self) -> tuple[Hashable, ...]:
        """The queue alphabet."""
        return self._symbols

    @property
    def states(self) -> tuple[Hashable, ...]:
        """Every state, halting ones included."""
        return self._states

    @property
    def transitions(self) -> Mapping[tuple[Hashable, Hashable], tuple[Hashable, Hashable]]:
        """``{(p, a): (b, p2)}`` (read-only)."""
        return self._transitions

    @property
    def start(self) -> Hashable:
        """The start state."""
        return self._start

    @property
    def halting(self) -> frozenset[Hashable]:
        """The halting states."""
        return self._halting

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PostMachine):
            return NotImplemented
        return (self._symbols, self._states, dict(self._transitions), self._start, self._halting) == (
            other._symbols,
            other._states,
            dict(other._transitions),
            other._start,
            other._halting,
        )

    def __hash__(self) -> int:
        return hash((self._symbols, self._states, frozenset(self._transitions.items()), self._start, self._halting))

    def __repr__(self) -> str:
        return (
            f"PostMachine(symbols={len(self._symbols)}, states={len(self._states)}, "
            f"transitions={len(self._transitions)}, start={self._start!r})"
        )

    def _check_queue(self, queue: Iterable[Hashable]) -> tuple[Hashable, ...]:
        q = tuple(queue)
        if not q:
            raise SymbolNotInAlphabetError("a synchronous Post machine needs a non-empty queue")
        for i, s in enumerate(q):
            if s not in self._symbols:
                raise SymbolNotInAlphabetError(
                    f"queue symbol {s!r} at position {i} is not in the alphabet {list(self._symbols)}"
                )
        return q

    def initial(self, queue: Iterable[Hashable]) -> PMConfiguration:
        """The start state with ``queue`` (front first)."""
        return PMConfiguration(self._start, self._check_queue(queue))

    def step(self, configuration: PMConfiguration) -> PMConfiguration | None:
        """The next configuration; ``None`` when halted or stuck."""
        c = configuration
        if c.state in self._halting:
            return None
        move = self._transitions.get((c.state, c.queue[0]))
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
            state = self._start
        elif state not in self._states:
            raise InvalidMachineError(f"{state!r} is not a state of this Post machine")
        dq = deque(self._check_queue(queue))
        steps, stuck = 0, False
        delta, halting = self._transitions, self._halting
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
