"""Merrill & Sabharwal (2025), Theorem 1: a looped, causal transformer that recognises a regular language by a
binary-tree reduction of the transition monoid, the answer read at the end marker ``$``.

Input ``BOS w_1 .. w_n $`` (BOS at position 0, ``$`` at n + 1). Recognition is the product of the letters' monoid
elements ``delta(., w_1) * .. * delta(., w_n)`` (read left to right) applied to q0. The product is computed by the
paper's *activeness tree* (§3.3 of the project's notes, ``docs/notes/log_depth.md``):

* level 0: every letter token is active and holds its letter's element;
* level l -> l + 1: the active tokens are the multiples of 2^l (``alpha^l_i = [2^l | i]``, BOS and ``$`` never);
  the active token ``i = t 2^l`` survives iff t is even, and then multiplies its block by its partner's block (the
  previous active token ``i - 2^l``) on the left; the others are cleared;
* ``$`` keeps an accumulator ``DS``: when the latest active token before ``$`` is about to be deactivated, its block
  is a leftover block (bit l of n is 1), and ``DS <- D_{j*} * DS`` (it lies before everything absorbed so far);
* after ``floor(log2 n) + 1`` levels ``DS`` is the product of the whole word; the readout tests ``DS(q0) in F``.

The loop block is one level (three layers, :func:`level_layers`), repeated ``ceil(log2 n)`` times; the suffix is
one more level, as the paper's final block does (the note shows ``ceil(log2 n)`` levels are one short exactly when
n is a power of two; :func:`log_depth_recognizer` with ``final_level=False`` is that printed count and fails there).

Lemmas (one function each): :func:`tree_embedding`, :func:`parity_head` + :func:`activeness_mlp` (step 5,
activeness), :func:`previous_token_head` (step 2), :func:`partner_head` (step 3), :func:`combine_mlp` (steps 4 and
6), :func:`acceptance_readout` (the final ``f(q0) in F`` lookup).

Errata of the printed proof (note §3.4), each selectable:

* ``partner_key_fix``: the partner key must be ``alpha^l_{j-1}`` (the copied activeness of the previous token); the
  printed ``alpha^l`` of the key token itself makes every active token and ``$`` pick themselves.
* ``activeness_and_fix``: the activeness test must be ANDed with ``alpha^l_i``; printed, inactive tokens (BOS, odd
  positions, ``$``) pass the parity test.
* ``gate_combine``: the combine/overwrite step gated by ``alpha^{l+1}_i`` (losers cleared). Finding: ungated, stale
  products stay at inactive tokens, which breaks the tree invariant but not the answer, because every read of a
  block (the partner and ``$`` heads) is gated by activeness.
* ``final_level``: ``ceil(log2 n) + 1`` levels (the paper's final block) instead of ``ceil(log2 n)``.

Deviations from the paper (see ``docs/log_depth.md``): hard attention with integer quadratic scores
``-(j - p)^2`` and positional features ``i, i^2`` replace the layer-norm hash ``phi(p) . phi(j)`` and the in-model
position computation (Lemma 7) -- every weight, activation and score is then rational, so the exact evaluator runs
the model -- and the count parity of step 5 (Lemma 1 with m = 2, seven layers) is one hard head that tests the parity
of ``x_i = i / 2^l`` (which equals the prefix count ``c_i`` at active tokens), ``x`` being halved by each level's MLP.
Hence 3 layers per level instead of 8. The norms are the identity (no masked pre-norm is needed without the hash).
The paper's gadgets themselves are in :mod:`.gadgets.layer_norm_hash` and :mod:`.gadgets.paper_lemmas`, separately
tested.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from ..core.architecture import MLP, Attention, Embedding, Layer, Mask, Readout, Sublayer
from ..core.batch_encoding import with_batch
from ..core.claims import ClaimedResources
from ..core.construction import Citation, Construction, Invariant, Probe
from ..core.positions import Index, IndexSquared, PositionalFeature
from ..core.sites import Site
from ..core.space import Block, Space, linear_map, vector
from .gadgets.dfa import BOS, END, MonoidDFA, ceil_log2, monoid_dfa, recognizer_io
from .gadgets.dfa import tree_levels as levels_for
from .gadgets.heads import chooser_head, pointer_head
from .gadgets.lookup import and_read, product_units
from .gadgets.looped import THEOREM1_LAYERS, log_depth_model, looped_depth
from .gadgets.readout import sign_readout
from .gadgets.units import delta, unit_mlp

__all__ = [
    "CITATION",
    "BOS",
    "END",
    "log_depth_recognizer",
    "levels_for",
    "paper_depth",
    "tree_embedding",
    "parity_head",
    "activeness_mlp",
    "previous_token_head",
    "partner_head",
    "combine_mlp",
    "acceptance_readout",
    "level_layers",
    "LogDepthParameters",
]

CITATION = Citation(
    authors="William Merrill, Ashish Sabharwal",
    title="A Little Depth Goes a Long Way: The Expressive Power of Log-Depth Transformers",
    venue="NeurIPS 2025",
    theorem="Theorem 1 (regular languages, causally masked (0, 8, 9)-universal transformer, depth 8⌈log2 n⌉ + 9), "
            "with the project note's §3.4 errata fixed; built with positions i, i² and hard attention instead of the "
            "layer-norm hash (depth 3⌈log2 n⌉ + 3)",
    arxiv="2503.03961",
)


def paper_depth(n: int) -> int:
    """The theorem's depth ``8 ceil(log2 n) + 9`` (``ceil(log2 n)`` taken as 0 for n <= 1)."""
    return 8 * ceil_log2(n) + 9


