"""Projected keys and values kept with a decoder's KV cache: each decoding step projects only its new rows.

A cached decoding step (:func:`~exactformer.core.forward.forward` with a :class:`~exactformer.core.forward.KVCache`)
hands attention every kept key row of the window. Projecting them all again by ``W_K`` and ``W_V`` costs
O(window * d_model * d_head) per step, the bulk of a windowed decoder's time. :func:`cached_per_head` keeps, beside
the cache's append-only buffer of rows, the rows' projections ``x @ W[h] + b[h]`` and computes only the rows not
projected yet.

**The same floats.** The projections of the rows one step at a time must be the bits that one product over the
whole window gives. BLAS may sum a row's products in another order, or start from another zero, for another number
of rows, so this holds only where every order gives the same bits, which is checked (else the whole window is
projected as before):

* every entry of ``W``, ``b`` and the rows is an integer with its sign bit clear (so ``>= +0``), and
  ``d_model * max|x| * max|W| + max|b| < 2^p`` (``p`` the dtype's significand bits): every product and partial sum
  is then an exact integer, and a sum of terms that are all ``>= +0`` is the same value, with the sign of +0, in
  every order and from either starting zero.

The one-hot decoders of this library (the Post and Turing machines: 0/1 embeddings, 0/1 value maps) qualify.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["cached_per_head", "MIN_ROWS"]

#: Fewest kept rows for which the projections are cached: below, projecting the whole window is cheaper than the
#: bookkeeping (measured: BB(4) on a tape of 14 cells decoded at 0.81x the tokens per CPU second with the cache).
MIN_ROWS = 64

#: Significand bits (with the implicit one) per float dtype: integers up to 2**p are exact.
_SIGNIFICAND = {torch.float64: 53, torch.float32: 24, torch.float16: 11, torch.bfloat16: 8}


def _peak_if_plain(x: torch.Tensor) -> float | None:
    """``max x`` when every entry of ``x`` is a finite integer with its sign bit clear, else ``None``."""
    if not x.numel():
        return 0.0
    if bool(torch.signbit(x).any()) or not bool(torch.isfinite(x).all()) or not torch.equal(x, torch.round(x)):
        return None
    return float(x.max())


class _Projection:
    """The projections ``[batch, capacity, head, d_head]`` of a buffer's rows ``lo .. hi - 1``."""

    def __init__(self, rows: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> None:
        self.source = rows  # the buffer's row tensor these are aligned with (a new buffer starts over)
        self.weights = (W, b, W._version, b._version)  # the parameters as they were (changed in place: start over)
        self.values = rows.new_empty((rows.shape[0], rows.shape[1], W.shape[0], W.shape[2]))
        self.lo = self.hi = 0

    def serves(self, rows: torch.Tensor, W: torch.Tensor, b: torch.Tensor, start: int) -> bool:
        """Whether these projections are of ``rows`` by ``(W, b)`` as they are now, and reach ``start``."""
        return (self.source is rows and self.weights == (W, b, W._version, b._version)
                and self.lo <= start <= self.hi)


def cached_per_head(arith: Any, x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
    """``x @ W[h] + b[h]`` (``[batch, head, position, d_head]``) for ``x`` a view of kept rows that
    :meth:`KVCache.extend <exactformer.core.forward.KVCache.extend>` handed out, projecting only the rows the cache
    has not projected with ``(W, b)`` before; ``None`` where that is not known to give the same bits (see the
    module's docstring) or ``x`` is not such a view."""
    handle = getattr(x, "kv_rows", None)
    if handle is None or x.requires_grad or W.requires_grad or b.requires_grad:
        return None
    if arith._rendered.get(id(W)) is not W or arith._rendered.get(id(b)) is not b:  # a transient selection of heads
        return None
    buffer, start, stop = handle
    if stop - start < MIN_ROWS:
        return None
    limit = 2.0 ** _SIGNIFICAND.get(arith.dtype, 0)
    weights = arith._remembered((W, b), lambda: (_peak_if_plain(W), _peak_if_plain(b)), tag="plain integers")
    if weights[0] is None or weights[1] is None:
        return None
    key = (id(W), id(b))
    store = buffer.projections.get(key)
    if store is None or not store.serves(buffer.rows, W, b, start):
        store = buffer.projections[key] = _Projection(buffer.rows, W, b)
        store.lo = store.hi = start
    if store.hi < stop:
        new = buffer.rows[:, store.hi : stop]
        peak = _peak_if_plain(new)
        if peak is None or W.shape[1] * peak * weights[0] + weights[1] >= limit:
            del buffer.projections[key]
            return None
        y = torch.einsum("bnd,hde->bnhe", new, W)
        store.values[:, store.hi : stop] = y if arith._is_zero(b) else y + b
        store.hi = stop
    return store.values[:, start:stop].permute(0, 2, 1, 3)
