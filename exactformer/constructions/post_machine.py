"""Li & Wang (NeurIPS 2025, arXiv 2506.12027): a one-layer sliding-window decoder runs any synchronous Post machine.

A synchronous Post machine has a queue of fixed length L: in state p it pops the front symbol a, pushes b and moves
to p', where ``(b, p') = delta(p, a)``. The transformer keeps the queue as its context window: a token is the pair
(pushed symbol, new state), the last L tokens' symbols are the queue front to back, and the newest token's state is
the machine's state.

Proof sketch (the lemmas are the functions below).

* :func:`factored_embedding` - token (b, p) is ``e_sym[b] + e_state[p]``: the width grows with |Sigma| + |P|.
* :func:`queue_front_attention` - one hard-attention head over a causal window of L tokens whose score is the
  relative-position bias ``[i - j = L - 1]``: its unique maximiser is the oldest token in the window, the queue
  front, and its value copies that token's symbol into ``read``. The bias is the only weight that depends on L.
* :func:`transition_lookup_mlp` - one ReLU unit per defined (p, a): ``ReLU(state[p] + read[a] - 1)`` is 1 exactly
  for the current pair and writes ``out_sym[b] + out_state[p']``.
* :func:`pair_readout` - logit(b, p) = ``out_sym[b] + out_state[p]``: 2 at delta(p, a), at most 1 elsewhere.

Every weight is in {-1, 0, 1} and every activation in {0, 1, 2}, so float16 (and bfloat16) compute it exactly for
any L: the precision needed is constant. The softmax variant replaces the hard head by softmax with bias beta at the
front, which puts weight ``1 / (1 + (L - 1) e^-beta)`` on it; it needs beta to grow like ln L.

Deviation from the reconstruction in ``docs/notes/post_machine.md`` §2.2: the relative-position classes CUR and OLD
are an additive attention bias (the note's §2.3 equivalent form) rather than residual coordinates, and the "-1" of
the lookup is the MLP's input bias rather than a BIAS coordinate, so d = 3|Sigma| + 2|P| instead of 3 + 3|Sigma| + 2|P|.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np

from ..core.architecture import MLP, Attention, Embedding, Layer, Mask, Readout, RelativeBias, Sublayer, Transformer
from ..core.claims import Claim, ClaimedResources, constant
from ..core.construction import Citation, Construction, Invariant, Probe
from ..core.errors import InputError
from ..core.space import Block, Space, linear_map, vector
from ..languages.post import machine_fields

__all__ = [
    "PostMachineSpec",
    "PostRun",
    "PostMachineParameters",
    "post_machine",
    "simulate",
    "token_name",
    "parse_token",
    "prompt_pairs",
    "CITATION",
]

CITATION = Citation(authors="Qian Li, Yuyi Wang", title="Constant Bit-size Transformers Are Turing Complete",
                    venue="NeurIPS 2025", arxiv="2506.12027",
                    theorem="Theorem 1 (a one-layer, one-head, window-s(n) decoder simulates a synchronous Post "
                            "machine)")


@dataclass(frozen=True)
class PostMachineSpec:
    """The public description of a synchronous Post machine that the construction compiles.

    ``transitions[(p, a)] = (b, p2)``: in state ``p`` with front symbol ``a``, push ``b`` and go to ``p2``.
    Halting states have no transitions.
    """

    symbols: tuple[Hashable, ...]
    states: tuple[Hashable, ...]
    transitions: Mapping[tuple[Hashable, Hashable], tuple[Hashable, Hashable]]
    start: Hashable
    halting: frozenset[Hashable]

    @classmethod
    def of(cls, pm: Any) -> PostMachineSpec:
        """Read a Post machine's public attributes (``symbols`` or ``alphabet``; ``transitions`` or ``delta``;
        ``states``; ``start``; ``halting``: :func:`exactformer.languages.post.machine_fields`), validating them."""

        f = machine_fields(pm, error=InputError)
        spec = cls(tuple(sorted(f["symbols"], key=str)), tuple(sorted(f["states"], key=str)), f["transitions"],
                   f["start"], frozenset(f["halting"]))
        spec.validate()
        return spec

    @cached_property
    def tokens(self) -> frozenset[tuple[Hashable, Hashable]] | None:
        """Every (symbol, state) pair, for validating a prompt by one set inclusion; None when a symbol is itself a
        tuple or a list (a prompt item could then be read as a symbol or as a pair: :func:`prompt_pairs` tests each
        item in turn)."""
        if any(isinstance(b, (tuple, list)) for b in self.symbols):
            return None
        return frozenset((b, p) for b in self.symbols for p in self.states)

    @cached_property
    def token_names(self) -> dict[tuple[Hashable, Hashable], str]:
        """The vocabulary token of every (symbol, state) pair (:func:`token_name`)."""
        return {(b, p): token_name(b, p) for b in self.symbols for p in self.states}

    def validate(self) -> None:
        if self.start not in self.states:
            raise InputError(f"start state {self.start!r} is not a state")
        if not self.halting <= set(self.states):
            raise InputError(f"halting states {sorted(self.halting - set(self.states), key=str)} are not states")
        for (p, a), (b, p2) in self.transitions.items():
            if p in self.halting:
                raise InputError(f"halting state {p!r} has a transition")
            for s in (a, b):
                if s not in self.symbols:
                    raise InputError(f"transition ({p!r}, {a!r}) uses symbol {s!r} outside the alphabet")
            for q in (p, p2):
                if q not in self.states:
                    raise InputError(f"transition ({p!r}, {a!r}) uses state {q!r} that is not a state")


def token_name(symbol: Hashable, state: Hashable) -> str:
    """The vocabulary token of the pair (pushed symbol, new state)."""
    return f"{symbol}|{state}"


def parse_token(token: str, spec: PostMachineSpec) -> tuple[Hashable, Hashable]:
    """The (symbol, state) pair of a vocabulary token."""
    for b in spec.symbols:
        for p in spec.states:
            if token_name(b, p) == token:
                return b, p
    raise InputError(f"{token!r} is not a token of this Post machine")


def prompt_pairs(
    spec: PostMachineSpec, window: int, prompt: Sequence[Any], state: Hashable | None = None
) -> list[tuple[Hashable, Hashable]]:
    """The ``window`` (symbol, state) tokens of a prompt, validated.

    Each item of ``prompt`` is a queue symbol (it carries ``state``, by default the start state) or an explicit
    ``(symbol, state)`` pair. The last token's state is the machine's current state, so it must be a working
    state; the other tokens may carry any state (after some decoding steps the window holds tokens emitted in
    different states, and the construction reads only their symbols).
    """
    items = list(prompt)
    if len(items) != window:
        raise InputError(f"the prompt must be exactly the queue of {window} symbols, got {len(items)}")
    default = spec.start if state is None else state
    pairs = _valid_pairs(spec, items, default)
    if pairs is None:
        pairs = _checked_pairs(spec, items, default)
    last = pairs[-1][1]
    if last not in spec.states or last in spec.halting:
        raise InputError(f"the start state {last!r} is not a working state of the Post machine")
    return pairs


def _valid_pairs(spec: PostMachineSpec, items: list[Any], default: Hashable) -> list[tuple[Hashable, Hashable]] | None:
    """:func:`prompt_pairs`'s pairs when every item is a symbol, or every item a (symbol, state) tuple, found by one
    set inclusion; None otherwise (then :func:`_checked_pairs` reads item by item, and names a bad one)."""
    tokens = spec.tokens
    if tokens is None:
        return None
    try:
        seen = set(items)
        if seen <= set(spec.symbols):
            if default not in spec.states or default in spec.halting:
                return None
            return [(item, default) for item in items]
        if seen <= tokens and all(type(item) is tuple for item in seen):
            return items
    except TypeError:  # an unhashable item
        return None
    return None


def _checked_pairs(spec: PostMachineSpec, items: list[Any], default: Hashable) -> list[tuple[Hashable, Hashable]]:
    """:func:`prompt_pairs`'s pairs, item by item: raises :class:`InputError` naming the first bad item."""
    pairs = []
    for i, item in enumerate(items):
        pair = isinstance(item, (tuple, list)) and len(item) == 2
        if _is_symbol(item, spec):
            if default not in spec.states or default in spec.halting:
                raise InputError(f"the start state {default!r} is not a working state of the Post machine")
            pairs.append((item, default))
        elif pair and _is_symbol(item[0], spec):
            if item[1] not in spec.states:
                raise InputError(f"prompt token {i} carries {item[1]!r}, which is not a state of the Post machine")
            pairs.append((item[0], item[1]))
        else:
            bad = item[0] if pair else item
            raise InputError(f"symbol {bad!r} is not in the Post machine's alphabet {list(spec.symbols)}")
    return pairs


