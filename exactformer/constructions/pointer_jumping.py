"""A uniform log-depth recognizer by pointer jumping: one looped layer per doubling, the DFA state at every token.

This is the simpler uniform log-depth construction of the project's log-depth notes (``docs/notes/log_depth.md``
§8, "Path B"), **not** the construction of Merrill & Sabharwal's Theorem 1 (for that, see ``log_depth.py``). It
shows the same depth bound -- a fixed set of weights, one layer looped ⌈log₂ n⌉ times, recognises any regular
language (Merrill & Sabharwal 2025, arXiv 2503.03961) -- with a per-doubling constant of 1 instead of 8, and it
outputs all prefix states (like Liu et al. 2023's parallel scan, but uniform in n), so the A5 word-problem label
is available at every token.

Input: ``BOS w_1 ... w_n`` (BOS at position 0); no end marker. Every token i keeps

* a pointer ``p_i`` (initially ``i - 1``, BOS: 0) and its square ``p_i^2``, and
* a segment product ``P_i`` = the monoid element of ``w_{p_i+1} ... w_i`` (initially ``delta(., w_i)``; BOS: the
  identity), plus ``S_i`` = the state that segment leads the start state to (``P_i(q0)``).

Proof sketch (the lemmas are the functions below):

* :func:`pointer_embedding` -- the positional features ``i`` and ``i^2`` give position keys and the initial pointer
  ``(p, p^2) = (i - 1, (i - 1)^2)`` (token rows add the constants); ``P`` is the letter's element, ``S`` its image
  of q0.
* :func:`pointer_attention` -- one hard, causally masked head with query ``(2p, -1, -p^2)`` and key
  ``(j, j^2, 1)``: the score is ``-(j - p)^2``, uniquely maximal (= 0) at ``j = p <= i``, with a gap of 1 to every
  other key. Its value copies ``(p_j, p_j^2, P_j, S_j)`` of ``j = p_i`` into the temporaries ``TPTR, TP, TS``.
* :func:`jump_mlp` -- the composition MLP of :mod:`.monoid_composition` computes ``P_i <- TP * P_i`` (first the
  earlier segment, then the later one) and clears ``TP``; the same units move ``S`` to the state of the product;
  four pointer units move ``TPTR`` into ``PTR`` (pointers are non-negative, so ``ReLU(x) = x``).
* Round invariant (induction on r): after r rounds ``p_i = max(i - 2^r, 0)`` and ``P_i`` is the product over
  ``(p_i, i]``: ``p_{p_i} = max(i - 2^{r+1}, 0)`` and the two segments ``(p_{p_i}, p_i]``, ``(p_i, i]`` are
  adjacent. BOS is a fixed point (p = 0, identity). So after ⌈log₂ n⌉ rounds every pointer is 0 and ``P_i`` is the
  prefix product, ``S_i`` the DFA state after ``w_1 .. w_i``. :func:`acceptance_readout` reads ``S_n in F``.

Every weight, activation and score is an integer: the exact evaluator runs it in rational arithmetic (no norm, no
square root), and float arithmetic is exact as long as the scores (up to ``2 n^2``) are exact integers: float64 to
n ~ 6.7e7, float32 to n ~ 2,896, float16 to n ~ 32 (see ``precision_prediction``).

Deviations from the note's Path B prototype (Appendix B.2), which matches pointers with the layer-norm hash
``phi(p) . phi(j)`` under a masked RMSNorm: here positions are keyed by ``(j, j^2)`` and matched by the quadratic
score ``-(j - p)^2``. This keeps every operation rational (the hash needs square roots, so only the certified and
float evaluators could run it) and turns the hash gap ``~1/(2 p^4)`` (float64 fails near n ~ 8,000, float32 near
n ~ 50) into a gap of 1. The cost is the positional feature ``i^2`` (:class:`IndexSquared`), which the paper's
no-PE model does not have. The FFN has biases (-1 on the lookup units) instead of a constant residual block.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from ..core.architecture import Attention, Embedding, Layer, Readout, Sublayer
from ..core.batch_encoding import with_batch
from ..core.claims import ClaimedResources
from ..core.construction import Citation, Construction, Invariant, Probe
from ..core.positions import Index, IndexSquared, PositionalFeature, ScaledFeature
from ..core.sites import Site
from ..core.space import Block, Space, vector
from .gadgets.dfa import BOS, ceil_log2, dfa_symbols, letter_maps, recognizer_io
from .gadgets.heads import pointer_head
from .gadgets.looped import THEOREM1_LAYERS, log_depth_model, looped_depth
from .gadgets.readout import sign_readout
from .monoid_composition import ElementCode, Units, choose_code, code_cells, segment_products

__all__ = [
    "CITATION",
    "IndexSquared",
    "pointer_jumping_recognizer",
    "prefix_states",
    "rounds_for",
    "BOS",
    "CompositionSummary",
    "PointerJumpingParameters",
]

CITATION = Citation(
    authors="William Merrill, Ashish Sabharwal",
    title="A Little Depth Goes a Long Way: The Expressive Power of Log-Depth Transformers",
    venue="NeurIPS 2025",
    theorem="depth bound of Theorem 1 (regular languages in Θ(log n) looped layers); the weights are the project "
    "note's §8 Path B (pointer jumping), not the paper's construction",
    arxiv="2503.03961",
)


@dataclass(frozen=True)
class CompositionSummary:
    """The composition MLP a pointer-jumping model uses (:mod:`.monoid_composition`).

    Attributes
    ----------
    kind
        ``"lookup"`` (one unit per pair of monoid elements) or ``"function"`` (elements as state functions).
    units
        Its hidden units.
    coordinates_per_element
        Residual coordinates per encoded monoid element.
    monoid_size
        |M| when the transition monoid was enumerated, else ``None``.
    states
        |Q|, the DFA's states (the sink included).
    other_code_units
        The units the other code would need (``None`` where the monoid was not enumerated).
    """

    kind: str
    units: int
    coordinates_per_element: int
    monoid_size: int | None
    states: int
    other_code_units: int | None


@dataclass(frozen=True)
class PointerJumpingParameters:
    """What :func:`pointer_jumping_recognizer` was built from.

    Attributes
    ----------
    dfa
        The DFA the model recognises (completed with a sink if partial).
    code
        The element code of the composition MLP (:class:`~.monoid_composition.ElementCode`).
    composition
        The composition MLP chosen and its width.
    """

    dfa: Any
    code: ElementCode
    composition: CompositionSummary


def rounds_for(n: int) -> int:
    """⌈log₂ n⌉ (0 for n <= 1): the rounds after which every pointer of a length-n input is 0."""
    return ceil_log2(n)


@dataclass(frozen=True)
class _Setup:
    """What the lemma functions share: the DFA's letter maps, the element code and the residual space."""

    symbols: tuple[Hashable, ...]
    tokens: tuple[str, ...]
    letters: dict[Hashable, tuple[int, ...]]
    n_states: int
    start: int
    accepting: frozenset[int]
    code: ElementCode
    space: Space