@dataclass(frozen=True)
class LogDepthParameters:
    """What :func:`log_depth_recognizer` was built from.

    Attributes
    ----------
    dfa
        The DFA the model recognises (the verifier's reference is this very DFA).
    monoid_size
        |M|, the size of the DFA's transition monoid (the composition lookup has ``2|M|^2`` units).
    partner_key_fix, activeness_and_fix, gate_combine, final_level
        The note's §3.4 errata, fixed (``True``) or as printed (``False``). With ``final_level`` the tree runs
        ``⌈log2 n⌉ + 1`` levels (``⌊log2 n⌋ + 1`` are needed), without it the printed ``⌈log2 n⌉``.
    """

    dfa: Any
    monoid_size: int
    partner_key_fix: bool
    activeness_and_fix: bool
    gate_combine: bool
    final_level: bool


@dataclass(frozen=True)
class _Setup(MonoidDFA):
    """What the lemma functions share: the prepared DFA (:class:`~.gadgets.dfa.MonoidDFA`), the space, the errata."""

    space: Space
    partner_key_fix: bool
    activeness_and_fix: bool
    gate_combine: bool

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(str(k) for k in range(len(self.monoid)))

    def code(self, block: str, element: Sequence[int]) -> dict[str, Fraction]:
        return {f"{block}:{self.monoid.index(tuple(element))}": Fraction(1)}


def residual_space(m: int) -> Space:
    """``one | pos(i, i2) | lvl(x, x2) | flag(dollar) | A | AN | J | PA | PAN | QA | QAN | D | DS | PD | QD``.

    ``x = i / 2^l`` and ``x2 = x^2``; ``A`` = alpha^l, ``AN`` = alpha^{l+1}; ``J`` a scratch cell; ``D`` the token's
    block (one-hot over the monoid, zero when inactive), ``DS`` the ``$`` accumulator; ``P*`` the copy of the
    previous token, ``Q*`` the copy of the partner. d_model = 13 + 4|M|.
    """
    labels = [str(k) for k in range(m)]
    return Space.of(
        Block("one"), Block("pos", ["i", "i2"]), Block("lvl", ["x", "x2"]), Block("flag", ["dollar"]),
        Block("A"), Block("AN"), Block("J"), Block("PA"), Block("PAN"), Block("QA"), Block("QAN"),
        Block("D", labels), Block("DS", labels), Block("PD", labels), Block("QD", labels),
    )


def tree_embedding(setup: _Setup) -> Embedding:
    """Level 0. A letter row holds ``one = 1``, ``A = 1`` and its element in ``D``; ``$`` holds the identity in
    ``DS`` and ``flag:dollar``; BOS holds only ``one``. Positional features: ``pos = lvl = (i, i^2)``."""
    space, monoid = setup.space, setup.monoid
    rows = [vector(space, {"one": 1})]
    for a in setup.symbols:
        rows.append(vector(space, {"one": 1, "A": 1, **setup.code("D", monoid.generators[a])}))
    rows.append(vector(space, {"one": 1, "flag:dollar": 1, **setup.code("DS", monoid.identity)}))
    positional: tuple[tuple[str, PositionalFeature], ...] = (
        ("pos:i", Index()), ("pos:i2", IndexSquared()), ("lvl:x", Index()), ("lvl:x2", IndexSquared()),
    )
    return Embedding(W_E=rows, vocab=(BOS,) + setup.tokens + (END,), positional=positional)


