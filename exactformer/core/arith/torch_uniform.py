"""Attention whose scores are all equal, in O(N): a part of the fast torch arithmetic.

When every score of a query is +-0 (the query or the key map is zero, or the query row is zero), softmax and
average-hard attention weigh its allowed keys equally and hard attention picks by the tie rule, so the output
needs no score matrix. :class:`UniformAttention` holds these paths; it is a base of
:class:`~exactformer.core.arith.torch_fast.TorchArithmetic`, whose rendered weights (``weights``), products
(``_per_head``, ``_heads_out``, ``_project``, ``_bias_rows``, ``_plus``) and remembered flags (``_remembered``)
it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ..architecture import Attention
from ..attention_rules import allowed, tie_error
from .torch import _all_finite
from .torch_hard import zero_scores

__all__ = ["UniformAttention"]


def _l1_per_query(q: torch.Tensor) -> torch.Tensor:
    """``sum |q|`` per query over every sequence, head and coordinate of ``q`` ``[batch, head, query, d_head]``.

    Laid out as the projections make it (``[batch, query, head, d_head]`` in memory), the sum runs over the batch
    first, for every (query, head, coordinate) at once, then over each query's ``head * d_head`` partial sums: ~3x
    faster than ``vector_norm`` over axes (0, 1, 3) of the permuted view (0.17 against 0.59 ms, PARITY's layer-2
    queries of 2,496 words, one thread). Only whether each sum is 0 is used, and it
    is 0 exactly when every entry is +-0 either way (a sum of ``|x| >= 0`` is at least its largest term; a NaN or
    infinity stays one)."""
    by_query = q.transpose(1, 2)
    if not by_query.is_contiguous():
        return torch.linalg.vector_norm(q, ord=1, dim=(0, 1, 3))
    columns = by_query.reshape(q.shape[0], -1).abs().sum(dim=0)
    return columns.view(q.shape[2], -1).sum(dim=1)


class UniformAttention:
    """The O(N) attention paths of :class:`~exactformer.core.arith.torch_fast.TorchArithmetic`."""

    dtype: torch.dtype
    device: torch.device
    accumulate: str
    _rendered: dict[int, torch.Tensor]
    rounds_intermediate_results: ClassVar[bool]

    if TYPE_CHECKING:  # provided by TorchArithmetic
        def weights(self, arr: Any) -> torch.Tensor: ...
        def _round(self, x: torch.Tensor) -> torch.Tensor: ...
        def _per_head(self, x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor: ...
        def _heads_out(self, z: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor: ...
        def _project(self, z: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor: ...
        def _plus(self, y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor: ...
        def _bias_rows(self, shape: torch.Size, att: Attention) -> torch.Tensor: ...
        def _remembered(self, tensors: tuple[torch.Tensor, ...], compute: Callable[[], Any], tag: str = "") -> Any: ...
        def _one_hot_parts(self, q: torch.Tensor | None, k: torch.Tensor | None, v: torch.Tensor | None,
                           query_pos: torch.Tensor, key_pos: torch.Tensor, att: Attention, constant: bool,
                           heads: tuple[int, ...]) -> list[tuple[int, torch.Tensor]] | None: ...

    def _constant_attention(
        self, xq: torch.Tensor, xk: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor, att: Attention,
        W_V: torch.Tensor, b_V: torch.Tensor, W_O: torch.Tensor, idle: bool, where: str,
    ) -> torch.Tensor | None:
        """Attention whose scores are all +-0, in O(N): the output of :meth:`attend`, or ``None`` to take the
        general path.

        With equal scores, softmax and average-hard attention weigh every allowed key of a query equally, so
        ``z = w * S`` with ``S`` the sum of the allowed values and ``w = 1/c`` for ``c`` allowed keys: the weight the
        general path computes (``1/c`` rounded to the dtype, through float32 for a float16/bfloat16 softmax, then
        :meth:`_round`; 0 for a query with no key). ``S`` is, for the mask ``none``, one sum over the keys; for
        ``causal`` / ``strict_causal``, a cumulative sum over the keys read at ``c``. Hard attention with equal
        scores is a tie among the allowed keys: with ``tie_rule="error"`` the general path's
        :class:`AttentionTieError` (same message: head 0, batch 0, the first query with two or more keys);
        otherwise a gather of the leftmost (key 0) or rightmost (key ``c - 1``) allowed value, bit-identical to the
        general path.

        Precision (the arithmetic's ``accumulate``): in float64, and in any dtype with ``accumulate="float64"``,
        ``S`` is summed in float64 and ``w * S`` rounded once to the dtype (then :meth:`_round`, where the general
        path rounds ``z``). This changes the order of the sums, so the result is not bit-identical to the general
        path's ``sum_j w v_j``: in float64 both are within about ``N eps`` of the true mean (relative to
        ``max_j |v_j|``); in float32, float16 and bfloat16 this path is the more accurate one (its only rounding in
        the dtype is the last), so it is not what PyTorch computes (e.g. Chiang & Cholak's PARITY on ``1^9646``
        in float32, docs/parity_first.md). By default (``accumulate="dtype"``) in float32, float16 and bfloat16,
        softmax and average-hard attention therefore take the general path (``None`` here), PyTorch's
        ``softmax(scores) @ v`` in the dtype, O(N^2): a sum of one weight row by a matrix-vector product would be
        O(N) but is not PyTorch's either (BLAS sums a one-row product in another order than a many-row one, and
        the two decide PARITY's ``1^7152`` differently in float32). Hard attention's gather is exact in every
        dtype and keeps this path. For a grid arithmetic whose values and products are exact in float64 (small
        :class:`~exactformer.core.fixed_point.FixedPointArithmetic`), both paths compute the exact ``w * S`` and
        round it once, so they agree bit for bit.

        Heads whose value map is 0 are left out (they add +-0). Under the mask ``none`` every query has the same
        ``z``, so it is projected by ``W_O`` once per sequence and copied to every query. With every value map 0
        (``idle``) the output is ``b_O`` exactly, as in the general path.

        ``None`` (the general path) for softmax / average-hard attention in float32, float16 or bfloat16 with
        ``accumulate="dtype"`` (above), for a window mask, for causal masks whose keys are not the positions
        ``0, 1, ..., K - 1`` in order, and for values that are not all finite (so an overflow is reported as the
        general path reports it).
        """
        if self._sums_as_pytorch(att):
            return None
        counts = self._allowed_counts(att, query_pos, key_pos)
        if counts is None:
            return None
        if att.kind == "hard" and att.tie_rule == "error":
            tied = (counts > 1).nonzero()
            if len(tied):
                first = int(tied[0, 0])
                raise tie_error(where, 0, int(query_pos[first]), 0, f"{int(counts[first])} keys", str(self.dtype))
        if idle:
            return self._round(self._bias_rows(xq.shape, att))
        zero_values = self._zero_heads(W_V, b_V)
        if any(zero_values):  # a head whose values are 0 adds +-0 to every output: leave it out
            W_V, b_V, W_O = self._remembered((W_V, b_V, W_O), lambda: self._live_heads(W_V, b_V, W_O, zero_values),
                                             tag="live heads")
        v = self._per_head(xk, W_V, b_V)
        if not _all_finite(v):
            return None
        if att.mask.kind == "none" and att.kind != "hard":  # one z per sequence: project it once, for every query
            z = self._uniform_values(v, counts[:1], att)
            out = self._plus(self._heads_out(z, W_O), self.weights(att.b_O))
            return self._round(out).expand(xq.shape).contiguous()
        return self._round(self._plus(self._project(self._uniform_values(v, counts, att), W_O), self.weights(att.b_O)))

    def _live_heads(self, W_V: torch.Tensor, b_V: torch.Tensor, W_O: torch.Tensor,
                    zero_values: tuple[bool, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``W_V``, ``b_V``, ``W_O`` of the heads whose value map is not 0, as parameters of their own (rendered:
        their flags and product forms are remembered like the full parameters')."""
        live = torch.tensor([h for h, zero in enumerate(zero_values) if not zero], device=W_V.device)
        parts = (W_V.index_select(0, live), b_V.index_select(0, live), W_O.index_select(0, live))
        for part in parts:
            self._rendered[id(part)] = part
        return parts

    def _uniform_values(self, v: torch.Tensor, counts: torch.Tensor, att: Attention) -> torch.Tensor:
        """``z`` ([batch, head, query, d_head]) of queries whose scores are all equal and whose allowed keys are the
        first ``counts[i]`` keys: the rounded weight ``1/c`` times the float64 sum of those values (softmax,
        average-hard; float64, or ``accumulate="float64"``), or the value of key 0 / key ``c - 1`` (hard, leftmost
        / rightmost); 0 with no key."""
        some = (counts > 0)[None, None, :, None]
        if att.kind == "hard":
            pick = torch.zeros_like(counts) if att.tie_rule == "leftmost" else (counts - 1).clamp(min=0)
            return torch.where(some, v.index_select(2, pick), torch.zeros((), dtype=self.dtype, device=self.device))
        w = self._uniform_weights(att, counts)
        v64 = v.to(torch.float64)
        if att.mask.kind == "none":
            total = v64.sum(dim=2, keepdim=True).expand(-1, -1, len(counts), -1)
        else:
            prefix = torch.cat([torch.zeros_like(v64[:, :, :1]), v64.cumsum(dim=2)], dim=2)
            total = prefix.index_select(2, counts)
        return self._round((w.to(torch.float64)[:, None] * total).to(self.dtype))

    def _zero_query_rows(
        self,
        q: torch.Tensor | None,
        k: torch.Tensor | None,
        v: torch.Tensor,
        query_pos: torch.Tensor,
        key_pos: torch.Tensor,
        att: Attention,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The queries whose scores are all +-0 although the query map is not zero, and their key counts.

        A query row that is exactly 0 in every head and every sequence of the batch (e.g. a query that reads a
        token coordinate absent at that position) scores +-0 against finite keys. Those rows take the O(N) path of
        :meth:`_uniform_values` and the others the general path. Returns ``(uniform, counts)``: a boolean mask over
        the queries and, for the uniform rows, how many keys they may see; ``None`` (the general path for every
        row) when no row is zero, where :meth:`_sums_as_pytorch` holds, when a head has a relative bias, for hard
        attention without a tie rule (so a tie is reported with the general path's message), for masks
        :meth:`_allowed_counts` does not handle, or when the keys or values are not all finite.
        """
        if q is None or k is None or (att.kind == "hard" and att.tie_rule == "error") or self._sums_as_pytorch(att):
            return None
        if any(att.bias_for(h) is not None for h in range(att.n_heads)):
            return None
        # the rows whose every entry (every sequence, head and coordinate) is +-0: sum |q| over the rest is 0 (NaN
        # for a NaN entry and inf for an infinite one, neither 0; a sum of |x| > 0 is never 0), batch first
        per_query = _l1_per_query(q)
        uniform = per_query == 0
        if not bool(uniform.any()):
            return None
        counts = self._allowed_counts(att, query_pos, key_pos)
        if counts is None or not _all_finite(k) or not _all_finite(v):
            return None
        return uniform, counts[uniform]

    def _uniform_heads_beside_one_hot(
        self, out: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, query_pos: torch.Tensor,
        key_pos: torch.Tensor, att: Attention, W_O: torch.Tensor,
    ) -> bool:
        """Average-hard attention with uniform heads beside one-hot heads: add to ``out`` what the general path
        would add and return True, or return False (``out`` untouched) for the general path.

        A head whose queries (or keys) are all +-0 and whose keys (or queries) are finite, without a relative bias,
        scores +-0 everywhere: every allowed key is maximal, and the general path weighs it ``1 / c`` (``c``
        allowed keys; +0 with none). Its ``z`` is the general path's product of that weight block by the values,
        the same block and product, so the same floats, without the scores, maxima and comparisons that made it.
        (A product's bits depend on the shapes BLAS is given, not on the other heads or sequences beside it:
        ``tests/core/test_one_hot_attention.py`` compares the bytes.) The other heads take the one-hot gather of
        :class:`~exactformer.core.arith.torch_hard.OneHotAttention` (the same floats where it answers); each chunk's
        ``z`` of every head is projected by one ``_heads_out``, as in the general path. Where the gather declines
        (a tie, a non-finite score), or no head or every head is uniform, the general path answers instead.

        The layer-norm-hash recognizer (``log-depth-paper-parity``) asks this: its count sublayer holds two
        zero-query heads (Lemma 6's deleting copy of the count) beside the hash head.
        """
        if att.kind != "average_hard" or self.rounds_intermediate_results:
            return False
        uniform = tuple(h for h in range(att.n_heads) if att.bias_for(h) is None and zero_scores(q, k, h))
        if not uniform or len(uniform) == att.n_heads:
            return False
        others = tuple(h for h in range(att.n_heads) if h not in uniform)
        parts = self._one_hot_parts(q[:, others], k[:, others], v[:, others], query_pos, key_pos, att, False, others)
        if parts is None:
            return False
        batch = v.shape[0]
        for start, chosen in parts:
            stop = start + chosen.shape[2]
            sees = allowed(att.mask, query_pos[start:stop], key_pos)
            weights = torch.where(sees, self._uniform_weights(att, sees.sum(dim=-1))[:, None], 0.0)  # +0 unseen
            block = weights[None, None].expand(batch, len(uniform), -1, -1)  # not copied: the same bits (tested)
            z = torch.empty((batch, att.n_heads, stop - start, v.shape[-1]), dtype=self.dtype, device=self.device)
            z[:, list(uniform)] = self._round(torch.einsum("bhqk,bhke->bhqe", block, v[:, list(uniform)]))
            z[:, list(others)] = chosen
            out[:, start:stop] += self._heads_out(z, W_O)
        return True

    def _sums_as_pytorch(self, att: Attention) -> bool:
        """Whether equal-score softmax / average-hard attention must sum ``w v_j`` as PyTorch does, on the general
        path: ``accumulate="dtype"`` in a dtype narrower than float64 (see :meth:`_constant_attention`)."""
        return self.accumulate == "dtype" and self.dtype != torch.float64 and att.kind != "hard"

    def _allowed_counts(self, att: Attention, query_pos: torch.Tensor, key_pos: torch.Tensor) -> torch.Tensor | None:
        """Per query, how many keys the mask allows (int64), when the allowed keys of every query are the first
        ``c`` keys; ``None`` otherwise (a window, or causal keys that are not ``0, 1, ..., K - 1`` in order)."""
        K = key_pos.shape[0]
        kind = att.mask.kind
        if kind == "none":
            return torch.full((query_pos.shape[0],), K, dtype=torch.long, device=self.device)
        if kind not in ("causal", "strict_causal"):
            return None
        if not torch.equal(key_pos, torch.arange(K, dtype=key_pos.dtype, device=key_pos.device)):
            return None
        hi = query_pos + 1 if kind == "causal" else query_pos
        return hi.to(torch.long).clamp(0, K)

    def _uniform_weights(self, att: Attention, counts: torch.Tensor) -> torch.Tensor:
        """The weight ``1/c`` that the general path gives each of a query's ``c`` allowed keys when their scores
        are equal, computed as it does (softmax: in float32 for float16/bfloat16; average-hard: ``1 / c`` in the
        dtype), rounded by :meth:`_round`; 0 for a query with no allowed key."""
        low = self.dtype in (torch.float16, torch.bfloat16)
        dtype = torch.float32 if att.kind == "softmax" and low else self.dtype
        c = counts.clamp(min=1).to(dtype)
        w = torch.where(counts > 0, torch.ones((), dtype=dtype, device=self.device) / c, 0.0).to(self.dtype)
        return self._round(w)

    def _zero_heads(self, W: torch.Tensor, b: torch.Tensor) -> tuple[bool, ...]:
        """Per head, whether the map ``x @ W[h] + b[h]`` is identically 0 (remembered per pair of tensors and
        their in-place version counters, so a changed parameter is looked at again)."""
        return self._remembered(
            (W, b), lambda: tuple(bool(z) for z in ((W == 0).flatten(1).all(dim=1) & (b == 0).all(dim=1)).tolist())
        )

    def _queries_and_keys(
        self,
        xq: torch.Tensor,
        xk: torch.Tensor,
        W_Q: torch.Tensor,
        b_Q: torch.Tensor,
        W_K: torch.Tensor,
        b_K: torch.Tensor,
        att: Attention,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, bool]:
        """The queries and keys ``[batch, head, position, d_head]``, and whether every score is exactly +-0.

        The scores are all +-0 when, in every head, the query map is zero (``W_Q`` and ``b_Q`` all 0) and the
        keys are finite, or the key map is zero and the queries are finite, no head has a relative bias, and the
        inputs are finite (then a zero map gives exactly +-0, while a NaN input would give NaN). Each score
        ``sum_e q_e k_e`` is then a sum of signed zeros, and scaling, rounding, masking, softmax and the hard
        argmax treat +0 and -0 alike, so the attention weights are those of an all-zero score matrix: the same
        for every sequence of the batch (uniform over the allowed keys, or the tie among them for hard attention).
        In that case the queries or keys that are not needed for the finiteness test are not computed (``None``).
        """
        zero_q, zero_k = self._zero_heads(W_Q, b_Q), self._zero_heads(W_K, b_K)
        constant = (
            all(a or b for a, b in zip(zero_q, zero_k))
            and all(att.bias_for(h) is None for h in range(att.n_heads))
            and _all_finite(xq)
            and (xk is xq or _all_finite(xk))
        )
        need_q = not constant or any(zk and not zq for zq, zk in zip(zero_q, zero_k))
        need_k = not constant or any(zq and not zk for zq, zk in zip(zero_q, zero_k))
        q = self._per_head(xq, W_Q, b_Q) if need_q else None
        k = self._per_head(xk, W_K, b_K) if need_k else None
        if constant and not ((q is None or _all_finite(q)) and (k is None or _all_finite(k))):
            constant = False  # an overflowing query or key: the general path computes (and reports) it
            q = q if q is not None else self._per_head(xq, W_Q, b_Q)
            k = k if k is not None else self._per_head(xk, W_K, b_K)
        return q, k, constant