def residual_space(code: ElementCode, n_states: int) -> Space:
    """``one | pos(i, i2) | PTR(p, p2) | TPTR(p, p2) | P | TP | S | TS``: d = 7 + 2·dim(code) + 2|Q|."""
    states = [str(q) for q in range(n_states)]
    return Space.of(
        Block("one"),
        Block("pos", ["i", "i2"]),
        Block("PTR", ["p", "p2"]),
        Block("TPTR", ["p", "p2"]),
        Block("P", code.labels),
        Block("TP", code.labels),
        Block("S", states),
        Block("TS", states),
    )


def pointer_embedding(setup: _Setup) -> Embedding:
    """Token rows and positional features: ``pos = (i, i^2)``, ``PTR = (i - 1, (i - 1)^2)``, ``P = delta(., a)``.

    A symbol's row holds ``one = 1``, ``P`` = its letter map, ``S`` = the letter map's image of q0 and the constants
    ``PTR = (-1, +1)``; the features add ``i`` to ``PTR:p`` and ``i^2 - 2i`` to ``PTR:p2``, so
    ``PTR = (i - 1, (i - 1)^2)``. BOS (always at position 0) holds the identity, ``S = q0`` and ``PTR = (0, 0)``.
    """
    space, code = setup.space, setup.code
    identity = tuple(range(setup.n_states))
    rows = [vector(space, {"one": 1, **code.entries("P", identity), f"S:{setup.start}": 1})]
    for a in setup.symbols:
        f = setup.letters[a]
        rows.append(
            vector(space, {"one": 1, **code.entries("P", f), f"S:{f[setup.start]}": 1, "PTR:p": -1, "PTR:p2": 1})
        )
    positional: tuple[tuple[str, PositionalFeature], ...] = (
        ("pos:i", Index()),
        ("pos:i2", IndexSquared()),
        ("PTR:p", Index()),
        ("PTR:p2", IndexSquared()),
        ("PTR:p2", ScaledFeature(Index(), Fraction(-2))),
    )
    return Embedding(W_E=rows, vocab=(BOS,) + setup.tokens, positional=positional)