def parity_head(setup: _Setup) -> Attention:
    """Step 5, the parity of the count: score ``4 x j - 4 j^2 - x^2 = -(2j - x)^2``, hard, causal, ties rightmost.

    At an active token ``x = i / 2^l = t`` is an integer (the inclusive count of active tokens). For t even the
    unique maximiser is ``j = t/2``; for t odd the two keys ``(t +- 1)/2`` tie at -1 and the rightmost wins. Both are
    ``<= i``, so the causal mask allows them. The head writes ``J = j``, so ``x - 2J`` is 0 (t even) or -1 (t odd).
    """
    space = setup.space
    qk = Space.of(Block("h", ["a", "b", "c"]))
    return Attention(
        W_Q=[linear_map(space, qk, {"lvl:x": {"h:a": 4}, "one": {"h:b": -4}, "lvl:x2": {"h:c": -1}})],
        W_K=[linear_map(space, qk, {"pos:i": {"h:a": 1}, "pos:i2": {"h:b": 1}, "one": {"h:c": 1}})],
        W_V=[linear_map(space, Space.of(Block("v")), {"pos:i": {"v": 1}})],
        W_O=[linear_map(Space.of(Block("v")), space, {"v": {"J": 1}})],
        kind="hard", tie_rule="rightmost", mask=Mask("causal"),
    )


def activeness_mlp(setup: _Setup) -> MLP:
    """``AN = ReLU(2A + x - 2J - 1)`` = alpha^l AND (t even); clears ``J``.

    Fixed form: at an active token this is ``ReLU(1 + (x - 2J)) in {1, 0}``; at an inactive one (A = 0) the nearest
    key gives ``|x - 2J| <= 1``, so the argument is ``<= 0``. Printed form (``activeness_and_fix=False``):
    ``ReLU(1 + x - 2J)`` with no AND: BOS (x = 0, count 0, even) and other inactive tokens turn active.
    """
    gate = {"A": Fraction(2), "one": Fraction(-1)} if setup.activeness_and_fix else {"one": Fraction(1)}
    units = {"an": ({"lvl:x": Fraction(1), "J": Fraction(-2), **gate}, {"AN": Fraction(1)}),
             "clearJ": ({"J": Fraction(1)}, {"J": Fraction(-1)})}
    return unit_mlp(setup.space, units)


def previous_token_head(setup: _Setup) -> Attention:
    """Step 2 (with Lemma 7's offset): copy ``(alpha^l, alpha^{l+1}, D)`` of token ``i - 1`` into ``(PA, PAN, PD)``.

    Score ``2 p j - j^2 - p^2 = -(j - p)^2`` with ``p = i - 1`` (query ``(2i - 2, -1, -i^2 + 2i - 1)``, key
    ``(j, j^2, 1)``): uniquely maximal at ``j = i - 1`` with a gap of 1 (BOS sees only itself, which holds zeros).
    ``D`` is read before this level's update, as the ``$`` paragraph needs ([RECON] ordering).
    """
    copied = [("A", "PA"), ("AN", "PAN")] + [(f"D:{c}", f"PD:{c}") for c in setup.labels]
    previous = {"pos:i": 1, "one": -1}  # p = i - 1, p^2 = i^2 - 2i + 1
    return pointer_head(setup.space, previous, {"pos:i2": 1, "pos:i": -2, "one": 1}, copied)


def partner_head(setup: _Setup) -> Attention:
    """Step 3 / step 6's head: the latest ``k <= i`` whose predecessor was active (key ``PA_k = alpha^l_{k-1}``),
    hard, causal, ties rightmost; copies ``(PA, PAN, PD)`` of k into ``(QA, QAN, QD)``.

    For an active survivor ``i = t 2^l`` this is ``k = i - 2^l + 1``, so ``QD`` is the partner's block. At ``$``
    it is the latest active token before ``$``, with its new activeness in ``QAN``. With no active token before i,
    every score is 0 and k = i, whose ``PA`` is 0, so nothing downstream fires. Printed key (``partner_key_fix=
    False``): ``A_k = alpha^l_k`` -- an active i then picks itself and gets ``D_{i-1}`` (an inactive, empty block).
    """
    key = "PA" if setup.partner_key_fix else "A"
    copied = [("PA", "QA"), ("PAN", "QAN")] + [(f"PD:{c}", f"QD:{c}") for c in setup.labels]
    return chooser_head(setup.space, {"one": 1}, {key: 1}, copied)


