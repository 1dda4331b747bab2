"""Verifying machine constructions: every transition from every working state, and whole decodes token by token.

A construction that runs a synchronous Post machine (``post_machine``, ``turing_machine``, ``tag_system``) decides
its next token from two things only: the symbol of the oldest token in its window of L tokens (the queue front)
and the state of the newest token (the machine's state). :class:`PostMachineReference` checks both halves of that
claim against the reference simulator :meth:`exactformer.languages.post.PostMachine.run`:

* **one-step inputs** (:meth:`PostMachineReference.inputs`): for every *defined* (working state p, symbol a), prompts
  of L explicit ``(symbol, state)`` tokens whose front symbol is a and whose last state is p; the other tokens carry
  random symbols and random working states (the window of a decode in progress holds tokens emitted in different
  states), one of them with every token in state p (a fresh start). The expected answer is ``delta(p, a)``.
* **whole decodes** (:meth:`PostMachineReference.decodes`, run by :func:`check_decodes`): greedy decodes from a
  corpus of start configurations, compared token by token with the reference run, each within a token budget. A
  decode that differs, does not halt where the reference halts, halts (or gets stuck) where it does not, or is not
  stuck where the reference is stuck, fails, naming the first differing step. The corpus: the configurations the
  construction's own machine is meant to start from (given by the factory: :func:`turing_reference` writes random
  tapes over the Turing machine's alphabet with random head cells, the blank tape first; :func:`tag_reference`
  takes the words a^n and random words over the tag alphabet), random queues in random working states with
  mixed-state windows, and, for every *undefined* (working p, a), a prompt where the machine is stuck at once.

**Size.** The weights fix the window L (the relative-position bias sits at offset L - 1), and a prompt is exactly L
tokens, so a machine construction has one size: L, the theorem's s(n). ``check(..., lengths=[L])`` tests it; any
other size is refused with an error saying to rebuild. Checking several window sizes means building the
construction at several L (``queue_length``, ``tape_length``, ``ring_length``), which the tests do.

This module imports machine references (``exactformer.languages``), never a construction: a reference is built
from the machine object the construction was built from, not from the weights.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ExactformerError, InputError
from .report import Failure, LengthReport

__all__ = [
    "MachineDecode",
    "DecodeOutcome",
    "PostMachineReference",
    "post_machine_reference",
    "turing_reference",
    "tag_reference",
    "check_decodes",
    "record_decodes",
]

Token = tuple[Hashable, Hashable]

# for the exact and certified backends (each decoded token is a full rational pass over the window): at most this
# many decodes, each cut at this many tokens (the budget is written in the report's mode)
SLOW_BACKEND_DECODES = 6
SLOW_BACKEND_TOKENS = 12
#: Most residual entries (decodes x tokens of window and decode x d_model) one batch of decodes holds: the corpus is
#: decoded in batches of at most this size, so that the decoder's KV cache (its rows and their key and value
#: projections) stays within a few GB at any window (a ring of 4,096 cells has over 4,000 decodes).
DECODE_BATCH_ENTRIES = 2**27


@dataclass(frozen=True)
class MachineDecode:
    """One whole decode of the corpus: the prompt, the reference's tokens and how the reference run ended.

    Attributes
    ----------
    prompt
        L explicit ``(symbol, state)`` tokens; the machine starts in the last one's state with the prompt's symbols
        as its queue.
    tokens
        The reference's ``(pushed symbol, new state)`` per step, at most ``budget`` of them.
    outcome
        ``"halted"``, ``"stuck"`` (an undefined transition) or ``"budget"`` (still running after ``budget`` steps).
    budget
        The token bound of this decode.
    label
        Where the start configuration comes from (e.g. ``"blank tape"``, ``"word aab"``).
    """

    prompt: tuple[Token, ...]
    tokens: tuple[Token, ...]
    outcome: str
    budget: int
    label: str


@dataclass(frozen=True)
class DecodeOutcome:
    """The model's decode of one :class:`MachineDecode`: ``ok``, or the first differing step and what differs."""

    decode: MachineDecode
    ok: bool
    step: int | None = None
    expected: Any = None
    got: Any = None
    message: str = ""
    margins: tuple[float, ...] = ()


