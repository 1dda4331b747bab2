"""Chiang & Cholak (ACL 2022): exact two-layer transformers for PARITY and FIRST, with and without layer norm.

David Chiang and Peter Cholak, "Overcoming a Theoretical Limitation of Self-Attention", ACL 2022
(arXiv 2202.12172). Hahn (2020, Lemma 5) shows that changing one input symbol moves the output of a soft-attention
encoder with bounded, length-independent parameters by O(1/n); for a language whose membership flips with one
symbol, the decisions may stay correct but their confidence tends to 1/2, so cross-entropy tends to 1 bit per
string. Chiang & Cholak answer with

1. a two-layer softmax transformer that recognises PARITY (odd number of 1s) with perfect accuracy, and one for
   FIRST (first bit is 1) -- their cross-entropy does go to 1 bit, exactly as Hahn's lemma predicts;
2. post-residual layer normalisation with eps = 0 on a doubled stream ``[x, -x]``, which rescales the vanishing
   answer to ``+-sqrt(d)`` independently of n, so that a constant output scale ``c`` drives cross-entropy to 0;
3. log-length-scaled attention (logits times ln N), which keeps FIRST's single-position attention sharp as n grows.

The weights below are the authors' (repository ``ndnlp/parity``: ``parity_exact.py``, ``parity_exact_layernorm.py``,
``first_exact.py``, ``first_exact_layernorm.py``), written against named coordinates. Their logit scale is PyTorch's
``1/sqrt(d_head)`` with ``d_head = d_model / heads``; the architecture is post-norm (``x <- LN(x + f(x))``) and the
answer is ``z = w . y_CLS``, accepted iff ``z > 0``.

Two deliberate differences from the authors' tensors, both invisible at the readout position:

* Inputs must be non-empty. At n = 0 both no-LN models output exactly ``z = 0`` (rejecting by the tie, which
  happens to be right), and both eps = 0 LN models normalise the zero vector (0/0).
* PARITY's layer-norm "eraser" keeps the bit-token coordinates ``tok:0`` and ``tok:1``. The authors' eraser zeroes
  them too, so every bit position ends as the zero vector and PyTorch's eps = 0 LayerNorm returns NaN there (harmless
  for them, since only CLS is read; exactformer refuses any 0/0). Both coordinates are 0 at CLS, so the answer is
  unchanged. ``parity(layer_norm=True, faithful_eraser=True)`` builds the authors' version.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
import torch

from ..core.architecture import (
    MLP,
    NO_NORM,
    Attention,
    Embedding,
    Layer,
    Norm,
    Readout,
    Scale,
    Sublayer,
    Transformer,
)
from ..core.arith import Trace, interval_bounds
from ..core.construction import Citation, Construction, Invariant, Probe, RunResult
from ..core.errors import InputError
from ..core.positions import AlternatingSign, IndexOverLength, IndicatorAt, PositionalFeature, ScaledFeature
from ..core.rational import Number, as_fraction
from ..core.space import Block, Space, linear_map, vector
from .registry import Entry

__all__ = [
    "parity",
    "first",
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
    "in_parity",
    "in_first",
    "CrossEntropy",
    "cross_entropy_bits",
    "SignRelation",
    "NegationRelation",
    "relation_holds",
    "check_relations",
    "negation_residue",
    "string_cross_entropy_bits",
    "CITATION",
    "ENTRIES",
]

CITATION_AUTHORS = "David Chiang and Peter Cholak"
CITATION_TITLE = "Overcoming a Theoretical Limitation of Self-Attention"
CITATION_VENUE = "ACL 2022"
ARXIV = "2202.12172"
CITATION = Citation(
    authors=CITATION_AUTHORS,
    title=CITATION_TITLE,
    venue=CITATION_VENUE,
    theorem="exact PARITY and FIRST transformers (weights of the authors' parity_exact*.py / first_exact*.py)",
    arxiv=ARXIV,
)

CLS = "CLS"
BITS = ("0", "1")


# ---------------------------------------------------------------------------------------------------------------
# The languages (definitions only: used for the cross-entropy labels and the invariants, never by the model).
# ---------------------------------------------------------------------------------------------------------------


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


def in_parity(word: object) -> bool:
    """PARITY: the word has an odd number of 1s."""
    return _bits(word).count("1") % 2 == 1


def in_first(word: object) -> bool:
    """FIRST: the word starts with a 1."""
    return _bits(word)[0] == "1"


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


def _float_tolerance(dtype: torch.dtype, n_tokens: int) -> float:
    return 8.0 * torch.finfo(dtype).eps * math.ceil(math.log2(n_tokens + 1))


def relation_holds(
    relation: Relation,
    trace: Trace,
    batch_index: int,
    x: Any,
    n_tokens: int,
    space_index: Callable[[str], int],
    backend: str,
    dtype: torch.dtype | None = None,
) -> tuple[bool, str]:
    """Whether ``relation`` holds on one input of a run, and why not."""
    got = relation.probe.read(trace, space_index, batch_index)
    if isinstance(relation, SignRelation):
        want = np.array(relation.expected(x, n_tokens), dtype=object)
        for index, sign in np.ndenumerate(want):
            v = got[index]
            if backend == "certified":
                lo, hi = interval_bounds(v)
                ok = lo > 0 if sign > 0 else hi < 0
            else:
                ok = (v > 0) if sign > 0 else (v < 0)
            if not ok:
                coord = relation.probe.coordinates[index[1]]
                return False, f"{coord} at probed row {index[0]}: want sign {sign}, got {v}"
        return True, ""
    if relation.exact_only and backend == "torch":
        raise ValueError(f"{relation.name} is stated for exact arithmetic; measure negation_residue() in floats")
    half = len(relation.pairs)
    tol = _float_tolerance(dtype or torch.float64, n_tokens)
    for pos in range(got.shape[0]):
        for r in range(half):
            a, b = got[pos, r], got[pos, half + r]
            if backend == "exact":
                ok = a + b == 0
            elif backend == "certified":
                lo, hi = interval_bounds(a + b)
                ok = lo <= 0 <= hi
            else:
                ok = abs(float(a) + float(b)) <= tol * (1 + abs(float(a)))
            if not ok:
                return False, f"{relation.pairs[r][0]} = {a} but {relation.pairs[r][1]} = {b} at position {pos}"
    return True, ""


def negation_residue(construction: Construction, result: RunResult, site: str = "L1.mlp") -> np.ndarray:
    """``max_r |x_r + x_-r|`` per position after ``site`` (floats): how far a run is from the ``[u, -u]`` form."""
    space = construction.model.space
    half = space.dim // 2
    x = result.output.trace[site][result.batch_index]
    if isinstance(x, torch.Tensor):
        x = x.detach().to(torch.float64).cpu().numpy()
    else:
        x = np.vectorize(lambda v: float(v.mid) if hasattr(v, "mid") else float(v), otypes=[float])(x)
    if space.names[half:] != tuple(_neg(c) for c in space.names[:half]):
        raise ValueError(f"{construction.name} does not have a doubled [x, -x] stream")
    return np.abs(x[:, :half] + x[:, half:]).max(axis=1)


def _negation_relations(stream: Stream, sites: Sequence[str]) -> tuple[NegationRelation, ...]:
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


# ---------------------------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------------------------

_SITES = ("embed", "L0.attn", "L0.mlp", "L1.attn", "L1.mlp")


def _norm(layer_norm: bool, eps: Number) -> Norm:
    return Norm("layernorm", eps=as_fraction(eps)) if layer_norm else NO_NORM


def _check_options(eps: Number, output_scale: Number, big: Number, layer_norm: bool) -> tuple[Fraction, ...]:
    eps, c, big = as_fraction(eps), as_fraction(output_scale), as_fraction(big)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if eps and not layer_norm:
        raise ValueError("eps is the layer-norm epsilon; it needs layer_norm=True")
    if c <= 0:
        raise ValueError(f"output_scale must be > 0, got {c}")
    if big <= 0:
        raise ValueError(f"big (the query scale) must be > 0, got {big}")
    return eps, c, big


def parity(
    layer_norm: bool = False,
    eps: Number = 0,
    output_scale: Number = 1,
    big: Number = 1,
    *,
    faithful_eraser: bool = False,
) -> Construction:
    """Chiang & Cholak's exact PARITY transformer (``parity_exact.py``; with ``layer_norm``, ``..._layernorm.py``).

    Input: a non-empty word over {0, 1} (a str of '0'/'1' or a sequence of bits), encoded as the bits followed by
    CLS, N = n + 1 tokens; positions ``i/N`` and ``(-1)^i``. Accepts iff the number of 1s is odd, read at CLS.

    Parameters
    ----------
    layer_norm
        Post-residual LayerNorm after all four sublayers on the doubled stream ``[x, -x]`` (d_model 20 instead of
        10), plus the eraser FFN in layer 2.
    eps
        The LayerNorm epsilon (exact rational). With eps = 0, ``z = +-output_scale * sqrt(10)`` for every n;
        any eps > 0 lets cross-entropy climb back to 1 bit once the Theta(1/N^2) answer falls below ~sqrt(eps).
    output_scale
        ``c``: the readout is ``c * answer``; cross-entropy (LN, eps = 0) is ``log2(1 + e^{-c sqrt(10)})``.
    big
        The authors' ``--big`` query scale in layer 2 (default 1, their default).
    faithful_eraser
        Use the authors' eraser verbatim (it also zeroes ``tok:0``/``tok:1``). At eps = 0 every bit position then
        ends as the zero vector and the final LayerNorm divides 0/0 (:class:`NonFiniteError`); kept to show that.

    Returns
    -------
    Construction
        Resources: 2 layers, 2 heads per layer (d_head 5, or 10 with LN), d_model 10 (20), FFN widths 3 and 3
        (3 and 20) -- the authors' ``TransformerEncoderLayer(d, 2, d_ff)`` shapes.
    """
    eps, c, big = _check_options(eps, output_scale, big, layer_norm)
    stream = Stream(parity_space(), doubled=layer_norm)
    space = stream.space
    d_head = stream.half * (2 if layer_norm else 1) // 2  # PyTorch: d_model / nhead
    norm = _norm(layer_norm, eps)

    embedding = Embedding(
        W_E=[stream.embedding_row({f"tok:{t}": 1}) for t in BITS + (CLS,)],
        vocab=BITS + (CLS,),
        positional=stream.positional((("pos:i/N", IndexOverLength()), ("pos:(-1)^i", AlternatingSign()))),
    )
    if layer_norm:
        keep = ("answer",) if faithful_eraser else ("answer", "tok:0", "tok:1")
        layer2_ffn = ln_eraser_ffn(stream, keep)
    else:
        if faithful_eraser:
            raise ValueError("faithful_eraser applies to the layer-norm model only")
        layer2_ffn = idle_ffn(stream, 3)
    layers = (
        Layer(
            attention=Sublayer(uniform_counting_attention(stream, d_head), output_norm=norm),
            mlp=Sublayer(hat_ffn(stream), output_norm=norm),
            name="count and locate",
        ),
        Layer(
            attention=Sublayer(even_odd_comparison_heads(stream, d_head, big), output_norm=norm),
            mlp=Sublayer(layer2_ffn, output_norm=norm),
            name="compare even/odd" + (" and erase" if layer_norm else ""),
        ),
    )
    answer_space = Space.of(Block("odd"))
    model = Transformer(
        space=space,
        embedding=embedding,
        layers=layers,
        readout=Readout(W_U=linear_map(space, answer_space, {"answer": {"odd": c}}), labels=("odd",), position=-1,
                        decision="sign"),
    )

    def encode(word: object) -> list[str]:
        return _bits(word) + [CLS]

    def counts(word: object, n_tokens: int) -> list[list[Fraction]]:
        k = _bits(word).count("1")
        return [[Fraction(k, n_tokens), Fraction(1, n_tokens)] for _ in range(n_tokens)]

    def hat(word: object, n_tokens: int) -> list[list[Fraction]]:
        k = _bits(word).count("1")
        return [[Fraction(int(i == k), n_tokens)] for i in range(n_tokens)]

    def answer_sign(word: object, n_tokens: int) -> list[list[int]]:
        return [[1 if in_parity(word) else -1]]

    sign = SignRelation(
        name="answer.sign",
        statement="at CLS after layer 2, the answer coordinate has sign (-1)^(k+1): positive iff k is odd",
        probe=Probe(site="L1.mlp", coordinates=("answer",), positions=(-1,)),
        expected=answer_sign,
    )
    if layer_norm:
        erased = tuple(n for n in space.names if n not in {"answer", "-answer", "tok:0", "-tok:0", "tok:1", "-tok:1"})
        if faithful_eraser:
            erased = tuple(n for n in space.names if n not in {"answer", "-answer"})
        invariants: tuple[Invariant, ...] = (
            Invariant(
                name="ln.eraser",
                statement="after layer 2, every coordinate except the answer (and the bit tokens) is 0 at every "
                "position",
                probe=Probe(site="L1.mlp", coordinates=erased),
                expected=lambda word, n_tokens: [[Fraction(0)] * len(erased) for _ in range(n_tokens)],
                scale=math.sqrt(len(space.names)),  # post-LN residual: norm sqrt(d), entries up to sqrt(d)
            ),
        )
        relations: tuple[Relation, ...] = (sign, *_negation_relations(stream, _SITES))
    else:
        invariants = (
            Invariant(
                name="layer1.counts",
                statement="after layer-1 attention, every position holds count:k/N = k/N and count:1/N = 1/N",
                probe=Probe(site="L0.attn", coordinates=("count:k/N", "count:1/N")),
                expected=counts,
            ),
            Invariant(
                name="layer1.hat",
                statement="after the layer-1 FFN, hat:[i=k]/N = [i = k]/N at every position i",
                probe=Probe(site="L0.mlp", coordinates=("hat:[i=k]/N",)),
                expected=hat,
            ),
        )
        relations = (sign,)

    variant = "parity-ln" if layer_norm else "parity"
    if layer_norm:
        description = (
            f"PARITY with post-LayerNorm (eps={eps}) on the doubled stream [x, -x]: z = +-{c}*sqrt(10) for every n "
            "at eps = 0, so cross-entropy is constant and -> 0 as the output scale grows (Chiang & Cholak 2022)."
        )
        prediction = (
            "eps = 0: exact in real arithmetic for every n; in floats the halves [u, -u] stop cancelling at "
            "~eps_machine, and those residues compete with the Theta(1/N^2) answer before the final LN "
            "(float32 drift from n ~ 3000). eps > 0: correct signs, but CE -> 1 once the answer << sqrt(eps)."
        )
    else:
        description = (
            "PARITY by a two-layer softmax transformer: uniform attention counts k/N, a hat FFN marks position k, and "
            "two heads compare even and odd positions; accuracy 1 but |z| ~ 2 tanh(b)/N^2, so CE -> 1 (Hahn)."
        )
        prediction = (
            "the hat FFN must resolve (k - i)/N to better than 1/N and the answer is Theta(1/N^2): float16 / bfloat16 "
            "lose the hat once their spacing near 1 (2^-10 / 2^-7) is comparable to 1/N"
        )
    return Construction(
        name=variant,
        model=model,
        encode=encode,
        interpret=lambda label: bool(label),
        tokens_for=lambda n: n + 1,
        citation=Citation(
            authors=CITATION_AUTHORS,
            title=CITATION_TITLE,
            venue=CITATION_VENUE,
            theorem="exact PARITY transformer" + (" with layer normalisation" if layer_norm else "")
            + " (weights of the authors' parity_exact" + ("_layernorm" if layer_norm else "") + ".py)",
            arxiv=ARXIV,
        ),
        invariants=invariants,
        description=description,
        extras={
            "language": in_parity,
            "relations": relations,
            "precision_prediction": prediction,
            "options": {"layer_norm": layer_norm, "eps": eps, "output_scale": c, "big": big},
            "answer_decay_power": 2,
            "half_width": stream.half,
            "d_head": d_head,
        },
    )


def first(
    layer_norm: bool = False,
    eps: Number = 0,
    scaled: bool = False,
    output_scale: Number = 1,
    big: Number = 1,
) -> Construction:
    """Chiang & Cholak's exact FIRST transformer (``first_exact.py``; with ``layer_norm``, ``..._layernorm.py``).

    Input: a non-empty word over {0, 1}, encoded as CLS followed by the bits (N = n + 1 tokens), position feature
    ``[i = 1]``. Accepts iff the first bit is 1, read at CLS (position 0).

    Parameters
    ----------
    layer_norm
        Post-residual LayerNorm after all four sublayers on ``[x, -x]`` (d_model 12 instead of 6), the bias-free gate
        FFN, and the eraser FFN in layer 2.
    eps
        The LayerNorm epsilon; with eps = 0, ``z = +-output_scale * sqrt(6)`` for every n.
    scaled
        Log-length-scaled attention: every layer's logits ``q.k / sqrt(d_head)`` are multiplied by ln N (natural
        log, N counting CLS), as the authors' ``ScaledTransformerEncoderLayer`` does to the query (whose bias is 0
        here, so the two agree). Then ``a_1 = N^b / (N^b + n)``, b = big / sqrt(d_head).
    output_scale
        ``c``: the readout is ``c * answer``.
    big
        The authors' ``--big`` query scale (default 1).

    Returns
    -------
    Construction
        Resources: 2 layers, 1 head each (d_head 6, or 12 with LN), d_model 6 (12), FFN widths 1 and 1 (1 and 12).
    """
    eps, c, big = _check_options(eps, output_scale, big, layer_norm)
    stream = Stream(first_space(), doubled=layer_norm)
    space = stream.space
    d_head = space.dim  # one head: d_head = d_model
    norm = _norm(layer_norm, eps)

    embedding = Embedding(
        W_E=[stream.embedding_row({f"tok:{t}": 1}) for t in BITS + (CLS,)],
        vocab=BITS + (CLS,),
        positional=stream.positional((("pos:[i=1]", IndicatorAt(1)),)),
    )
    layers = (
        Layer(
            attention=Sublayer(idle_attention(stream, d_head, scale=_softmax_scale(d_head, scaled)), output_norm=norm),
            mlp=Sublayer(first_one_gate_ffn(stream, homogeneous=layer_norm), output_norm=norm),
            name="gate the first bit",
        ),
        Layer(
            attention=Sublayer(cls_to_first_bit_head(stream, d_head, big, scaled), output_norm=norm),
            mlp=Sublayer(ln_eraser_ffn(stream, ("answer",)) if layer_norm else idle_ffn(stream, 1), output_norm=norm),
            name="CLS reads position 1" + (" and erase" if layer_norm else ""),
        ),
    )
    answer_space = Space.of(Block("first_is_1"))
    model = Transformer(
        space=space,
        embedding=embedding,
        layers=layers,
        readout=Readout(W_U=linear_map(space, answer_space, {"answer": {"first_is_1": c}}), labels=("first_is_1",),
                        position=0, decision="sign"),
    )

    def encode(word: object) -> list[str]:
        return [CLS] + _bits(word)

    def gate(word: object, n_tokens: int) -> list[list[int]]:
        first_is_one = in_first(word)
        return [[Fraction(int(i == 1 and first_is_one))] for i in range(n_tokens)]

    sign = SignRelation(
        name="answer.sign",
        statement="at CLS after layer 2, the answer coordinate is positive iff the first bit is 1",
        probe=Probe(site="L1.mlp", coordinates=("answer",), positions=(0,)),
        expected=lambda word, n_tokens: [[1 if in_first(word) else -1]],
    )
    if layer_norm:
        erased = tuple(n for n in space.names if n not in {"answer", "-answer"})
        invariants: tuple[Invariant, ...] = (
            Invariant(
                name="ln.eraser",
                statement="after layer 2, every coordinate except the answer is 0 at every position",
                probe=Probe(site="L1.mlp", coordinates=erased),
                expected=lambda word, n_tokens: [[Fraction(0)] * len(erased) for _ in range(n_tokens)],
                scale=math.sqrt(len(space.names)),  # post-LN residual: norm sqrt(d), entries up to sqrt(d)
            ),
        )
        relations: tuple[Relation, ...] = (sign, *_negation_relations(stream, _SITES))
    else:
        invariants = (
            Invariant(
                name="layer1.gate",
                statement="after the layer-1 FFN, gate:[i=1,w_i=1] is 1 at position 1 if w_1 = 1 and 0 elsewhere",
                probe=Probe(site="L0.mlp", coordinates=("gate:[i=1,w_i=1]",)),
                expected=gate,
            ),
        )
        relations = (sign,)

    name = "first" + ("-ln" if layer_norm else "") + ("-scaled" if scaled else "")
    scaled_text = " with logits scaled by ln N" if scaled else ""
    if layer_norm:
        description = (
            f"FIRST with post-LayerNorm (eps={eps}) on [x, -x]{scaled_text}: z = +-{c}*sqrt(6) for every n at "
            "eps = 0 (Chiang & Cholak 2022)."
        )
    else:
        description = (
            f"FIRST by a two-layer softmax transformer{scaled_text}: a gate FFN marks position 1 when w_1 = 1 and CLS "
            "attends to position 1; |z| = a_1/2 = Theta(1/n) unscaled, so CE -> 1 (Hahn)."
        )
    return Construction(
        name=name,
        model=model,
        encode=encode,
        interpret=lambda label: bool(label),
        tokens_for=lambda n: n + 1,
        citation=Citation(
            authors=CITATION_AUTHORS,
            title=CITATION_TITLE,
            venue=CITATION_VENUE,
            theorem="exact FIRST transformer" + (" with layer normalisation" if layer_norm else "")
            + (" and log-length-scaled attention" if scaled else "")
            + " (weights of the authors' first_exact" + ("_layernorm" if layer_norm else "") + ".py, layer 2's value "
            "in head coordinate 0 instead of 5)",
            arxiv=ARXIV,
        ),
        invariants=invariants,
        description=description,
        extras={
            "language": in_first,
            "relations": relations,
            "precision_prediction": (
                "the signal is Theta(1/n) (constant with scaling and b > 1): robust in float32; float16 / bfloat16 "
                "lose it when a_1/2 falls below the rounding of the softmax weights"
            ),
            "options": {"layer_norm": layer_norm, "eps": eps, "scaled": scaled, "output_scale": c, "big": big},
            "answer_decay_power": 0 if scaled and big / math.sqrt(d_head) > 1 else 1,
            "half_width": stream.half,
            "d_head": d_head,
        },
    )


# ---------------------------------------------------------------------------------------------------------------
# Cross-entropy and accuracy over a set of words
# ---------------------------------------------------------------------------------------------------------------


class CrossEntropy(NamedTuple):
    """Mean cross-entropy in bits per string, accuracy, the number of strings and the smallest ``|z|``."""

    bits: float
    accuracy: float
    count: int
    min_margin: float


def _z(result: RunResult) -> float:
    value = result.logits[0]
    return float(value.mid) if hasattr(value, "mid") else float(value)


def string_cross_entropy_bits(z: float, label: bool) -> float:
    """``-log2 sigmoid(t)`` with ``t = z`` for a member and ``-z`` otherwise, computed without overflow."""
    t = z if label else -z
    return (max(-t, 0.0) + math.log1p(math.exp(-abs(t)))) / math.log(2)


def _batch_for(construction: Construction, n_tokens: int, budget_bytes: int = 1 << 28) -> int:
    heads = max((l.attention.block.n_heads for _, l in construction.model.named_layers(n_tokens) if l.attention),
                default=1)
    per_string = 8 * heads * min(n_tokens, 1024) * n_tokens + 64 * n_tokens * construction.model.d_model
    return max(1, min(512, budget_bytes // max(per_string, 1)))


def cross_entropy_bits(
    construction: Construction,
    words: Iterable[Any],
    backend: str = "torch",
    dtype: torch.dtype | None = torch.float64,
    *,
    labels: Callable[[Any], bool] | None = None,
    batch_size: int | None = None,
) -> CrossEntropy:
    """Cross-entropy (bits per string) and accuracy of a sign-readout construction over ``words``.

    The label of a word is ``labels(word)`` (default: the construction's language, ``extras["language"]``); the
    model's ``P(accept) = sigmoid(z)``, so a string costs ``-log2 sigmoid(+-z)`` bits and is correct iff the sign
    of z matches (z = 0 rejects). Words are grouped by length and run in batches (``batch_size`` defaults to what
    fits in ~256 MB of attention scores).
    """
    label_of = labels or construction.extras["language"]
    groups: dict[int, list[Any]] = {}
    for w in words:
        groups.setdefault(len(construction.encode(w)), []).append(w)
    total_bits, correct, count, min_margin = 0.0, 0, 0, math.inf
    for n_tokens, group in sorted(groups.items()):
        size = batch_size or _batch_for(construction, n_tokens)
        for start in range(0, len(group), size):
            batch = group[start : start + size]
            for w, r in zip(batch, construction.run_batch(batch, backend=backend, dtype=dtype)):
                z, label = _z(r), bool(label_of(w))
                total_bits += string_cross_entropy_bits(z, label)
                correct += int(bool(r.answer) == label)
                count += 1
                min_margin = min(min_margin, abs(z))
    if count == 0:
        raise ValueError("no words given")
    return CrossEntropy(total_bits / count, correct / count, count, min_margin)


def check_relations(
    construction: Construction, words: Sequence[Any], results: Sequence[RunResult], backend: str,
    dtype: torch.dtype | None = None,
) -> list[tuple[str, Any, str]]:
    """The relations (``extras["relations"]``) that fail on a batch run: ``[(relation name, word, why)]``.

    On ``backend="torch"`` the exact-only relations are left out (see :class:`NegationRelation`).
    """
    failures = []
    relations = [r for r in construction.extras.get("relations", ())
                 if not (backend == "torch" and getattr(r, "exact_only", False))]
    for w, r in zip(words, results):
        n_tokens = len(construction.encode(w))
        for rel in relations:
            ok, why = relation_holds(rel, r.output.trace, r.batch_index, w, n_tokens, construction.model.space.index,
                                     backend, dtype)
            if not ok:
                failures.append((rel.name, w, why))
    return failures


# ---------------------------------------------------------------------------------------------------------------
# Registry entries (the lead registers them); the references are the public named DFAs, built lazily.
# ---------------------------------------------------------------------------------------------------------------


def _parity_reference(construction: Construction) -> Any:
    from ..languages.named import parity as parity_dfa

    return parity_dfa()


def _first_reference(construction: Construction) -> Any:
    from ..languages.named import first as first_dfa

    return first_dfa()


_LENGTHS = tuple(range(1, 13))  # n >= 1 (the empty word is outside the domain); exhaustive up to 2^12 words

ENTRIES: list[Entry] = [
    Entry(name="parity", builder=lambda big=1: parity(big=big),
          summary="Chiang & Cholak 2022: two-layer softmax PARITY, accuracy 1, |z| ~ 2 tanh(b)/N^2 (CE -> 1 bit)",
          example="1011", options={"big": 1}, reference=_parity_reference, lengths=_LENGTHS),
    Entry(name="parity-ln", builder=lambda eps=0, output_scale=1: parity(layer_norm=True, eps=eps,
                                                                          output_scale=output_scale),
          summary="Chiang & Cholak 2022: PARITY with post-LayerNorm on [x, -x]; eps = 0 gives z = +-c sqrt(10)",
          example="1011", options={"eps": 0, "output_scale": 1}, reference=_parity_reference, lengths=_LENGTHS),
    Entry(name="first", builder=lambda big=1: first(big=big),
          summary="Chiang & Cholak 2022: two-layer softmax FIRST, accuracy 1, |z| = e^b/(2(e^b + n)) (CE -> 1 bit)",
          example="1011", options={"big": 1}, reference=_first_reference, lengths=_LENGTHS),
    Entry(name="first-ln", builder=lambda eps=0, output_scale=1: first(layer_norm=True, eps=eps,
                                                                        output_scale=output_scale),
          summary="Chiang & Cholak 2022: FIRST with post-LayerNorm on [x, -x]; eps = 0 gives z = +-c sqrt(6)",
          example="1011", options={"eps": 0, "output_scale": 1}, reference=_first_reference, lengths=_LENGTHS),
    Entry(name="first-scaled", builder=lambda big=1: first(scaled=True, big=big),
          summary="Chiang & Cholak 2022: FIRST with logits times ln N, a_1 = N^b/(N^b + n) (sharp for b > 1)",
          example="1011", options={"big": 1}, reference=_first_reference, lengths=_LENGTHS),
]