def combine_mlp(setup: _Setup) -> MLP:
    """Steps 4 and 6 in one ReLU layer (the |M|^2 lookup, twice), plus the level's clean-up.

    * survivor: unit (a, b) = ``ReLU(QD_a + D_b + AN - 2)`` fires iff the partner holds a, i holds b and
      alpha^{l+1}_i = 1; it writes ``D += e_{a*b} - e_b``. Loser: ``ReLU(D_b - AN)`` clears ``D_b``.
      (``gate_combine=False``: ``ReLU(QD_a + D_b - 1)`` and no clearing, the printed ungated overwrite.)
    * ``$``: unit (a, b) = ``ReLU(QD_a + DS_b + QA - QAN - 2)`` fires iff the latest active token before ``$``
      holds a and is deactivated, and ``DS = b``; it writes ``DS += e_{a*b} - e_b`` (the leftover block on the left).
    * ``A <- AN``, ``AN, J, P*, Q* <- 0`` (all are >= 0, so ``ReLU(v)`` writing ``-v`` clears v), and the level
      counter ``x <- x / 2``, ``x2 <- x2 / 4``.
    """
    labels = setup.labels
    gate = [{"AN": 1}] if setup.gate_combine else []  # printed: no gate
    units: dict[str, tuple[dict[str, Any], dict[str, Any]]] = product_units(setup.monoid.table, {
        "mul": (lambda a, b: and_read({f"QD:{a}": 1}, {f"D:{b}": 1}, *gate),
                lambda a, b, ab: delta(f"D:{ab}", f"D:{b}")),
        "dol": (lambda a, b: and_read({f"QD:{a}": 1}, {f"DS:{b}": 1}, {"QA": 1}, {"QAN": -1, "one": 1}),
                lambda a, b, ab: delta(f"DS:{ab}", f"DS:{b}")),
    })
    one = Fraction(1)
    if setup.gate_combine:
        for b in labels:
            units[f"lose:{b}"] = ({f"D:{b}": one, "AN": -one}, {f"D:{b}": -one})
    units["move"] = ({"AN": one}, {"A": one, "AN": -one})
    units["dropA"] = ({"A": one}, {"A": -one})
    for c in ["PA", "PAN", "QA", "QAN"] + [f"PD:{k}" for k in labels] + [f"QD:{k}" for k in labels]:
        units[f"clear:{c}"] = ({c: one}, {c: -one})
    units["halve"] = ({"lvl:x": one}, {"lvl:x": Fraction(-1, 2)})
    units["quarter"] = ({"lvl:x2": one}, {"lvl:x2": Fraction(-3, 4)})
    return unit_mlp(setup.space, units)


def level_layers(setup: _Setup, tag: str = "level") -> tuple[Layer, ...]:
    """One tree level in three layers: (parity head, activeness MLP), (previous-token head), (partner head,
    combine MLP)."""
    return (
        Layer(attention=Sublayer(parity_head(setup)), mlp=Sublayer(activeness_mlp(setup)), name=f"{tag}.activeness"),
        Layer(attention=Sublayer(previous_token_head(setup)), name=f"{tag}.previous"),
        Layer(attention=Sublayer(partner_head(setup)), mlp=Sublayer(combine_mlp(setup)), name=f"{tag}.combine"),
    )


def acceptance_readout(setup: _Setup) -> Readout:
    """``logit = 2 sum_{a : a(q0) in F} DS_a - 1`` at ``$``: the paper's final ``f(q0) in F`` lookup, linear."""
    good = [k for k in range(setup.size) if setup.accepts_from_start(k)]
    return sign_readout(setup.space, {f"DS:{k}": 2 for k in good}, bias=-1)


def _setup(dfa: Any, **flags: bool) -> _Setup:
    prepared = monoid_dfa(dfa, "log_depth_recognizer")
    return _Setup(**vars(prepared), space=residual_space(prepared.size), **flags)