def _is_symbol(item: Any, spec: PostMachineSpec) -> bool:
    try:
        return item in spec.symbols
    except TypeError:  # an unhashable, uncomparable item
        return False


def residual_space(spec: PostMachineSpec) -> Space:
    """``sym | state | read | out_sym | out_state``: d = 3|Sigma| + 2|P|."""
    return Space.of(
        Block("sym", spec.symbols),
        Block("state", spec.states),
        Block("read", spec.symbols),
        Block("out_sym", spec.symbols),
        Block("out_state", spec.states),
    )


def factored_embedding(spec: PostMachineSpec, space: Space) -> Embedding:
    """Token (b, p) -> e_sym[b] + e_state[p]; the vocabulary is every pair, the width only |Sigma| + |P|."""
    vocab = tuple(token_name(b, p) for b in spec.symbols for p in spec.states)
    rows = [vector(space, {f"sym:{b}": 1, f"state:{p}": 1}) for b in spec.symbols for p in spec.states]
    return Embedding(W_E=rows, vocab=vocab)


def queue_front_attention(
    spec: PostMachineSpec, space: Space, window: int, *, kind: str = "hard", beta: Fraction = Fraction(1)
) -> Attention:
    """The head that reads the queue front: the oldest of the last ``window`` tokens.

    Scores are only the relative-position bias: ``beta`` at offset ``window - 1``, 0 elsewhere. Hard attention picks
    the front uniquely once the window is full (the prompt fills it); before that (prompt positions only, whose
    outputs are never read) the leftmost tie rule applies. The value copies ``sym`` into ``read``.
    """
    head = Space.of(Block("h"))
    value = Space.of(Block("v", spec.symbols))
    return Attention(
        W_Q=[linear_map(space, head, {})],
        W_K=[linear_map(space, head, {})],
        W_V=[linear_map(space, value, {f"sym:{a}": {f"v:{a}": 1} for a in spec.symbols})],
        W_O=[linear_map(value, space, {f"v:{a}": {f"read:{a}": 1} for a in spec.symbols})],
        kind=kind,  # type: ignore[arg-type]
        mask=Mask("window", window),
        tie_rule="leftmost",
        relative_bias=(RelativeBias({window - 1: beta}),),
    )


