"""Products with selection matrices (at most one nonzero entry per column) give the general product's floats.

Lemma (``core/selection_products.py``): for a finite ``x`` and a finite ``W`` with one nonzero entry ``w`` in column
``j``, entry ``j`` of ``x @ W`` is ``x[k] * w`` rounded once, however the sum is ordered; a zero column gives
``+-0``. So the copy-and-scale product equals torch's dense product entry by entry (``torch.equal``, which holds
``-0 == +0``: the sign of a zero result is the one thing allowed to differ), in every float dtype, for the matrix
product, the per-head projections and the heads' output map, column by column and through the gather. A matrix
with two entries in a column, or a non-finite entry, has no selection form; a non-finite input takes the dense
product (whose NaN the forward pass reports). Switched off, the registered constructions give the same reports,
margins to the last bit. Likewise for scores with one shared query/key coordinate per head: ``q_e * k_e`` equals the
einsum's sum, and switching it off changes no residual.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from exactformer.constructions import registry
from exactformer.core.arith import TorchArithmetic
from exactformer.core.forward import forward
from exactformer.core.selection_products import LOOP_COLUMNS, SelectionMatrix
from exactformer.verify import check
from exactformer.verify.reference import as_reference

DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
#: entries of either side: signed zeros, units, non-dyadic values, values near the ends of float16's range
VALUES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 3.0, 1 / 3, -2 / 7, 1e-3, 6.1e-5, 1e-7, 250.0, -1e4, 6e4])


@st.composite
def selections(draw, max_in: int = 12, max_out: int = 20):
    """A dense ``[d_in, d_out]`` matrix with at most one nonzero entry per column, and finite inputs for it."""
    d_in, d_out = draw(st.integers(1, max_in)), draw(st.integers(1, max_out))
    W = torch.zeros(d_in, d_out, dtype=torch.float64)
    for column in range(d_out):
        if draw(st.booleans()):
            W[draw(st.integers(0, d_in - 1)), column] = draw(VALUES.filter(lambda v: v != 0))
    rows = draw(st.integers(1, 6))
    x = torch.tensor(draw(st.lists(st.lists(VALUES, min_size=d_in, max_size=d_in), min_size=rows, max_size=rows)),
                     dtype=torch.float64)
    return W, x


@settings(max_examples=150, deadline=None)
@given(case=selections(), dtype=st.sampled_from(DTYPES))
def test_the_selection_product_equals_the_dense_product_entry_by_entry(case, dtype):
    W, x = (t.to(dtype) for t in case)
    selection = SelectionMatrix.of(W)
    assert selection is not None
    got, want = selection.rmatmul(x), x @ W
    assert got.dtype == want.dtype and got.shape == want.shape
    assert torch.equal(got, want), (got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_many_columns_take_the_gather_and_give_the_same_floats(dtype):
    generator = torch.Generator().manual_seed(1)
    d_in, d_out = 7, 4 * LOOP_COLUMNS
    W = torch.zeros(d_in, d_out, dtype=torch.float64)
    sources = torch.randint(0, d_in, (d_out,), generator=generator)
    W[sources, torch.arange(d_out)] = torch.randn(d_out, dtype=torch.float64, generator=generator)
    W[:, 3] = 0  # a column without an entry
    W[sources[5], 5] = 1  # a plain copy
    x = torch.randn(2, 9, d_in, dtype=torch.float64, generator=generator)
    W, x = W.to(dtype), x.to(dtype)
    selection = SelectionMatrix.of(W)
    assert selection is not None and len(selection.columns) > LOOP_COLUMNS
    assert torch.equal(selection.rmatmul(x), x @ W)


def test_per_head_projections_and_the_output_map_equal_their_einsums():
    generator = torch.Generator().manual_seed(2)
    heads, d_model, d_head, batch, n = 3, 8, 4, 5, 11
    W = torch.zeros(heads, d_model, d_head, dtype=torch.float64)
    for h in range(heads):
        for e in range(d_head):
            if (h + e) % 3:
                W[h, (5 * h + e) % d_model, e] = torch.randn((), dtype=torch.float64, generator=generator)
    x = torch.randn(batch, n, d_model, dtype=torch.float64, generator=generator)
    arith = TorchArithmetic(dtype=torch.float64)
    rendered = arith.weights(W.numpy())  # a rendered parameter, as the forward pass has it
    got = arith._per_head(x, rendered, torch.zeros(heads, d_head, dtype=torch.float64))
    want = torch.einsum("bnd,hde->bhne", x, W)
    assert torch.equal(got, want) and got.stride() == want.stride()  # the same values, laid out alike
    assert any(key[0] == "select heads_in" for key in arith._flags)

    W_O = torch.zeros(heads, d_head, d_model, dtype=torch.float64)
    W_O[0, 1, 2], W_O[2, 3, 0], W_O[1, 0, 7] = 0.25, -3.0, 1.0
    z = torch.randn(batch, heads, n, d_head, dtype=torch.float64, generator=generator)
    got = arith._heads_out(z, arith.weights(W_O.numpy()))
    assert torch.equal(got, torch.einsum("bhqe,hed->bqd", z, W_O))
    assert any(key[0] == "select heads_out" for key in arith._flags)


def test_matrices_without_a_selection_form_are_refused():
    two_in_a_column = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    assert SelectionMatrix.of(two_in_a_column) is None
    assert SelectionMatrix.of(torch.tensor([[math.inf, 0.0], [0.0, 1.0]])) is None
    assert SelectionMatrix.of(torch.tensor([[math.nan, 0.0], [0.0, 1.0]])) is None
    assert SelectionMatrix.of(torch.zeros(2, 2, 3)) is None  # not a matrix
    assert SelectionMatrix.of(torch.zeros(3, 2, dtype=torch.int64)) is None  # not floats
    empty = SelectionMatrix.of(torch.zeros(3, 2))
    assert empty is not None and empty.columns == () and torch.equal(empty.rmatmul(torch.ones(4, 3)), torch.zeros(4, 2))
    sparse = torch.tensor([[0.0, 2.0, 0.0], [0.5, 0.0, 0.0]]).to_sparse()
    form = SelectionMatrix.of(sparse)
    assert form is not None and form.columns == (0, 1) and form.sources == (1, 0) and form.copies == (False, False)


def test_a_non_finite_input_takes_the_dense_product_and_keeps_its_nan():
    W = torch.zeros(3, 2, dtype=torch.float64)
    W[0, 0] = 2.0  # column 0 copies x[0]; nothing reads x[2]
    arith = TorchArithmetic(dtype=torch.float64)
    rendered = arith.weights(W.numpy())
    x = torch.tensor([[1.0, 2.0, math.inf]], dtype=torch.float64)
    got = arith._matmul(x, rendered)
    assert torch.isnan(got).all()  # 0 * inf in every column, as the dense product gives: not a finite 2.0
    finite = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    assert torch.equal(arith._matmul(finite, rendered), finite @ W)


def _dense_only(monkeypatch) -> None:
    monkeypatch.setattr(SelectionMatrix, "of", classmethod(lambda cls, W: None))


@pytest.mark.parametrize("name", ["parity", "first", "log-depth-parity", "superposition", "post-machine"])
def test_switched_off_the_forward_pass_gives_the_same_residual_streams(name, monkeypatch):
    c = registry.build(name)
    entry = registry.get(name)
    reference = entry.reference(c)
    sizes = list(entry.default_lengths(c))[:2]
    inputs = [c.encode(x) for x in _inputs(reference, sizes)]
    by_length: dict[int, list] = {}
    for tokens in inputs:
        by_length.setdefault(len(tokens), []).append(tokens)
    with_selection = [forward(c.model, batch, TorchArithmetic()) for batch in by_length.values()]
    _dense_only(monkeypatch)
    without = [forward(c.model, batch, TorchArithmetic()) for batch in by_length.values()]
    for a, b in zip(with_selection, without, strict=True):
        assert a.labels == b.labels
        for label, x, y in zip(a.labels, a.residuals, b.residuals, strict=True):
            assert torch.equal(x, y), (name, label)


def _inputs(reference, sizes: list[int]) -> list:
    """A few inputs of each size from the reference's own sampler."""
    ref, rng = as_reference(reference), random.Random(4)
    return [x for n in sizes for x in ref.inputs(n, count=3, exhaustive_limit=0, rng=rng)[0]]


