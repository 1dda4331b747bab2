"""Positional features: the positional encoding as a function of (position i, sequence length N).

Several constructions encode positions by exact functions of the position and the sequence length (``i/N``,
``(-1)^i``, ``[i = 1]``), some by sinusoids. Each feature is a small frozen object that can be evaluated

* exactly (:meth:`PositionalFeature.exact`, a Fraction; irrational features raise :class:`IrrationalOperation`),
* with certified bounds (:meth:`PositionalFeature.interval`, an ``mpmath.iv`` interval), and
* in torch (:meth:`PositionalFeature.torch`, a tensor over a vector of positions),

and serialised as JSON (``{"kind": ..., **params}``). Positions are 0-based: the first token is ``i = 0``, and
``N`` is the number of tokens in the sequence.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, ClassVar

import mpmath
import torch

from .errors import IrrationalOperation

__all__ = [
    "PositionalFeature",
    "IndexOverLength",
    "AlternatingSign",
    "IndicatorAt",
    "Index",
    "Sinusoid",
    "ScaledFeature",
    "IndexSquared",
    "GraphCoordinate",
    "graph_vertices_for_length",
    "feature_from_json",
    "FEATURE_KINDS",
]


@dataclass(frozen=True)
class PositionalFeature(ABC):
    """Base class: one scalar feature of (i, N). Subclasses set ``kind`` and implement the three evaluators."""

    kind: ClassVar[str] = ""
    depends_on_length: ClassVar[bool] = False

    @abstractmethod
    def exact(self, i: int, length: int) -> Fraction:
        """The exact value; raises :class:`IrrationalOperation` where it is irrational."""

    def interval(self, i: int, length: int) -> Any:
        """The feature as an ``mpmath.iv`` interval (exact features give a point interval)."""
        value = self.exact(i, length)
        return mpmath.iv.mpf(value.numerator) / value.denominator

    @abstractmethod
    def torch(self, i: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        """The feature at every position in ``i`` (an integer tensor), as ``dtype``."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **{k: _json_value(v) for k, v in asdict(self).items()}}

    def describe(self) -> str:
        return self.kind


def _json_value(v: Any) -> Any:
    return str(v) if isinstance(v, Fraction) else v