def transition_lookup_mlp(spec: PostMachineSpec, space: Space) -> MLP:
    """One ReLU unit per defined (p, a): ``ReLU(state[p] + read[a] - 1)`` writes ``out_sym[b] + out_state[p2]``."""
    pairs = sorted(spec.transitions, key=str)
    hidden = Space.of(Block("unit", [f"{p},{a}" for p, a in pairs]))
    W_in: dict[str, dict[str, int]] = {}
    for p, a in pairs:
        unit = f"unit:{p},{a}"
        W_in.setdefault(f"state:{p}", {})[unit] = 1
        W_in.setdefault(f"read:{a}", {})[unit] = 1
    W_out = {}
    for p, a in pairs:
        b, p2 = spec.transitions[(p, a)]
        W_out[f"unit:{p},{a}"] = {f"out_sym:{b}": 1, f"out_state:{p2}": 1}
    return MLP(
        W_in=linear_map(space, hidden, W_in),
        b_in=np.full(hidden.dim, Fraction(-1), dtype=object),
        W_out=linear_map(hidden, space, W_out),
    )


def pair_readout(spec: PostMachineSpec, space: Space) -> Readout:
    """logit(b, p) = out_sym[b] + out_state[p], argmax over every pair."""
    labels = tuple(token_name(b, p) for b in spec.symbols for p in spec.states)
    out = Space.of(Block("logit", labels))
    action: dict[str, dict[str, int]] = {}
    for b in spec.symbols:
        for p in spec.states:
            action.setdefault(f"out_sym:{b}", {})[f"logit:{token_name(b, p)}"] = 1
            action.setdefault(f"out_state:{p}", {})[f"logit:{token_name(b, p)}"] = 1
    return Readout(W_U=linear_map(space, out, action), labels=labels, position=-1, decision="argmax")