def _as_post_machine(machine: Any) -> Any:
    """A :class:`~exactformer.languages.post.PostMachine` from a PostMachine or the attributes of one (a mapping
    with ``symbols``, ``states``, ``delta`` or ``transitions``, ``start``, ``halting``)."""
    from ..languages.post import PostMachine, machine_fields

    if isinstance(machine, PostMachine):
        return machine
    return PostMachine(**machine_fields(machine, error=InputError))


class PostMachineReference:
    """The reference of a Post-machine construction with a window of ``queue_length`` tokens.

    Parameters
    ----------
    machine
        The synchronous Post machine the construction was built from (see :func:`_as_post_machine`).
    queue_length
        L, the window (and queue) length the construction was built with.
    starts
        ``(queue, state, label)`` start configurations of the construction's own machine to decode from; ``state``
        None is the start state.
    random_starts
        How many random queues in random working states (with mixed-state prompts) to decode from as well.
    max_tokens
        The token budget of each decode.
    name
        The reference's name in reports.
    """

    def __init__(
        self,
        machine: Any,
        queue_length: int,
        *,
        starts: Sequence[tuple[Sequence[Hashable], Hashable | None, str]] = (),
        random_starts: int = 8,
        max_tokens: int = 1000,
        name: str = "PostMachine.run",
    ) -> None:
        self.machine = _as_post_machine(machine)
        if not isinstance(queue_length, int) or queue_length < 2:
            raise InputError(f"the queue length must be an integer >= 2, got {queue_length!r}")
        self.queue_length = queue_length
        self.starts = [(tuple(q), self.machine.start if p is None else p, label) for q, p, label in starts]
        self.random_starts = random_starts
        self.max_tokens = max_tokens
        self.name = name
        pm = self.machine
        self.symbols = tuple(pm.symbols)
        self.working = tuple(p for p in pm.states if p not in pm.halting)
        self.defined = [(p, a) for p in self.working for a in self.symbols if (p, a) in pm.transitions]
        self.undefined = [(p, a) for p in self.working for a in self.symbols if (p, a) not in pm.transitions]

    # -- one-step transitions ------------------------------------------------------------------------------------
    def _size(self, size: int) -> None:
        if size != self.queue_length:
            raise InputError(
                f"a Post-machine construction has one size, its window L = {self.queue_length} (the weights fix it); "
                f"size {size} needs the construction rebuilt with that window"
            )

    def expected(self, x: Sequence[Token]) -> Token | None:
        """``delta(state of the last token, symbol of the first)``, or None where it is undefined."""
        move = self.machine.transitions.get((x[-1][1], x[0][0]))
        return None if move is None else tuple(move)

    def _prompt(self, front: Hashable, state: Hashable, rng: random.Random, *, mixed: bool) -> tuple[Token, ...]:
        L = self.queue_length
        states = [rng.choice(self.working) if mixed else state for _ in range(L - 1)] + [state]
        symbols = [front] + [rng.choice(self.symbols) for _ in range(L - 1)]
        return tuple(zip(symbols, states))

    def _framed(self, front: Token, last: Token, rng: random.Random) -> tuple[Token, ...]:
        """A prompt of L tokens with the given first and last tokens and random ones (random working states)
        between them."""
        middle = [(rng.choice(self.symbols), rng.choice(self.working)) for _ in range(self.queue_length - 2)]
        return (front, *middle, last)

    def _every_frame(self, p: Hashable, a: Hashable, rng: random.Random) -> list[tuple[Token, ...]]:
        """For the pair (p, a): one prompt per front token (a, q) and last token (b, p), over every working state q
        and every symbol b. The next token is a function of a and p alone, but the model reads both tokens whole
        (each is one row of the embedding), so a weight that only one such token uses is seen only here."""
        return [self._framed((a, q), (b, p), rng) for q in self.working for b in self.symbols]

    def inputs(self, size: int, *, count: int, exhaustive_limit: int, rng: random.Random) -> tuple[list[Any], str]:
        """For every defined (working p, a): every front token (a, q) with every last token (b, p) (q over the
        working states, b over the symbols; :meth:`_every_frame`), then ``ceil(count / #defined)`` more prompts of
        front a and last state p, the first with every token in p, the others with random symbols and random
        working states."""
        self._size(size)
        if not self.defined:
            return [], "no defined transition"
        per = max(1, math.ceil(count / len(self.defined)))
        xs = [x for p, a in self.defined for x in self._every_frame(p, a, rng)]
        xs += [self._prompt(a, p, rng, mixed=k > 0) for p, a in self.defined for k in range(per)]
        frames = len(self.working) * len(self.symbols)
        return xs, f"{len(self.defined)} transitions x ({frames} first/last tokens + {per}), mixed windows"

    def shrink(self, x: Sequence[Token]) -> Iterator[tuple[Token, ...]]:
        """The same symbols with every token in the last token's state, then one token's state at a time."""
        x = tuple(x)
        last = x[-1][1]
        pure = tuple((b, last) for b, _ in x)
        if pure != x:
            yield pure
        for i, (b, p) in enumerate(x[:-1]):
            if p != last:
                yield x[:i] + ((b, last),) + x[i + 1 :]

    # -- whole decodes -------------------------------------------------------------------------------------------
    def _reference_decode(self, prompt: tuple[Token, ...], label: str, budget: int) -> MachineDecode:
        queue = [b for b, _ in prompt]
        r = self.machine.run(queue, max_steps=budget, trace=True, state=prompt[-1][1])
        outcome = "halted" if r.halted else "stuck" if r.stuck else "budget"
        return MachineDecode(prompt=prompt, tokens=tuple(r.trace or ()), outcome=outcome, budget=budget, label=label)

    def decodes(self, size: int, rng: random.Random, *, max_tokens: int | None = None) -> list[MachineDecode]:
        """The decode corpus at ``size`` (which must be L): the given starts, random starts, and for every undefined
        working pair (p, a) a stuck prompt per front token (a, q) and last token (b, p) (:meth:`_every_frame`)."""
        self._size(size)
        budget = self.max_tokens if max_tokens is None else max_tokens
        out = []
        for queue, state, label in self.starts:
            out.append(self._reference_decode(tuple(zip(queue, itertools.repeat(state))), label, budget))
        for k in range(self.random_starts):
            state = rng.choice(self.working)
            prompt = self._prompt(rng.choice(self.symbols), state, rng, mixed=k % 2 == 1)
            out.append(self._reference_decode(prompt, f"random queue in {state!r}" + (", mixed" if k % 2 else ""),
                                              budget))
        for p, a in self.undefined:  # stuck at once, whatever the first and last tokens are
            for prompt in self._every_frame(p, a, rng):
                out.append(self._reference_decode(prompt, f"undefined ({p!r}, {a!r})", budget))
        return out


