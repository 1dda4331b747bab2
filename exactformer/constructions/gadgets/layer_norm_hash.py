"""The layer-norm hash of Merrill & Sabharwal (2025), App. A, and its storage, as named, separately tested functions.

A scalar z is stored as ``psi(z) = <z, 1, -z, -1>`` and read through a (masked) LayerNorm as the unit vector
``phi(z) = psi(z) / ||psi(z)||``; the dot product ``phi(q) . phi(k)`` is 1 exactly when ``q = k`` and smaller
otherwise, so an attention head whose query holds ``phi(q)`` and whose keys hold ``phi(j)`` finds position q.
Each function computes what the gadget's layers compute (the normalised reads, the hash scores), in exact rationals
where the gadget is rational and with an explicit square root where it is not. :func:`hash_gap` and
:func:`hash_frontier` measure how the hash's gap ``~1/(2 q^4)`` limits pointer matching in floating point (note
``docs/notes/log_depth.md`` §1.1, §2). The weight-level heads built on it are those of
:mod:`exactformer.constructions.log_depth_paper`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import torch

__all__ = [
    "PHI_CELLS",
    "hash_query_key",
    "psi",
    "phi",
    "layer_norm_read",
    "layer_norm_hash",
    "hash_argmax",
    "hash_gap",
    "hash_frontier",
]


PHI_CELLS = ("z", "one", "mz", "mone")
"""The labels of the four cells of a ``psi`` / ``phi`` block in the residual stream: ``<z, 1, -z, -1>``."""


def hash_query_key(query: str, key: str, scale: Fraction) -> tuple[dict[str, dict[str, Fraction]],
                                                                    dict[str, dict[str, Fraction]]]:
    """The query and key actions of a layer-norm-hash head (cells ``d:0 .. d:3``): the score is
    ``phi(q) . phi(j)``, q held in the block ``query`` of the query token and j in the block ``key`` of every key.

    Both blocks are unit ``phi`` blocks read through a masked norm that scales them by ``1/scale``; the maps multiply
    by ``scale`` again, so the score is the hash itself, maximal (1) exactly at ``j = q``.
    """
    return ({f"{query}:{c}": {f"d:{k}": scale} for k, c in enumerate(PHI_CELLS)},
            {f"{key}:{c}": {f"d:{k}": scale} for k, c in enumerate(PHI_CELLS)})


def psi(z: Fraction | int) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    """Storage (App. A): ``psi(z) = <z, 1, -z, -1>``, mean zero, so LayerNorm and RMSNorm read it alike."""
    z = Fraction(z)
    return (z, Fraction(1), -z, Fraction(-1))


def phi(z: float | Fraction) -> tuple[float, float, float, float]:
    """``phi(z) = psi(z) / ||psi(z)|| = psi(z) / (sqrt 2 sqrt(z^2 + 1))``, the unit-norm storage."""
    z = float(z)
    s = math.sqrt(2.0) * math.sqrt(z * z + 1.0)
    return (z / s, 1.0 / s, -z / s, -1.0 / s)


def layer_norm_read(a: Fraction | float, b: Fraction | float) -> tuple[float, float, float, float]:
    """A masked pre-norm read of the 4 cells ``<a, b, -a, -b>`` (b > 0), renormalised to unit norm.

    Scale invariance ([CoT] Lemma 1): the read is ``phi(a / b)``, so the pair ``(x/i, 1/i)`` written by a uniform
    head reads as ``phi(x)``. LayerNorm divides by the standard deviation ``sqrt((a^2 + b^2)/2)``; mean is 0.
    """
    a, b = float(a), float(b)
    std = math.sqrt((a * a + b * b) / 2.0)
    v = (a / std, b / std, -a / std, -b / std)
    norm = math.sqrt(sum(x * x for x in v))
    return tuple(x / norm for x in v)  # type: ignore[return-value]


def layer_norm_hash(q: float | Fraction, k: float | Fraction) -> float:
    """The layer-norm hash ``phi(q) . phi(k) = (q k + 1) / sqrt((q^2 + 1)(k^2 + 1))``; equals 1 iff q = k."""
    q, k = float(q), float(k)
    return (q * k + 1.0) / math.sqrt((q * q + 1.0) * (k * k + 1.0))


def _hash_key(q: Fraction, k: Fraction) -> Fraction:
    """A rational monotone transform of the hash for fixed q: ``sgn(qk+1) (qk+1)^2 / (k^2 + 1)``."""
    num = q * k + 1
    return (1 if num >= 0 else -1) * num * num / (k * k + 1)


def hash_argmax(q: Fraction | int, keys: Sequence[Fraction | int]) -> list[int]:
    """The argmax set (indices) of ``phi(q) . phi(k_j)`` over ``keys``, decided exactly (no square root).

    For fixed q the hash is ``sgn(qk+1) sqrt((qk+1)^2 / (k^2+1)) / sqrt(q^2+1)``, monotone in :func:`_hash_key`.
    """
    q = Fraction(q)
    scores = [_hash_key(q, Fraction(k)) for k in keys]
    best = max(scores)
    return [j for j, s in enumerate(scores) if s == best]


def hash_gap(q: int) -> float:
    """``1 - phi(q) . phi(q + 1)`` computed in high precision; about ``1 / (2 q^4)``."""
    import mpmath

    with mpmath.workdps(60):
        qq, kk = mpmath.mpf(q), mpmath.mpf(q + 1)
        return float(1 - (qq * kk + 1) / mpmath.sqrt((qq * qq + 1) * (kk * kk + 1)))


def hash_frontier(dtype: torch.dtype, *, limit: int = 10**6) -> int:
    """The smallest q at which the hash, computed in ``dtype`` as a dot product of two LayerNorm reads, can no longer
    tell ``k = q`` from ``k = q + 1`` (``phi(q).phi(q+1) >= phi(q).phi(q)``): the precision frontier of pointer
    matching by the hash. Searched over q = 1, 2, 3, ... (doubling, then bisection on the first failure)."""

    def ok(q: int) -> bool:
        z = torch.tensor([float(q), float(q + 1)], dtype=torch.float64).to(dtype)
        one = torch.ones(2, dtype=dtype)
        v = torch.stack([z, one, -z, -one], dim=1)
        v = torch.nn.functional.layer_norm(v, (4,), eps=0.0)
        v = v / torch.linalg.vector_norm(v, dim=1, keepdim=True)
        same = torch.dot(v[0], v[0])
        nxt = torch.dot(v[0], v[1])
        return bool(nxt < same)

    lo, hi = 1, 1
    while hi < limit and ok(hi):
        lo, hi = hi, hi * 2
    if ok(hi):
        return limit
    while hi - lo > 1:  # first failure between lo (ok) and hi (fails); the predicate is near-monotone
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return hi