# -- invariants ------------------------------------------------------------------------------------------------


class _LevelProbe(Probe):
    """Reads the residual after level ``min(l, L)`` (L = the levels the input gets); ``"embed"`` for 0."""

    def __init__(self, level: int, coordinates: tuple[str, ...]) -> None:
        super().__init__(site=Site.embed(), coordinates=coordinates)
        object.__setattr__(self, "level", level)

    def resolved(self, trace: Any) -> Probe:
        """The plain probe of the site this one reads in ``trace``."""
        ends = [label for label in trace.labels if label.endswith("B2.mlp") or label == "S2.mlp"]
        lv = min(self.level, len(ends))  # type: ignore[attr-defined]
        site = "embed" if lv == 0 else ends[lv - 1]
        return Probe(site, self.coordinates)

    def read(self, trace: Any, space_index: Any, batch: int = 0) -> np.ndarray:
        return self.resolved(trace).read(trace, space_index, batch)

    def read_batch(self, trace: Any, space_index: Any) -> Any:
        return self.resolved(trace).read_batch(trace, space_index)


def _product(setup: _Setup, symbols: Sequence[Hashable]) -> int:
    """Index of the element of a word, multiplied letter by letter from the monoid's letter maps."""
    m = setup.monoid
    e = m.identity
    for a in symbols:
        e = m.multiply(e, m.generators[a])
    return m.index(e)