def pointer_attention(setup: _Setup) -> Attention:
    """The jump head: score ``2 p_i j - j^2 - p_i^2 = -(j - p_i)^2``, hard and causal, copies token ``p_i``.

    Since ``p_i <= i`` the maximiser ``j = p_i`` is allowed by the causal mask, and it is unique (every other key
    scores at most -1), so no tie rule is needed. The value copies ``PTR, P, S`` of that token into
    ``TPTR, TP, TS`` (which are 0 before the head writes: the previous MLP cleared them).
    """
    copied = [("PTR:p", "TPTR:p"), ("PTR:p2", "TPTR:p2")]
    copied += [(f"P:{c}", f"TP:{c}") for c in setup.code.labels]
    copied += [(f"S:{q}", f"TS:{q}") for q in range(setup.n_states)]
    return pointer_head(setup.space, {"PTR:p": 1}, {"PTR:p2": 1}, copied)


def state_units(setup: _Setup, units: Units) -> Units:
    """Add to the composition units the writes that keep ``S = P(q0)`` and clear ``TS``.

    Lookup code: the unit (a, b) that fires also writes ``S[(a*b)(q0)] += 1``, ``S[b(q0)] -= 1`` and
    ``TS[a(q0)] -= 1``. Function code: the unit (q0, r, s) fires for ``r = left(q0)`` and writes ``S[s] += 1``,
    ``TS[r] -= 1``; the clearing unit of cell ``(q0, s)`` of the right block writes ``S[s] -= 1``. Either way ``S``
    ends as the image of q0 under the new product and ``TS`` as 0, with no extra unit.
    """
    code, q0 = setup.code, setup.start
    outputs = {u: dict(w) for u, w in units.outputs.items()}

    constants = {v: Fraction(v) for v in (-1, 1)}

    def add(u: str, coord: str, value: int) -> None:
        current = outputs[u].get(coord)
        outputs[u][coord] = constants[value] if current is None else current + value

    if code.kind == "lookup":
        elements, table = code.monoid.elements, code.monoid.table
        for a, ea in enumerate(elements):
            for b, eb in enumerate(elements):
                u = f"mul:{a}*{b}"
                add(u, f"S:{elements[table[a, b]][q0]}", 1)
                add(u, f"S:{eb[q0]}", -1)
                add(u, f"TS:{ea[q0]}", -1)
    else:
        n = setup.n_states
        for r in range(n):
            for s in range(n):
                add(f"fun:{q0}>{r}>{s}", f"S:{s}", 1)
                add(f"fun:{q0}>{r}>{s}", f"TS:{r}", -1)
            add(f"fun:clear:{q0}>{r}", f"S:{r}", -1)
    return Units(units.labels, units.inputs, units.bias, outputs)


