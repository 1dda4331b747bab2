"""Certified arithmetic: ``mpmath.iv`` intervals at a chosen precision.

Every value is an interval that contains the true value; every decision (an attention argmax, a step, the
answer's sign or argmax) is recorded as certified (the intervals separate) or not. Softmax, the norms and
sinusoids, which the exact arithmetic refuses, are enclosed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import torch
from mpmath.libmp import mpi_add, mpi_div, mpi_exp, mpi_sub

from ..architecture import Attention, Norm, Transformer
from ..attention_rules import norm_parts
from ..errors import InputError, NonFiniteError
from ..rational import as_fraction
from ..sparse import SparseRationalMatrix
from .base import Item
from .exact import ObjectArithmetic

__all__ = ["CertifiedArithmetic", "interval_bounds"]


def interval_bounds(v: Any) -> tuple[Fraction, Fraction]:
    """The exact endpoints of an ``mpmath.iv`` interval (or ``(v, v)`` for a Fraction)."""
    if isinstance(v, Fraction):
        return v, v
    lo, hi = v._mpi_
    return Fraction(*mpmath.libmp.to_rational(lo)), Fraction(*mpmath.libmp.to_rational(hi))



class CertifiedArithmetic(ObjectArithmetic):
    """Interval arithmetic (``mpmath.iv``) at ``precision`` bits; decisions come back certified or not."""

    name = "certified"

    def __init__(self, precision: int = 128) -> None:
        super().__init__()
        self.precision = precision
        self._cache: dict[int, tuple[Any, Any]] = {}  # the intervals of each weight array, by its id

    def scalar(self, value: Fraction) -> Any:
        return mpmath.iv.mpf(value.numerator) / value.denominator

    def weights(self, arr: Any) -> Any:
        key = id(arr)
        hit = self._cache.get(key)
        if hit is None or hit[0] is not arr:
            if isinstance(arr, SparseRationalMatrix):
                hit = (arr, arr.with_values(self.scalar))
            else:
                hit = (arr, np.vectorize(self.scalar, otypes=[object])(arr) if arr.size else arr.copy())
            self._cache[key] = hit
        return hit[1]

    def vector_input(self, item: Item, d: int) -> np.ndarray:
        arr = np.asarray(item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else item, dtype=object)
        if arr.shape != (d,):
            raise InputError(f"a continuous input must have {d} entries, got shape {arr.shape}")
        return np.array([v if isinstance(v, mpmath.ctx_iv.ivmpf) else self._to_interval(v) for v in arr], dtype=object)

    def _to_interval(self, v: Any) -> Any:
        if isinstance(v, (float, np.floating)):
            return mpmath.iv.mpf(float(v))  # a float is exactly a dyadic rational
        return self.scalar(as_fraction(v))

    def position(self, feature: Any, i: int, length: int) -> Any:
        return feature.interval(i, length)

    def greater_equal(self, a: Any, b: Any) -> tuple[bool, bool]:
        lo, hi = interval_bounds(a - b)
        if lo >= 0:
            return True, True
        if hi < 0:
            return False, True
        return (lo + hi) >= 0, False

    def maximisers(self, scores: list[Any]) -> tuple[list[int], bool]:
        bounds = [interval_bounds(s) for s in scores]
        best_lower = max(lo for lo, _ in bounds)
        candidates = [j for j, (_, hi) in enumerate(bounds) if hi >= best_lower]
        if len(candidates) == 1:
            return candidates, True
        points = {bounds[j] for j in candidates}
        lo, hi = bounds[candidates[0]]
        if len(points) == 1 and lo == hi:
            return candidates, True  # an exact tie between point intervals
        return candidates, False

    def relu(self, v: Any) -> Any:
        lo, hi = interval_bounds(v)
        if lo >= 0:
            return v
        if hi <= 0:
            return mpmath.iv.mpf(0)
        return mpmath.iv.mpf([0, v.b])

    def norm(self, x: np.ndarray, norm: Norm, model: Transformer, where: str) -> np.ndarray:
        if norm.is_identity:
            return x
        iv = mpmath.iv
        if norm.mask is not None:
            keep = np.zeros(model.d_model, dtype=bool)
            keep[[model.space.index(c) for c in norm.mask]] = True
            x = np.where(keep, x, iv.mpf(0))
        d = x.shape[-1]

        def total(a: np.ndarray) -> np.ndarray:
            return np.sum(a, axis=-1, keepdims=True, initial=iv.mpf(0))

        numerator, denominator = norm_parts(x, norm, lambda a: total(a) / d, total, self.scalar(norm.eps))
        for index in np.ndindex(x.shape[:-1]):
            if interval_bounds(denominator[index][0])[0] <= 0:
                raise NonFiniteError(
                    f"{norm.describe()} in {where} divides by a norm that may be 0 (batch/position {index})"
                )
        return numerator / np.vectorize(iv.sqrt, otypes=[object])(denominator)

    def attention_scale(self, att: Attention, length: int, where: str) -> Any:
        if att.kind != "softmax":
            return self.scalar(Fraction(1))
        iv = mpmath.iv
        s = self.scalar(att.scale.coefficient) * iv.sqrt(self.scalar(att.scale.sqrt_of))
        return s * iv.log(iv.mpf(length)) if att.scale.log_length else s

    def softmax(self, scores: list[Any], where: str) -> list[Any]:
        # w_j = 1 / sum_k exp(s_k - s_j): an enclosure that stays tight when the scores are tight. The N^2 interval
        # operations are made on the raw endpoint pairs by mpmath's own libmpi functions at the working precision,
        # which is what ``1 / sum((iv.exp(s_k - s_j) for s_k in scores), iv.mpf(0))`` calls through ivmpf's
        # operators (the same endpoints: tests/core/test_evaluators.py), without their wrapping (parity-ln failing at
        # n = 64, where the certified diagnosis re-runs 13 words: 30.1 -> 26.8 CPU s)
        iv, prec = mpmath.iv, mpmath.iv.prec
        if not all(isinstance(s, mpmath.ctx_iv.ivmpf) for s in scores):  # an exact score: its differences stay exact
            return [1 / sum((iv.exp(s_k - s_j) for s_k in scores), iv.mpf(0)) for s_j in scores]
        raw = [s._mpi_ for s in scores]
        zero, one = iv.mpf(0)._mpi_, iv.mpf(1)._mpi_
        weights = []
        for s_j in raw:
            total = zero
            for s_k in raw:
                total = mpi_add(total, mpi_exp(mpi_sub(s_k, s_j, prec), prec), prec)
            weights.append(iv.make_mpf(mpi_div(one, total, prec)))
        return weights


@contextmanager
def _interval_precision(bits: int) -> Iterator[None]:
    """Set ``mpmath.iv``'s working precision for the duration of a block."""
    saved = mpmath.iv.prec
    mpmath.iv.prec = bits
    try:
        yield
    finally:
        mpmath.iv.prec = saved


def _with_precision(method: Any) -> Any:
    def wrapped(self: CertifiedArithmetic, *args: Any, **kwargs: Any) -> Any:
        with _interval_precision(self.precision):
            return method(self, *args, **kwargs)

    wrapped.__name__ = method.__name__
    wrapped.__doc__ = method.__doc__
    return wrapped


for _name in ("embed", "norm", "mlp", "attend", "add"):  # every operation of a pass, the residual sums too
    setattr(CertifiedArithmetic, _name, _with_precision(getattr(CertifiedArithmetic, _name)))

