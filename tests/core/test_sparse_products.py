"""Sparse weight products, MLP blocks and the rendering of mostly-zero rational arrays give the dense results.

Composition MLPs (the log-depth and pointer-jumping recognisers') have 10^4-10^5 units that each read two residual
coordinates: their matrices are mostly zeros. The torch evaluator multiplies such matrices in compressed sparse form
(:func:`exactformer.core.sparse_products.compress`), splits a wide MLP over blocks of positions
(``MLP_BLOCK_ENTRIES``), and the rational layer renders and validates only the entries that are not the shared
zero of ``rational_zeros``. Each shortcut is checked against the path it replaces (dense products, one block, a
``float()`` per entry), and the model's answers against the DFA (the independent reference).

A sparse product sums the same nonzero terms as the dense one in another order, so the residuals are compared to
within 1e-12 (every value here is O(1)); the answers, which sit far from any decision boundary, exactly.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import exactformer.core.arith.torch_fast as torch_fast
import exactformer.core.sparse_products as sparse_products
from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.core.architecture import MLP
from exactformer.core.arith import ExactArithmetic, TorchArithmetic
from exactformer.core.rational import (
    SHARED_ZERO,
    _not_shared_zero,
    is_rational_array,
    rational_array,
    rational_zeros,
    to_float_array,
)
from exactformer.core.runners import classify
from exactformer.core.selection_products import SelectionMatrix
from exactformer.core.sparse_products import CompressedMatrix, compress
from exactformer.languages.dfa import DFA

from ..sizes import in_two_sizes
from .random_models import transformers
from .random_models import words as random_words
from .test_fast_paths import _safe

torch.set_num_threads(1)


def random_dfa(seed: int, n_states: int) -> DFA:
    rng = random.Random(seed)
    transitions = {(q, a): rng.randrange(n_states) for q in range(n_states) for a in "ab"}
    accepting = {q for q in range(n_states) if rng.random() < 0.5}
    return DFA(states=range(n_states), alphabet="ab", transitions=transitions, start=0, accepting=accepting)


@pytest.fixture(scope="module")
def recognizer():
    """A pointer-jumping recognizer whose composition MLP is large and sparse (random 8-state DFA: 151 x 580)."""
    dfa = random_dfa(3, 8)
    return dfa, pointer_jumping_recognizer(dfa)


def words(dfa: DFA, length: int, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("ab") for _ in range(length)) for _ in range(count)]


def mlps(model) -> list[MLP]:
    sublayers = [sub for _, layer in model.named_layers(None) for _, sub in layer.sublayers()]
    return [sub.block for sub in sublayers if isinstance(sub.block, MLP)]


def sparse_layouts(arith: TorchArithmetic) -> set[str]:
    """The layouts (``matrix``, ``heads_in``, ``heads_out``) in which ``arith`` multiplied some weight sparsely."""
    return {key[0] for key, (_, _, value) in arith._flags.items() if isinstance(value, CompressedMatrix)}


def test_the_composition_mlp_is_large_and_mostly_zero(recognizer):
    _, c = recognizer
    widest = max(mlps(c.model), key=lambda m: m.W_in.size)
    dense = to_float_array(widest.W_in)
    assert dense.size >= sparse_products.SPARSE_MIN_ENTRIES
    assert np.count_nonzero(dense) * sparse_products.SPARSE_DENSITY <= dense.size


@pytest.mark.parametrize("length", [2, 7, 16, 33])  # (length 1 runs no layer)
def test_sparse_products_give_the_dense_residuals_and_the_dfa_answers(recognizer, length, monkeypatch):
    dfa, c = recognizer
    batch = words(dfa, length, 12, seed=length)
    inputs = [c.encode(w) for w in batch]

    # selection matrices (one nonzero entry per column) take their own path: here, the sparse or the dense product
    monkeypatch.setattr(SelectionMatrix, "of", classmethod(lambda cls, W: None))
    monkeypatch.setattr(sparse_products, "SPARSE_MIN_ENTRIES", 0)  # every mostly-zero matrix sparse, attention's too
    sparse_arith = TorchArithmetic(dtype=torch.float64)
    sparse = classify(c.model, inputs, sparse_arith)
    assert sparse_layouts(sparse_arith) == {"matrix", "heads_in", "heads_out"}

    monkeypatch.setattr(sparse_products, "SPARSE_MIN_ENTRIES", 10**12)  # every product dense
    dense_arith = TorchArithmetic(dtype=torch.float64)
    dense = classify(c.model, inputs, dense_arith)
    assert sparse_layouts(dense_arith) == set()

    for label in dense.trace.labels:
        assert torch.allclose(sparse.trace[label], dense.trace[label], rtol=0, atol=1e-12), label
    assert sparse.labels == dense.labels
    assert [c.interpret(label) for label in sparse.labels] == [dfa.accepts(w) for w in batch]


def _every_product_sparse_gives_the_exact_models_values(model, word):
    """Random models with several heads (the head order of the flattened per-head matrices), every weight matrix
    forced into sparse form: the torch values match the exact ones to within 1e-9 wherever the exact run makes no
    decision within 1e-9 of flipping (the fast-path tests' rule: a weight such as 2/3 rounds, and a step whose exact
    pre-activation sits on its threshold goes either way in floats, whichever order the sums take)."""
    exact = classify(model, [word], ExactArithmetic())
    assume(_safe(exact.trace) and min(exact.margins) > 1e-9)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sparse_products, "SPARSE_MIN_ENTRIES", 0)
        mp.setattr(sparse_products, "SPARSE_DENSITY", 1)
        arith = TorchArithmetic(dtype=torch.float64)
        fast = classify(model, [word], arith)
    for label in exact.trace.labels:
        expected = torch.tensor(to_float_array(exact.trace[label]))
        assert torch.allclose(fast.trace[label], expected, rtol=1e-9, atol=1e-9), label


(
    test_every_product_sparse_gives_the_exact_models_values,
    test_every_product_sparse_gives_the_exact_models_values_on_40_examples,
) = in_two_sizes(
    _every_product_sparse_gives_the_exact_models_values, 12, 40, transformers(rational_only=True), random_words,
    health=(HealthCheck.too_slow, HealthCheck.filter_too_much)
)


def test_float32_takes_the_sparse_path_too(recognizer, monkeypatch):
    dfa, c = recognizer
    monkeypatch.setattr(sparse_products, "SPARSE_MIN_ENTRIES", 0)
    arith = TorchArithmetic(dtype=torch.float32)
    batch = words(dfa, 9, 20, seed=1)
    assert c.answer_batch(batch, arith=arith) == [dfa.accepts(w) for w in batch]
    assert "matrix" in sparse_layouts(arith)


def test_wide_mlps_run_in_blocks_of_positions_with_the_same_result(recognizer, monkeypatch):
    dfa, c = recognizer
    inputs = [c.encode(w) for w in words(dfa, 11, 5, seed=2)]
    whole = classify(c.model, inputs, TorchArithmetic(dtype=torch.float64))
    widest = max(m.d_mlp for m in mlps(c.model))
    monkeypatch.setattr(torch_fast, "MLP_BLOCK_ENTRIES", 7 * widest)  # 7 positions per block: 60 positions, 9 blocks
    blocked = classify(c.model, inputs, TorchArithmetic(dtype=torch.float64))
    for label in whole.trace.labels:
        # the sparse product computes each row on its own, so blocks of rows change nothing
        assert torch.equal(whole.trace[label], blocked.trace[label]), label


def test_sparse_form_only_for_large_mostly_zero_float_matrices():
    big = torch.zeros(256, 512, dtype=torch.float64)
    big[torch.arange(256), torch.arange(256) * 2] = 1.5
    form = compress(big)
    assert isinstance(form, CompressedMatrix) and form.by_column.nnz == form.by_row.nnz == 256
    assert np.array_equal(form.by_column.toarray(), big.numpy()) and np.array_equal(form.by_row.toarray(), big.numpy())
    assert compress(big[:16, :16]) is None  # small: a dense product is as good
    assert compress(torch.ones(256, 512, dtype=torch.float64)) is None  # dense
    assert compress(big.to(torch.float16)) is None  # no sparse kernel for half precision
    assert compress(big.to(torch.float32)).by_column.dtype == np.float32


def test_a_product_that_needs_gradients_stays_dense(monkeypatch):
    monkeypatch.setattr(sparse_products, "SPARSE_MIN_ENTRIES", 0)
    arith = TorchArithmetic(dtype=torch.float64)
    W = arith.weights(rational_array([[1, 0, 0, 0]] * 2 + [[0] * 4] * 30))
    x = torch.ones(3, 32, dtype=torch.float64, requires_grad=True)
    y = arith._matmul(x, W)
    y.sum().backward()
    assert torch.equal(y, torch.full((3, 4), 0.0).index_fill(1, torch.tensor([0]), 2.0).double())
    assert torch.equal(x.grad[:, :2], torch.ones(3, 2, dtype=torch.float64))
    assert sparse_layouts(arith) == set()


def test_rendering_skips_only_the_shared_zero():
    arr = rational_zeros((40, 50))
    arr[3, 4] = Fraction(1, 3)
    arr[5, 6] = Fraction(0)  # a zero that is not the shared object: rendered by float(), still 0
    arr[7, 8] += Fraction(-2)
    expected = np.zeros((40, 50))
    expected[3, 4], expected[7, 8] = 1 / 3, -2.0
    out = to_float_array(arr)
    assert out.dtype == np.float64 and np.array_equal(out, expected)
    assert np.array_equal(to_float_array(arr.T), expected.T)  # a non-contiguous view
    assert to_float_array(rational_zeros((0, 3))).shape == (0, 3)


@given(
    shape=st.tuples(st.integers(0, 30), st.integers(0, 30)),
    marks=st.lists(st.tuples(st.integers(0, 899), st.sampled_from(["third", "zero", "int", "same"])), max_size=20),
    transpose=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_the_address_comparison_finds_exactly_the_entries_that_are_not_the_shared_zero(shape, marks, transpose):
    """The vectorised identity test (the array's memory read as addresses) against ``is not`` entry by entry, on
    arrays holding the shared zero, other zeros, other Fractions and ints, contiguous or through a copy of a
    transposed view; and the per-entry fallback on a non-contiguous array."""
    arr = rational_zeros(shape)
    flat = arr.reshape(-1)
    values = {"third": Fraction(1, 3), "zero": Fraction(0), "int": 0, "same": SHARED_ZERO}
    for index, kind in marks:
        if flat.size:
            flat[index % flat.size] = values[kind]
    source = arr.T if transpose else arr
    contiguous = source.reshape(-1)  # a copy when transposed: the same objects in another order
    expected = [k for k, v in enumerate(contiguous) if v is not SHARED_ZERO]
    assert _not_shared_zero(contiguous).tolist() == expected
    strided = np.empty(2 * contiguous.size, dtype=object)
    strided[::2] = contiguous
    assert _not_shared_zero(strided[::2]).tolist() == expected  # not contiguous: the per-entry path


def test_validation_looks_past_the_shared_zero():
    arr = rational_zeros((30, 30))
    assert is_rational_array(arr)
    arr[2, 2] = 1  # an int among Fractions: not a rational array
    assert not is_rational_array(arr)
    fixed = rational_array(arr)
    assert is_rational_array(fixed) and fixed[2, 2] == Fraction(1) and isinstance(fixed[2, 2], Fraction)
    assert rational_array(5).shape == () and rational_array(5)[()] == Fraction(5)
    with pytest.raises(TypeError, match="float 0.5"):
        rational_array([[0, 0.5]])


def test_an_exported_module_multiplies_sparsely_until_its_parameters_need_gradients(recognizer):
    from exactformer.export import to_torch_module

    dfa, c = recognizer
    tokens = list(c.encode("abbabaab"))
    module = to_torch_module(c.model, dtype=torch.float64, length=len(tokens))
    frozen = module.residuals([tokens])
    expected = classify(c.model, [tokens], TorchArithmetic(dtype=torch.float64)).trace
    assert all(torch.equal(frozen[label], expected[label]) for label in expected.labels)  # the same sparse products

    for parameter in module.parameters():
        parameter.requires_grad_(True)
    live = module.residuals([tokens])  # dense products now, so that gradients reach the weights
    final = live[expected.labels[-1]]
    final.sum().backward()
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in module.parameters())
    for label in expected.labels:
        assert torch.allclose(live[label].detach(), frozen[label], rtol=0, atol=1e-12), label

