"""Turing machines and tag systems through Li & Wang's one-layer Post-machine decoder (:mod:`.post_machine`).

A Turing machine is compiled to a synchronous Post machine on a cyclic tape of T cells with one held cell
(:func:`exactformer.languages.compiler.compile_turing_machine`), a tag system to a ring Post machine
(:func:`exactformer.languages.tag.tag_post_machine`); :func:`~.post_machine.post_machine` builds the decoder. This
module reads the runs back: :func:`run_turing_machine` (and ``construction.simulate()`` with no queue) decodes from
the blank tape to the halt and reads the TM's steps and tape off the tokens alone, following the head so that a run
leaving the T cells is refused rather than wrapped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..core.construction import Construction
from ..core.errors import InputError
from ..languages.compiler import compile_turing_machine, tape_length_for
from ..languages.errors import InvalidMachineError
from ..languages.post import PostMachine
from ..languages.tag import tag_post_machine
from ..languages.turing import TuringMachine
from .post_machine import PostMachineParameters, PostMachineSpec, PostRun, post_machine, prompt_pairs, simulate

__all__ = [
    "TuringParameters",
    "TuringBatchParameters",
    "TagParameters",
    "TuringRun",
    "turing_machine",
    "run_turing_machine",
    "turing_machines",
    "run_turing_machines",
    "tag_system",
]


@dataclass(frozen=True)
class TuringParameters(PostMachineParameters):
    """What :func:`turing_machine` was built from: the Post machine's parameters, and

    Attributes
    ----------
    tm
        The Turing machine.
    compiled
        Its compilation to a Post machine (:func:`~exactformer.languages.compiler.compile_turing_machine`).
    tape_length
        T, the cells of the cyclic tape (the queue holds T - 1 of them).
    queue
        The blank tape's prompt: the T - 1 queue cells.
    """

    tm: Any = None
    compiled: Any = None
    tape_length: int = 0
    queue: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TuringBatchParameters(PostMachineParameters):
    """What :func:`turing_machines` was built from: the union Post machine's parameters, and

    Attributes
    ----------
    tms
        The Turing machines, in the order of their state tags ``"k/"``.
    compiled_all
        Their compilations, one per machine.
    tape_length
        T, the cells of the shared cyclic tape.
    starts
        Each machine's tagged start state.
    queues
        Each machine's blank-tape prompt.
    """

    tms: tuple[Any, ...] = ()
    compiled_all: tuple[Any, ...] = ()
    tape_length: int = 0
    starts: tuple[str, ...] = ()
    queues: tuple[tuple[Any, ...], ...] = ()


@dataclass(frozen=True)
class TagParameters(PostMachineParameters):
    """What :func:`tag_system` was built from: the ring Post machine's parameters, and

    Attributes
    ----------
    ring
        The ring Post machine (:func:`~exactformer.languages.tag.tag_post_machine`); ``ring.queue(word)`` is the
        prompt for a word.
    system
        The tag system.
    """

    ring: Any = None
    system: Any = None


@dataclass
class TuringRun:
    """A Turing machine's run read off the transformer's tokens (see :func:`run_turing_machine`).

    Attributes
    ----------
    post
        The transformer's Post-machine run (one token per Post step).
    halted
        Whether the last token's state is a ``HALT:w`` state.
    tm_steps
        TM steps: every token except the pure rotations (an unmarked symbol pushed in a ``SEEK`` state).
    tape
        The final cyclic tape, starting at the cell of the halting transition (held cell, then the window).
    ones
        Non-blank cells of ``tape``.
    """

    post: PostRun
    halted: bool
    tm_steps: int
    tape: tuple[str, ...]
    ones: int

    @property
    def tokens(self) -> int:
        return self.post.steps


def turing_machine(
    tm: Any,
    tape_length: int | None = None,
    *,
    attention: str = "hard",
    beta: Fraction | int | str = 1,
    max_steps: int = 100_000,
) -> Construction:
    """The one-layer decoder running the Turing machine ``tm`` on a cyclic tape of ``tape_length`` = T cells.

    It composes :func:`exactformer.languages.compiler.compile_turing_machine` (tape stored cyclically in the queue
    with one held cell; queue length T - 1) with :func:`post_machine`. The prompt is the T - 1 queue cells
    (``construction.parameters.queue`` for a blank tape); :func:`run_turing_machine` decodes to the halt and reads
    the TM's steps and tape off the tokens, and raises if the head leaves the T cells (the cyclic tape would wrap).
    With ``tape_length=None``, T is the width the machine's blank-tape reference run visits
    (:func:`exactformer.languages.compiler.tape_length_for`, which needs the run to halt within ``max_steps``).
    """
    if isinstance(tm, str):
        tm = TuringMachine.from_standard(tm)
    if not isinstance(tm, TuringMachine):
        raise InputError(f"expected a TuringMachine or its standard text, not {type(tm).__name__}")
    if tape_length is None:
        try:
            tape_length = tape_length_for(tm, max_steps)
        except InvalidMachineError as exc:
            raise InputError(f"tape_length=None: {exc}") from None
    compiled = compile_turing_machine(tm, tape_length)
    c = post_machine(compiled.machine, queue_length=compiled.queue_length, attention=attention, beta=beta)
    parameters = TuringParameters(**vars(c.parameters), tm=tm, compiled=compiled, tape_length=tape_length,
                                  queue=tuple(compiled.initial_queue()))
    return dataclasses.replace(c, parameters=parameters, simulator=_simulate_turing_machine)


def _simulate_turing_machine(construction: Construction, queue: Sequence[Any] | None = None, *,
                             max_tokens: int = 10_000, **options: Any) -> TuringRun | PostRun | list[PostRun]:
    """``construction.simulate`` of a :func:`turing_machine`: with no queue, :func:`run_turing_machine` from the
    blank tape (a :class:`TuringRun`: ``halted, tokens, tm_steps, tape, ones``); with a queue of Post-machine
    symbols or tokens (or ``queues=``, ``state=``...), the Post machine's decode, :func:`~.post_machine.simulate`."""
    if queue is None and not {"queues", "state", "states", "on_stuck"} & set(options):
        return run_turing_machine(construction, max_tokens=max_tokens, **options)
    return simulate(construction, queue, max_tokens=max_tokens, **options)


