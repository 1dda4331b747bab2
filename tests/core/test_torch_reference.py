"""The fast torch arithmetic computes the plain float reference's values: bit for bit where the order of the float
operations is the same, and exactly the documented relation where it is not.

:class:`~exactformer.core.arith.torch.PlainTorchArithmetic` is the reference (plain torch operations on every
query and key at once). :class:`~exactformer.core.arith.TorchArithmetic` (``backend="torch"``) differs from it in
three ways that can change a float:

1. uniform (O(N)) attention: with all scores of a query equal, softmax and average-hard attention output, in
   float64 or with ``accumulate="float64"``, ``w * S`` with ``S`` the float64 sum of the allowed values, rounded
   once, where the reference sums ``w v_j`` in the dtype (by default in float32/16 and bfloat16 the fast path takes
   the general path there; hard attention there is a gather, the same value);
2. products with large, mostly zero matrices in compressed form (:mod:`exactformer.core.sparse_products`), which sum
   the nonzero terms in another order than the dense BLAS product;
3. attention over chunks of queries: BLAS picks its kernel by the number of rows of a product, and kernels sum
   (and fuse multiply-adds) in different orders, so a row computed in a block of 5 rows may differ in its last bit
   from the same row computed in a block of 37.

Everything else (rendering, embedding gathers, skipped ``+ 0`` passes, finiteness tests, the active-units MLP on
top of a compressed product) computes the same floats. So:

* on any model, the two agree bit for bit at every sublayer up to the first attention sublayer that summed on the
  uniform path (:func:`test_fast_equals_plain_up_to_a_summing_uniform_attention`), whose own relation (a rounding
  bound, and one rounding of ``w * S``) tests/core/test_fast_paths.py checks;
* on models whose every float result is exact (dyadic weights with few bits, no positional features, hard
  attention, ReLU and step MLPs), the order of a sum cannot matter, and the fast arithmetic with every matrix
  compressed and chunks of one query equals the reference bit for bit
  (:func:`test_sparse_and_chunked_products_equal_plain_where_the_order_cannot_matter`);
* chunking a softmax attention changes its output by at most the rounding bound of the two orders
  (:func:`test_chunked_attention_is_within_the_rounding_bound_of_unchunked`).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck
from hypothesis import strategies as st

import exactformer.core.sparse_products as sparse_products
from exactformer.core.architecture import Attention, Layer, Loop, Sublayer, Transformer
from exactformer.core.arith import PlainTorchArithmetic, TorchArithmetic
from exactformer.core.errors import AttentionTieError, NonFiniteError
from exactformer.core.forward import forward

from ..sizes import in_two_sizes
from .random_models import VOCAB, transformers
from .test_fast_paths import _rounding_bound, shortcut_models

batches = st.integers(1, 6).flatmap(
    lambda n: st.lists(st.lists(st.sampled_from(VOCAB), min_size=n, max_size=n), min_size=1, max_size=3)
)


class _Recording(TorchArithmetic):
    """The fast arithmetic, counting the uniform attentions that summed values (softmax or average-hard, a query
    with two or more keys): the one path whose floats differ from the reference's on any input."""

    summed = 0

    def _uniform_values(self, v: torch.Tensor, counts: torch.Tensor, att: Attention) -> torch.Tensor:
        if att.kind != "hard" and len(counts) and int(counts.max()) >= 2:
            self.summed += 1
        return super()._uniform_values(v, counts, att)


def _run(model: Transformer, batch: list[list[str]], arith: Any) -> tuple[Any, list[str]]:
    """The trace (or the float error raised) and the sublayers after which the arithmetic had summed uniformly."""
    summed_after: list[str] = []

    def step(where: str, compute: Any, x: Any) -> Any:
        before = getattr(arith, "summed", 0)
        y = compute(x)
        if getattr(arith, "summed", 0) > before or summed_after:
            summed_after.append(where)
        return y

    try:
        return forward(model, batch, arith, step=step), summed_after
    except (AttentionTieError, NonFiniteError) as exc:
        return type(exc), summed_after


def _fast_equals_plain_up_to_a_summing_uniform_attention(model, batch, dtype):
    plain, plain_summed = _run(model, batch, PlainTorchArithmetic(dtype))
    fast, summed_after = _run(model, batch, _Recording(dtype))
    assert not plain_summed
    if isinstance(plain, type) or isinstance(fast, type):
        if not summed_after:
            assert plain == fast  # the same error (a tie, a NaN or an infinity) in both
        return
    assert plain.labels == fast.labels
    for label, want, got in zip(plain.labels, plain.residuals, fast.residuals):
        if label in summed_after:
            break
        assert torch.equal(want, got), label


