"""The one transformer, as frozen data.

Every construction in exactformer is weights and encodings for the :class:`Transformer` defined here. What the
papers change about the standard GPT block is an explicit option:

==========================  ==================================================================================
option                      values
==========================  ==================================================================================
``Norm.kind``               ``none``, ``layernorm`` (eps, no gain/bias), ``rmsnorm``, ``l2`` (x/||x||)
``Norm.mask``               coordinates read by a *masked pre-norm* (Merrill & Sabharwal): ``norm(m * x)``
``Sublayer.residual``       ``x + f(x)`` or just ``f(x)`` (the superposition MLP has no residual)
``Sublayer.output_norm``    post-norm after the residual add (Chiang & Cholak's LN variant, L2 after an MLP)
``Attention.kind``          ``softmax`` (with a :class:`Scale`), ``hard`` (unique argmax + tie rule),
                            ``average_hard`` (mean over the argmax set)
``Mask.kind``               ``none``, ``causal`` (j <= i), ``strict_causal`` (j < i), ``window`` (i-w < j <= i)
``Attention.relative_bias`` additive score bias as a function of i - j (per head)
``MLP.activation``          ``relu``, ``step`` (1[x >= threshold])
``Loop``                    prefix layers, a block repeated ``RepeatCount(n)`` times, suffix layers
``Readout``                 unembedding at a position, decided by ``sign`` or ``argmax``
==========================  ==================================================================================

Shapes follow TransformerLens: ``W_E[d_vocab, d_model]``, ``W_Q[h, d_model, d_head]``, ``W_O[h, d_head, d_model]``,
``W_in[d_model, d_mlp]``, ``W_out[d_mlp, d_model]``, ``W_U[d_model, d_out]``. All weights are rational arrays
(numpy object arrays of :class:`fractions.Fraction`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, Literal

import numpy as np

from .errors import ModelFormatError
from .positions import PositionalFeature
from .rational import as_fraction, is_rational_array, rational_array, rational_zeros
from .space import Space
from .sparse import SparseRationalMatrix

__all__ = [
    "Norm",
    "Scale",
    "Mask",
    "RelativeBias",
    "Attention",
    "MLP",
    "Sublayer",
    "Layer",
    "RepeatCount",
    "Loop",
    "Embedding",
    "Readout",
    "Transformer",
    "NO_NORM",
]

NormKind = Literal["none", "layernorm", "rmsnorm", "l2"]
AttentionKind = Literal["softmax", "hard", "average_hard"]
TieRule = Literal["error", "leftmost", "rightmost"]
MaskKind = Literal["none", "causal", "strict_causal", "window"]
Activation = Literal["relu", "step"]


def _weights(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(value, SparseRationalMatrix):
        arr: Any = value
    else:
        arr = value if is_rational_array(value) else rational_array(value)  # type: ignore[arg-type]
    if arr.shape != shape:
        raise ModelFormatError(f"{name} has shape {arr.shape}, expected {shape}")
    return arr


@dataclass(frozen=True)
class Norm:
    """A normalisation applied to a sublayer's input or output.

    Parameters
    ----------
    kind
        ``"none"``; ``"layernorm"``: (x - mean) / sqrt(var + eps), biased variance over all d coordinates, no gain
        or bias; ``"rmsnorm"``: x / sqrt(mean(x^2) + eps); ``"l2"``: x / ||x||_2 (Zhu et al.).
    eps
        The epsilon under the square root (exact rational; default 0).
    mask
        Coordinates kept before normalising (masked pre-norm: ``norm(m * x)`` with ``m`` the indicator of these
        coordinates); ``None`` keeps all.
    """

    kind: NormKind = "none"
    eps: Fraction = Fraction(0)
    mask: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("none", "layernorm", "rmsnorm", "l2"):
            raise ModelFormatError(f"unknown norm kind {self.kind!r}")
        object.__setattr__(self, "eps", as_fraction(self.eps))
        if self.eps < 0:
            raise ModelFormatError(f"norm eps must be >= 0, got {self.eps}")
        if self.mask is not None:
            object.__setattr__(self, "mask", tuple(self.mask))
            if self.kind == "none":
                raise ModelFormatError("a norm mask needs a norm kind other than 'none'")

    @property
    def is_identity(self) -> bool:
        return self.kind == "none"

    def describe(self) -> str:
        if self.kind == "none":
            return "-"
        text = self.kind + (f"(eps={self.eps})" if self.eps else "")
        return f"masked {text}[{len(self.mask)}]" if self.mask is not None else text


NO_NORM = Norm()


@dataclass(frozen=True)
class Scale:
    """The softmax logit scale ``coefficient * sqrt(sqrt_of) * (ln N if log_length)``.

    ``Scale(sqrt_of=Fraction(1, 5))`` is the usual ``1/sqrt(d_head)`` for ``d_head = 5``; ``log_length=True`` is
    Chiang & Cholak's length-scaled attention (logits times ln N, N the number of tokens).
    """

    coefficient: Fraction = Fraction(1)
    sqrt_of: Fraction = Fraction(1)
    log_length: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "coefficient", as_fraction(self.coefficient))
        object.__setattr__(self, "sqrt_of", as_fraction(self.sqrt_of))
        if self.coefficient <= 0 or self.sqrt_of <= 0:
            raise ModelFormatError("an attention scale must be positive")

    @property
    def is_rational(self) -> bool:
        """Whether the scale is an exact rational for every N."""
        if self.log_length:
            return False
        root = math.isqrt(self.sqrt_of.numerator), math.isqrt(self.sqrt_of.denominator)
        return root[0] ** 2 == self.sqrt_of.numerator and root[1] ** 2 == self.sqrt_of.denominator

    def value(self, length: int) -> float:
        """The scale as a float for sequences of ``length`` tokens."""
        out = float(self.coefficient) * math.sqrt(self.sqrt_of)
        return out * math.log(length) if self.log_length else out

    def describe(self) -> str:
        parts = []
        if self.coefficient != 1:
            parts.append(str(self.coefficient))
        if self.sqrt_of != 1:
            parts.append(f"sqrt({self.sqrt_of})")
        if self.log_length:
            parts.append("ln N")
        return "*".join(parts) or "1"


@dataclass(frozen=True)
class Mask:
    """Which keys j a query at position i may attend to.

    ``none``: all; ``causal``: j <= i; ``strict_causal``: j < i (a query with no key gets a zero output);
    ``window``: i - width < j <= i (a causal sliding window of ``width`` tokens).
    """

    kind: MaskKind = "none"
    width: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("none", "causal", "strict_causal", "window"):
            raise ModelFormatError(f"unknown attention mask {self.kind!r}")
        if (self.kind == "window") != (self.width is not None):
            raise ModelFormatError("a 'window' mask needs a width, and only a window mask has one")
        if self.width is not None and self.width < 1:
            raise ModelFormatError(f"window width must be >= 1, got {self.width}")

    def allowed(self, query: np.ndarray, key: np.ndarray) -> np.ndarray:
        """Boolean matrix ``[len(query), len(key)]`` of allowed (query position, key position) pairs."""
        i = np.asarray(query)[:, None]
        j = np.asarray(key)[None, :]
        if self.kind == "none":
            return np.ones((i.shape[0], j.shape[1]), dtype=bool)
        if self.kind == "causal":
            return j <= i
        if self.kind == "strict_causal":
            return j < i
        return (j <= i) & (j > i - self.width)  # type: ignore[operator]

    @property
    def is_causal(self) -> bool:
        return self.kind != "none"

    def describe(self) -> str:
        return f"window({self.width})" if self.kind == "window" else self.kind


@dataclass(frozen=True)
class RelativeBias:
    """An additive attention-score bias ``b(i - j)``: ``values[k]`` at offset ``k``, ``default`` elsewhere."""

    values: Mapping[int, Fraction] = field(default_factory=dict)
    default: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", {int(k): as_fraction(v) for k, v in dict(self.values).items()})
        object.__setattr__(self, "default", as_fraction(self.default))

    def __call__(self, offset: int) -> Fraction:
        return self.values.get(int(offset), self.default)

    def matrix(self, query: np.ndarray, key: np.ndarray) -> np.ndarray:
        """Rational matrix of biases for the given query and key positions."""
        out = rational_zeros((len(query), len(key)))
        for a, i in enumerate(query):
            for b, j in enumerate(key):
                out[a, b] = self(int(i) - int(j))
        return out

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.values.items())), self.default))


@dataclass(frozen=True, eq=False)
class Attention:
    """A multi-head attention sublayer's weights and options (TransformerLens shapes).

    The score of head h for query i and key j is ``scale * <q_i, k_j> + relative_bias[h](i - j)`` over the keys
    the mask allows. ``softmax`` normalises ``exp(score)``; ``hard`` puts all weight on the unique maximiser (a tie
    raises :class:`~exactformer.core.errors.AttentionTieError` unless ``tie_rule`` picks the leftmost or rightmost);
    ``average_hard`` averages the values of all maximisers. Head outputs ``z_h W_O[h]`` are summed, plus ``b_O``.
    """

    W_Q: np.ndarray
    W_K: np.ndarray
    W_V: np.ndarray
    W_O: np.ndarray
    b_Q: np.ndarray | None = None
    b_K: np.ndarray | None = None
    b_V: np.ndarray | None = None
    b_O: np.ndarray | None = None
    kind: AttentionKind = "softmax"
    scale: Scale = field(default_factory=Scale)
    mask: Mask = field(default_factory=Mask)
    tie_rule: TieRule = "error"
    relative_bias: tuple[RelativeBias | None, ...] | None = None

    #: The weight arrays of an attention sublayer, in TransformerLens order (what ``weights()`` and files name).
    WEIGHTS: ClassVar[tuple[str, ...]] = ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O")

    def __post_init__(self) -> None:
        if self.kind not in ("softmax", "hard", "average_hard"):
            raise ModelFormatError(f"unknown attention kind {self.kind!r}")
        if self.tie_rule not in ("error", "leftmost", "rightmost"):
            raise ModelFormatError(f"unknown tie rule {self.tie_rule!r}")
        W_Q = rational_array(self.W_Q) if not is_rational_array(self.W_Q) else self.W_Q
        if W_Q.ndim != 3:
            raise ModelFormatError(f"W_Q must have shape [n_heads, d_model, d_head], got {W_Q.shape}")
        h, d, dh = W_Q.shape
        object.__setattr__(self, "W_Q", W_Q)
        object.__setattr__(self, "W_K", _weights("W_K", self.W_K, (h, d, dh)))
        W_V = rational_array(self.W_V) if not is_rational_array(self.W_V) else self.W_V
        if W_V.ndim != 3 or W_V.shape[:2] != (h, d):
            raise ModelFormatError(f"W_V must have shape [{h}, {d}, d_head_v], got {W_V.shape}")
        object.__setattr__(self, "W_V", W_V)
        dv = W_V.shape[2]
        object.__setattr__(self, "W_O", _weights("W_O", self.W_O, (h, dv, d)))
        for name, shape in (("b_Q", (h, dh)), ("b_K", (h, dh)), ("b_V", (h, dv)), ("b_O", (d,))):
            value = getattr(self, name)
            object.__setattr__(self, name, rational_zeros(shape) if value is None else _weights(name, value, shape))
        if self.relative_bias is not None:
            if len(self.relative_bias) != h:
                raise ModelFormatError(f"relative_bias must list one entry (or None) per head ({h})")
            object.__setattr__(self, "relative_bias", tuple(self.relative_bias))

    @property
    def n_heads(self) -> int:
        return self.W_Q.shape[0]

    @property
    def d_model(self) -> int:
        return self.W_Q.shape[1]

    @property
    def d_head(self) -> int:
        return self.W_Q.shape[2]

    def bias_for(self, head: int) -> RelativeBias | None:
        return None if self.relative_bias is None else self.relative_bias[head]

    def describe(self) -> str:
        kind = f"softmax(scale={self.scale.describe()})" if self.kind == "softmax" else self.kind
        if self.kind == "hard" and self.tie_rule != "error":
            kind += f"[ties: {self.tie_rule}]"
        extra = ", rel-bias" if self.relative_bias is not None else ""
        return f"attn {self.n_heads}x{self.d_head} {kind}, mask {self.mask.describe()}{extra}"


@dataclass(frozen=True, eq=False)
class MLP:
    """``act(x W_in + b_in) W_out + b_out`` with ``act`` = ReLU or the step ``1[x >= threshold]``.

    ``W_in`` and ``W_out`` are rational arrays or :class:`~exactformer.core.sparse.SparseRationalMatrix` (for the
    wide, mostly zero MLPs of the composition constructions); the biases are rational arrays.
    """

    W_in: np.ndarray | SparseRationalMatrix
    W_out: np.ndarray | SparseRationalMatrix
    b_in: np.ndarray | None = None
    b_out: np.ndarray | None = None
    activation: Activation = "relu"
    threshold: Fraction = Fraction(0)

    #: The weight arrays of an MLP sublayer, in TransformerLens order.
    WEIGHTS: ClassVar[tuple[str, ...]] = ("W_in", "b_in", "W_out", "b_out")

    def __post_init__(self) -> None:
        if self.activation not in ("relu", "step"):
            raise ModelFormatError(f"unknown MLP activation {self.activation!r}")
        W_in = self.W_in
        if not isinstance(W_in, SparseRationalMatrix) and not is_rational_array(W_in):
            W_in = rational_array(W_in)
        if W_in.ndim != 2:
            raise ModelFormatError(f"W_in must have shape [d_model, d_mlp], got {W_in.shape}")
        d, w = W_in.shape
        object.__setattr__(self, "W_in", W_in)
        object.__setattr__(self, "W_out", _weights("W_out", self.W_out, (w, d)))
        for name, shape in (("b_in", (w,)), ("b_out", (d,))):
            value = getattr(self, name)
            object.__setattr__(self, name, rational_zeros(shape) if value is None else _weights(name, value, shape))
        object.__setattr__(self, "threshold", as_fraction(self.threshold))

    @property
    def d_model(self) -> int:
        return self.W_in.shape[0]

    @property
    def d_mlp(self) -> int:
        return self.W_in.shape[1]

    def describe(self) -> str:
        act = "ReLU" if self.activation == "relu" else f"step(>={self.threshold})"
        return f"mlp {self.d_mlp} {act}"


@dataclass(frozen=True, eq=False)
class Sublayer:
    """An attention or MLP block with its input norm, residual switch and output norm:

    ``y = output_norm((x if residual else 0) + block(input_norm(x)))``.
    """

    block: Attention | MLP
    input_norm: Norm = NO_NORM
    residual: bool = True
    output_norm: Norm = NO_NORM

    def describe(self) -> str:
        parts = [self.block.describe()]
        if not self.input_norm.is_identity:
            parts.append(f"in: {self.input_norm.describe()}")
        parts.append("residual" if self.residual else "no residual")
        if not self.output_norm.is_identity:
            parts.append(f"out: {self.output_norm.describe()}")
        return "; ".join(parts)


@dataclass(frozen=True, eq=False)
class Layer:
    """An attention sublayer and/or an MLP sublayer, applied in that order."""

    attention: Sublayer | None = None
    mlp: Sublayer | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.attention is None and self.mlp is None:
            raise ModelFormatError(f"layer {self.name!r} has neither attention nor MLP")
        if self.attention is not None and not isinstance(self.attention.block, Attention):
            raise ModelFormatError(f"layer {self.name!r}: the attention sublayer holds {type(self.attention.block)}")
        if self.mlp is not None and not isinstance(self.mlp.block, MLP):
            raise ModelFormatError(f"layer {self.name!r}: the MLP sublayer holds {type(self.mlp.block)}")

    def sublayers(self) -> list[tuple[str, Sublayer]]:
        return [(k, s) for k, s in (("attn", self.attention), ("mlp", self.mlp)) if s is not None]


@dataclass(frozen=True)
class RepeatCount:
    """How often a looped block runs on a sequence of ``N`` tokens: ``multiplier * f(n) + offset``.

    ``n = N - extra_tokens`` is the number of input symbols (``extra_tokens`` counts markers such as BOS and ``$``).
    ``f`` is ``"constant"`` (1), ``"ceil_log2"`` (ceil(log2 n), 0 for n <= 1) or ``"floor_log2_plus_1"``
    (floor(log2 n) + 1 for n >= 1, 0 for n = 0: the number of bits of n). The result is clipped at 0.
    """

    function: Literal["constant", "ceil_log2", "floor_log2_plus_1"] = "constant"
    multiplier: int = 1
    offset: int = 0
    extra_tokens: int = 0

    def __post_init__(self) -> None:
        if self.function not in ("constant", "ceil_log2", "floor_log2_plus_1"):
            raise ModelFormatError(f"unknown repeat-count function {self.function!r}")

    def __call__(self, length: int) -> int:
        n = max(0, length - self.extra_tokens)
        if self.function == "constant":
            base = 1
        elif self.function == "ceil_log2":
            base = (n - 1).bit_length() if n > 1 else 0
        else:
            base = n.bit_length()
        return max(0, self.multiplier * base + self.offset)

    def describe(self) -> str:
        f = {"constant": "1", "ceil_log2": "ceil(log2 n)", "floor_log2_plus_1": "(floor(log2 n)+1)"}[self.function]
        text = f if self.multiplier == 1 else f"{self.multiplier}*{f}"
        return text + (f" {'+' if self.offset > 0 else '-'} {abs(self.offset)}" if self.offset else "")


@dataclass(frozen=True, eq=False)
class Loop:
    """A block of layers repeated ``count(n)`` times between the prefix and the suffix."""

    block: tuple[Layer, ...]
    count: RepeatCount

    def __post_init__(self) -> None:
        object.__setattr__(self, "block", tuple(self.block))
        if not self.block:
            raise ModelFormatError("a loop needs at least one layer")


@dataclass(frozen=True, eq=False)
class Embedding:
    """Token table plus positional features: ``h_i = W_E[token_i] + sum_f feature_f(i, N) e_{coord_f}``.

    A continuous input (a vector of the residual space, as continuous thoughts are) replaces ``W_E[token]``; the
    positional features are added to it all the same.
    """

    W_E: np.ndarray
    vocab: tuple[str, ...]
    positional: tuple[tuple[str, PositionalFeature], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocab", tuple(self.vocab))
        if len(set(self.vocab)) != len(self.vocab):
            raise ModelFormatError("the vocabulary has repeated tokens")
        W_E = rational_array(self.W_E) if not is_rational_array(self.W_E) else self.W_E
        if W_E.ndim != 2 or W_E.shape[0] != len(self.vocab):
            raise ModelFormatError(f"W_E must have shape [{len(self.vocab)}, d_model], got {W_E.shape}")
        object.__setattr__(self, "W_E", W_E)
        object.__setattr__(self, "positional", tuple((str(c), f) for c, f in self.positional))

    @property
    def depends_on_length(self) -> bool:
        return any(f.depends_on_length for _, f in self.positional)


@dataclass(frozen=True, eq=False)
class Readout:
    """Unembedding ``logits = h[position] W_U + b_U`` and the decision rule.

    ``position`` is an index into the sequence (negative counts from the end). ``decision="sign"`` needs one
    output column and answers ``logit > 0``; ``"argmax"`` answers the label of the unique largest logit.
    """

    W_U: np.ndarray
    labels: tuple[str, ...]
    position: int = -1
    decision: Literal["sign", "argmax"] = "argmax"
    b_U: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        W_U = rational_array(self.W_U) if not is_rational_array(self.W_U) else self.W_U
        if W_U.ndim != 2 or W_U.shape[1] != len(self.labels):
            raise ModelFormatError(f"W_U must have shape [d_model, {len(self.labels)}], got {W_U.shape}")
        object.__setattr__(self, "W_U", W_U)
        b = rational_zeros((len(self.labels),)) if self.b_U is None else _weights("b_U", self.b_U, (len(self.labels),))
        object.__setattr__(self, "b_U", b)
        if self.decision not in ("sign", "argmax"):
            raise ModelFormatError(f"unknown decision rule {self.decision!r}")
        if self.decision == "sign" and len(self.labels) != 1:
            raise ModelFormatError("a 'sign' readout needs exactly one output column")


@dataclass(frozen=True, eq=False)
class Transformer:
    """The model: residual space, embedding, layers (prefix, optional loop, suffix), readout.

    Parameters
    ----------
    space
        The residual stream's named coordinates; every weight's ``d_model`` axis is this space.
    embedding, readout
        See :class:`Embedding`, :class:`Readout`.
    layers
        The prefix layers (all layers of an unlooped model).
    loop, suffix
        An optional looped block and the layers after it.
    max_length
        The longest sequence (in tokens) the model is built for, or ``None`` for any length.
    """

    space: Space
    embedding: Embedding
    layers: tuple[Layer, ...]
    readout: Readout
    loop: Loop | None = None
    suffix: tuple[Layer, ...] = ()
    max_length: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "suffix", tuple(self.suffix))
        d = self.space.dim
        if self.embedding.W_E.shape[1] != d:
            raise ModelFormatError(f"W_E has d_model {self.embedding.W_E.shape[1]}, the space has {d} coordinates")
        if self.readout.W_U.shape[0] != d:
            raise ModelFormatError(f"W_U has d_model {self.readout.W_U.shape[0]}, the space has {d} coordinates")
        for coord, _ in self.embedding.positional:
            self.space.index(coord)
        for label, layer in self.named_layers(None):
            for kind, sub in layer.sublayers():
                if sub.block.d_model != d:
                    raise ModelFormatError(f"{label}.{kind} has d_model {sub.block.d_model}, expected {d}")
                for norm in (sub.input_norm, sub.output_norm):
                    for coord in norm.mask or ():
                        self.space.index(coord)

    def named_layers(self, length: int | None) -> list[tuple[str, Layer]]:
        """The layers in execution order with their labels, the loop unrolled for ``length`` tokens.

        With ``length=None`` each distinct layer is listed once (the loop block once).
        """
        out = [(f"L{k}", layer) for k, layer in enumerate(self.layers)]
        if self.loop is not None:
            reps = 1 if length is None else self.loop.count(length)
            for r in range(reps):
                out += [(f"loop{r}.B{k}", layer) for k, layer in enumerate(self.loop.block)]
        out += [(f"S{k}", layer) for k, layer in enumerate(self.suffix)]
        return out

    @property
    def d_model(self) -> int:
        return self.space.dim

    def embed_vector(self, token: str) -> np.ndarray:
        """The exact embedding row of ``token`` (without positions)."""
        return self.embedding.W_E[self.token_index(token)]

    def token_index(self, token: str) -> int:
        try:
            return self.embedding.vocab.index(token)
        except ValueError:
            from .errors import InputError

            raise InputError(
                f"token {token!r} is not in the model's vocabulary {list(self.embedding.vocab)}"
            ) from None

    def describe(self, n: int | None = None) -> str:
        """A table of the blocks of the residual space and of the layers (the loop unrolled for ``n`` tokens)."""
        lines = [f"Transformer: d_model={self.d_model}, vocab={len(self.embedding.vocab)}"]
        lines.append("  residual blocks: " + ", ".join(f"{b.name}[{len(b)}]" for b in self.space.blocks))
        if self.embedding.positional:
            pe = ", ".join(f"{c} = {f.describe()}" for c, f in self.embedding.positional)
            lines.append(f"  positions: {pe}")
        layers: Sequence[tuple[str, Layer]]
        layers = self.named_layers(n)
        if self.loop is not None and n is None:
            lines.append(f"  loop: block of {len(self.loop.block)} layer(s) x {self.loop.count.describe()}")
        for label, layer in layers:
            for kind, sub in layer.sublayers():
                lines.append(f"  {label}.{kind}: {sub.describe()}")
        pos = self.readout.position
        lines.append(f"  readout: {self.readout.decision} over {len(self.readout.labels)} at position {pos}")
        return "\n".join(lines)