@pytest.mark.parametrize("name", ["parity", "first", "log-depth-parity", "pointer-jumping-parity"])
def test_switched_off_check_gives_the_same_report_to_the_last_bit(name, monkeypatch):
    c = registry.build(name)
    entry = registry.get(name)
    sizes = list(entry.default_lengths(c))[:3]
    options = dict(lengths=sizes, samples_per_length=8, exhaustive_up_to=16, seed=1)
    on = check(c, entry.reference(c), **options)
    _dense_only(monkeypatch)
    off = check(c, entry.reference(c), **options)
    assert on.as_dict() == off.as_dict()
    assert [r.min_margin for r in on.lengths] == [r.min_margin for r in off.lengths]


def _attention(W_Q: torch.Tensor, W_K: torch.Tensor, b_Q: torch.Tensor | None = None):
    """An attention block with these query and key maps (values and output identity-like; only scores are read)."""
    from fractions import Fraction

    import numpy as np

    from exactformer.core.architecture import Attention

    def exact(t: torch.Tensor) -> np.ndarray:
        return np.vectorize(lambda v: Fraction(v), otypes=[object])(t.numpy())

    h, d, e = W_Q.shape
    return Attention(W_Q=exact(W_Q), W_K=exact(W_K), W_V=exact(torch.zeros(h, d, e)), W_O=exact(torch.zeros(h, e, d)),
                     b_Q=None if b_Q is None else exact(b_Q))