(
    test_fast_equals_plain_up_to_a_summing_uniform_attention,
    test_fast_equals_plain_up_to_a_summing_uniform_attention_on_60_examples,
) = in_two_sizes(
    _fast_equals_plain_up_to_a_summing_uniform_attention, 20, 60,
    model=st.one_of(transformers(rational_only=False), shortcut_models()), batch=batches,
    dtype=st.sampled_from([torch.float64, torch.float32]),
)


def _quarters(arr: Any) -> Any:
    """``arr`` with every entry rounded to a multiple of 1/4 (a dyadic number with few bits)."""
    return np.vectorize(lambda v: Fraction(round(v * 4), 4), otypes=[object])(arr) if arr.size else arr


def _exact_in_floats(model: Transformer) -> Transformer:
    """``model`` with dyadic weights, no positional features, hard attention and no relative bias: every float64
    result is then exact (few bits, small magnitudes), whatever the order of a sum."""

    def sub(s: Sublayer | None) -> Sublayer | None:
        if s is None:
            return None
        block = replace(s.block, **{name: _quarters(getattr(s.block, name)) for name in s.block.WEIGHTS})
        if isinstance(block, Attention):
            block = replace(block, kind="hard", relative_bias=None)
        return replace(s, block=block)

    def layer(lay: Layer) -> Layer:
        return replace(lay, attention=sub(lay.attention), mlp=sub(lay.mlp))

    loop = model.loop and Loop(block=tuple(layer(x) for x in model.loop.block), count=model.loop.count)
    return replace(
        model,
        embedding=replace(model.embedding, W_E=_quarters(model.embedding.W_E), positional=()),
        layers=tuple(layer(x) for x in model.layers),
        loop=loop,
        suffix=tuple(layer(x) for x in model.suffix),
        readout=replace(model.readout, W_U=_quarters(model.readout.W_U), b_U=_quarters(model.readout.b_U)),
    )


def _sparse_and_chunked_products_equal_plain_where_the_order_cannot_matter(model, batch, monkeypatch):
    monkeypatch.setattr(sparse_products, "SPARSE_MIN_ENTRIES", 0)  # every mostly-zero matrix compressed
    monkeypatch.setattr(sparse_products, "SPARSE_DENSITY", 1)
    model = _exact_in_floats(model)
    plain, _ = _run(model, batch, PlainTorchArithmetic(torch.float64))
    fast, _ = _run(model, batch, TorchArithmetic(torch.float64, chunk=1))
    if isinstance(plain, type) or isinstance(fast, type):
        assert plain == fast
        return
    for label, want, got in zip(plain.labels, plain.residuals, fast.residuals, strict=True):
        assert torch.equal(want, got), label


(
    test_sparse_and_chunked_products_equal_plain_where_the_order_cannot_matter,
    test_sparse_and_chunked_products_equal_plain_where_the_order_cannot_matter_on_40_examples,
) = in_two_sizes(
    _sparse_and_chunked_products_equal_plain_where_the_order_cannot_matter, 15, 40,
    model=transformers(rational_only=True), batch=batches,
    health=(HealthCheck.too_slow, HealthCheck.function_scoped_fixture),
)


def test_chunked_attention_is_within_the_rounding_bound_of_unchunked(softmax_model):
    """Chunks of 5 queries against one block of 37: the same scores and weights per row, but the products
    ``weights @ v`` and ``z @ W_O`` run through BLAS kernels chosen by the number of rows (on this machine's AVX512
    kernels the 2-row tail block and 1-row products sum differently), so a row may differ in its last bits. Each
    is within the dot products' rounding bound of the true value, so they are within twice that of each other."""
    word = [["a", "b"][i % 2] for i in range(37)]
    att = softmax_model.layers[0].attention.block
    whole, chunked = TorchArithmetic(torch.float64, chunk=4096), TorchArithmetic(torch.float64, chunk=5)
    h = whole.embed(softmax_model, [word])
    positions = torch.arange(37)
    a = whole.attend(h, h, positions, positions, att, 37, "L0.attn")
    b = chunked.attend(h, h, positions, positions, att, 37, "L0.attn")
    assert float((a - b).abs().max()) <= _rounding_bound(h, att, torch.float64)
    plain = PlainTorchArithmetic(torch.float64).attend(h, h, positions, positions, att, 37, "L0.attn")
    assert torch.equal(a, plain)  # one block of every query: the reference's own products