@dataclass
class PostRun:
    """What the transformer did when decoding a Post machine from a queue.

    Attributes
    ----------
    tokens
        The generated (symbol, state) pairs, one per machine step.
    halted
        Whether the last generated state is a halting state.
    queue
        The final queue (the symbols of the last L tokens, front first).
    state
        The final state.
    margins
        The readout margin of each generated token (2 - 1 = 1 for the hard construction).
    stuck
        Whether the decode stopped because the model has no transition for the current (state, front symbol):
        the readout had no unique maximum (margin 0: no transition unit fired, every logit is 0). The reference
        :meth:`~exactformer.languages.post.PostMachine.run` reports the same run as stuck.
    stuck_on
        That (state, front symbol) pair, when ``stuck``.
    """

    tokens: list[tuple[Hashable, Hashable]]
    halted: bool
    queue: list[Hashable]
    state: Hashable
    margins: list[float]
    stuck: bool = False
    stuck_on: tuple[Hashable, Hashable] | None = None

    @property
    def steps(self) -> int:
        return len(self.tokens)


def simulate(
    construction: Construction,
    queue: Sequence[Any] | None = None,
    *,
    max_tokens: int = 10_000,
    backend: str = "torch",
    dtype: Any = None,
    device: Any = None,
    queues: Sequence[Sequence[Any]] | None = None,
    state: Hashable | None = None,
    states: Sequence[Hashable] | None = None,
    on_stuck: str = "stop",
) -> PostRun | list[PostRun]:
    """Decode greedily from ``queue`` (or a batch of ``queues``) until a halting state or ``max_tokens``.

    The machine starts in ``state`` (or ``states[k]`` for ``queues[k]``; by default the machine's start state):
    every prompt token carries it. A queue may instead be a sequence of explicit ``(symbol, state)`` tokens (see
    :func:`prompt_pairs`); the last one's state is where the machine starts. With torch the decoder keeps only the
    last L tokens' attention inputs (a KV cache trimmed to the window), so each token costs O(L) work; with the
    exact and certified backends each token reruns only the window (the model has no absolute positions and a
    window mask of L, so the last L tokens decide the next one), which costs the same O(L).

    A token decided without a unique maximum (margin 0) means no transition unit fired: the model has no
    transition for the current (state, front symbol). With ``on_stuck="stop"`` (the default) the run ends there,
    before that token, as :class:`PostRun` ``stuck``, naming the pair in ``stuck_on``; ``on_stuck="raise"`` raises
    :class:`~exactformer.core.errors.InputError` naming it.
    """
    import torch

    from ..core.arith import arithmetic_for
    from ..core.runners import decode

    if on_stuck not in ("stop", "raise"):
        raise InputError(f"on_stuck must be 'stop' or 'raise', not {on_stuck!r}")
    spec: PostMachineSpec = construction.parameters.spec
    L: int = construction.parameters.queue_length
    batch = [list(q) for q in queues] if queues is not None else [list(queue if queue is not None else ())]
    if states is None:
        starts = [spec.start if state is None else state] * len(batch)
    elif queues is None or len(states) != len(batch):
        raise InputError("states= gives one start state per queue of queues=")
    else:
        starts = list(states)
    pairs_in = [prompt_pairs(spec, L, q, p) for q, p in zip(batch, starts)]
    names = spec.token_names
    prompts = [[names[pair] for pair in pairs] for pairs in pairs_in]
    halting_tokens = {name for (_, p), name in names.items() if p in spec.halting}
    pairs_of = {name: pair for pair, name in names.items()}
    arith = arithmetic_for(backend, dtype=dtype or (torch.float64 if backend == "torch" else None), device=device)
    # a tie (no transition unit fired) stops that run, stuck; the last L tokens decide the next one (window mask,
    # no positions), so the uncached (exact, certified) path reruns only those
    out = decode(construction.model, prompts, arith, max_new_tokens=max_tokens, stop=halting_tokens, on_tie="stop",
                 context=L)
    runs = []
    for pairs_0, tokens, stopped, margins, stuck in zip(pairs_in, out.tokens, out.stopped, out.margins, out.tied):
        pairs = [pairs_of[t] for t in tokens]
        window = ([b for b, _ in pairs_0] + [b for b, _ in pairs])[-L:]
        last = pairs[-1][1] if pairs else pairs_0[-1][1]
        stuck_on = (last, window[0]) if stuck else None
        if stuck_on is not None and on_stuck == "raise":
            raise InputError(
                f"the model has no transition for state {stuck_on[0]!r} on front symbol {stuck_on[1]!r} (decode step "
                f"{len(pairs) + 1}: the readout has no unique maximum)"
            )
        runs.append(PostRun(tokens=pairs, halted=stopped and not stuck, queue=window, state=last,
                            margins=list(margins), stuck=stuck, stuck_on=stuck_on))
    return runs if queues is not None else runs[0]