def run_turing_machine(construction: Construction, *, max_tokens: int = 100_000, **backend: Any) -> TuringRun:
    """Decode a :func:`turing_machine` construction from its blank-tape prompt to the halt; read TM steps and the
    final tape off the generated tokens alone (``backend``, ``dtype``, ``device`` as for
    :func:`~.post_machine.simulate`).

    Raises
    ------
    InputError
        When the head reaches a cell that lies T or more cells from another cell the run visited: on the cyclic
        tape of T cells it would read that other cell (the tape wraps). The message names the TM step and the
        token; :func:`exactformer.languages.compiler.tape_length_for` gives a T that fits. The head is tracked
        from the tokens alone: a TM step pushes a marked cell exactly when the head moves left.
    """
    parameters: TuringParameters = construction.parameters
    tracker = _HeadTracker(parameters.tape_length, "the Turing machine")
    (run,) = _simulate_tracked(construction, [parameters.queue], [None], [tracker], max_tokens=max_tokens, **backend)
    return _read_turing(run, str(parameters.tm.blank))


def _tm_step(token: tuple[Hashable, Hashable]) -> bool:
    """Whether a compiled TM token is a TM step (every token but a pure rotation: an unmarked cell pushed in
    ``SEEK``)."""
    b, p = token
    return not (str(p).startswith("SEEK:") and not str(b).endswith("^"))