def post_machine_reference(machine: Any, queue_length: int, **kwargs: Any) -> PostMachineReference:
    """:class:`PostMachineReference` of a plain Post-machine construction (``post_machine(pm, queue_length=L)``)."""
    return PostMachineReference(machine, queue_length, **kwargs)


def turing_reference(
    compiled: Any, *, random_tapes: int = 6, random_starts: int = 6, max_tokens: int = 1000, seed: int = 0
) -> PostMachineReference:
    """The reference of a ``turing_machine`` construction, from its :class:`~exactformer.languages.compiler.CompiledTM`.

    Decodes: the blank tape with the head on cell 0 (the construction's own prompt), ``random_tapes`` random tapes
    over the machine's alphabet (random contents of all T cells, a random head cell), then random Post
    configurations (see :class:`PostMachineReference`). Every decode is compared with the compiled Post machine,
    so a run that wraps the cyclic tape is still a valid comparison.
    """
    rng = random.Random(f"turing:{seed}")
    tm, T = compiled.tm, compiled.tape_length
    gamma = list(tm.ordered_alphabet)
    starts = [(compiled.initial_queue(), compiled.start_state(), "blank tape")]
    for _ in range(random_tapes):
        tape = [rng.choice(gamma) for _ in range(T)]
        head = rng.randrange(T)
        text = "".join(map(str, tape))
        starts.append((compiled.initial_queue(tape, head=head), compiled.start_state(tape, head=head),
                       f"tape {text}, head on cell {head}"))
    return PostMachineReference(compiled.machine, compiled.queue_length, starts=starts, random_starts=random_starts,
                                max_tokens=max_tokens, name="compiled TM: PostMachine.run")