def pointer_units() -> Units:
    """``PTR <- TPTR``, ``TPTR <- 0`` in four units: ``ReLU(TPTR)`` writes ``PTR += , TPTR -=``; ``ReLU(PTR)`` writes
    ``PTR -=``. Pointers and their squares are never negative, so each ReLU is the identity on them."""
    labels, inputs, outputs = [], {}, {}
    for c in ("p", "p2"):
        labels += [f"ptr:move:{c}", f"ptr:drop:{c}"]
        inputs[f"ptr:move:{c}"] = {f"TPTR:{c}": Fraction(1)}
        outputs[f"ptr:move:{c}"] = {f"PTR:{c}": Fraction(1), f"TPTR:{c}": Fraction(-1)}
        inputs[f"ptr:drop:{c}"] = {f"PTR:{c}": Fraction(1)}
        outputs[f"ptr:drop:{c}"] = {f"PTR:{c}": Fraction(-1)}
    return Units(tuple(labels), inputs, {}, outputs)


def jump_mlp(setup: _Setup) -> Any:
    """The round's MLP: ``P <- TP * P`` and ``S <- (TP * P)(q0)`` (clearing ``TP, TS``), and ``PTR <- TPTR``."""
    composition = setup.code.units(left="TP", right="P", out="P")
    return (state_units(setup, composition) + pointer_units()).mlp(setup.space)


def acceptance_readout(setup: _Setup) -> Readout:
    """``logit = 2 sum_{q in F} S[q] - 1`` at the last token: +1 iff the state after the whole word is accepting."""
    return sign_readout(setup.space, {f"S:{q}": 2 for q in setup.accepting}, bias=-1)


def _setup(dfa: Any, prefer: str | None) -> _Setup:
    symbols, tokens = dfa_symbols(dfa, "pointer_jumping_recognizer", reserved=(BOS,))
    code = choose_code(dfa, prefer=prefer)  # type: ignore[arg-type]
    maps = letter_maps(dfa, symbols)
    space = residual_space(code, maps.n_states)
    return _Setup(symbols, tokens, maps.letters, maps.n_states, maps.start, maps.accepting, code, space)


def _product(setup: _Setup, symbols: Sequence[Hashable]) -> tuple[int, ...]:
    """The map of a word, composed left to right from the letter maps (the proof's formula, no model)."""
    f = tuple(range(setup.n_states))
    for a in symbols:
        g = setup.letters[a]
        f = tuple(g[x] for x in f)
    return f


class _RoundProbe(Probe):
    """Reads the residual after round ``min(r, R)`` (R = the rounds the input gets): ``"embed"`` for 0."""

    def __init__(self, round_: int, coordinates: tuple[str, ...]) -> None:
        super().__init__(site=Site.embed(), coordinates=coordinates)
        object.__setattr__(self, "round_", round_)

    def resolved(self, trace: Any) -> Probe:
        """The plain probe of the site this one reads in ``trace``."""
        rounds = sum(1 for label in trace.labels if label.endswith(".mlp") and label.startswith("loop"))
        r = min(self.round_, rounds)  # type: ignore[attr-defined]
        site = "embed" if r == 0 else f"loop{r - 1}.B0.mlp"
        return Probe(site, self.coordinates)

    def read(self, trace: Any, space_index: Any, batch: int = 0) -> np.ndarray:
        return self.resolved(trace).read(trace, space_index, batch)

    def read_batch(self, trace: Any, space_index: Any) -> Any:
        return self.resolved(trace).read_batch(trace, space_index)