class _HeadTracker:
    """Follows the TM head over the tokens of a compiled run (fed chunk by chunk) and raises when it leaves the
    cyclic tape of ``tape_length`` cells.

    A TM step's token pushes a marked cell for a left move and an unmarked one for a right move. The head has left
    the tape when the cells it has been on span more than T: the newest cell is then T cells from a visited one,
    which the cyclic tape stores in the same place. The halting step (into ``HALT:w``) reads no further cell, so its
    move wraps nothing.
    """

    def __init__(self, tape_length: int, machine: str, untag: Any = str) -> None:
        self.tape_length, self.machine, self.untag = tape_length, machine, untag
        self.head = self.lo = self.hi = self.step = self.tokens = 0
        self.halted = False

    def feed(self, tokens: Sequence[tuple[Hashable, Hashable]]) -> None:
        for b, p in tokens:
            self.tokens += 1
            b, p = str(b), str(self.untag(p))
            if self.halted or not _tm_step((b, p)):
                continue
            self.step += 1
            if p.startswith("HALT:"):
                self.halted = True
                continue
            self.head += -1 if b.endswith("^") else 1
            self.lo, self.hi = min(self.lo, self.head), max(self.hi, self.head)
            if self.hi - self.lo + 1 > self.tape_length:
                raise InputError(
                    f"{self.machine} leaves the cyclic tape of {self.tape_length} cells at TM step {self.step} "
                    f"(token {self.tokens}): its head has now been on {self.hi - self.lo + 1} cells, so the tape "
                    "would wrap; build it with a larger tape_length (tape_length=None sizes it from the reference run)"
                )


def _simulate_tracked(
    construction: Construction,
    queues: Sequence[Sequence[Any]],
    states: Sequence[Hashable | None],
    trackers: Sequence[_HeadTracker],
    *,
    max_tokens: int,
    backend: str = "torch",
    dtype: Any = None,
    device: Any = None,
) -> list[PostRun]:
    """:func:`simulate` in chunks of ``max(64, 4L)`` tokens, each chunk's prompt the window the last one left
    (explicit tokens), feeding every run's tokens to its tracker between chunks, so a head that leaves the tape
    raises within a chunk of the step where it happens rather than after ``max_tokens``."""
    spec: PostMachineSpec = construction.parameters.spec
    L: int = construction.parameters.queue_length
    windows = [prompt_pairs(spec, L, q, p) for q, p in zip(queues, states)]
    tokens: list[list[tuple[Hashable, Hashable]]] = [[] for _ in windows]
    margins: list[list[float]] = [[] for _ in windows]
    last: list[PostRun | None] = [None] * len(windows)
    used, chunk = 0, max(64, 4 * L)
    while used < max_tokens:
        live = [k for k in range(len(windows)) if last[k] is None]
        if not live:
            break
        n = min(chunk, max_tokens - used)
        runs = simulate(construction, queues=[windows[k] for k in live], max_tokens=n, backend=backend, dtype=dtype,
                        device=device)
        assert isinstance(runs, list)
        for k, run in zip(live, runs):
            tokens[k] += run.tokens
            margins[k] += run.margins
            trackers[k].feed(run.tokens)
            windows[k] = (windows[k] + run.tokens)[-L:]
            if run.halted or run.stuck:
                last[k] = run
        used += n
    return [
        PostRun(tokens=tokens[k], halted=bool(end and end.halted), queue=[b for b, _ in windows[k]],
                state=windows[k][-1][1], margins=margins[k], stuck=bool(end and end.stuck),
                stuck_on=end.stuck_on if end else None)
        for k, end in enumerate(last)
    ]


def _read_turing(run: PostRun, blank: str) -> TuringRun:
    tm_steps = sum(1 for t in run.tokens if _tm_step(t))
    state = str(run.state)
    halted = state.startswith("HALT:")
    held = state.split(":", 2)[-1]
    tape = (held, *(str(b).rstrip("^") for b in run.queue))
    return TuringRun(post=run, halted=halted, tm_steps=tm_steps, tape=tape, ones=sum(1 for x in tape if x != blank))


