"""The float reference: the transformer's operations as plain torch tensor operations.

:class:`PlainTorchArithmetic` is what a float evaluation of a model *means*: each operation is the obvious torch
expression (``einsum`` for the heads, ``torch.softmax``, a boolean mask, :mod:`~exactformer.core.attention_rules`
for the keys and ties), on every query and every key at once, in any dtype on any device. It has no speed-ups.
:class:`~exactformer.core.arith.torch_fast.TorchArithmetic` (the default ``backend="torch"``) computes the same
values faster; tests/core/test_torch_reference.py states and checks where the two agree bit for bit.

Weights are rendered from their exact values by rounding once to float64, then to the dtype. Every sublayer's
output, every attention score (for hard attention, each query's largest allowed score) and every embedding is
checked for a NaN or an infinity, which raises :class:`~exactformer.core.errors.NonFiniteError` naming it.

``_round`` is where a lower-precision arithmetic (:class:`~exactformer.core.fixed_point.FixedPointArithmetic`)
rounds each intermediate result; it is the identity here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from ..architecture import MLP, Attention, Norm, Transformer
from ..attention_rules import allowed, chosen_keys, norm_parts, tie_error
from ..errors import InputError, NonFiniteError
from ..rational import to_float_array
from ..sparse import SparseRationalMatrix
from .base import Arithmetic, Item, _is_finite_number
from .devices import torch_device
from .torch_cached import known_plain

__all__ = ["PlainTorchArithmetic", "DTYPES"]

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def in_memory_order(x: torch.Tensor) -> torch.Tensor:
    """``x`` with its axes permuted into the order of its memory (largest stride first) when that view is
    contiguous (e.g. the ``[batch, head, position, d_head]`` view of a ``[batch, position, head, d_head]`` product),
    else ``x`` itself. A reduction over every entry that does not depend on their order (a maximum, a minimum, a
    test of every entry) then reads memory in sequence instead of by strides: measured 3x faster for
    ``torch.aminmax`` over a permuted float64 block of 2^19 entries."""
    if x.is_contiguous():
        return x
    strides = x.stride()
    order = sorted(range(x.dim()), key=lambda axis: -strides[axis])
    view = x.permute(*order)
    return view if view.is_contiguous() else x


def _all_finite(x: torch.Tensor) -> bool:
    """Whether every entry of ``x`` is finite: one sum (finite only if every entry is), and the entrywise test
    only when the sum is not finite (a NaN or infinity, or finite entries whose sum overflows). Projections a
    decoder's KV cache has kept and checked (:func:`~exactformer.core.arith.torch_cached.known_plain`) are finite
    without reading them."""
    return known_plain(x) or math.isfinite(x.sum().item()) or bool(torch.isfinite(x).all())


class PlainTorchArithmetic(Arithmetic):
    """Float arithmetic in torch, written plainly (the reference the fast arithmetic is tested against).

    Parameters
    ----------
    dtype
        ``torch.float16``, ``torch.bfloat16``, ``torch.float32`` or ``torch.float64``.
    device
        Where to compute (``"cpu"``, ``"cuda"``, ...).
    """

    name = "torch"
    #: Whether ``_round`` changes intermediate results (a grid arithmetic sets it, so that no fast path skips it).
    rounds_intermediate_results: ClassVar[bool] = False

    def __init__(self, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> None:
        super().__init__()
        if dtype not in DTYPES:
            raise ValueError(f"unsupported dtype {dtype}; use float16, bfloat16, float32 or float64")
        self.dtype = dtype
        self.device = torch_device(device)

    def _round(self, x: torch.Tensor) -> torch.Tensor:
        """Where a lower-precision arithmetic rounds each intermediate result; the identity for plain floats."""
        return x

    # -- weights and inputs -----------------------------------------------------------------------------------
    def weights(self, arr: Any) -> torch.Tensor:
        """The float rendering of an exact weight (a sparse COO tensor for a sparse weight)."""
        if isinstance(arr, SparseRationalMatrix):
            values = self._round(torch.from_numpy(arr.float_values()).to(device=self.device, dtype=self.dtype))
            indices = torch.from_numpy(np.stack([arr.rows, arr.cols])).to(self.device)
            return torch.sparse_coo_tensor(indices, values, arr.shape, check_invariants=True).coalesce()
        return self._round(torch.from_numpy(to_float_array(arr)).to(device=self.device, dtype=self.dtype))

    def _dense(self, arr: Any) -> torch.Tensor:
        W = self.weights(arr)
        return W if W.layout == torch.strided else W.to_dense()

    def _check_weight(self, name: str, arr: Any) -> None:
        """The rendering of every weight must be finite: an entry that is a NaN or an infinity, or an exact value too
        large for the dtype (it renders as an infinity), raises :class:`NonFiniteError` naming it."""
        tensor = self.weights(arr)
        values = tensor._values() if tensor.layout == torch.sparse_coo else tensor
        if _all_finite(values):
            return
        bad = (~torch.isfinite(values)).nonzero()[0].tolist()
        if tensor.layout == torch.sparse_coo:
            row, col = (int(i) for i in tensor._indices()[:, bad[0]].tolist())
            index: tuple[int, ...] = (row, col)
            exact = arr.entries().get((row, col)) if isinstance(arr, SparseRationalMatrix) else None
        else:
            index = tuple(bad)
            exact = arr[index] if isinstance(arr, np.ndarray) else None
        value = values[tuple(bad)].item()
        if exact is not None and _is_finite_number(exact):
            raise NonFiniteError(f"weight {name}{list(index)} = {exact} is too large for {self.dtype}: it renders as "
                                 f"{value}")
        raise NonFiniteError(f"weight {name}{list(index)} is {value} in {self.dtype}: a NaN or an infinity is not a "
                             "number the model can compute with")

    def positions(self, start: int, stop: int) -> torch.Tensor:
        return torch.arange(start, stop, device=self.device)

    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]], start: int = 0) -> torch.Tensor:
        """Token rows of ``W_E`` and continuous inputs, plus the positional features of ``start, start + 1, ...``."""
        length = start + len(inputs[0])
        x = self._token_rows(model, inputs, self.weights(model.embedding.W_E))
        if model.embedding.positional:
            x = x + self._positional_rows(model, start, length)
        return self._round(x)

    def _positional_rows(self, model: Transformer, start: int, length: int) -> torch.Tensor:
        """The positional features of positions ``start, ..., length - 1``, ``[positions, d_model]``."""
        i = self.positions(start, length)
        pe = torch.zeros(len(i), model.d_model, dtype=self.dtype, device=self.device)
        for coord, feature in model.embedding.positional:
            pe[:, model.space.index(coord)] += feature.torch(i, length, self.dtype)
        return pe

    def _token_rows(self, model: Transformer, inputs: Sequence[Sequence[Item]], W_E: torch.Tensor) -> torch.Tensor:
        """The rows of ``W_E`` and the continuous inputs of a batch, without positions."""
        return self._embed_items(model, inputs, W_E)

    def _embed_items(self, model: Transformer, inputs: Sequence[Sequence[Item]], W_E: torch.Tensor) -> torch.Tensor:
        """Embed a batch item by item (tokens and continuous inputs mixed), without positions."""
        rows = []
        for seq in inputs:
            if all(isinstance(item, str) for item in seq):
                index = torch.tensor([model.token_index(t) for t in seq if isinstance(t, str)], device=self.device)
                rows.append(W_E[index])
                continue
            parts = [W_E[model.token_index(item)] if isinstance(item, str) else self._vector(item, model.d_model)
                     for item in seq]
            rows.append(torch.stack(parts))
        return torch.stack(rows)

    def _vector(self, item: Item, d: int) -> torch.Tensor:
        if isinstance(item, torch.Tensor):
            vec = item.to(device=self.device, dtype=self.dtype)
        else:
            arr = np.asarray(item, dtype=object)
            vec = torch.tensor([float(v) for v in arr.ravel()], dtype=torch.float64).to(self.device, self.dtype)
        if vec.shape != (d,):
            raise InputError(f"a continuous input must have {d} entries, got shape {tuple(vec.shape)}")
        return vec

    def check(self, x: torch.Tensor, where: str) -> None:
        if not _all_finite(x):
            bad = (~torch.isfinite(x)).nonzero()[0].tolist()
            kind = "NaN" if torch.isnan(x).any() else "infinity"
            raise NonFiniteError(
                f"{kind} after {where} in {self.dtype} (first at batch {bad[0]}, position {bad[1]}, "
                f"coordinate {bad[2]})"
            )

    # -- the sublayers ----------------------------------------------------------------------------------------
    def norm(self, x: torch.Tensor, norm: Norm, model: Transformer, where: str) -> torch.Tensor:
        if norm.is_identity:
            return x
        if norm.mask is not None:
            keep = torch.zeros(model.d_model, dtype=self.dtype, device=self.device)
            keep[[model.space.index(c) for c in norm.mask]] = 1
            x = x * keep
        numerator, denominator = norm_parts(
            x, norm, lambda a: a.mean(dim=-1, keepdim=True), lambda a: a.sum(dim=-1, keepdim=True), float(norm.eps)
        )
        return self._round(numerator / torch.sqrt(denominator))

    def mlp(self, x: torch.Tensor, mlp: MLP, where: str) -> torch.Tensor:
        pre = self._round(x @ self._dense(mlp.W_in) + self.weights(mlp.b_in))
        hidden = torch.relu(pre) if mlp.activation == "relu" else (pre >= float(mlp.threshold)).to(self.dtype)
        return self._round(hidden @ self._dense(mlp.W_out) + self.weights(mlp.b_out))

    def attend(
        self, xq: torch.Tensor, xk: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor, att: Attention,
        length: int, where: str,
    ) -> torch.Tensor:
        W_Q, W_K, W_V, W_O = (self.weights(w) for w in (att.W_Q, att.W_K, att.W_V, att.W_O))
        b_Q, b_K, b_V = (self.weights(b) for b in (att.b_Q, att.b_K, att.b_V))
        # [batch, head, position, d_head]
        q = self._round(torch.einsum("bnd,hde->bhne", xq, W_Q) + b_Q[None, :, None, :])
        k = self._round(torch.einsum("bnd,hde->bhne", xk, W_K) + b_K[None, :, None, :])
        v = self._round(torch.einsum("bnd,hde->bhne", xk, W_V) + b_V[None, :, None, :])
        scores = torch.einsum("bhqe,bhke->bhqk", q, k)
        if att.kind == "softmax":
            scores = scores * att.scale.value(length)
        scores = self._round(scores)
        biases = [self.relative_bias(att, h, query_pos, key_pos) for h in range(att.n_heads)]
        if any(b is not None for b in biases):
            zeros = torch.zeros(len(query_pos), len(key_pos), dtype=self.dtype, device=self.device)
            scores = self._round(scores + torch.stack([zeros if b is None else b for b in biases])[None])
        if att.kind != "hard":  # hard attention tests the largest score of each query (attention_weights)
            self._check_scores(scores, query_pos, key_pos, where)
        sees = allowed(att.mask, query_pos, key_pos)[None, None]
        weights = self._round(self.attention_weights(scores, sees, att, where, query_pos))
        z = self._round(torch.einsum("bhqk,bhke->bhqe", weights, v))
        return self._round(self.weights(att.b_O) + torch.einsum("bhqe,hed->bqd", z, W_O))

    def relative_bias(self, att: Attention, head: int, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor | None:
        """The score bias ``bias(i - j)`` of ``head`` for queries ``query`` and keys ``key`` (``None`` without)."""
        bias = att.bias_for(head)
        if bias is None:
            return None
        offset = query[:, None] - key[None, :]
        out = torch.full(offset.shape, float(bias.default), dtype=self.dtype, device=self.device)
        for k, value in bias.values.items():
            out = torch.where(offset == k, torch.tensor(float(value), dtype=self.dtype, device=self.device), out)
        return out

    def _check_scores(self, scores: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor, where: str) -> None:
        """Raise :class:`NonFiniteError` if a block of scores ``[batch, head, query, key]`` holds a NaN or an
        infinity (an overflow of ``scale <q, k>``), naming the head, the query and the key."""
        if _all_finite(scores):
            return
        b, h, i, j = (~torch.isfinite(scores)).nonzero()[0].tolist()
        value = scores[b, h, i, j].item()
        raise NonFiniteError(f"attention score {value} in {where} head {h}, query {int(query_pos[i])}, key "
                             f"{int(key_pos[j])} (batch {b}) in {self.dtype}")

    def attention_weights(
        self, scores: torch.Tensor, sees: torch.Tensor, att: Attention, where: str, query_pos: torch.Tensor
    ) -> torch.Tensor:
        """The attention weights ``[batch, head, query, key]`` of ``scores`` over the keys each query ``sees``.

        Softmax (in float32 for float16 / bfloat16) over the allowed keys; hard and average-hard attention read
        :func:`~exactformer.core.attention_rules.chosen_keys` among the allowed keys of maximal score. A query
        with no allowed key gets weight 0 everywhere.
        """
        any_key = sees.any(dim=-1, keepdim=True)
        everything = bool(sees.all())  # no mask: skip the no-op full-size passes
        masked = scores if everything else scores.masked_fill(~sees, float("-inf"))
        if att.kind == "softmax":
            weights = torch.softmax(masked.float() if self.dtype in (torch.float16, torch.bfloat16) else masked, -1)
            if everything:
                return weights.to(self.dtype)
            return torch.where(any_key, weights.to(self.dtype), torch.zeros((), dtype=self.dtype, device=self.device))
        best = masked.max(dim=-1, keepdim=True).values
        winners = (masked == best) & sees & any_key
        count = winners.sum(dim=-1, keepdim=True)
        if att.kind == "average_hard":
            return winners.to(self.dtype) / count.clamp(min=1).to(self.dtype)
        # one test for the rare cases: a tie (count > 1), a query without keys, a maximum that is infinite or NaN
        # (then no key equals it: count 0); only then are the maxima looked at
        if ((count != 1) | best.isinf()).any():
            self._check_maxima(best, any_key, where, query_pos)
            if (count > 1).any():
                if att.tie_rule == "error":
                    b, h, i, _ = (count > 1).nonzero()[0].tolist()
                    raise tie_error(where, h, int(query_pos[i]), b, f"{int(count[b, h, i, 0])} keys", str(self.dtype))
                winners = chosen_keys(winners, att.kind, att.tie_rule)
        return winners.to(self.dtype)

    def _check_maxima(self, best: torch.Tensor, any_key: torch.Tensor, where: str, query_pos: torch.Tensor) -> None:
        """Raise :class:`NonFiniteError` if the largest score ``best`` ``[batch, head, query, 1]`` of a query that
        has keys is a NaN or an infinity."""
        bad = ~torch.isfinite(best) & any_key
        if bool(bad.any()):
            b, h, i, _ = bad.nonzero()[0].tolist()
            raise NonFiniteError(f"attention score {best[b, h, i, 0].item()} in {where} head {h}, query "
                                 f"{int(query_pos[i])} (batch {b}) in {self.dtype}: the largest score over the keys "
                                 "is not finite")