def _invariants(setup: _Setup, dfa: Any, max_round: int) -> tuple[Invariant, ...]:
    code = setup.code
    pcoords = ("PTR:p", "PTR:p2") + tuple(f"P:{c}" for c in code.labels)
    scoords = tuple(f"S:{q}" for q in range(setup.n_states))

    def segment_values(r: int) -> Any:
        def expected(word: Any, n_tokens: int) -> list[list[int]]:
            symbols = dfa.symbols_of(word)
            rr = min(r, rounds_for(n_tokens - 1))
            rows = []
            for i in range(n_tokens):
                p = max(i - 2**rr, 0)
                rows.append([p, p * p] + code.code_vector(_product(setup, symbols[p:i])))
            return rows

        def expected_batch(words: torch.Tensor, n_tokens: int) -> torch.Tensor:
            """``expected`` of a batch of words (indices into the DFA's ordered alphabet), by doubling: the product
            of the ``2^r`` letters before token ``i`` is the product of the ``2^(r-1)`` before token
            ``max(i - 2^(r-1), 0)`` followed by the ``2^(r-1)`` before token ``i`` (token 0's product: the identity)."""
            rr = min(r, rounds_for(n_tokens - 1))
            segments = segment_products(code, [setup.letters[a] for a in setup.symbols], words, rr)
            batch = words.shape[0]
            p = (torch.arange(n_tokens, device=words.device) - 2**rr).clamp(min=0).to(torch.float64)
            rows = torch.zeros((batch, n_tokens, 2 + code.dim), dtype=torch.float64, device=words.device)
            rows[:, :, 0], rows[:, :, 1] = p, p * p
            return rows.scatter_(2, 2 + code_cells(code, segments), 1.0)

        return with_batch(expected, expected_batch)

    def states_from_run(word: Any, n_tokens: int) -> list[list[int]]:
        run = list(dfa.run(word))  # the reference's states after every prefix (None once it falls off)
        run += [None] * (n_tokens - len(run))
        names = list(dfa.ordered_states)
        out = []
        for q in run:
            k = names.index(q) if q is not None else setup.n_states - 1
            out.append([int(k == s) for s in range(setup.n_states)])
        return out

    def states_from_run_batch(words: torch.Tensor, n_tokens: int) -> torch.Tensor:
        """``states_from_run`` of a batch of words (indices into the DFA's ordered alphabet): the letter maps, sink
        included, applied from the start state one letter at a time."""
        table = torch.tensor([setup.letters[a] for a in setup.symbols], dtype=torch.int64, device=words.device)
        state = torch.full((words.shape[0],), setup.start, dtype=torch.int64, device=words.device)
        states = [state]
        for t in range(words.shape[1]):
            state = table[words[:, t], state]
            states.append(state)
        out = torch.zeros((words.shape[0], n_tokens, setup.n_states), dtype=torch.float64, device=words.device)
        return out.scatter_(2, torch.stack(states, dim=1)[:, :n_tokens, None], 1.0)

    states_from_run = with_batch(states_from_run, states_from_run_batch)

    invariants = [
        Invariant(
            name=f"round{r}.segment_product",
            statement=f"after round min({r}, ⌈log2 n⌉), token i holds p_i = max(i - 2^r, 0), p_i^2 and the one-hot "
            "code of the product of w_{p_i+1} .. w_i",
            probe=_RoundProbe(r, pcoords),
            expected=segment_values(r),
        )
        for r in range(max_round + 1)
    ]
    invariants.append(
        Invariant(
            name="final.prefix_states",
            statement="after the last round, S at every token i is the DFA state after w_1 .. w_i (DFA.run; the "
            "sink after a missing transition)",
            probe=Probe("final", scoords),
            expected=states_from_run,
        )
    )
    return tuple(invariants)


