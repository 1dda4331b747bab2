"""Merrill & Sabharwal (2025), Theorem 1, in the paper's own architecture: BOS as the only positional information,
averaging-hard causal attention, masked pre-norm (LayerNorm, eps = 0) on every sublayer, bias-free ReLU FFNs, the
layer-norm hash for every pointer, a looped level block, input ``w$`` and the answer at ``$``.

The tree's data flow is the one of :mod:`.log_depth` (``docs/notes/log_depth.md`` §3.3 with the §3.4
errata fixed); what changes is how each step is realised. Storage follows App. A of the paper: a scalar z as
``phi(z) = psi(z)/||psi(z)||`` with ``psi(z) = <z, 1, -z, -1>``, booleans as signed blocks ``+-(1, -1)``, monoid
elements as balanced one-hots ``e_a - e_{K+a}``. Every block a sublayer reads has a fixed norm, so a masked
LayerNorm read of the blocks ``M`` (total squared norm ``S_M``) is the stored value times ``rho_M = sqrt(d / S_M)``;
the weights after a read divide by ``rho_M`` (a rational within 1e-40 of the irrational ``sqrt(S_M / d)``).

The lemma functions named below are in :mod:`.log_depth_paper_lemmas` (re-exported here); this module assembles them
into the prefix, the level block and the construction.

**Prefix (3 layers; the paper computes positions inside the model too, but says neither where nor how).**
:func:`position_heads` (Lemma 7): two uniform causal heads average ``1[j = 0]`` and ``1[j >= 1]``, giving
``1/(i+1)`` and ``i/(i+1)``; the cells ``psi(i/(i+1), 1/(i+1))`` and ``psi((i-1)/(i+1), 1/(i+1))`` read as
``phi(i)`` and ``phi(i - 1)`` ([CoT] Lemma 1, scale invariance). :func:`phi_write` (Lemma 4) turns each read into a
unit block ``POS = phi(i)``, ``PREV = phi(i - 1)``; a sign-flipped copy of the heads deletes the ratio cells
(Lemma 6: same mask, same inputs, so the copy cancels them exactly).

**Level block (5 layers, looped ``ceil(log2 n)`` times, then once more as the final block):**

1. ``count``: :func:`count_heads` + :func:`phi_write`: ``c_i`` = the inclusive count of active tokens, stored as
   ``rc = psi((c_i + 1/2)/(i+1), 2/(i+1))`` and read into ``hc = phi(c_i/2 + 1/4)`` (step 5 of §3.3).
2. ``half_count``: :func:`half_count_head` (the hash ``hc . phi(j)`` over j <= i, value ``phi(j)`` into ``t``;
   Lemma 1's first layer for m = 2, applied to the count) beside a sign-flipped copy of the count heads that deletes
   ``rc``; :func:`difference_mlp` writes ``xa = x`` with ``x = t_z - hc_z``.
3. ``parity`` (MLP only): :func:`sign_mlp`, Lemma 8's sign read: ``xa`` read alone is ``sgn(x)`` whatever ``|x|``
   is, and ``E = [x < 0] = [c_i even]``.
4. ``previous``: :func:`previous_token_head` (query ``PREV = phi(i-1)``, key ``POS``) copies ``(alpha^l, E, D)`` of
   token ``i - 1`` (step 2); the MLP (a sign-flipped :func:`difference_mlp`) deletes ``xa, t, hc``.
5. ``combine``: :func:`partner_head` (query constant, key ``2 alpha^l_{j-1} + phi(j)_z``: the latest j <= i whose
   predecessor is active, ties broken toward the latest j by the increasing ``phi(j)_z``; step 3 with the
   partner-key fix) and :func:`combine_mlp`: ``alpha^{l+1} = alpha^l AND E``; survivors multiply their partner's
   block on the left (the |M|^2 lookup), losers reset to the identity, ``$`` absorbs a leftover block into ``DS`` on
   the left (step 6; the latest active token before ``$`` is deactivated iff its E is 0), scratch deleted.

The readout tests ``DS(q0) in F`` at ``$`` linearly (the paper's ninth final layer, folded in).

**The parity test (an erratum under finite precision).** Lemma 1's first layer queries ``phi(c/2)`` and decides
``m | c`` by Lemma 8: whether the hash's answer ``phi(j*)`` *equals* the query, read as ``sgn(x - y)`` from one
cell with ``sgn(0) = 0``. In floating point -- and under the paper's own Definition 4, correctly rounded p-bit
operations -- the two sides are the same real number computed by two routes and differ by rounding (measured by
:func:`~exactformer.constructions.gadgets.paper_lemmas.lemma1_multiple_flags`); when they agree to the last bit the
cell is exactly 0 and its LayerNorm is 0/0. This build queries ``phi(c/2 + 1/4)`` instead: for even c the nearest
key is c/2, a quarter below the query (``x < 0``); for odd c it is ``(c+1)/2``, a quarter above (``x > 0``).
``x`` is never 0 (``|x| ~ 0.18/(c/2)^3``), so Lemma 8's exact sign read decides the parity with no threshold,
and the hash's nearest key is unique (gap ``~0.25/q^4``, no tie between two neighbours).

``margin=tau`` selects the other repair, which keeps the query ``phi(c/2)`` and tests ``|x| <= tau`` (E = 1)
against ``|x| >= sqrt 7 tau`` (E = 0) in two MLP layers (:func:`difference_mlp`, :func:`equality_mlp`,
:func:`quantise_mlp`; 6 layers per level). It fails in float64 from n ~ 512 on: for odd c the two keys
``(c +- 1)/2`` are equally far from ``c/2`` to third order, their hash scores can round to an exact tie, and
average-hard attention then returns the *average* ``(phi(k) + phi(k+1))/2``, which matches ``phi(c/2)`` to second
order (``|x| ~ 0.27/(c/2)^4``, inside the margin): an odd count reads as even. ``margin=PRINTED_MARGIN`` (2^-100) is
the printed exact test in practice: it never reads "c even" right -- a NaN where the two routes agree to the last
bit, "c odd" (a wrong answer for half the words) where they do not; which one depends on the float kernels (NaN at
``"01"`` with MKL's AVX2 matrix kernels, ``"10"`` and ``"11"`` wrong with its AVX512 ones).

**Rounding growth in the combine (a finite-precision finding).** The proof's combine units are single ReLUs
``ReLU(y)`` with ``y = 1`` when a unit fires and ``y <= 0`` otherwise; a unit with three of its four conditions true
sits exactly at ``y = 0``. In floating point each read is off by the error already in the blocks it reads, and a
single ReLU passes it on (``1 + delta`` when firing, ``max(delta, 0)`` at the boundary), so the error of a
survivor's block grows by a factor ~4 per level (measured on a 12-element monoid: 1.5e-14 at level 3, 2.4e-12 at
level 7, 3.1e-11 at level 9). The previous-token head reads that block through the same masked LayerNorm as the
positions it hashes, so the block's error rescales the hash scores; by n = 512-1024 it exceeds the hash gap
``~1/(2 q^4)`` and a token copies the wrong predecessor (``$``: a wrong answer). The growth is that of MKL's
vectorised (AVX2 / AVX512) matrix kernels; on its reproducible path (``MKL_CBWR``) the boundary residues do not
accumulate. :func:`plateau_units` writes each unit as the clamp ``2 ReLU(y - 1/4) - 2 ReLU(y - 3/4)``, exact at both
ends, and the error stays at one layer's rounding (1.1e-15 at every level on the same word); ``clean_combine=False``
keeps the single ReLUs (tested failing on ``(aaab)^256``).
The combine's width doubles: d_mlp <= 4|M|^2 + 10|M| + 25.

Deviations from the paper, all measured by the tests: a 3-layer prefix for positions (the paper's (0, 8, 9) has
none, so its loop would recompute them); 5 layers per level instead of 8 (Lemma 1's seven layers replaced by its
first layer with the shifted query and the sign read: ``c_i mod 2`` directly, without the position table Lemma 1
builds for a general dividend); the final block is one level (5 layers) with the acceptance lookup folded into the
readout, so depth = ``3 + 5 (ceil(log2 n) + 1)`` against ``8 ceil(log2 n) + 9``. The certified (interval)
evaluator decides it at 128 bits (words of 16 letters among others; at 2-4 s a word), and the certificate
(``exactformer.verify.prove``) runs every word of up to 11 letters in ball arithmetic, sharing prefixes.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..core.architecture import MLP, Attention, Embedding, Layer, Readout, Sublayer
from ..core.claims import ClaimedResources
from ..core.construction import Citation, Construction, Invariant, Probe
from ..core.sites import Site
from ..core.space import Space, vector
from .gadgets.dfa import BOS, END, monoid_dfa, recognizer_io
from .gadgets.dfa import tree_levels as levels_for
from .gadgets.layer_norm_hash import phi
from .gadgets.looped import THEOREM1_LAYERS, log_depth_model, looped_depth
from .gadgets.readout import sign_readout
from .log_depth_paper_lemmas import (
    _PHI,
    COMBINE_READ,
    COUNT_READ,
    DIFFERENCE_READ,
    HASH_READ,
    PARTNER_READ,
    PREVIOUS_READ,
    QUANTISE_READ,
    _coords,
    _norm,
    _Setup,
    _uniform_heads,
    combine_mlp,
    count_heads,
    difference_mlp,
    equality_mlp,
    half_count_head,
    partner_head,
    phi_write,
    plateau_units,
    position_heads,
    previous_token_head,
    quantise_mlp,
    residual_space,
    sign_mlp,
)

__all__ = [
    "CITATION",
    "paper_tree_recognizer",
    "paper_depth_of",
    "PaperTreeParameters",
    "prefix_layers",
    "level_layers",
    "plateau_units",
    "DEFAULT_MARGIN",
    "PRINTED_MARGIN",
]

CITATION = Citation(
    authors="William Merrill, Ashish Sabharwal",
    title="A Little Depth Goes a Long Way: The Expressive Power of Log-Depth Transformers",
    venue="NeurIPS 2025",
    theorem="Theorem 1 (regular languages, causally masked looped transformer with average-hard attention and masked "
            "pre-norm, positions from BOS only, depth 8⌈log2 n⌉ + 9), built in the paper's architecture with the "
            "project note's §3.4 errata fixed and Lemma 1's parity test made robust to rounding; depth "
            "3 + 5(⌈log2 n⌉ + 1)",
    arxiv="2503.03961",
)

DEFAULT_MARGIN = Fraction(1, 2**40)
PRINTED_MARGIN = Fraction(1, 2**100)
# -- the model -------------------------------------------------------------------------------------------------


def _sub(block: Attention | MLP, space: Space, read: Sequence[str]) -> Sublayer:
    return Sublayer(block, input_norm=_norm(space, read))


def prefix_layers(setup: _Setup) -> tuple[Layer, ...]:
    """Positions from BOS: (Lemma 7 heads, phi(i)), (delete rp, phi(i-1)), (delete rq)."""
    space = setup.space
    pos_read = ("bos", "one")
    return (
        Layer(attention=_sub(position_heads(setup), space, pos_read),
              mlp=_sub(phi_write(setup, "rp", "pos"), space, ("rp",)), name="positions"),
        Layer(attention=_sub(position_heads(setup, sign=-1, write=("rp",)), space, pos_read),
              mlp=_sub(phi_write(setup, "rq", "prev"), space, ("rq",)), name="previous_position"),
        Layer(attention=_sub(position_heads(setup, sign=-1, write=("rq",)), space, pos_read), name="cleanup"),
    )


def level_layers(setup: _Setup) -> tuple[Layer, ...]:
    """One tree level: five layers with the sign test, six with the margin test (module docstring)."""
    space = setup.space
    values, writes = zip(*count_heads(setup))
    count = _uniform_heads(space, values, writes)
    neg_values, neg_writes = zip(*count_heads(setup, sign=-1, read=HASH_READ))
    hashing = _uniform_heads(space, neg_values, neg_writes, extra=[half_count_head(setup)])
    if setup.margin is None:
        test: tuple[Layer, ...] = (Layer(mlp=_sub(sign_mlp(setup), space, ("xa",)), name="parity"),)
    else:
        test = (
            Layer(mlp=_sub(equality_mlp(setup), space, ("xa", "xb")), name="equality"),
            Layer(mlp=_sub(quantise_mlp(setup), space, QUANTISE_READ), name="parity"),
        )
    return (
        Layer(attention=_sub(count, space, COUNT_READ), mlp=_sub(phi_write(setup, "rc", "hc"), space, ("rc",)),
              name="count"),
        Layer(attention=_sub(hashing, space, HASH_READ), mlp=_sub(difference_mlp(setup), space, DIFFERENCE_READ),
              name="half_count"),
        *test,
        Layer(attention=_sub(previous_token_head(setup), space, PREVIOUS_READ),
              mlp=_sub(difference_mlp(setup, sign=-1), space, DIFFERENCE_READ), name="previous"),
        Layer(attention=_sub(partner_head(setup), space,
                             PARTNER_READ + (() if setup.partner_key_fix else ("A",))),
              mlp=_sub(combine_mlp(setup), space, COMBINE_READ), name="combine"),
    )


def _embedding(setup: _Setup) -> Embedding:
    """BOS: ``bos`` true; letters: ``A`` true and their element in ``D``; ``$``: ``end`` true. Every token: ``one``,
    ``D`` and ``DS`` hold the identity unless said otherwise; other flags false; no positional features."""
    space, monoid = setup.space, setup.monoid

    def row(bos: bool, end: bool, active: bool, element: int) -> np.ndarray:
        entries: dict[str, int] = {"one:p": 1, "one:m": -1}
        for name, value in (("bos", bos), ("end", end), ("A", active)):
            entries[f"{name}:p"], entries[f"{name}:m"] = (1, -1) if value else (-1, 1)
        entries.update({f"D:+{element}": 1, f"D:-{element}": -1, "DS:+0": 1, "DS:-0": -1})
        return vector(space, entries)

    rows = [row(True, False, False, 0)]
    rows += [row(False, False, True, monoid.index(monoid.generators[a])) for a in setup.symbols]
    rows.append(row(False, True, False, 0))
    return Embedding(W_E=rows, vocab=(BOS,) + setup.tokens + (END,))


def acceptance_readout(setup: _Setup) -> Readout:
    """``logit = sum_{a : a(q0) in F} DS_{+a} - sum_{a : a(q0) not in F} DS_{+a}`` at ``$``."""
    return sign_readout(setup.space, {f"DS:+{k}": 1 if setup.accepts_from_start(k) else -1 for k in range(setup.size)})


@dataclass(frozen=True)
class PaperTreeParameters:
    """What :func:`paper_tree_recognizer` was built from.

    Attributes
    ----------
    dfa
        The DFA the model recognises.
    monoid_size
        |M|, the size of the DFA's transition monoid.
    margin
        The combine's margin (``None``: none, a 5-layer level block; a number: a 6-layer block).
    clean_combine
        Whether the combine's 0/1 units are in plateau form (``True``) or one ReLU each, as the proof writes them.
    partner_key_fix, activeness_and_fix, final_level
        The note's §3.4 errata, fixed (``True``) or as printed (``False``).
    """

    dfa: Any
    monoid_size: int
    margin: Fraction | None
    clean_combine: bool
    partner_key_fix: bool
    activeness_and_fix: bool
    final_level: bool


def paper_depth_of(n: int, *, final_level: bool = True, margin: Fraction | None = None) -> int:
    """Layers this construction runs on n letters: ``3 + 5 (ceil(log2 n) + [final_level])`` with the sign test,
    ``3 + 6 (...)`` with a margin test."""
    return 3 + (5 if margin is None else 6) * levels_for(n, final_level=final_level)


# -- invariants ------------------------------------------------------------------------------------------------


class _LevelProbe(Probe):
    """The residual after level ``min(l, L)`` (the end of the prefix for l = 0); ``last`` = the index of the level
    block's last layer."""

    def __init__(self, level: int, coordinates: tuple[str, ...], last: int) -> None:
        super().__init__(site=Site.layer(2, "attn"), coordinates=coordinates)
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "last", last)

    def resolved(self, trace: Any) -> Probe:
        """The plain probe of the site this one reads in ``trace``."""
        last = self.last  # type: ignore[attr-defined]
        ends = [label for label in trace.labels if label.endswith(f"B{last}.mlp") or label == f"S{last}.mlp"]
        lv = min(self.level, len(ends))  # type: ignore[attr-defined]
        site = "L2.attn" if lv == 0 else ends[lv - 1]
        return Probe(site, self.coordinates)

    def read(self, trace: Any, space_index: Any, batch: int = 0) -> np.ndarray:
        return self.resolved(trace).read(trace, space_index, batch)

    def read_batch(self, trace: Any, space_index: Any) -> Any:
        return self.resolved(trace).read_batch(trace, space_index)