@dataclass(frozen=True)
class IndexOverLength(PositionalFeature):
    """``i / N``: the position divided by the sequence length (Chiang & Cholak's PARITY encoding)."""

    kind: ClassVar[str] = "index_over_length"
    depends_on_length: ClassVar[bool] = True

    def exact(self, i: int, length: int) -> Fraction:
        return Fraction(i, length)

    def torch(self, i: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        # divide in float64 and round once, so that float16 gets the correctly rounded i/N
        return (i.to(torch.float64) / length).to(dtype)

    def describe(self) -> str:
        return "i/N"


@dataclass(frozen=True)
class AlternatingSign(PositionalFeature):
    """``(-1)^i``."""

    kind: ClassVar[str] = "alternating_sign"

    def exact(self, i: int, length: int) -> Fraction:
        return Fraction(-1 if i % 2 else 1)

    def torch(self, i: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        return (1 - 2 * (i % 2)).to(dtype)

    def describe(self) -> str:
        return "(-1)^i"


@dataclass(frozen=True)
class IndicatorAt(PositionalFeature):
    """``[i = position]``; a negative ``position`` counts from the end (``-1`` is the last token)."""

    kind: ClassVar[str] = "indicator_at"
    position: int = 0

    @property
    def depends_on_length(self) -> bool:  # type: ignore[override]
        return self.position < 0

    def _target(self, length: int) -> int:
        return self.position if self.position >= 0 else length + self.position

    def exact(self, i: int, length: int) -> Fraction:
        return Fraction(int(i == self._target(length)))

    def torch(self, i: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        return (i == self._target(length)).to(dtype)

    def describe(self) -> str:
        return f"[i = {self.position}]"


@dataclass(frozen=True)
class Index(PositionalFeature):
    """``i`` itself."""

    kind: ClassVar[str] = "index"

    def exact(self, i: int, length: int) -> Fraction:
        return Fraction(i)

    def torch(self, i: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        return i.to(dtype)

    def describe(self) -> str:
        return "i"


@dataclass(frozen=True)
class Sinusoid(PositionalFeature):
    """``sin(i / base^(2k/d))`` or ``cos(...)``: the sinusoidal encoding of Vaswani et al., one coordinate.

    Irrational: the exact evaluator refuses it, the certified one bounds it.
    """

    kind: ClassVar[str] = "sinusoid"
    k: int = 0
    d: int = 2
    base: int = 10_000
    function: str = "sin"

    def __post_init__(self) -> None:
        if self.function not in ("sin", "cos"):
            raise ValueError(f"Sinusoid.function must be 'sin' or 'cos', not {self.function!r}")
        if self.d <= 0 or self.d % 2:
            raise ValueError(f"Sinusoid.d must be a positive even number, not {self.d}")

    def exact(self, i: int, length: int) -> Fraction:
        if i == 0:
            return Fraction(0 if self.function == "sin" else 1)
        raise IrrationalOperation(f"sinusoidal position {self.describe()} at i={i} is irrational")

    def interval(self, i: int, length: int) -> Any:
        iv = mpmath.iv
        angle = iv.mpf(i) / iv.power(iv.mpf(self.base), iv.mpf(2 * self.k) / self.d)
        return iv.sin(angle) if self.function == "sin" else iv.cos(angle)

    def torch(self, i: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        angle = i.to(torch.float64) / (float(self.base) ** (2 * self.k / self.d))
        out = torch.sin(angle) if self.function == "sin" else torch.cos(angle)
        return out.to(dtype)

    def describe(self) -> str:
        return f"{self.function}(i/{self.base}^({2 * self.k}/{self.d}))"


@dataclass(frozen=True)
class ScaledFeature(PositionalFeature):
    """``factor * feature(i, N)`` for an exact rational ``factor``.

    ``ScaledFeature(IndexOverLength(), -1)`` is ``-i/N``: the negated copy of the position that Chiang & Cholak's
    layer-norm constructions add to the stream ``[x, -x]``. Serialised with the inner feature nested.
    """

    kind: ClassVar[str] = "scaled"
    feature: PositionalFeature
    factor: Fraction = Fraction(-1)

    def __post_init__(self) -> None:
        from .rational import as_fraction

        inner = self.feature
        if isinstance(inner, dict):
            inner = feature_from_json(inner)
        if not isinstance(inner, PositionalFeature):
            raise ValueError(f"ScaledFeature.feature must be a positional feature, not {inner!r}")
        object.__setattr__(self, "feature", inner)
        object.__setattr__(self, "factor", as_fraction(self.factor))

    @property
    def depends_on_length(self) -> bool:  # type: ignore[override]
        return self.feature.depends_on_length

    def exact(self, i: int, length: int) -> Fraction:
        return self.factor * self.feature.exact(i, length)

    def interval(self, i: int, length: int) -> Any:
        return self.feature.interval(i, length) * (mpmath.iv.mpf(self.factor.numerator) / self.factor.denominator)

    def torch(self, i: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        if abs(self.factor) == 1:  # exactly the (negated) rendering of the inner feature, in every dtype
            return self.feature.torch(i, length, dtype) * int(self.factor)
        # otherwise the float64 product (within an ulp of float64), rounded to dtype
        return (self.feature.torch(i, length, torch.float64) * float(self.factor)).to(dtype)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "feature": self.feature.to_json(), "factor": str(self.factor)}

    def describe(self) -> str:
        inner = self.feature.describe()
        return f"-({inner})" if self.factor == -1 else f"{self.factor}*({inner})"


@dataclass(frozen=True)
class IndexSquared(PositionalFeature):
    """``i^2``: the square of the position (the key ``(j, j^2)`` of the quadratic pointer match of the log-depth
    constructions, :func:`exactformer.constructions.gadgets.heads.quadratic_pointer`)."""

    kind: ClassVar[str] = "index_squared"

    def exact(self, i: int, length: int) -> Fraction:
        return Fraction(i * i)

    def torch(self, i: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        # square in float64 (exact below 2^53) and round once to dtype
        return (i.to(torch.float64) ** 2).to(dtype)

    def interval(self, i: int, length: int) -> Any:
        return mpmath.iv.mpf(i * i)

    def describe(self) -> str:
        return "i^2"


def graph_vertices_for_length(length: int) -> int:
    """The number of vertices ``n`` of a connectivity input of ``length`` tokens (``n^2`` adjacency bits, ``n^3``
    padding tokens, ``a^(s+1) b^(t+1)``): the largest n with ``n^3 + n^2 < length``.

    Unique because ``n^3 + n^2 + 2 <= length <= n^3 + n^2 + 2n < (n+1)^3 + (n+1)^2``.
    """
    n = 0
    while (n + 1) ** 3 + (n + 1) ** 2 < length:
        n += 1
    return n


_GRAPH_PARTS = ("row", "col", "pad_i", "pad_k", "pad_j", "pad_k_is_1")


def _graph_coordinate(part: str, p: int, n: int) -> int:
    if p < n * n:
        return {"row": p // n + 1, "col": p % n + 1}.get(part, 0)
    q = p - n * n
    if q < n**3:
        i, k, j = q // (n * n) + 1, (q // n) % n + 1, q % n + 1
        return {"pad_i": i, "pad_k": k, "pad_j": j, "pad_k_is_1": int(k == 1)}.get(part, 0)
    return 0


@dataclass(frozen=True)
class GraphCoordinate(PositionalFeature):
    """One coordinate of a graph token, 1-based, raised to ``power`` (1 or 2); 0 on tokens of the other kinds.

    The positions of the connectivity input (:mod:`exactformer.constructions.log_depth_connectivity`). ``part``:
    ``row``/``col`` of an adjacency token ``p = (i-1) n + (j-1)``; ``pad_i``/``pad_k``/``pad_j`` of a padding token
    ``p = n^2 + (i-1) n^2 + (k-1) n + (j-1)``; ``pad_k_is_1`` = ``[k = 1]``. ``n`` is recovered from the sequence
    length by :func:`graph_vertices_for_length`.
    """

    kind: ClassVar[str] = "graph_coordinate"
    depends_on_length: ClassVar[bool] = True
    part: str = "row"
    power: int = 1

    def __post_init__(self) -> None:
        if self.part not in _GRAPH_PARTS:
            raise ValueError(f"unknown graph coordinate {self.part!r} (known: {', '.join(_GRAPH_PARTS)})")
        if self.power not in (1, 2):
            raise ValueError(f"graph coordinate power must be 1 or 2, got {self.power}")

    def exact(self, i: int, length: int) -> Fraction:
        return Fraction(_graph_coordinate(self.part, i, graph_vertices_for_length(length)) ** self.power)

    def torch(self, i: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        n = graph_vertices_for_length(length)
        p = i.to(torch.int64)
        adj = p < n * n
        q = p - n * n
        pad = (q >= 0) & (q < n**3)
        zero = torch.zeros_like(p)
        if self.part == "row":
            v = torch.where(adj, p // max(n, 1) + 1, zero)
        elif self.part == "col":
            v = torch.where(adj, p % max(n, 1) + 1, zero)
        elif self.part == "pad_i":
            v = torch.where(pad, q // max(n * n, 1) + 1, zero)
        elif self.part == "pad_k":
            v = torch.where(pad, (q // max(n, 1)) % max(n, 1) + 1, zero)
        elif self.part == "pad_j":
            v = torch.where(pad, q % max(n, 1) + 1, zero)
        else:
            v = torch.where(pad & ((q // max(n, 1)) % max(n, 1) == 0), torch.ones_like(p), zero)
        return (v**self.power).to(torch.float64).to(dtype)

    def describe(self) -> str:
        return f"{self.part}{'^2' if self.power == 2 else ''}"


FEATURE_KINDS: dict[str, type[PositionalFeature]] = {
    cls.kind: cls
    for cls in (IndexOverLength, AlternatingSign, IndicatorAt, Index, Sinusoid, ScaledFeature, IndexSquared,
                GraphCoordinate)
}


def feature_from_json(data: dict[str, Any]) -> PositionalFeature:
    """Rebuild a feature from :meth:`PositionalFeature.to_json` output, refusing unknown kinds or fields."""
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError(f"malformed positional feature {data!r}: expected an object with a 'kind'")
    params = dict(data)
    kind = params.pop("kind")
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown positional feature kind {kind!r} (known: {', '.join(sorted(FEATURE_KINDS))})")
    try:
        return FEATURE_KINDS[kind](**params)
    except TypeError as exc:
        raise ValueError(f"malformed positional feature {data!r}: {exc}") from None