def turing_machines(
    tms: Sequence[Any], tape_length: int, *, attention: str = "hard", beta: Fraction | int | str = 1
) -> Construction:
    """One decoder for a batch of Turing machines on the same cyclic tape of ``tape_length`` cells.

    Each machine is compiled as in :func:`turing_machine`; the decoder runs the *disjoint union* of the Post
    machines: the queue symbols are shared, every state is tagged ``"k/"`` with its machine's index k, so the
    transition table (the MLP) is the union of the tables and the state block of the embedding grows with the
    batch. Only the start state differs between the machines' prompts; :func:`run_turing_machines` decodes them in
    one batch (one cached forward pass per generated token for the whole batch).
    """
    machines = [TuringMachine.from_standard(tm) if isinstance(tm, str) else tm for tm in tms]
    if not machines:
        raise InputError("turing_machines needs at least one machine")
    bad = [type(tm).__name__ for tm in machines if not isinstance(tm, TuringMachine)]
    if bad:
        raise InputError(f"expected TuringMachines or their standard text, not {bad[0]}")
    if len({tm.blank for tm in machines}) != 1:
        raise InputError("the machines of one batch must share the blank symbol")
    compiled = [compile_turing_machine(tm, tape_length) for tm in machines]
    symbols = sorted({a for c in compiled for a in c.machine.symbols}, key=str)
    union = PostMachine(
        symbols=symbols,
        states=[f"{k}/{p}" for k, c in enumerate(compiled) for p in c.machine.states],
        transitions={
            (f"{k}/{p}", a): (b, f"{k}/{p2}")
            for k, c in enumerate(compiled)
            for (p, a), (b, p2) in c.machine.transitions.items()
        },
        start=f"0/{compiled[0].machine.start}",
        halting=[f"{k}/{p}" for k, c in enumerate(compiled) for p in c.machine.halting],
    )
    con = post_machine(union, queue_length=tape_length - 1, attention=attention, beta=beta)
    parameters = TuringBatchParameters(
        **vars(con.parameters),
        tms=tuple(machines),
        compiled_all=tuple(compiled),
        tape_length=tape_length,
        starts=tuple(f"{k}/{c.machine.start}" for k, c in enumerate(compiled)),
        queues=tuple(tuple(c.initial_queue()) for c in compiled),
    )
    return dataclasses.replace(con, parameters=parameters)


def run_turing_machines(
    construction: Construction,
    *,
    max_tokens: int = 100_000,
    backend: str = "torch",
    dtype: Any = None,
    device: Any = None,
) -> list[TuringRun]:
    """Decode every machine of a :func:`turing_machines` construction from its blank tape, in one batch (the
    batch runs until every machine has halted or ``max_tokens``); one :class:`TuringRun` per machine, its states
    untagged."""
    parameters: TuringBatchParameters = construction.parameters
    T = parameters.tape_length

    def untagger(k: int) -> Any:
        return lambda p: str(p)[len(f"{k}/") :]

    trackers = [_HeadTracker(T, f"machine {k} ({tm})", untagger(k)) for k, tm in enumerate(parameters.tms)]
    runs = _simulate_tracked(construction, list(parameters.queues), list(parameters.starts), trackers,
                             max_tokens=max_tokens, backend=backend, dtype=dtype, device=device)
    assert isinstance(runs, list)
    out = []
    for k, (run, tm) in enumerate(zip(runs, parameters.tms)):

        def untag(p: Hashable, k: int = k) -> str:
            name, tag = str(p), f"{k}/"
            if not name.startswith(tag):
                raise AssertionError(f"machine {k} entered {name!r}, a state of another machine")
            return name[len(tag) :]

        plain = PostRun(
            tokens=[(b, untag(p)) for b, p in run.tokens],
            halted=run.halted,
            queue=run.queue,
            state=untag(run.state),
            margins=run.margins,
        )
        out.append(_read_turing(plain, str(tm.blank)))
    return out


def tag_system(
    system: Any, ring_length: int, *, attention: str = "hard", beta: Fraction | int | str = 1
) -> Construction:
    """The one-layer decoder running a tag system on a ring of ``ring_length`` = L cells (the queue length).

    Composes :func:`exactformer.languages.tag.tag_post_machine` with :func:`post_machine`; the prompt is
    ``parameters.ring.queue(word)``, the word followed by blanks. L must exceed every word length of the run.
    """
    ring = tag_post_machine(system, ring_length)
    c = post_machine(ring.machine, queue_length=ring_length, attention=attention, beta=beta)
    return dataclasses.replace(c, parameters=TagParameters(**vars(c.parameters), ring=ring, system=system))