def _invariants(setup: _Setup, dfa: Any, max_level: int, final_level: bool) -> tuple[Invariant, ...]:
    """The positions after the prefix and the tree after each level. In floating point they are checked relative to
    ``scale = sqrt(d)``: every write is computed from masked LayerNorm reads of size up to ``sqrt(d / S) <= sqrt d``
    and deleted by writing a recomputed negation, so a coordinate that should be 0 holds rounding residues relative to
    ``sqrt d`` (measured: up to 7.5e-15 on Tomita 7, d = 70)."""
    K = setup.size
    scale = math.sqrt(setup.space.dim)
    coords = ("A:p",) + tuple(f"D:+{k}" for k in range(K)) + tuple(f"DS:+{k}" for k in range(K))
    m = setup.monoid

    def product(symbols: Sequence[Hashable]) -> int:
        return m.index(m.element_of(symbols))

    def at_level(level: int) -> Any:
        def expected(word: Any, n_tokens: int) -> list[list[int]]:
            symbols = dfa.symbols_of(word)
            n = n_tokens - 2
            g = 2 ** min(level, levels_for(n, final_level=final_level))
            rows = []
            for i in range(n_tokens):
                row = [0] * (1 + 2 * K)
                active = 1 <= i <= n and i % g == 0
                row[0] = 1 if active else -1
                row[1 + (product(symbols[i - g:i]) if active else 0)] = 1
                row[1 + K + (product(symbols[g * (n // g):n]) if i == n + 1 else 0)] = 1
                rows.append(row)
            return rows

        return expected

    def positions(word: Any, n_tokens: int) -> list[list[float]]:
        return [list(phi(i)) + list(phi(i - 1)) for i in range(n_tokens)]

    out = [Invariant(
        name="positions",
        statement="after the prefix, pos = phi(i) and prev = phi(i - 1) at every token (Lemma 7 from BOS alone)",
        probe=Probe("L2.attn", tuple(_coords("pos", _PHI) + _coords("prev", _PHI))),
        expected=positions,
        scale=scale,
    )]
    out += [
        Invariant(
            name=f"level{lv}.tree",
            statement=f"after level min({lv}, L): token i is active (A = +1) iff 1 <= i <= n and 2^l | i; an active "
                      "token holds the product of w_{i-2^l+1} .. w_i in D, every other token the identity; $ holds "
                      "the product of the tail w_{2^l floor(n/2^l)+1} .. w_n in DS",
            probe=_LevelProbe(lv, coords, 4 if setup.margin is None else 5),
            expected=at_level(lv),
            scale=scale,
        )
        for lv in range(max_level + 1)
    ]
    return tuple(out)


def _setup(dfa: Any, margin: Fraction | None, partner_key_fix: bool, activeness_and_fix: bool,
           clean_combine: bool = True) -> _Setup:
    prepared = monoid_dfa(dfa, "paper_tree_recognizer")
    if margin is not None:
        margin = Fraction(margin)
        if not 0 < margin < 1:
            raise ValueError(f"margin must be in (0, 1) or None, got {margin}")
    return _Setup(**vars(prepared), space=residual_space(prepared.size), margin=margin,
                  partner_key_fix=partner_key_fix, activeness_and_fix=activeness_and_fix, clean_combine=clean_combine)


def paper_tree_recognizer(dfa: Any, *, margin: Fraction | None = None, partner_key_fix: bool = True,
                          activeness_and_fix: bool = True, final_level: bool = True, clean_combine: bool = True,
                          probe_levels: int = 3, name: str = "log-depth-paper") -> Construction:
    """Theorem 1's tree recognizer of ``dfa``'s language in the paper's architecture (module docstring).

    Parameters
    ----------
    dfa
        An :class:`exactformer.languages.DFA`.
    margin
        ``None`` (default): the parity of the count by the shifted query and Lemma 8's sign read. A fraction: keep
        the printed query ``phi(c/2)`` and test equality within this margin (``DEFAULT_MARGIN = 2^-40`` fails in
        float64 from n ~ 512 on; ``PRINTED_MARGIN = 2^-100`` is the printed exact test: NaN or a wrong answer
        from n = 2 on).
    partner_key_fix, activeness_and_fix, final_level
        The note's errata (§3.4), fixed (``True``) or as printed (``False``).
    clean_combine
        ``True`` (default): the combine's 0/1 units in plateau form (:func:`plateau_units`), so rounding does not
        grow from level to level. ``False``: one ReLU per unit, as the proof writes them; in float64 it fails on a
        word of length 1024 over a 12-element monoid (module docstring).
    probe_levels
        Declare the tree invariant for levels 0 .. ``probe_levels``.
    name
        The construction's name.

    Returns
    -------
    Construction
        Input a word w; sequence ``BOS w $``; the answer (accept?) at ``$``. Depth ``3 + 5 (ceil(log2 n) + 1)``
        (``3 + 6 (...)`` with a margin).
        Evaluate it with the torch or certified backend: LayerNorm reads take square roots, so the exact
        evaluator refuses it.
    """
    setup = _setup(dfa, margin, partner_key_fix, activeness_and_fix, clean_combine)
    level = level_layers(setup)
    prefix = prefix_layers(setup)
    model = log_depth_model(setup.space, _embedding(setup), level, acceptance_readout(setup), extra_tokens=2,
                            prefix=prefix, final_block=final_level)

    size = len(setup.monoid)
    depth = looped_depth(len(prefix), len(level), final_level)  # the build's own depth, stated as a claim
    fixes = {"partner_key_fix": partner_key_fix, "activeness_and_fix": activeness_and_fix, "final_level": final_level}
    return Construction(
        name=name, model=model, **recognizer_io(dfa, vocab=model.embedding.vocab), citation=CITATION,
        invariants=_invariants(setup, dfa, probe_levels, final_level),
        description="Merrill & Sabharwal Thm 1 in the paper's architecture: BOS-only positions (Lemma 7), the "
                    "layer-norm hash, average-hard causal attention, masked pre-norm, a looped "
                    f"{len(level)}-layer level block; answer at $. Monoid lookup |M| = {size}.",
        claims=ClaimedResources(
            claims=(THEOREM1_LAYERS, depth), attention=("average_hard",),
            precision="the layer-norm hash separates q from q + 1 up to q ~ 8,000 in float64 (~58 in float32, less "
                      "inside the model: reads of several blocks add rounding)",
        ),
        deviations=tuple(f"{flag}: the note's erratum (§3.4) fixed" for flag, on in fixes.items() if on),
        parameters=PaperTreeParameters(dfa=dfa, monoid_size=size, margin=setup.margin, clean_combine=clean_combine,
                                       **fixes),
    )
