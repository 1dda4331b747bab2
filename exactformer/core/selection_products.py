"""Products with selection matrices, which copy coordinates (maybe scaled): the torch evaluator's fast path.

Most weight matrices of the hand-built constructions move a coordinate into another: Chiang & Cholak's layer-2
query, key, value and output maps each hold one nonzero entry per head, an MLP's output map writes each unit into
one coordinate, and a map that is not used is all zero. A matrix with **at most one nonzero entry per column** is a
:class:`SelectionMatrix`, and a product with it needs no arithmetic beyond one multiplication per entry.

Why the floats are the general product's. Entry ``j`` of ``x @ W`` is ``sum_i x[i] * W[i, j]``. When ``W[:, j]``
holds one nonzero entry ``w = W[k, j]``, and ``x`` and ``w`` are finite, every other term is ``x[i] * 0 = +-0``,
so however the sum is ordered, blocked or fused (an FMA rounds ``x[k] * w + (+-0)`` once), the result is
``x[k] * w`` rounded once to the dtype: the product this module computes. A column without a nonzero entry gives
``+-0``. The one thing that may differ is **the sign of a zero result**. Each entry is computed as ``+0 + x[k] * w``
(into a zero-filled output), so a zero result is ``+0``, as a BLAS sum gives it whenever one of its terms is ``+0``
(a sum of ``-0`` terms alone gives ``-0``). Signs of zeros are read by the hard-attention gather, which declines
a value column whose every sign bit is set (``torch_hard._plain_values``); a bare ``x[k] * w`` would make ``-0``
from ``+0 * (-w)`` and send connectivity's heads to the general path (the same floats, 1.5x slower). No other later
operation tells them apart (sums with a nonzero term, scores, softmax, comparisons, ReLU, thresholds; a norm's
variance is a sum of squares). In float16 and bfloat16 the product
of two values is exact in float32, so a kernel that multiplies in float32 and rounds once to the dtype gives the
same value too.

Finiteness is required of both sides: ``0 * inf`` and ``0 * NaN`` are NaN, so a non-finite ``x[i]`` makes every
entry of the general product's row NaN, while a copy of the other coordinates would stay finite. The caller
(:class:`~exactformer.core.arith.torch_fast.TorchArithmetic`) takes this path only for a finite ``x`` (tested, or
known) and a finite ``W`` (:meth:`SelectionMatrix.of` refuses another).

Checked against the dense products entry by entry, in every dtype, in ``tests/core/test_selection_products.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch

__all__ = ["SelectionMatrix", "LOOP_COLUMNS"]

#: Up to this many nonzero columns a product writes column by column (a copy and a scaling each, ~10 us of dispatch
#: a column); above it, one gather and one scatter over the last axis.
LOOP_COLUMNS = 8


@dataclass(frozen=True, eq=False)
class SelectionMatrix:
    """A finite ``[d_in, d_out]`` float matrix with at most one nonzero entry per column.

    Parameters
    ----------
    shape
        ``(d_in, d_out)``.
    columns
        The output columns that hold a nonzero entry, increasing.
    sources
        For each of ``columns``, the row of its nonzero entry (the input coordinate it copies).
    scales
        For each of ``columns``, the entry itself (a 1-d tensor in the matrix's dtype and device).
    copies
        For each of ``columns``, whether its entry is 1 (a plain copy, no multiplication).
    """

    shape: tuple[int, int]
    columns: tuple[int, ...]
    sources: tuple[int, ...]
    scales: torch.Tensor
    copies: tuple[bool, ...]

    @classmethod
    def of(cls, W: torch.Tensor) -> SelectionMatrix | None:
        """The selection form of a 2-d float matrix ``W`` (dense, or a sparse COO rendering), or ``None`` when some
        column holds two or more nonzero entries, or an entry is not finite."""
        if W.dim() != 2 or not W.is_floating_point() or W.requires_grad:
            return None
        if W.layout == torch.sparse_coo:
            W = W.coalesce()
            values = W.values()
            rows, columns = W.indices()
        elif W.layout == torch.strided:
            rows, columns = W.nonzero(as_tuple=True)  # a NaN or an infinity is nonzero: tested with the values
            values = W[rows, columns]
        else:
            return None
        if not bool(torch.isfinite(values).all()):
            return None
        keep = values != 0
        values, rows, columns = values[keep], rows[keep], columns[keep]
        if len(columns) and int(torch.bincount(columns).max()) > 1:
            return None
        order = torch.argsort(columns)
        scales = values[order].clone()
        return cls(shape=(int(W.shape[0]), int(W.shape[1])), columns=tuple(columns[order].tolist()),
                   sources=tuple(rows[order].tolist()), scales=scales, copies=tuple((scales == 1).tolist()))

    @cached_property
    def _indices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``sources`` and ``columns`` as index tensors on the matrix's device."""
        device = self.scales.device
        return (torch.tensor(self.sources, dtype=torch.long, device=device),
                torch.tensor(self.columns, dtype=torch.long, device=device))

    def _write(self, coordinate: Callable[[int], torch.Tensor], out: torch.Tensor) -> torch.Tensor:
        """Add the product into the zero-filled ``out`` (``[..., d_out]``) column by column, reading input
        coordinate ``k`` as the view ``coordinate(k)``: ``+0 + x[k] * w``, the product rounded once (an FMA rounds
        ``x[k] * w + 0`` once too), a zero result +0 (see the module docstring)."""
        for i, (column, source) in enumerate(zip(self.columns, self.sources)):
            target = out.select(-1, column)
            if self.copies[i]:
                target.add_(coordinate(source))
            else:
                target.addcmul_(coordinate(source), self.scales[i])
        return out

    def rmatmul(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W`` for ``x`` ``[..., d_in]`` (finite: see the module docstring), a fresh ``[..., d_out]``
        tensor."""
        out = torch.zeros((*x.shape[:-1], self.shape[1]), dtype=x.dtype, device=x.device)
        if len(self.columns) <= LOOP_COLUMNS:
            return self._write(lambda k: x.select(-1, k), out)
        sources, columns = self._indices
        picked = x.index_select(-1, sources)  # a gather over the last axis, then the scales in one product
        return out.index_add_(-1, columns, picked if all(self.copies) else picked.mul_(self.scales))

    def rmatmul_heads(self, z: torch.Tensor, d_head: int) -> torch.Tensor:
        """``sum_h z[:, h] @ W[h]`` for ``z`` ``[batch, head, query, d_head]`` and this matrix the ``[head * d_head,
        d_out]`` rows of ``W`` ``[head, d_head, d_out]``: a fresh ``[batch, query, d_out]`` tensor."""
        if len(self.columns) > LOOP_COLUMNS:
            return self.rmatmul(z.permute(0, 2, 1, 3).flatten(-2))
        out = torch.zeros((z.shape[0], z.shape[2], self.shape[1]), dtype=z.dtype, device=z.device)
        return self._write(lambda k: z.select(1, k // d_head).select(-1, k % d_head), out)
