"""The default float arithmetic: the plain reference's values, computed faster.

:class:`TorchArithmetic` (``backend="torch"``) computes what
:class:`~exactformer.core.arith.torch.PlainTorchArithmetic` computes, with these speed-ups:

* weights rendered once per arithmetic, with their zero flags and compressed sparse forms remembered (per array /
  tensor identity and in-place version, see :meth:`TorchArithmetic._remembered`);
* products with large, mostly zero matrices through :mod:`~exactformer.core.sparse_products` (compressed
  matrices, and the ReLU units that can fire only);
* attention in chunks of queries (memory O(N * chunk));
* attention whose scores are all +-0 (a zero query or key map, or zero query rows) in O(N)
  (:class:`~exactformer.core.arith.torch_uniform.UniformAttention`);
* hard attention by a gather of the chosen values (:class:`~exactformer.core.arith.torch_hard.OneHotAttention`);
* token embeddings in one gather; bias-free sublayers without the ``+ 0`` pass; finiteness tests by bounds.

Where the two agree bit for bit, and where they provably do not (a sparse product or a chunk of queries may sum
in another order; uniform attention sums its values in float64, in float64 or with ``accumulate="float64"``), is
stated on each path and checked by tests/core/test_torch_reference.py.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from ..architecture import MLP, Attention, Transformer
from ..attention_rules import allowed
from ..errors import InputError, NonFiniteError
from ..sparse_products import ActiveUnitsMLP, CompressedMatrix, compress
from .base import Item
from .torch import PlainTorchArithmetic, _all_finite, in_memory_order
from .torch_cached import cached_per_head
from .torch_hard import OneHotAttention, position_only
from .torch_select import SelectionPaths, _as_matrix
from .torch_tokens import TokenTables
from .torch_uniform import UniformAttention

__all__ = ["TorchArithmetic", "MLP_BLOCK_ENTRIES", "RESIDUAL_BUDGET"]


#: Largest hidden layer (positions x units) one MLP block holds in torch; wider batches are split over positions.
MLP_BLOCK_ENTRIES = 2**20  # 8 MB in float64: 2**24 was 2.5x slower (page faults of fresh blocks)
#: Largest residual stream (bytes, one ``[rows, tokens, d_model]`` tensor) a caller should give one CPU forward pass:
#: a larger batch run in blocks of this size keeps its tensors in the cache. Measured on 2 cores (PARITY, 21 tokens
#: of 10 coordinates): 2^11 words (3.4 MB) ran at twice the words per second of 2^13 (14 MB) and at 4x that of
#: 2^15; 2^10 to 2^12 words were within the noise of each other. Read by the tensor path of ``check`` and the
#: MLRegTest sweep task. Re-measured with the readout-only tail (2 threads): 16 MB made PARITY's 2^20 words ~20%
#: faster and log-depth-parity's n = 14 check ~60% slower (its 3 blocks' first-touch page faults), so it stays, and
#: the tensor path doubles it for a size of many blocks (:data:`~exactformer.verify.tensor_check.MANY_BLOCKS`).
RESIDUAL_BUDGET = 1 << 22


def _sparse_product(x: torch.Tensor, sparse: CompressedMatrix) -> torch.Tensor:
    """``x @ sparse`` over the last axis of a CPU tensor ``x``, as a tensor of ``x``'s leading shape."""
    rows = x.reshape(-1, x.shape[-1]).numpy()
    return torch.from_numpy(sparse.rmatmul(rows)).reshape(*x.shape[:-1], sparse.shape[1])


def _safe_float(v: Fraction) -> float:
    """``float(v)``, or an infinity of its sign where ``v`` is beyond float64."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


#: Up to this many scores an attention call tests its scores directly (one sum) rather than bound them.
_FEW_SCORES = 4096


def _peak(x: torch.Tensor) -> float:
    """``max |x|``, NaN if ``x`` holds a NaN (one min-max pass, no copy); 0 for an empty tensor."""
    if not x.numel():
        return 0.0
    lo, hi = (float(v) for v in torch.aminmax(in_memory_order(x)))
    return math.nan if math.isnan(lo) or math.isnan(hi) else max(-lo, hi)


def _all_finite_small(x: torch.Tensor) -> bool:
    """:func:`_all_finite` for a small tensor: on the CPU through numpy, whose sum of a few entries costs a fraction
    of a torch call's dispatch (17 us against 4 us per decoding step, measured)."""
    if x.device.type != "cpu" or x.dtype == torch.bfloat16 or x.requires_grad:
        return _all_finite(x)
    values = x.numpy()
    return bool(np.isfinite(values.sum())) or bool(np.isfinite(values).all())


