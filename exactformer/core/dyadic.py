"""Dyadic rationals in floats: when a sum of products is exact in every order.

A float is a dyadic rational ``m / 2^a``. If every entry of ``x`` is a multiple of ``2^-a`` and every weight a
multiple of ``2^-b``, each product ``x w`` is a multiple of ``2^-(a+b)``; when moreover
``2^(a+b) * (sum |w| max|x| + |bias|)`` is below ``2^p`` (``p`` the dtype's significand bits, the implicit one
included), every product and every partial sum is an integer multiple of ``2^-(a+b)`` below ``2^p`` of it, so it
is represented exactly: every order of summation, every blocking of a matrix product and every kernel (with or
without fused multiply-add) gives the same float, the exact value. The fast paths that compute such sums another
way than the general path (hard attention's scores, a ReLU MLP's pre-activations) rest on this test.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["fraction_bits", "integer_peak", "SIGNIFICAND"]

#: Significand bits (with the implicit one) per float dtype: integers up to 2**p are exact.
SIGNIFICAND = {torch.float64: 53, torch.float32: 24, torch.float16: 11, torch.bfloat16: 8,
               np.dtype(np.float64): 53, np.dtype(np.float32): 24, np.dtype(np.float16): 11}


def fraction_bits(x: torch.Tensor | np.ndarray) -> int | None:
    """The least ``m >= 0`` with every ``x * 2^m`` an integer, from each entry's significand and exponent (one pass);
    None when an entry is not finite or ``m`` would exceed 64."""
    t = torch.from_numpy(x) if isinstance(x, np.ndarray) else x.detach()
    if not bool(torch.isfinite(t).all()):
        return None
    significand, exponent = torch.frexp(t.to(torch.float64))  # x = significand * 2^exponent, exactly
    whole = (significand * 2.0**53).to(torch.int64)  # x = whole * 2^(exponent - 53), whole an integer
    lowest = whole & -whole  # 2^(trailing zeros of whole); 0 for x = 0
    nonzero = lowest != 0
    if not bool(nonzero.any()):
        return 0
    zeros = torch.log2(lowest[nonzero].to(torch.float64)).round().to(torch.int64)
    bits = int((53 - exponent[nonzero].to(torch.int64) - zeros).max())
    return max(0, bits) if bits <= 64 else None


def integer_peak(x: torch.Tensor) -> float:
    """``max |x|`` when every entry of ``x`` is a finite integer, else infinity."""
    lo, hi = (float(t) for t in torch.aminmax(x.detach()))
    if not (math.isfinite(lo) and math.isfinite(hi)) or not torch.equal(x, torch.round(x)):
        return math.inf
    return max(-lo, hi)
