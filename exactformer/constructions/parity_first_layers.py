"""The layers of Chiang & Cholak's PARITY and FIRST transformers (:mod:`.parity_first` assembles them), on a residual
stream that the layer-norm variants double to ``[x, -x]``, and the proof statements that are not exact values (a
sign; ``x_r = -x_-r``), which :mod:`exactformer.verify.relations` checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..core.architecture import MLP, Attention, Scale
from ..core.construction import Probe
from ..core.errors import InputError
from ..core.positions import PositionalFeature, ScaledFeature
from ..core.rational import Number, as_fraction
from ..core.space import Block, Space, linear_map, vector

__all__ = [
    "CLS",
    "BITS",
    "parity_space",
    "first_space",
    "ln_doubling",
    "Stream",
    "uniform_counting_attention",
    "hat_ffn",
    "even_odd_comparison_heads",
    "idle_attention",
    "idle_ffn",
    "first_one_gate_ffn",
    "cls_to_first_bit_head",
    "ln_eraser_ffn",
    "SignRelation",
    "NegationRelation",
    "Relation",
    "negation_relations",
]

CLS = "CLS"
BITS = ("0", "1")


def _bits(word: object) -> list[str]:
    """The word as a list of '0'/'1' symbols; :class:`InputError` for anything else or for the empty word."""
    if isinstance(word, str) and word and not word.strip("01"):  # the common case, without a per-symbol loop
        return list(word)
    if isinstance(word, (bytes, bytearray)):
        raise InputError("give the word as a str of '0'/'1' or a sequence of bits, not bytes")
    try:
        symbols = list(word)  # type: ignore[call-overload]
    except TypeError:
        raise InputError(f"a word must be a str of '0'/'1' or a sequence of bits, not {type(word).__name__}") from None
    out = []
    for s in symbols:
        if isinstance(s, (int, np.integer)) and not isinstance(s, bool) and int(s) in (0, 1):
            out.append(str(int(s)))
        elif isinstance(s, str) and s in BITS:
            out.append(s)
        else:
            raise InputError(f"symbol {s!r} is not in the alphabet ['0', '1']")
    if not out:
        raise InputError(
            "the empty word is outside these constructions' domain (n >= 1): at n = 0 the answer coordinate is "
            "exactly 0, and with eps = 0 layer norm the CLS vector is the zero vector"
        )
    return out


# ---------------------------------------------------------------------------------------------------------------
# Residual streams
# ---------------------------------------------------------------------------------------------------------------


def parity_space() -> Space:
    """PARITY's residual stream, the authors' coordinates 0-9 in order.

    ``tok:0 tok:1 tok:CLS`` one-hot token; ``pos:i/N`` and ``pos:(-1)^i``; ``count:k/N`` and ``count:1/N`` written by
    layer-1 attention; ``hat:[i=k]/N`` by the layer-1 FFN; ``answer`` by layer-2 attention; ``unused`` (the authors'
    tenth coordinate, there so that d_model = 10 splits into two heads of 5).
    """
    return Space.of(
        Block("tok", BITS + (CLS,)),
        Block("pos", ["i/N", "(-1)^i"]),
        Block("count", ["k/N", "1/N"]),
        Block("hat", ["[i=k]/N"]),
        Block("answer"),
        Block("unused"),
    )


def first_space() -> Space:
    """FIRST's residual stream, the authors' coordinates 0-5 in order.

    ``tok:0 tok:1 tok:CLS``; ``pos:[i=1]``; ``gate:[i=1,w_i=1]`` written by the layer-1 FFN; ``answer`` by layer 2.
    """
    return Space.of(
        Block("tok", BITS + (CLS,)),
        Block("pos", ["[i=1]"]),
        Block("gate", ["[i=1,w_i=1]"]),
        Block("answer"),
    )


def _neg(name: str) -> str:
    return "-" + name


def ln_doubling(space: Space) -> Space:
    """The doubled stream ``[x, -x]``: ``space`` followed by a negated copy whose blocks are prefixed with ``-``.

    Chiang & Cholak's layer-norm trick (``torch.cat([x, -x])``): if every sublayer reads only the first half and
    writes ``+u`` to coordinate r and ``-u`` to its copy, every stream vector has the form ``[u, -u]``, whose mean is
    exactly 0, so LayerNorm reduces to the per-position rescaling ``[u, -u] / sqrt(|u|^2 / d + eps)``.
    """
    return space.concat(Space.of(*(Block(_neg(b.name), b.labels) for b in space.blocks)))


@dataclass(frozen=True)
class Stream:
    """A residual stream, plain (``doubled=False``) or the layer-norm ``[x, -x]`` form.

    Gadgets are written once against the plain coordinate names: :meth:`reads` builds a map that reads the first
    half, :meth:`writes` one that writes ``+u`` to each named coordinate and, when doubled, ``-u`` to its copy.
    """

    base: Space
    doubled: bool = False

    @property
    def space(self) -> Space:
        return ln_doubling(self.base) if self.doubled else self.base

    @property
    def half(self) -> int:
        """The authors' d: the width of one half of the stream."""
        return self.base.dim

    def reads(self, target: Space, action: Mapping[str, Mapping[str, Number]]) -> np.ndarray:
        """``W[stream, target]`` reading the named (first-half) coordinates."""
        return linear_map(self.space, target, action)

    def writes(self, source: Space, action: Mapping[str, Mapping[str, Number]]) -> np.ndarray:
        """``W[source, stream]`` writing ``+c`` to each named coordinate and, if doubled, ``-c`` to its copy."""
        if self.doubled:
            doubled: dict[str, dict[str, Fraction]] = {}
            for src, row in action.items():
                doubled[src] = {d: as_fraction(c) for d, c in row.items()}
                doubled[src].update({_neg(d): -as_fraction(c) for d, c in row.items()})
            action = doubled
        return linear_map(source, self.space, action)

    def embedding_row(self, entries: Mapping[str, Number]) -> np.ndarray:
        """An embedding vector with ``entries`` in the first half (and their negations in the second)."""
        full = dict(entries)
        if self.doubled:
            full.update({_neg(k): -as_fraction(v) for k, v in entries.items()})
        return vector(self.space, full)

    def positional(
        self, features: Sequence[tuple[str, PositionalFeature]]
    ) -> tuple[tuple[str, PositionalFeature], ...]:
        """Positional features, each also written negated into the copy when doubled."""
        out = list(features)
        if self.doubled:
            out += [(_neg(c), ScaledFeature(f, -1)) for c, f in features]
        return tuple(out)