def _add_rows(out: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> None:
    """``out[:, rows] += values`` for a boolean mask ``rows`` over ``out``'s axis 1, each entry by the same one
    addition, without the boolean index's gather and scatter of the selected rows: a slice when the selected rows
    are consecutive (the usual case: every query but the first or the last), else ``index_add_``."""
    index = rows.nonzero()[:, 0]
    if not len(index):
        return
    first, last = int(index[0]), int(index[-1])
    if last - first + 1 == len(index):
        out[:, first : last + 1] += values
    else:
        out.index_add_(1, index, values)


class TorchArithmetic(SelectionPaths, TokenTables, OneHotAttention, UniformAttention, PlainTorchArithmetic):
    """Float arithmetic in torch, fast (the default ``backend="torch"``).

    Parameters
    ----------
    dtype
        ``torch.float16``, ``torch.bfloat16``, ``torch.float32`` or ``torch.float64``. Weights are rendered from
        their exact values by rounding once to float64, then to ``dtype``.
    device
        Where to compute (``"cpu"``, ``"cuda"``, ...).
    chunk
        Queries per attention block: attention holds ``batch * heads * chunk * N`` scores at a time.
    accumulate
        How softmax / average-hard attention with all-equal scores sums its values
        (:meth:`~exactformer.core.arith.torch_uniform.UniformAttention._constant_attention`): ``"dtype"`` (the
        default: in float32, float16 and bfloat16 on the general path, PyTorch's ``softmax(scores) @ v`` in the
        dtype, O(N^2)) or ``"float64"`` (the O(N) path: the sum in float64, rounded once to ``dtype``; more
        accurate than PyTorch in those dtypes, so a precision frontier measured with it is not PyTorch's). In
        float64 both take the O(N) path: the same computation.
    """

    #: The values ``accumulate`` takes.
    ACCUMULATE = ("dtype", "float64")

    name = "torch"

    def __init__(self, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu", chunk: int = 1024,
                 accumulate: str = "dtype"):
        super().__init__(dtype=dtype, device=device)
        if accumulate not in self.ACCUMULATE:
            raise InputError(f"accumulate must be 'dtype' or 'float64', got {accumulate!r}")
        self.accumulate = accumulate
        self.chunk = int(chunk)
        self._cache: dict[int, tuple[np.ndarray, torch.Tensor]] = {}
        self._vocabularies: dict[int, tuple[Sequence[str], dict[str, int]]] = {}
        # flags computed from parameters, by the parameters' ids: (the tensors, their in-place versions, the flags)
        self._flags: dict[tuple[Any, ...], tuple[tuple[torch.Tensor, ...], tuple[int, ...], Any]] = {}
        self._rendered: dict[int, torch.Tensor] = {}  # the tensors weights() rendered, by id

    def weights(self, arr: Any) -> torch.Tensor:
        """The plain rendering of ``arr`` (:meth:`PlainTorchArithmetic.weights`), made once per array."""
        key = id(arr)
        hit = self._cache.get(key)
        if hit is None or hit[0] is not arr:
            tensor = super().weights(arr)
            hit = (arr, tensor)
            self._cache[key] = hit
            self._rendered[id(tensor)] = tensor
        return hit[1]

    def _token_lookup(self, model: Transformer) -> dict[str, int]:
        """``{token: index}`` for the model's vocabulary (the first index of a repeated token, as
        :meth:`Transformer.token_index` gives), built once per vocabulary."""
        vocab = model.embedding.vocab
        hit = self._vocabularies.get(id(vocab))
        if hit is None or hit[0] is not vocab:
            lookup: dict[str, int] = {}
            for index, token in enumerate(vocab):
                lookup.setdefault(token, index)
            hit = (vocab, lookup)
            self._vocabularies[id(vocab)] = hit
        return hit[1]

    def _token_indices(self, model: Transformer, inputs: Sequence[Sequence[Item]]) -> torch.Tensor | None:
        """The ``[batch, position]`` vocabulary indices of a batch of token sequences, in one pass without a
        per-sequence tensor; ``None`` when some item is not a known token (a vector, or an unknown token that the
        general path reports)."""
        lookup = self._token_lookup(model)
        try:
            # np.fromiter over a map: ~20% less per token than a list comprehension (torch.tensor of a list: ~4x more)
            items = itertools.chain.from_iterable(inputs)
            flat = np.fromiter(map(lookup.__getitem__, items), dtype=np.int64)  # type: ignore[arg-type]
        except (KeyError, TypeError):  # a vector (unhashable or not a key) or a token outside the vocabulary
            return None
        return torch.from_numpy(flat).to(self.device).view(len(inputs), -1)

    def _token_rows(self, model: Transformer, inputs: Sequence[Sequence[Item]], W_E: torch.Tensor) -> torch.Tensor:
        """A batch of tokens only in one gather; a batch with continuous inputs (vectors) item by item. Both give
        the same rows of the rendered ``W_E``. A ``[batch, tokens]`` tensor of vocabulary indices is gathered as
        it is."""
        if isinstance(inputs, torch.Tensor):  # vocabulary indices already (a batch encoder's output)
            return W_E[inputs.to(device=self.device, dtype=torch.int64)]
        index = self._token_indices(model, inputs)
        return W_E[index] if index is not None else self._embed_items(model, inputs, W_E)

    def mlp(self, x: torch.Tensor, mlp: MLP, where: str) -> torch.Tensor:
        W_in, W_out = self.weights(mlp.W_in), self.weights(mlp.W_out)
        active = self._active_units(x, mlp, W_in, W_out)
        if active is not None:  # a sparse ReLU MLP: only the units that can fire (the same floats)
            y = torch.from_numpy(active(x.reshape(-1, x.shape[-1]).numpy()))
            return self._plus(y.reshape(*x.shape[:-1], W_out.shape[1]), self.weights(mlp.b_out))
        rows = max(1, MLP_BLOCK_ENTRIES // max(1, W_in.shape[1]))  # positions per block: hidden <= the budget
        flat = x.reshape(-1, x.shape[-1])
        if flat.shape[0] > rows:  # a wide MLP on many positions: in blocks, so the hidden layer stays bounded
            parts = [self.mlp(flat[start : start + rows], mlp, where) for start in range(0, flat.shape[0], rows)]
            return torch.cat(parts).reshape(*x.shape[:-1], W_out.shape[1])
        pre = self._matmul(x, W_in)  # a fresh tensor: the bias and the ReLU may overwrite it
        b_in = self.weights(mlp.b_in)
        if not self._is_zero(b_in):
            pre = pre.add_(b_in) if not pre.requires_grad else pre + b_in
        pre = self._round(pre)
        if mlp.activation == "relu":
            hidden = pre.relu_() if not pre.requires_grad else torch.relu(pre)
        else:
            hidden = (pre >= float(mlp.threshold)).to(self.dtype)
        return self._round(self._plus(self._matmul(hidden, W_out), self.weights(mlp.b_out)))

    def _active_units(
        self, x: torch.Tensor, mlp: MLP, W_in: torch.Tensor, W_out: torch.Tensor
    ) -> ActiveUnitsMLP | None:
        """The :class:`~exactformer.core.sparse_products.ActiveUnitsMLP` of a ReLU MLP whose two matrices multiply
        in sparse form (remembered per parameters), for a finite input; ``None`` for the general path (another
        activation, a dense matrix, an arithmetic that rounds intermediate results, a NaN or infinity in ``x``)."""
        if mlp.activation != "relu" or self.rounds_intermediate_results:
            return None
        sparse_in, sparse_out = self._sparse_matrix(W_in, "matrix", x), self._sparse_matrix(W_out, "matrix", x)
        if sparse_in is None or sparse_out is None or not (sparse_in.finite and sparse_out.finite and _all_finite(x)):
            return None
        b_in = self.weights(mlp.b_in)
        return self._remembered(
            (W_in, W_out, b_in),
            lambda: ActiveUnitsMLP(W_in=sparse_in, W_out=sparse_out, b_in=b_in.numpy()),
            tag="active units",
        )

    def _matmul(self, x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """``x @ W`` for a rendered weight matrix ``W``; through a compressed sparse form of ``W`` when it has one
        (:func:`~exactformer.core.sparse_products.compress`: a large, mostly zero matrix on the CPU, such as a
        composition MLP's). The sparse product sums the same nonzero terms in another order, so a result may differ
        from the dense one in its last bits, as two BLAS builds may. A weight rendered as a sparse tensor (from a
        :class:`~exactformer.core.sparse.SparseRationalMatrix`) takes the same path as its dense rendering would:
        the compressed form under the same rule, else a dense copy (remembered)."""
        if (selection := self._selection(W, "matrix", x)) is not None:  # one nonzero per column: copies, same floats
            return selection.rmatmul(x)
        sparse = self._sparse_matrix(W, "matrix", x)
        if sparse is not None:
            return _sparse_product(x, sparse)
        return x @ (W if W.layout == torch.strided else self._remembered((W,), W.to_dense, tag="dense"))

    def _sparse_matrix(self, W: torch.Tensor, layout: str, x: torch.Tensor) -> CompressedMatrix | None:
        """The compressed forms (:func:`~exactformer.core.sparse_products.compress`) of a rendered parameter ``W``
        read as a matrix in ``layout`` (``"matrix"``: ``W`` itself; ``"heads_in"``: ``[h, d, e]`` as
        ``[d, h * e]``; ``"heads_out"``: ``[h, e, d]`` as ``[h * e, d]``), remembered per parameter; ``None`` for a
        dense product (a small or dense ``W``, a transient tensor, another device, or an input that needs
        gradients)."""
        if self._rendered.get(id(W)) is not W or x.requires_grad or W.requires_grad or x.device.type != "cpu":
            return None
        return self._remembered((W,), lambda: compress(_as_matrix(W, layout)), tag=layout)

    def _plus(self, y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``y + bias``, or ``y`` itself when every entry of ``bias`` is 0 (most constructions are bias-free).

        Adding +0 changes nothing but the sign of a -0 entry (to +0), which no later operation tells apart: scores,
        comparisons, ReLU, thresholds and norms treat +-0 alike. Skipping it saves a full pass over ``y`` (and, for a
        large ``y``, the page faults of a fresh tensor).
        """
        return y if self._is_zero(bias) else y + bias

    def _is_zero(self, tensor: torch.Tensor) -> bool:
        """Whether every entry of ``tensor`` is 0. Remembered for the parameters :meth:`weights` rendered (per
        tensor and its in-place version counter, so a parameter changed in place is looked at again); a transient
        tensor (e.g. a selection of heads) is looked at each time and not remembered."""
        if self._rendered.get(id(tensor)) is not tensor:
            return not bool(tensor.any())
        return self._remembered((tensor,), lambda: not bool(tensor.any()), tag="zero")

    def _remembered(self, tensors: tuple[torch.Tensor, ...], compute: Callable[[], Any], tag: str = "") -> Any:
        """``compute()``, remembered per tuple of tensors (and ``tag``, what is computed from them) and their
        in-place version counters (a parameter changed in place is looked at again)."""
        key = (tag, *(id(t) for t in tensors))
        versions = tuple(t._version for t in tensors)
        hit = self._flags.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], tensors)) or hit[1] != versions:
            hit = (tensors, versions, compute())
            self._flags[key] = hit
        return hit[2]

    def _per_head(self, x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``x @ W[h] + b[h]`` for every head: ``[batch, head, position, d_head]`` from ``x`` ``[batch, position,
        d_model]``, ``W`` ``[head, d_model, d_head]`` and ``b`` ``[head, d_head]`` (the bias left out when 0)."""
        cached = cached_per_head(self, x, W, b)
        if cached is not None:  # the kept rows of a decoder's KV cache: only the new rows projected
            return self._round(cached)
        selection, sparse = self._selection(W, "heads_in", x), None
        if selection is not None:  # the einsum's layout: [batch, position, head, d_head] in memory
            y = selection.rmatmul(x).unflatten(-1, W.shape[::2]).permute(0, 2, 1, 3)
        elif (sparse := self._sparse_matrix(W, "heads_in", x)) is None:
            y = torch.einsum("bnd,hde->bhne", x, W)
        else:
            y = _sparse_product(x, sparse).unflatten(-1, W.shape[::2]).permute(0, 2, 1, 3)
        return self._round(y if self._is_zero(b) else y + b[None, :, None, :])  # b itself: its zero flag is cached

    def attend(
        self, xq: torch.Tensor, xk: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor, att: Attention,
        length: int, where: str,
    ) -> torch.Tensor:
        """Attention of the queries at ``query_pos`` (rows of ``xq``) over the keys at ``key_pos`` (rows of ``xk``).

        Used for a whole sequence (``xq is xk``), for the readout-only pass (one query, every key) and for cached
        decoding (a few new queries, the cached keys). When every score is +-0 (see :meth:`_queries_and_keys`) and
        the mask allows it, :meth:`_constant_attention` computes the output in O(N) instead of the general path's
        O(N^2) score matrix.
        """
        W_Q, W_K, W_V, W_O = (self.weights(w) for w in (att.W_Q, att.W_K, att.W_V, att.W_O))
        b_Q, b_K, b_V = (self.weights(b) for b in (att.b_Q, att.b_K, att.b_V))
        # [batch, head, position, d_head]
        q, k, constant = self._queries_and_keys(xq, xk, W_Q, b_Q, W_K, b_K, att)
        # With constant weights (finite) and an all-zero value map (xk is finite), every z is +-0 and adds +-0 to
        # the +0 + b_O below: the output is exactly b_O. A hard-attention tie without a tie rule is still reported.
        idle = constant and all(self._zero_heads(W_V, b_V))
        if constant:
            fast = self._constant_attention(xq, xk, query_pos, key_pos, att, W_V, b_V, W_O, idle, where)
            if fast is not None:
                return fast
        v = None if idle else self._per_head(xk, W_V, b_V)
        out = self._bias_rows(xq.shape, att)
        split = None if constant or v is None else self._zero_query_rows(q, k, v, query_pos, key_pos, att)
        if split is None:
            self._general_attention(out, q, k, v, query_pos, key_pos, att, W_O, constant, length, where)
            return self._round(out)
        assert q is not None and v is not None
        uniform, counts = split
        # Without a mask every uniform row has the same z: projected once per sequence, as _constant_attention does
        # (one row's product may differ from the many-row product in a last bit, as BLAS orders the sums; the
        # fingerprint's floats are unchanged), and the uniform rows get equal outputs
        if att.mask.kind == "none":
            _add_rows(out, uniform, self._heads_out(self._uniform_values(v, counts[:1], att), W_O).expand(
                -1, len(counts), -1))
        else:
            _add_rows(out, uniform, self._project(self._uniform_values(v, counts, att), W_O))
        general = ~uniform
        if bool(general.any()):
            part = out[:, general]
            self._general_attention(
                part, q[:, :, general], k, v, query_pos[general], key_pos, att, W_O, False, length, where
            )
            out[:, general] = part
        return self._round(out)

    def _general_attention(
        self,
        out: torch.Tensor,
        q: torch.Tensor | None,
        k: torch.Tensor | None,
        v: torch.Tensor | None,
        query_pos: torch.Tensor,
        key_pos: torch.Tensor,
        att: Attention,
        W_O: torch.Tensor,
        constant: bool,
        length: int,
        where: str,
    ) -> None:
        """The general path: adds to ``out`` ([batch, query, d_model], holding ``b_O``) the attention output of
        the queries ``q`` at ``query_pos``, in chunks of queries (an [batch, head, chunk, key] score block each).
        With ``constant`` the scores are all 0 (``q`` and ``k`` may be ``None``); ``v is None`` (zero values)
        computes the weights only, so that a hard-attention tie is still reported. Hard attention with one chosen
        key per query takes the gather of :class:`~exactformer.core.arith.torch_hard.OneHotAttention` (the same
        floats), also when only the relative biases make the scores (then shared by every sequence)."""
        if att.kind == "average_hard" and not constant and q is not None and k is not None and v is not None and (
                self._uniform_heads_beside_one_hot(out, q, k, v, query_pos, key_pos, att, W_O)):
            return
        if att.kind != "softmax" and self._one_hot_attention(
                out, q, k, v, query_pos, key_pos, att, W_O, constant or position_only(q, k)):
            return
        scale = att.scale.value(length) if att.kind == "softmax" else 1.0
        # Scores are tested for a NaN or an infinity: hard attention's by _weights, from the maxima it computes
        # anyway; the others directly when there are few (decoding: one query), else through a bound from the
        # queries and keys (O(N d_head) instead of the O(N^2) scores)
        few = out.shape[0] * att.n_heads * out.shape[1] * len(key_pos) <= _FEW_SCORES
        bounded = constant or att.kind == "hard" or (
            not few and self._scores_bounded(q, k, query_pos, key_pos, att, scale, where))
        for start in range(0, out.shape[1], self.chunk):
            stop = min(start + self.chunk, out.shape[1])
            qpos = query_pos[start:stop]
            if constant:  # every score is +-0: one batch row of the pipeline below, shared by the whole batch
                scores = torch.zeros((1, att.n_heads, stop - start, len(key_pos)), dtype=self.dtype, device=self.device)
            else:  # q, k finite if _scores_bounded read them (not few, not hard): maybe one term per score
                assert q is not None and k is not None
                single = None if few or att.kind == "hard" else self._single_term_scores(q[:, :, start:stop], k, att)
                scores = torch.einsum("bhqe,bhke->bhqk", q[:, :, start:stop], k) if single is None else single
            if scale != 1.0:
                scores.mul_(scale)  # in place (the block is fresh): a new block of N x chunk scores costs page faults
            scores = self._round(scores)
            biases = [self.relative_bias(att, h, qpos, key_pos) for h in range(att.n_heads)]
            if any(b is not None for b in biases):
                zeros = torch.zeros(len(qpos), len(key_pos), dtype=self.dtype, device=self.device)
                scores = self._round(scores + torch.stack([zeros if b is None else b for b in biases])[None])
            if not bounded:
                self._check_scores(scores, qpos, key_pos, where)
            sees = allowed(att.mask, qpos, key_pos)[None, None]
            weights = self._round(self.attention_weights(scores, sees, att, where, qpos))
            if v is None:
                continue
            if constant:
                weights = weights.expand(v.shape[0], -1, -1, -1).contiguous()
            z = self._round(torch.einsum("bhqk,bhke->bhqe", weights, v))
            out[:, start:stop] += self._heads_out(z, W_O)

    def _scores_bounded(self, q: torch.Tensor | None, k: torch.Tensor | None, query_pos: torch.Tensor,
                        key_pos: torch.Tensor, att: Attention, scale: float, where: str) -> bool:
        """Raise :class:`NonFiniteError` if a query or key holds a NaN or an infinity (an overflow of ``x W_Q``);
        return whether every score is then certainly finite, so the score blocks need no test of their own.

        ``|scale <q, k> + bias| <= scale * d_head * max|q| * max|k| + max|bias|``; when that bound (in float64) is
        below half the dtype's largest number, no product, partial sum, scaling or bias addition can overflow
        (rounding adds a relative ``d_head * eps``). The test reads the queries and keys once, O(N d_head), where
        testing the scores would read O(N^2) of them. When the bound fails, :meth:`_check_scores` tests each block.
        """
        assert q is not None and k is not None
        q_peak, k_peak = _peak(q), _peak(k)
        if not (math.isfinite(q_peak) and math.isfinite(k_peak)):
            name, t, pos = ("queries", q, query_pos) if not math.isfinite(q_peak) else ("keys", k, key_pos)
            b, h, p, e = (~torch.isfinite(t)).nonzero()[0].tolist()
            kind = "NaN" if bool(torch.isnan(t).any()) else "infinity"
            raise NonFiniteError(f"{kind} in the {name} of {where} head {h} at position {int(pos[p])} (batch {b}, "
                                 f"entry {e}) in {self.dtype}")
        bound = abs(scale) * q.shape[-1] * q_peak * k_peak + self._bias_peak(att)
        return bound <= torch.finfo(self.dtype).max / 2

    def _bias_peak(self, att: Attention) -> float:
        """The largest ``|relative bias|`` of any head of ``att`` (0 without one), remembered per sublayer."""
        peaks: dict[int, tuple[Attention, float]] = self.__dict__.setdefault("_bias_peaks", {})
        hit = peaks.get(id(att))
        if hit is None or hit[0] is not att:
            biases = [b for b in (att.relative_bias or ()) if b is not None]
            hit = (att, max((abs(_safe_float(v)) for b in biases for v in (b.default, *b.values.values())),
                            default=0.0))
            peaks[id(att)] = hit
        return hit[1]

    def attention_weights(
        self, scores: torch.Tensor, sees: torch.Tensor, att: Attention, where: str, query_pos: torch.Tensor
    ) -> torch.Tensor:
        """:meth:`PlainTorchArithmetic.attention_weights`, the same floats with fewer passes over the block: the mask
        is written into the score block in place (the general path hands over a fresh block); for softmax the zeroing
        of queries without a key is skipped when every query has one; for average-hard attention, when every
        query's largest score is finite (so it has a key, and no masked key equals it), the winners are the keys
        equal to it, and the weights ``1 / count`` are placed by one ``where`` (``0 / count`` is +0 as there)."""
        if att.kind not in ("softmax", "average_hard") or self.rounds_intermediate_results or scores.requires_grad:
            return super().attention_weights(scores, sees, att, where, query_pos)
        masked = scores if bool(sees.all()) else scores.masked_fill_(~sees, float("-inf"))
        if att.kind == "average_hard":
            best = masked.max(dim=-1, keepdim=True).values
            if not bool(torch.isfinite(best).all()):
                return super().attention_weights(masked, sees, att, where, query_pos)
            winners = masked == best
            count = winners.sum(dim=-1, keepdim=True).to(self.dtype)
            return torch.where(winners, torch.ones((), dtype=self.dtype, device=self.device) / count, 0.0)
        weights = torch.softmax(masked.float() if self.dtype in (torch.float16, torch.bfloat16) else masked, -1)
        any_key = sees.any(dim=-1, keepdim=True)
        if bool(any_key.all()):
            return weights.to(self.dtype)
        return torch.where(any_key, weights.to(self.dtype), torch.zeros((), dtype=self.dtype, device=self.device))

    def _check_scores(self, scores: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor, where: str) -> None:
        """:meth:`PlainTorchArithmetic._check_scores`, a few scores (one decoding step's) tested through numpy."""
        if scores.numel() > _FEW_SCORES or not _all_finite_small(scores):
            super()._check_scores(scores, query_pos, key_pos, where)

    def _bias_rows(self, shape: torch.Size, att: Attention) -> torch.Tensor:
        """A fresh ``[batch, query, d_model]`` tensor holding ``b_O`` in every row, to accumulate heads into."""
        b_O = self.weights(att.b_O)
        if self._is_zero(b_O):
            return torch.zeros(shape, dtype=self.dtype, device=self.device)
        return b_O.expand(shape).clone()

    def _heads_out(self, z: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
        """``sum_h z[:, h] @ W_O[h]``: ``[batch, query, d_model]`` from ``z`` ``[batch, head, query, d_head]``."""
        if (selection := self._selection(W_O, "heads_out", z)) is not None:
            return selection.rmatmul_heads(z, W_O.shape[1])
        sparse = self._sparse_matrix(W_O, "heads_out", z)
        if sparse is None:
            return torch.einsum("bhqe,hed->bqd", z, W_O)
        return _sparse_product(z.permute(0, 2, 1, 3).flatten(-2), sparse)

    def _project(self, z: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
        """``sum_h z[:, h] @ W_O[h]``, ``[batch, query, d_model]``, in the general path's chunks of queries."""
        parts = [
            self._heads_out(z[:, :, start : start + self.chunk], W_O)
            for start in range(0, z.shape[2], self.chunk)
        ]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