def test_single_term_scores_equal_the_einsum_and_two_shared_coordinates_are_refused():
    generator = torch.Generator().manual_seed(5)
    W_Q, W_K = torch.zeros(3, 6, 4), torch.zeros(3, 6, 4)
    W_Q[0, 1, 2], W_K[0, 4, 2] = 0.75, -3.0  # head 0 shares coordinate 2
    W_Q[0, 2, 0] = 1.0  # ... and its query also uses 0, which no key map reads
    W_Q[1, 0, 1], W_K[1, 5, 3] = 1.0, 1.0  # head 1 shares none: every score +-0
    W_Q[2, 3, 3], W_K[2, 3, 3], W_K[2, 0, 1] = 0.1, 7.0, 2.0  # head 2 shares coordinate 3
    arith = TorchArithmetic()
    att = _attention(W_Q, W_K)
    assert arith._shared_coordinates(att) == (2, -1, 3)
    x = torch.randn(4, 9, 6, dtype=torch.float64, generator=generator)
    zero_bias = torch.zeros(3, 4, dtype=torch.float64)
    q = arith._per_head(x, arith.weights(att.W_Q), zero_bias)
    k = arith._per_head(x, arith.weights(att.W_K), zero_bias)
    got = arith._single_term_scores(q, k, att)
    assert got is not None and torch.equal(got, torch.einsum("bhqe,bhke->bhqk", q, k))

    W_K[0, 2, 0] = 1.0  # head 0 now shares coordinates 0 and 2: a real sum, the einsum's order
    assert arith._shared_coordinates(_attention(W_Q, W_K)) is None
    b_Q = torch.zeros(3, 4)
    b_Q[1, 3] = 1.0  # a query bias makes coordinate 3 of head 1 live, and its key map reads it
    assert arith._shared_coordinates(_attention(W_Q.clone().index_put_((torch.tensor([0]), torch.tensor([2]),
                                                                        torch.tensor([0])), torch.tensor([0.0])),
                                                W_K, b_Q))[1] == 3


@pytest.mark.parametrize("name", ["parity", "first", "first-scaled"])
def test_switched_off_the_single_term_scores_change_no_residual(name, monkeypatch):
    c = registry.build(name)
    entry = registry.get(name)
    words = _inputs(entry.reference(c), [9])
    tokens = [c.encode(w) for w in words]
    on = forward(c.model, tokens * 400, TorchArithmetic())  # enough scores to take the bounded path
    monkeypatch.setattr(TorchArithmetic, "_shared_coordinates", lambda self, att: None)
    off = forward(c.model, tokens * 400, TorchArithmetic())
    for label, x, y in zip(on.labels, on.residuals, off.residuals, strict=True):
        assert torch.equal(x, y), label