@dataclass(frozen=True)
class PostMachineParameters:
    """What :func:`post_machine` was built from.

    Attributes
    ----------
    spec
        The machine's symbols, states and transition table as the model encodes them.
    machine
        The Post machine itself (the reference runs it).
    queue_length
        L, the window: the queue the prompt holds and the attention reads.
    attention
        ``"hard"`` (the construction) or ``"softmax"`` (the precision study).
    beta
        The softmax inverse temperature (unused by hard attention).
    """

    spec: PostMachineSpec
    machine: Any
    queue_length: int
    attention: str
    beta: Fraction


def post_machine(
    pm: Any, *, queue_length: int | None = None, attention: str = "hard", beta: Fraction | int | str = 1
) -> Construction:
    """The one-layer decoder that runs the synchronous Post machine ``pm`` with a window of ``queue_length``.

    Parameters
    ----------
    pm
        A synchronous Post machine (see :class:`PostMachineSpec.of` for the attributes read).
    queue_length
        L, the queue (and window) length; when omitted it is taken from ``pm.queue_length`` or the length of
        ``pm.queue``. The prompt must be exactly L tokens.
    attention
        ``"hard"`` (the construction) or ``"softmax"`` (for the precision study: needs ``beta`` of order ln L).
    beta
        The relative-position bias at the queue front.

    Returns
    -------
    Construction
        Input: a queue of L symbols (the machine starts in ``pm.start``); answer: the token decided at the last
        position (the next (symbol, state)). Use :func:`simulate` to run the machine to its halt.
    """
    spec = PostMachineSpec.of(pm)
    if queue_length is None:
        queue_length = getattr(pm, "queue_length", None) or len(getattr(pm, "queue", ()) or ())
    if not queue_length:
        raise InputError("post_machine(pm): give the window as queue_length= (the machine has no queue_length or "
                         "queue attribute to take it from)")
    if queue_length < 2:
        raise InputError(f"the queue length must be at least 2, got {queue_length!r}")
    if attention not in ("hard", "softmax"):
        raise InputError(f"attention must be 'hard' or 'softmax', not {attention!r}")
    L = int(queue_length)
    space = residual_space(spec)
    model = Transformer(
        space=space,
        embedding=factored_embedding(spec, space),
        layers=(
            Layer(
                attention=Sublayer(queue_front_attention(spec, space, L, kind=attention, beta=Fraction(beta))),
                mlp=Sublayer(transition_lookup_mlp(spec, space)),
                name="post_step",
            ),
        ),
        readout=pair_readout(spec, space),
    )

    def encode(queue: Sequence[Any], state: Hashable | None = None) -> list[str]:
        """The prompt of L tokens: a queue of symbols, each with the start state (``state``, by default the
        machine's), or explicit ``(symbol, state)`` tokens (any mix, e.g. the window of a decode in progress)."""
        names = spec.token_names
        return [names[pair] for pair in prompt_pairs(spec, L, queue, state)]

    def front_symbol(queue: Sequence[Any], n_tokens: int) -> list[list[int]]:
        front = prompt_pairs(spec, L, queue)[0][0]
        return [[int(front == a) for a in spec.symbols]]

    return Construction(
        name="post_machine",
        model=model,
        encode=encode,
        interpret=lambda label: parse_token(label, spec),
        tokens_for=lambda n: n,
        citation=CITATION,
        invariants=(
            Invariant(
                name="attention.reads_queue_front",
                statement="the head copies the symbol of the oldest token in the window (the queue front) to read",
                probe=Probe("L0.attn", tuple(f"read:{a}" for a in spec.symbols), (-1,)),
                expected=front_symbol,
            ),
        ),
        description="One layer, one hard-attention head over a sliding window of the queue length: the window is "
        "the queue, the MLP is the transition table.",
        claims=ClaimedResources(
            claims=(Claim("layers", "==", constant(1), "1"), Claim("heads", "==", constant(1), "1")),
            attention=(attention,),
            precision="constant: weights in {-1,0,1}, activations in {0,1,2} (hard attention); softmax needs beta >= "
                      "ln(2(L-1))",
        ),
        parameters=PostMachineParameters(spec=spec, machine=pm, queue_length=L, attention=attention,
                                         beta=Fraction(beta)),
        simulator=simulate,
    )