def pointer_jumping_recognizer(
    dfa: Any, *, composition: str | None = None, probe_rounds: int = 4, name: str = "pointer_jumping"
) -> Construction:
    """The looped pointer-jumping transformer that runs ``dfa`` and reports its state after every prefix.

    Parameters
    ----------
    dfa
        An :class:`exactformer.languages.DFA` (partial DFAs are completed with a sink).
    composition
        ``None`` (the narrower of the two composition MLPs), ``"lookup"`` (|M|^2 units) or ``"function"``
        (|Q|^3 + |Q|^2 units); see :mod:`.monoid_composition`.
    probe_rounds
        Declare the round invariant for rounds 0 .. ``probe_rounds`` (each is checked after ``min(r, R)`` rounds).
    name
        The construction's name.

    Returns
    -------
    Construction
        Input: a word over the DFA's alphabet (n >= 0); sequence ``BOS w_1 .. w_n``; depth ⌈log₂ n⌉ (one looped
        layer: one hard head and one ReLU MLP); answer: whether the DFA accepts. :func:`prefix_states` reads the state
        at every token. ``parameters.composition`` (a :class:`CompositionSummary`) names the composition MLP
        chosen and its width.
    """
    setup = _setup(dfa, composition)
    layer = Layer(attention=Sublayer(pointer_attention(setup)), mlp=Sublayer(jump_mlp(setup)), name="jump")
    model = log_depth_model(setup.space, pointer_embedding(setup), (layer,), acceptance_readout(setup), extra_tokens=1)

    code = setup.code
    alternative = (
        (setup.n_states**3 + setup.n_states**2)
        if code.kind == "lookup"
        else (None if code.monoid is None else len(code.monoid) ** 2)
    )
    return Construction(
        name=name,
        model=model,
        **recognizer_io(dfa, end=None, vocab=model.embedding.vocab),
        citation=CITATION,
        invariants=_invariants(setup, dfa, probe_rounds),
        description="Pointer jumping (the log-depth note's Path B, not the paper's construction): one looped layer "
        "(a hard head that follows each token's pointer, and a composition MLP) run ⌈log2 n⌉ times "
        "leaves the DFA state after every prefix at every token. " + code.describe() + ".",
        claims=ClaimedResources(
            claims=(THEOREM1_LAYERS, looped_depth(0, 1, False)),
            attention=("hard",),
            precision="scores -(j - p)^2 are integers up to 2 n^2 in magnitude: exact while 2 n^2 is an exact float "
                      "integer (float64: n <= 6.7e7; float32: n <= 2896; float16: n <= 32; bfloat16: n <= 11)",
        ),
        deviations=("pointer jumping (the log-depth note's Path B), not the paper's activeness tree",),
        parameters=PointerJumpingParameters(dfa=dfa, code=code, composition=CompositionSummary(
            kind=code.kind, units=code.width(), coordinates_per_element=code.dim, monoid_size=code.monoid_size,
            states=setup.n_states, other_code_units=alternative)),
    )


def prefix_states(
    construction: Construction,
    words: Sequence[Any],
    *,
    backend: str = "torch",
    dtype: torch.dtype | None = None,
    device: Any = None,
    arith: Any = None,
) -> list[tuple[Hashable | None, ...]]:
    """The DFA state after every prefix of each word, read from the model's ``S`` block at every token.

    The result for a word of length n has n + 1 entries (the start state at BOS first), in the format of
    ``DFA.run`` except that a run that fell off a partial DFA reports ``None`` at every later position. Words of
    different lengths are run in separate batches; pass one ``arith`` (``exactformer.core.arith.arithmetic_for``)
    to render the weights once for all of them (it overrides ``backend``, ``dtype`` and ``device``).
    """
    dfa = construction.parameters.dfa
    names = list(dfa.ordered_states)
    cols = [construction.model.space.index(f"S:{q}") for q in range(construction.parameters.composition.states)]
    out: dict[int, tuple[Hashable | None, ...]] = {}
    groups: dict[int, list[int]] = {}
    for k, w in enumerate(words):
        groups.setdefault(len(construction.encode(w)), []).append(k)
    for _, ks in sorted(groups.items()):
        results = construction.run_batch(
            [words[k] for k in ks], backend=backend, dtype=dtype, device=device, arith=arith
        )
        final = results[0].output.trace.final
        for b, k in enumerate(ks):
            rows = final[b]
            if isinstance(rows, torch.Tensor):
                rows = rows.detach().to(torch.float64).cpu().numpy()
            states = []
            for row in rows:
                values = [float(row[c].mid) if hasattr(row[c], "mid") else float(row[c]) for c in cols]
                best = int(np.argmax(values))
                states.append(names[best] if best < len(names) else None)
            out[k] = tuple(states)
    return [out[k] for k in range(len(words))]
