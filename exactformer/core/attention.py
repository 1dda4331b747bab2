"""Attention, as frozen data: the softmax scale, the mask, the relative position bias and the attention sublayer.

What the options compute (the mask as a matrix, hard and average-hard selection, the tie rules) is defined once in
:mod:`exactformer.core.attention_rules`; this module holds the weights and the options, checked on construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import ClassVar, Literal

import numpy as np

from ._weights import as_weights, checked_weights, set_biases
from .errors import ModelFormatError
from .rational import as_fraction, rational_zeros

__all__ = ["Scale", "Mask", "RelativeBias", "Attention", "AttentionKind", "TieRule", "MaskKind"]

AttentionKind = Literal["softmax", "hard", "average_hard"]
TieRule = Literal["error", "leftmost", "rightmost"]
MaskKind = Literal["none", "causal", "strict_causal", "window"]


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
        W_Q = as_weights(self.W_Q)
        if W_Q.ndim != 3:
            raise ModelFormatError(f"W_Q must have shape [n_heads, d_model, d_head], got {W_Q.shape}")
        h, d, dh = W_Q.shape
        object.__setattr__(self, "W_Q", W_Q)
        object.__setattr__(self, "W_K", checked_weights("W_K", self.W_K, (h, d, dh)))
        W_V = as_weights(self.W_V)
        if W_V.ndim != 3 or W_V.shape[:2] != (h, d):
            raise ModelFormatError(f"W_V must have shape [{h}, {d}, d_head_v], got {W_V.shape}")
        object.__setattr__(self, "W_V", W_V)
        dv = W_V.shape[2]
        object.__setattr__(self, "W_O", checked_weights("W_O", self.W_O, (h, dv, d)))
        set_biases(self, {"b_Q": (h, dh), "b_K": (h, dh), "b_V": (h, dv), "b_O": (d,)})
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

