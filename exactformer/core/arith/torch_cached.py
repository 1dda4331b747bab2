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

**Known plain.** The projections handed out are then finite integers with the sign bit clear (sums of products of
such numbers, from +0), which :func:`known_plain` tells the attention's per-step tests (finite keys and values, no
column of values with every sign bit set), so that they need not read the whole window again at every step.
"""

from __future__ import annotations

from typing import Any

import torch

from ..dyadic import SIGNIFICAND as _SIGNIFICAND

__all__ = ["cached_per_head", "known_plain", "MIN_ROWS"]

#: Fewest kept rows for which the projections are cached: below, projecting the whole window is cheaper than the
#: bookkeeping (measured: BB(4) on a tape of 14 cells decoded at 0.81x the tokens per CPU second with the cache).
MIN_ROWS = 64



def known_plain(x: torch.Tensor) -> bool:
    """Whether ``x`` is projections handed out by :func:`cached_per_head` (so every entry is a finite integer with
    its sign bit clear, see the module's docstring): a test that costs nothing, where reading ``x`` costs
    O(window)."""
    return getattr(x, "kv_plain", False) is True


#: Most entries :func:`_peak_if_plain` tests at once: a decoder's prompt pass hands it every sequence's window (a GB
#: at 2,000 sequences of 2,000 tokens), whose tests, block by block, stay in the cache.
PLAIN_TEST_BLOCK = 2**18


def _peak_if_plain(x: torch.Tensor) -> float | None:
    """``max x`` when every entry of ``x`` is a finite integer with its sign bit clear, else ``None``: in blocks
    of sequences of at most :data:`PLAIN_TEST_BLOCK` entries, each tested by ``frac(x) == 0`` (false for a NaN or an
    infinity, whose ``frac`` is NaN) and ``signbit``."""
    if not x.numel():
        return 0.0
    per_sequence = max(1, x[0].numel())
    step = max(1, PLAIN_TEST_BLOCK // per_sequence)
    peak = 0.0
    for b in range(0, x.shape[0], step):
        block = x[b : b + step]
        if bool(torch.signbit(block).any()) or not bool((torch.frac(block) == 0).all()):
            return None
        peak = max(peak, float(block.max()))
    return peak


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
        last = buffer.last
        fresh = last is not None and last[0] == store.hi and last[0] + last[1].shape[1] == stop
        new = last[1] if fresh else buffer.rows[:, store.hi : stop]  # (the same values; in memory order if fresh)
        tested = buffer.tested  # the keys' and the values' projections read the same new rows: tested once
        if tested is None or tested[0] != (store.hi, stop):
            tested = buffer.tested = ((store.hi, stop), _peak_if_plain(new))
        peak = tested[1]
        if peak is None or W.shape[1] * peak * weights[0] + weights[1] >= limit:
            del buffer.projections[key]
            return None
        y = torch.einsum("bnd,hde->bnhe", new, W)
        store.values[:, store.hi : stop] = y if arith._is_zero(b) else y + b
        store.hi = stop
    projected = store.values[:, start:stop].permute(0, 2, 1, 3)
    projected.kv_plain = True  # type: ignore[attr-defined]  # (known_plain reads it)
    return projected