def _invariants(setup: _Setup, dfa: Any, max_level: int, final_level: bool) -> tuple[Invariant, ...]:
    size = len(setup.monoid)
    coords = ("A",) + tuple(f"D:{c}" for c in setup.labels) + tuple(f"DS:{c}" for c in setup.labels)

    def at_level(level: int) -> Any:
        def expected(word: Any, n_tokens: int) -> list[list[int]]:
            symbols = dfa.symbols_of(word)
            n = n_tokens - 2
            lv = min(level, levels_for(n, final_level=final_level))
            g = 2**lv
            rows = []
            for i in range(n_tokens):
                row = [0] * (1 + 2 * size)
                if 1 <= i <= n and i % g == 0:
                    row[0] = 1
                    row[1 + _product(setup, symbols[i - g:i])] = 1
                if i == n + 1:
                    row[1 + size + _product(setup, symbols[g * (n // g):n])] = 1
                rows.append(row)
            return rows

        def expected_batch(words: torch.Tensor, n_tokens: int) -> torch.Tensor:
            """``expected`` of a batch of words (indices into the DFA's ordered alphabet): the block products folded
            letter by letter through the monoid's right action, as ``_product`` multiplies them."""
            n = n_tokens - 2
            g = 2 ** min(level, levels_for(n, final_level=final_level))
            batch, blocks = words.shape[0], n // g
            right = torch.from_numpy(setup.monoid.right_action).to(words.device)
            letters = torch.tensor(columns, dtype=torch.int64, device=words.device)[words]
            rows = torch.zeros((batch, n_tokens, 1 + 2 * size), dtype=torch.float64, device=words.device)
            product = torch.zeros((batch, blocks), dtype=torch.int64, device=words.device)  # 0: the identity
            split = letters[:, : blocks * g].reshape(batch, blocks, g)
            for t in range(g):
                product = right[product, split[:, :, t]]
            active = torch.arange(1, blocks + 1, device=words.device) * g
            rows[:, active, 0] = 1
            rows[:, active] = rows[:, active].scatter(2, (1 + product)[:, :, None], 1.0)
            tail = torch.zeros(batch, dtype=torch.int64, device=words.device)
            for t in range(blocks * g, n):
                tail = right[tail, letters[:, t]]
            rows[torch.arange(batch, device=words.device), n + 1, 1 + size + tail] = 1
            return rows

        return with_batch(expected, expected_batch)

    columns = [list(setup.monoid.generators).index(a) for a in setup.symbols]  # a symbol's generator column
    return tuple(
        Invariant(
            name=f"level{lv}.tree",
            statement=f"after level min({lv}, L): token i is active iff 1 <= i <= n and 2^l | i, an active token holds "
                      "the product of its dyadic block w_{i-2^l+1} .. w_i and an inactive one holds nothing; $ holds "
                      "the product of the tail w_{2^l floor(n/2^l)+1} .. w_n",
            probe=_LevelProbe(lv, coords),
            expected=at_level(lv),
        )
        for lv in range(max_level + 1)
    )


def log_depth_recognizer(dfa: Any, *, architecture: str = "rational", partner_key_fix: bool = True,
                         activeness_and_fix: bool = True, gate_combine: bool = True, final_level: bool = True,
                         erratum_fixes: bool | None = None, probe_levels: int = 4, name: str = "log_depth",
                         **paper_options: Any) -> Construction:
    """The Theorem 1 tree recognizer of ``dfa``'s language, looped one level per iteration.

    Parameters
    ----------
    dfa
        An :class:`exactformer.languages.DFA` (a partial DFA is completed with a sink by its transition monoid).
    architecture
        ``"rational"`` (this module: positions i, i^2, hard attention, no norms; every value rational, so the
        exact evaluator runs it) or ``"paper"`` (:func:`~exactformer.constructions.log_depth_paper.
        paper_tree_recognizer`: BOS-only positions, the layer-norm hash, average-hard attention, masked pre-norm;
        ``paper_options`` such as ``margin`` go to it; ``gate_combine`` does not apply there).
    partner_key_fix, activeness_and_fix, gate_combine, final_level
        Each erratum of the note (§3.4) fixed (``True``) or printed (``False``); see the module docstring.
    erratum_fixes
        If given, sets all four flags at once.
    probe_levels
        Declare the tree invariant for levels 0 .. ``probe_levels`` (each checked after ``min(l, L)`` levels).
    name
        The construction's name.

    Returns
    -------
    Construction
        Input: a word w (n >= 0); sequence ``BOS w $``; answer at ``$``: whether the DFA accepts w. Depth
        ``3 ceil(log2 n) + 3`` layers (loop of 3, suffix of 3), d_model ``13 + 4|M|``, d_mlp ``2|M|^2 + 3|M| + 8``.
    """
    if erratum_fixes is not None:
        partner_key_fix = activeness_and_fix = gate_combine = final_level = bool(erratum_fixes)
    if architecture == "paper":
        from .log_depth_paper import paper_tree_recognizer

        return paper_tree_recognizer(dfa, partner_key_fix=partner_key_fix, activeness_and_fix=activeness_and_fix,
                                     final_level=final_level, probe_levels=min(probe_levels, 3),
                                     name="log-depth-paper" if name == "log_depth" else name, **paper_options)
    if architecture != "rational":
        raise ValueError(f"architecture must be 'rational' or 'paper', got {architecture!r}")
    if paper_options:
        raise TypeError(f"unexpected options for the rational architecture: {sorted(paper_options)}")
    setup = _setup(dfa, partner_key_fix=partner_key_fix, activeness_and_fix=activeness_and_fix,
                   gate_combine=gate_combine)
    level = level_layers(setup, "level")
    # the final block's extra level: the same weights, once more
    model = log_depth_model(setup.space, tree_embedding(setup), level, acceptance_readout(setup), extra_tokens=2,
                            final_block=final_level)

    m = len(setup.monoid)
    fixes = {"partner_key_fix": partner_key_fix, "activeness_and_fix": activeness_and_fix,
             "gate_combine": gate_combine, "final_level": final_level}
    return Construction(
        name=name, model=model, **recognizer_io(dfa, vocab=model.embedding.vocab), citation=CITATION,
        invariants=_invariants(setup, dfa, probe_levels, final_level),
        description="Merrill & Sabharwal Thm 1: the activeness tree (each level halves the active tokens and "
                    "multiplies adjacent dyadic blocks; $ absorbs leftover blocks), looped once per level, "
                    f"answer at $. Monoid lookup |M| = {m}: {2 * m * m} composition units.",
        claims=ClaimedResources(
            claims=(THEOREM1_LAYERS, looped_depth(0, len(level), final_level)),
            attention=("hard",),
            precision="scores are integers or dyadic rationals up to ~4 n^2: exact in float64 far beyond any tested "
                      "n; float32 loses integers beyond 2^24 (n ~ 2,000); the paper's layer-norm hash (not used "
                      "here) fails near n ~ 8,000 (float64) / ~50 (float32), see gadgets.layer_norm_hash.hash_frontier",
        ),
        deviations=tuple(f"{flag}: the note's erratum (§3.4) fixed" for flag, on in fixes.items() if on),
        parameters=LogDepthParameters(dfa=dfa, monoid_size=m, **fixes),
    )