def _head_space(d_head: int, used: Sequence[str] = ()) -> Space:
    """A head's d_head coordinates: the named ones it uses, then padding (the authors' heads are d_model / H wide)."""
    pad = d_head - len(used)
    if pad < 0:
        raise ValueError(f"a head of width {d_head} cannot hold {list(used)}")
    blocks = ([Block("h", used)] if used else []) + ([Block("pad", range(pad))] if pad else [])
    return Space.of(*blocks)


def _zero_head(stream: Stream, d_head: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    head = _head_space(d_head)
    zero_in = stream.reads(head, {})
    return zero_in, zero_in, zero_in, stream.writes(head, {})


def _softmax_scale(d_head: int, log_length: bool = False) -> Scale:
    """The authors' ``q.k / sqrt(d_head)``, optionally times ln N (the length-scaled attention of Section 7.5)."""
    return Scale(sqrt_of=Fraction(1, d_head), log_length=log_length)


# ---------------------------------------------------------------------------------------------------------------
# PARITY gadgets
# ---------------------------------------------------------------------------------------------------------------


def uniform_counting_attention(stream: Stream, d_head: int) -> Attention:
    """Layer 1 attention: every position averages uniformly and writes ``count:k/N`` and ``count:1/N``.

    Proof. ``W_Q = W_K = 0``, so every score is 0 and softmax gives weight exactly 1/N to each of the N positions
    (CLS included). Head 1's values are ``tok:1`` (is a 1) and ``tok:CLS`` (is CLS); their averages are k/N (k = the
    number of 1s) and 1/N (there is exactly one CLS). ``W_O`` adds them to ``count:k/N`` and ``count:1/N``, which are
    0 before, so after the residual add every position holds k/N and 1/N. Head 2 is all zero (the authors' layer has
    two heads because their d_model = 2 * d_head). The uniform average is the only way softmax attention counts; 1/N
    is the "1" the next FFN needs, at the same scale as k/N and i/N.
    """
    values = _head_space(d_head, ["#1s", "#CLS"])
    qk = _head_space(d_head)
    counting = (
        stream.reads(qk, {}),
        stream.reads(qk, {}),
        stream.reads(values, {"tok:1": {"h:#1s": 1}, f"tok:{CLS}": {"h:#CLS": 1}}),
        stream.writes(values, {"h:#1s": {"count:k/N": 1}, "h:#CLS": {"count:1/N": 1}}),
    )
    idle = _zero_head(stream, d_head)
    W_Q, W_K, W_V, W_O = (np.stack([a, b]) for a, b in zip(counting, idle))
    return Attention(W_Q=W_Q, W_K=W_K, W_V=W_V, W_O=W_O, scale=_softmax_scale(d_head))


def hat_ffn(stream: Stream) -> MLP:
    """Layer 1 FFN: ``hat:[i=k]/N = ReLU(m-1) - 2 ReLU(m) + ReLU(m+1)`` at scale 1/N, with m = k - i.

    Proof. The three bias-free hidden units read ``count:k/N - pos:i/N`` minus, plus 0, plus ``count:1/N``, i.e.
    ``(m - 1)/N``, ``m/N`` and ``(m + 1)/N``. For an integer m, ``ReLU(m-1) - 2 ReLU(m) + ReLU(m+1)`` is 1 at m = 0 and
    0 elsewhere (the hat function), so the output is ``[i = k]/N``: exactly one position (the one whose index equals
    the count of 1s, possibly CLS) carries 1/N. The units are positively homogeneous, so a per-position rescaling of
    the input (layer norm) rescales the output by the same factor.
    """
    hidden = Space.of(Block("relu", ["(k-i-1)/N", "(k-i)/N", "(k-i+1)/N"]))
    W_in = stream.reads(
        hidden,
        {
            "count:k/N": {"relu:(k-i-1)/N": 1, "relu:(k-i)/N": 1, "relu:(k-i+1)/N": 1},
            "pos:i/N": {"relu:(k-i-1)/N": -1, "relu:(k-i)/N": -1, "relu:(k-i+1)/N": -1},
            "count:1/N": {"relu:(k-i-1)/N": -1, "relu:(k-i+1)/N": 1},
        },
    )
    W_out = stream.writes(
        hidden,
        {
            "relu:(k-i-1)/N": {"hat:[i=k]/N": 1},
            "relu:(k-i)/N": {"hat:[i=k]/N": -2},
            "relu:(k-i+1)/N": {"hat:[i=k]/N": 1},
        },
    )
    return MLP(W_in=W_in, W_out=W_out)


def even_odd_comparison_heads(stream: Stream, d_head: int, big: Fraction) -> Attention:
    """Layer 2 attention: at CLS, ``answer = head_2 - head_1``, positive iff the hat sits at an odd index.

    Proof. Only CLS has a non-zero query, ``big * tok:CLS``. Head 1's key is ``+pos:(-1)^i``, head 2's is
    ``-pos:(-1)^i``; both values are ``hat:[i=k]/N``. With b = big / sqrt(d_head), head 1 puts weight
    ``a1_j = e^{b (-1)^j} / Z1`` on j (favouring even j) and head 2 ``a2_j = e^{-b (-1)^j} / Z2`` (favouring odd j),
    with ``Z1 = E e^b + O e^-b``, ``Z2 = E e^-b + O e^b`` (E = ceil(N/2) even, O = floor(N/2) odd indices). The value
    is non-zero only at j = k, so ``answer = (a2_k - a1_k) / N``. For k odd, ``a2_k = e^b/Z2 > e^-b/Z1 = a1_k``
    because ``e^{2b} Z1 > Z2`` (E >= O); for k even, ``a2_k = e^-b/Z2 < e^b/Z1 = a1_k`` because ``Z1 < e^{2b} Z2``.
    So the sign of the answer is (-1)^{k+1} for every N >= 2 and b > 0, while ``|answer| ~ 2 tanh(b) / N^2``. At
    other positions the query is 0, both heads average uniformly and the answer coordinate stays 0.
    """
    qk = _head_space(d_head, ["CLS?(-1)^j"])
    values = _head_space(d_head, ["[j=k]/N"])
    W_Q, W_K, W_V, W_O = [], [], [], []
    for key_sign, out_sign in ((1, -1), (-1, 1)):  # head 1 favours even j and is subtracted; head 2 odd, added
        W_Q.append(stream.reads(qk, {f"tok:{CLS}": {"h:CLS?(-1)^j": big}}))
        W_K.append(stream.reads(qk, {"pos:(-1)^i": {"h:CLS?(-1)^j": key_sign}}))
        W_V.append(stream.reads(values, {"hat:[i=k]/N": {"h:[j=k]/N": 1}}))
        W_O.append(stream.writes(values, {"h:[j=k]/N": {"answer": out_sign}}))
    return Attention(
        W_Q=np.stack(W_Q), W_K=np.stack(W_K), W_V=np.stack(W_V), W_O=np.stack(W_O), scale=_softmax_scale(d_head)
    )


# ---------------------------------------------------------------------------------------------------------------
# FIRST gadgets
# ---------------------------------------------------------------------------------------------------------------


def idle_attention(stream: Stream, d_head: int, n_heads: int = 1, scale: Scale | None = None) -> Attention:
    """An all-zero attention sublayer (FIRST's layer 1): it adds nothing, ``x <- x + 0``.

    The authors keep it because a ``TransformerEncoderLayer`` always has one; with layer norm it still normalises.
    """
    heads = [_zero_head(stream, d_head) for _ in range(n_heads)]
    W_Q, W_K, W_V, W_O = (np.stack(ws) for ws in zip(*heads))
    return Attention(W_Q=W_Q, W_K=W_K, W_V=W_V, W_O=W_O, scale=scale or _softmax_scale(d_head))


def idle_ffn(stream: Stream, width: int) -> MLP:
    """An all-zero FFN of the authors' width (the no-LN models' layer 2): it adds nothing."""
    hidden = Space.of(Block("relu", range(width)))
    return MLP(W_in=stream.reads(hidden, {}), W_out=stream.writes(hidden, {}))


def first_one_gate_ffn(stream: Stream, homogeneous: bool) -> MLP:
    """Layer 1 FFN of FIRST: ``gate:[i=1,w_i=1]`` = 1 exactly at position 1 when the first bit is 1.

    Two forms, equal on one-hot tokens and the ``pos:[i=1]`` indicator:

    * ``homogeneous=False`` (``first_exact.py``): ``ReLU(tok:1 + pos:[i=1] - 1)``, which is 1 iff both are 1;
    * ``homogeneous=True`` (``first_exact_layernorm.py``, reportedly the paper's): the bias-free
      ``ReLU(pos:[i=1] - tok:0 - tok:CLS)``: at position 1 it is ``1 - [w_1 = 0]``; elsewhere ``pos:[i=1] = 0`` and it
      is ``ReLU(-tok:0 - tok:CLS) = 0``. Having no bias it is positively homogeneous, so it commutes with the
      per-position rescaling of layer norm; the biased form does not (its -1 would not be rescaled).
    """
    hidden = Space.of(Block("relu", ["gate"]))
    if homogeneous:
        W_in = stream.reads(hidden, {"pos:[i=1]": {"relu:gate": 1}, "tok:0": {"relu:gate": -1},
                                     f"tok:{CLS}": {"relu:gate": -1}})
        b_in = None
    else:
        W_in = stream.reads(hidden, {"pos:[i=1]": {"relu:gate": 1}, "tok:1": {"relu:gate": 1}})
        b_in = [Fraction(-1)]
    W_out = stream.writes(hidden, {"relu:gate": {"gate:[i=1,w_i=1]": 1}})
    return MLP(W_in=W_in, W_out=W_out, b_in=b_in)


def cls_to_first_bit_head(stream: Stream, d_head: int, big: Fraction, log_length: bool) -> Attention:
    """Layer 2 attention of FIRST: CLS attends to position 1 and copies ``gate - pos/2 = [w_1 = 1] - 1/2``.

    Proof. The query is ``big * tok:CLS`` (non-zero only at CLS, position 0), the key ``pos:[i=1]``, so at CLS the
    score of position 1 is ``b = big / sqrt(d_head)`` (times ln N when ``log_length``) and every other score is 0.
    Hence ``a_1 = e^b / (e^b + n)`` (``N^b / (N^b + n)`` when length-scaled). The value ``gate - pos:[i=1]/2`` is
    ``+-1/2`` at position 1 and 0 elsewhere, so ``answer = a_1 ([w_1 = 1] - 1/2)``: positive iff the first bit is 1,
    with ``|answer| = a_1 / 2``, Theta(1/n) unscaled.

    Deviation from the authors' ``first_exact*.py``: their value sits in head coordinate 5 (``W_V[5, :]``,
    ``W_O[5, :]``), here in coordinate 0 (the first named coordinate of the head space). The products ``W_V W_O``
    and ``W_Q W_K^T``, and so every output, are the same.
    """
    qk = _head_space(d_head, ["CLS?[j=1]"])
    values = _head_space(d_head, ["[w_j=1]-1/2"])
    W_Q = stream.reads(qk, {f"tok:{CLS}": {"h:CLS?[j=1]": big}})
    W_K = stream.reads(qk, {"pos:[i=1]": {"h:CLS?[j=1]": 1}})
    W_V = stream.reads(values, {"gate:[i=1,w_i=1]": {"h:[w_j=1]-1/2": 1}, "pos:[i=1]": {"h:[w_j=1]-1/2": "-1/2"}})
    W_O = stream.writes(values, {"h:[w_j=1]-1/2": {"answer": 1}})
    return Attention(
        W_Q=W_Q[None], W_K=W_K[None], W_V=W_V[None], W_O=W_O[None], scale=_softmax_scale(d_head, log_length)
    )


# ---------------------------------------------------------------------------------------------------------------
# The layer-norm eraser (both constructions)
# ---------------------------------------------------------------------------------------------------------------


def ln_eraser_ffn(stream: Stream, keep: Iterable[str]) -> MLP:
    """Layer 2 FFN of the LN models: after the residual add, every coordinate not in ``keep`` is exactly 0.

    Proof. ``W_in`` is the identity on all 2d coordinates (no bias). For a coordinate r outside ``keep``, the output
    is ``-ReLU(x_r) + ReLU(x_-r)`` on r and ``ReLU(x_r) - ReLU(x_-r)`` on its copy -r. On a stream of the form
    ``[u, -u]`` that is ``-u_r`` and ``+u_r``, so the residual add leaves 0 in both. The final LayerNorm then sees
    ``[u_keep, -u_keep]`` only; at CLS, where every kept coordinate but ``answer`` is 0, it maps the answer to
    ``sign(u) sqrt(2d / 2) = sign(u) sqrt(d)`` when eps = 0, for every n (d = the authors' half-width: sqrt(10) for
    PARITY, sqrt(6) for FIRST). The hidden layer keeps the authors' width 2d (units of kept coordinates are unused).
    """
    if not stream.doubled:
        raise ValueError("the eraser works on the doubled [x, -x] stream of the layer-norm models")
    keep = set(keep)
    unknown = keep - set(stream.base.names)
    if unknown:
        raise ValueError(f"cannot keep {sorted(unknown)}: not coordinates of the stream")
    names = stream.space.names
    hidden = Space.of(Block("relu", names))
    W_in = linear_map(stream.space, hidden, {c: {f"relu:{c}": 1} for c in names})
    action: dict[str, dict[str, int]] = {}
    for c in stream.base.names:
        if c in keep:
            continue
        action[f"relu:{c}"] = {c: -1, _neg(c): 1}
        action[f"relu:{_neg(c)}"] = {c: 1, _neg(c): -1}
    return MLP(W_in=W_in, W_out=linear_map(hidden, stream.space, action))


# ---------------------------------------------------------------------------------------------------------------
# Relations: proof statements that are not equalities with exact values (a sign; x_r = -x_-r)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignRelation:
    """The probed values have the signs ``expected(x, n_tokens)`` (``+1`` / ``-1`` per position and coordinate).

    Exact: the sign of the Fraction; certified: the interval lies strictly on that side of 0; torch: the float's
    sign (the decision itself is a float sign, so no tolerance applies).
    """

    name: str
    statement: str
    probe: Probe
    expected: Callable[[Any, int], Any]


@dataclass(frozen=True)
class NegationRelation:
    """At ``site``, every coordinate of the first half equals minus its copy: the ``[u, -u]`` form of the LN models.

    Exact: ``x_r + x_-r == 0``; certified: 0 lies in the interval ``x_r + x_-r``; torch:
    ``|x_r + x_-r| <= 8 eps(dtype) ceil(log2(N + 1)) (1 + |x_r|)`` (the verifier's float tolerance).

    ``exact_only`` marks the relation after the eraser (the last sublayer). In floats the LayerNorm mean of
    ``[u, -u]`` is not exactly 0, so the eraser leaves residues of about ``eps(dtype)`` in the erased coordinates,
    and the final LayerNorm divides them by the answer's own size (Theta(1/N) for FIRST, Theta(1/N^2) for PARITY):
    after it the relation holds only to ~``N eps`` (FIRST) or ~``N^2 eps`` (PARITY). That growth is the precision
    story of these models; :func:`negation_residue` measures it instead of a pass/fail check.
    """

    name: str
    statement: str
    site: str
    pairs: tuple[tuple[str, str], ...]
    exact_only: bool = False

    @property
    def probe(self) -> Probe:
        return Probe(site=self.site, coordinates=tuple(a for a, _ in self.pairs) + tuple(b for _, b in self.pairs))


Relation = SignRelation | NegationRelation


def negation_relations(stream: Stream, sites: Sequence[str]) -> tuple[NegationRelation, ...]:
    pairs = tuple((c, _neg(c)) for c in stream.base.names)
    return tuple(
        NegationRelation(
            name=f"ln.negated_halves.{site}",
            statement=f"after {site}, every position's vector has the form [u, -u] (so its mean is exactly 0)",
            site=site,
            pairs=pairs,
            exact_only=site == sites[-1],
        )
        for site in sites
    )