def tag_reference(
    ring: Any, *, words: Sequence[str] | None = None, random_words: int = 6, random_starts: int = 4,
    max_tokens: int = 1000, seed: int = 0
) -> PostMachineReference:
    """The reference of a ``tag_system`` construction, from its :class:`~exactformer.languages.tag.TagRing`.

    Decodes from ``words`` (by default a^n for every n < L of the first symbol a of the alphabet) and
    ``random_words`` random words of random lengths < L over the tag alphabet, each as ``ring.queue(word)`` in the
    start state, then random Post configurations.
    """
    rng = random.Random(f"tag:{seed}")
    L = ring.ring_length
    alphabet = list(ring.system.alphabet)
    if words is None:
        words = [alphabet[0] * n for n in range(1, L)]
    words = list(words) + ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, L))) for _ in
                           range(random_words)]
    starts = [(ring.queue(w), None, f"word {w}") for w in words]
    return PostMachineReference(ring.machine, L, starts=starts, random_starts=random_starts, max_tokens=max_tokens,
                                name="tag ring: PostMachine.run")


# -- running the corpus through a construction ---------------------------------------------------------------------
def _compare(d: MachineDecode, tokens: Sequence[Token], halted: bool, stuck: bool) -> DecodeOutcome:
    ref, got = list(d.tokens), [tuple(t) for t in tokens]
    for i, (want, have) in enumerate(zip(ref, got)):
        if want != have:
            return DecodeOutcome(d, False, i + 1, want, have, f"decode step {i + 1}: expected {want}, got {have}")
    n = len(ref)
    ended = "halts" if halted else "is stuck (no unique next token)" if stuck else "stops"
    if len(got) < n:
        return DecodeOutcome(d, False, len(got) + 1, ref[len(got)], None,
                             f"the model {ended} after {len(got)} steps; the reference goes on with "
                             f"{ref[len(got)]} at step {len(got) + 1}")
    if d.outcome == "budget":
        if len(got) == n and (halted or stuck):
            return DecodeOutcome(d, False, n, "running", ended,
                                 f"the model {ended} at step {n}; the reference runs past {n} steps")
        return DecodeOutcome(d, True)
    extra = got[n] if len(got) > n else None
    if d.outcome == "halted":
        if len(got) == n and halted:
            return DecodeOutcome(d, True)
        what = f"emits {extra}" if extra is not None else f"{ended} without halting"
        return DecodeOutcome(d, False, n + 1, "halt", extra,
                             f"the reference halts after {n} steps; at step {n + 1} the model {what}")
    # stuck: the reference has no transition after n steps
    if len(got) == n and stuck:
        return DecodeOutcome(d, True)
    state = ref[-1][1] if ref else d.prompt[-1][1]
    what = f"emits {extra}" if extra is not None else f"{ended}"
    return DecodeOutcome(d, False, n + 1, "stuck", extra,
                         f"the reference is stuck after {n} steps (no transition from {state!r}); at step {n + 1} "
                         f"the model {what}")


def check_decodes(
    construction: Any,
    reference: Any,
    size: int,
    *,
    backend: str = "torch",
    dtype: Any = None,
    device: Any = None,
    rng: random.Random | None = None,
) -> tuple[list[DecodeOutcome], str]:
    """Decode ``reference.decodes(size, rng)`` through ``construction.simulate`` (in batches of at most
    :data:`DECODE_BATCH_ENTRIES` residual entries) and compare each decode with the reference token by token; return
    the outcomes and a one-line description of the corpus.

    The construction's ``simulate(queues=[prompt, ...], max_tokens=n, backend=, dtype=, device=)`` must return one
    run per prompt with ``tokens``, ``halted``, ``stuck`` and ``margins`` (the Post-machine constructions'
    :class:`~exactformer.constructions.post_machine.PostRun`). With the exact and certified backends the corpus is
    cut to :data:`SLOW_BACKEND_DECODES` decodes of at most :data:`SLOW_BACKEND_TOKENS` tokens.
    """
    rng = rng or random.Random(0)
    slow = backend != "torch"
    corpus = reference.decodes(size, rng, max_tokens=SLOW_BACKEND_TOKENS if slow else None)
    if slow:
        corpus = corpus[:SLOW_BACKEND_DECODES]
    if not corpus:
        return [], "no decodes"
    bound = max(len(d.tokens) for d in corpus) + 1
    width = getattr(getattr(construction, "model", None), "d_model", 1)
    per_batch = max(1, DECODE_BATCH_ENTRIES // ((len(corpus[0].prompt) + bound) * width))
    try:
        runs = [run for b in range(0, len(corpus), per_batch) for run in construction.simulate(
            queues=[list(d.prompt) for d in corpus[b : b + per_batch]], max_tokens=bound, backend=backend,
            dtype=dtype, device=device)]
    except ExactformerError as exc:
        err = f"{type(exc).__name__}: {exc}"
        return [DecodeOutcome(d, False, 1, None, None, f"the decode raised {err}") for d in corpus], \
            f"{len(corpus)} decodes (raised)"
    outcomes = [
        dataclasses.replace(_compare(d, run.tokens, bool(run.halted), bool(getattr(run, "stuck", False))),
                            margins=tuple(run.margins[: len(d.tokens)]))
        for d, run in zip(corpus, runs)
    ]
    tokens = sum(len(d.tokens) for d in corpus)
    cut = f", cut at {SLOW_BACKEND_TOKENS}" if slow else ""
    return outcomes, f"{len(corpus)} decodes ({tokens} tokens{cut})"


def record_decodes(
    lr: LengthReport,
    construction: Any,
    reference: Any,
    *,
    backend: str,
    dtype: Any,
    device: Any,
    rng: random.Random,
    max_failures: int = 3,
) -> None:
    """Run :func:`check_decodes` at ``lr.size`` and add it to the size's report: each decode counts as one tested
    input (passed when it matches), a mismatch is a :class:`~exactformer.verify.report.Failure` of kind
    ``"decode"`` naming the first differing step, and the decodes' margins join the size's smallest margin."""
    outcomes, description = check_decodes(construction, reference, lr.size, backend=backend, dtype=dtype,
                                          device=device, rng=rng)
    lr.mode = f"{lr.mode}; {description}"
    for o in outcomes:
        lr.tested += 1
        lr.passed += int(o.ok)
        if o.margins:
            lr.min_margin = min(lr.min_margin, min(o.margins))
        if not o.ok and sum(f.kind == "decode" for f in lr.failures) < max_failures:
            lr.failures.append(Failure(
                kind="decode", input=list(o.decode.prompt), minimal_input=list(o.decode.prompt), expected=o.expected,
                got=o.got, where=f"decode step {o.step} ({o.decode.label})", reason=o.message,
            ))
