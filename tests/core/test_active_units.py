"""A ReLU unit whose pre-activation is a sum of non-positive terms outputs 0: evaluating only the other units
(:class:`~exactformer.core.sparse_products.ActiveUnitsMLP`) gives the full compressed products' floats, entry for
entry; and so does a product that skips the zero entries of a mostly zero input
(:meth:`~exactformer.core.sparse_products.CompressedMatrix.rmatmul`)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import scipy.sparse
import torch
from hypothesis import HealthCheck, assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import exactformer.core.sparse_products as sparse_products
from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.core.arith import ExactArithmetic, TorchArithmetic
from exactformer.core.fixed_point import FixedPointArithmetic
from exactformer.core.runners import classify
from exactformer.core.sparse_products import ActiveUnitsMLP, CompressedMatrix
from exactformer.languages.named import word_problem

from ..sizes import in_two_sizes
from .random_models import transformers
from .random_models import words as random_words
from .test_sparse_matrix import random_dfa, with_sparse_mlps

DTYPES = {"float64": np.float64, "float32": np.float32}


def full_product(x: np.ndarray, W_in, W_out, b_in: np.ndarray) -> np.ndarray:
    """What the torch evaluator computes without the active-units path: ``x @ W_in`` and ``hidden @ W_out`` as
    SciPy's dense x CSC products, the bias, ReLU."""
    return np.maximum(np.asarray(x @ W_in.by_column) + b_in, 0) @ W_out.by_column


@st.composite
def sparse_relu_mlps(draw):
    """(x, W_in, W_out, b_in) in one dtype: weights of both signs (some columns and rows empty), biases negative,
    zero and positive, inputs with zero, negative and positive entries."""
    dtype = DTYPES[draw(st.sampled_from(sorted(DTYPES)))]
    d, units, out, positions = (draw(st.integers(1, n)) for n in (10, 40, 8, 12))
    values = st.floats(-4, 4, width=32).map(lambda v: v if abs(v) > 1e-3 else 0.0)

    def sparse(rows: int, cols: int):
        dense = draw(hnp.arrays(dtype, (rows, cols), elements=values))
        keep = draw(hnp.arrays(np.bool_, (rows, cols), elements=st.booleans()))
        return CompressedMatrix.from_csc(scipy.sparse.csc_matrix(np.where(keep, dense, 0).astype(dtype)))

    W_in, W_out = sparse(d, units), sparse(units, out)
    biases = [-1.0, -0.5, 0.0] + draw(st.sampled_from([[], [0.25, 1.5]]))  # half the time none positive
    b_in = draw(hnp.arrays(dtype, units, elements=st.sampled_from(biases)))
    x = draw(hnp.arrays(dtype, (positions, d), elements=st.one_of(st.just(0.0), values)))
    return x, W_in, W_out, b_in


def _the_candidate_units_give_the_full_products_floats(mlp, budget, method):
    """Same floats (``np.array_equal``, and the dtype kept), in blocks of any size, whichever way the candidates'
    pre-activations are computed: the CSR product (valid without a positive bias), the padded slots, the terms
    gathered by length, or every unit's by the dense x CSC product (the route when candidates are many)."""
    x, W_in, W_out, b_in = mlp
    active = ActiveUnitsMLP(W_in=W_in, W_out=W_out, b_in=b_in)
    if method == "product":
        assume(active._product)
    elif method != "auto":
        active._product = False
        if method == "by length":
            active._slots = None
    _assert_full_products_floats(mlp, active, PAIR_BUDGET=budget, DENSE_BLOCK=budget,
                                 PRODUCT_OVERHEAD=10**9 if method == "product" else 2,
                                 DENSE_CANDIDATES={"dense": 10**9, "slots": 0, "by length": 0}.get(method, 8))


def _assert_full_products_floats(mlp, active: ActiveUnitsMLP, **constants) -> None:
    """``active(x)`` with the module's ``constants`` set has the full products' floats and dtype."""
    x, W_in, W_out, b_in = mlp
    with pytest.MonkeyPatch.context() as m:
        for name, value in constants.items():
            m.setattr(sparse_products, name, value)
        got = active(x)
    expected = full_product(x, W_in, W_out, b_in)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)


(
    test_the_candidate_units_give_the_full_products_floats,
    test_the_candidate_units_give_the_full_products_floats_on_400_examples,
) = in_two_sizes(
    _the_candidate_units_give_the_full_products_floats, 100, 400,
    sparse_relu_mlps(), st.sampled_from([1, 7, 2**22]),
    st.sampled_from(["auto", "product", "slots", "by length", "dense"]),
    health=(),
)


def _a_mostly_zero_input_multiplies_by_rows_with_the_same_floats(mlp):
    x, W, _, _ = mlp
    x = np.concatenate([x, np.zeros((4 * len(x), x.shape[1]), dtype=x.dtype)])  # at most 1 in 5 entries nonzero
    assert np.count_nonzero(x) * sparse_products.SPARSE_INPUT_DENSITY <= x.size
    got = W.rmatmul(x)
    assert got.dtype == x.dtype and np.array_equal(got, np.asarray(x @ W.by_column))


(
    test_a_mostly_zero_input_multiplies_by_rows_with_the_same_floats,
    test_a_mostly_zero_input_multiplies_by_rows_with_the_same_floats_on_200_examples,
) = in_two_sizes(
    _a_mostly_zero_input_multiplies_by_rows_with_the_same_floats, 50, 200, sparse_relu_mlps(), health=()
)


@st.composite
def dyadic_relu_mlps(draw):
    """(x, W_in, W_out, b_in) whose pre-activations are exact (multiples of 1/8, small): the bounded
    candidate rule applies. Column 0 of ``x`` is dense (nonzero at every position: a constant, so that the bound is
    tight, or values of both signs), column 1 a flag (1 at most positions), the others mostly zero."""
    x, W_in, W_out, b_in = draw(sparse_relu_mlps())
    dtype = x.dtype.type
    quarters = st.sampled_from([0.25, 0.5, 1.0, 2.0, -0.25, -1.0])
    x = draw(hnp.arrays(dtype, x.shape, elements=st.sampled_from([0.0] * 6 + [1.0]).flatmap(
        lambda zero: st.just(0.0) if zero == 0 else quarters)))  # 6 in 7 zero: most coordinates sparse
    values = [draw(st.sampled_from([1.0, 0.5, -1.0]))] if draw(st.booleans()) else [1.0, 2.0, -1.0, 0.5]
    x[:, 0] = draw(hnp.arrays(dtype, len(x), elements=st.sampled_from(values)))
    if x.shape[1] > 1:
        x[:, 1] = draw(hnp.arrays(dtype, len(x), elements=st.sampled_from([1.0, 1.0, 1.0, 0.0])))

    def halves(matrix: CompressedMatrix) -> CompressedMatrix:
        dense = matrix.by_column.toarray()
        return CompressedMatrix.from_csc(scipy.sparse.csc_matrix(np.clip(np.round(dense * 2) / 2, -1, 1)))

    return x, halves(W_in), W_out, (np.round(b_in * 2) / 2).astype(dtype)


def _the_bounded_rule_gives_the_full_products_floats(mlp, budget):
    """With exact pre-activations, the bounded rule (a unit of the dense coordinates' bound ``hi <= 0`` is a
    candidate only where its positive sparse terms lift it above 0) gives the full products' floats, in blocks
    of any size."""
    x, W_in, W_out, b_in = mlp
    active = ActiveUnitsMLP(W_in=W_in, W_out=W_out, b_in=b_in)
    assert active._bounded(x, sparse_products._sparse_rows(x)) is not None  # the rule applies to these inputs
    active._product = False
    active._dense = lambda x: pytest.fail("the dense route ran")  # type: ignore[method-assign]
    # the plain rule's candidates count as too many; the bounded rule is taken wherever it applies
    _assert_full_products_floats(mlp, active, PAIR_BUDGET=budget, DENSE_CANDIDATES=10**9, BOUNDED_TOUCHED=0)


(
    test_the_bounded_rule_gives_the_full_products_floats,
    test_the_bounded_rule_gives_the_full_products_floats_on_400_examples,
) = in_two_sizes(
    _the_bounded_rule_gives_the_full_products_floats, 100, 400, dyadic_relu_mlps(), st.sampled_from([1, 7, 2**22]),
    health=(),
)


def test_the_bounded_rule_makes_a_unit_of_a_flag_a_candidate_only_where_its_other_terms_can_lift_it():
    """Unit 0 is ``x1 + x2 + x3 - 2 x0`` (x0 the constant 1), unit 1 ``x1 + x2 - x0``, unit 2 ``x4 - x0``; x1 is a
    flag set at every position. The dense coordinates bound unit 0 by ``1 - 2 = -1``, unit 1 by 0, unit 2 by -1:
    where x2 = 1 alone the one candidate is unit 1 (unit 0's ``-1 + 1 = 0`` is not above 0), where x2 = x3 = 1
    units 0 and 1, elsewhere none. The plain rule makes units 0 and 1 candidates everywhere (they read the flag)."""
    W_in = np.array([[-2.0, -1, -1], [1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1]])
    mlp = ActiveUnitsMLP(W_in=CompressedMatrix.from_csc(scipy.sparse.csc_matrix(W_in)),
                         W_out=CompressedMatrix.from_csc(scipy.sparse.csc_matrix(np.eye(3))), b_in=np.zeros(3))
    x = np.array([[1.0, 1, 1, 0, 0], [1, 1, 1, 1, 0]] + [[1, 1, 0, 0, 0]] * 6)  # x2, x3, x4 sparse (<= 1/4)
    sparse, hi, _ = mlp._bounded(x, sparse_products._sparse_rows(x))
    assert hi.tolist() == [-1.0, 0.0, -1.0]
    rows, units = mlp._bounded_candidates(sparse, hi)
    assert sorted(zip(rows.tolist(), units.tolist())) == [(0, 1), (1, 0), (1, 1)]
    plain_rows, plain_units = mlp._candidates(sparse_products._sparse_rows(x))
    assert sorted(zip(plain_rows.tolist(), plain_units.tolist())) == [(r, u) for r in range(8) for u in (0, 1)]
    assert mlp(x).tolist() == np.maximum(x @ W_in, 0).tolist()


def test_the_bounded_rule_needs_exact_sums():
    """An input of thirds (a sum that may round: a rounded sum of terms of both signs may be positive where the
    exact one is 0) or a coordinate past the significand leaves the bounded rule out."""
    W_in = CompressedMatrix.from_csc(scipy.sparse.csc_matrix(np.array([[-1.0, 0], [1, 1]])))
    mlp = ActiveUnitsMLP(W_in=W_in, W_out=W_in, b_in=np.zeros(2))
    for x in (np.array([[1.0, 1 / 3], [1.0, 0]]), np.array([[1.0, 2.0**60], [1.0, 0]])):
        assert mlp._bounded(x, sparse_products._sparse_rows(x)) is None
    x = np.array([[1.0, 0.25], [1.0, 0]])
    assert mlp._bounded(x, sparse_products._sparse_rows(x)) is not None


def test_an_infinite_weight_multiplies_by_columns():
    """``0 * inf`` is NaN in the full product: a matrix with an infinite entry never skips a zero input."""
    W = CompressedMatrix.from_csc(scipy.sparse.csc_matrix(np.array([[np.inf, 0.0], [0.0, 1.0]])))
    x = np.zeros((8, 2))
    x[0, 1] = 1.0
    assert not W.finite
    got = W.rmatmul(x)
    assert np.isnan(got[1:, 0]).all() and np.array_equal(got, np.asarray(x @ W.by_column), equal_nan=True)
    with pytest.raises(ValueError, match="finite"):
        ActiveUnitsMLP(W_in=W, W_out=W, b_in=np.zeros(2))


def test_only_units_with_a_positive_term_are_candidates():
    """Unit 0 reads +x0, unit 1 reads -x0, unit 2 reads -x1 and has bias +1, unit 3 reads the constant x2 with
    weight -1: for x = (1, 0, 1), units 0 and 2 (its bias) are the candidates."""
    W_in = CompressedMatrix.from_csc(scipy.sparse.csc_matrix(np.array([[1.0, -1, 0, 0], [0, 0, -1, 0], [0, 0, 0, -1]])))
    W_out = CompressedMatrix.from_csc(scipy.sparse.csc_matrix(np.eye(4)))
    mlp = ActiveUnitsMLP(W_in=W_in, W_out=W_out, b_in=np.array([0.0, 0, 1, 0]))
    x = np.array([[1.0, 0, 1]])
    rows, units = mlp._candidates(scipy.sparse.csr_matrix(x))
    assert sorted(units.tolist()) == [0, 2] and rows.tolist() == [0, 0]
    assert mlp(x).tolist() == [[1.0, 0, 1, 0]]


def test_chained_shapes_are_required():
    W = CompressedMatrix.from_csc(scipy.sparse.csc_matrix(np.eye(3)))
    with pytest.raises(ValueError, match="shapes do not chain"):
        ActiveUnitsMLP(W_in=W, W_out=CompressedMatrix.from_csc(scipy.sparse.csc_matrix(np.eye(2))), b_in=np.zeros(3))


# -- in the torch evaluator --------------------------------------------------------------------------------------
def without_active_units(monkeypatch) -> None:
    """The products as before this module: every unit evaluated, every input multiplied by columns."""
    monkeypatch.setattr(TorchArithmetic, "_active_units", lambda self, *args: None)
    monkeypatch.setattr(sparse_products, "SPARSE_INPUT_DENSITY", 10**9)  # by rows only when the input is all zero


@pytest.mark.parametrize("dfa", [word_problem("A5", alphabet="generators"), random_dfa(3, 8)],
                         ids=["A5-lookup", "random8-function"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_recognizers_residual_streams_are_those_of_the_full_product(dfa, dtype, monkeypatch):
    """The composition MLPs take the active-units path (counted), and every recorded residual stream is the one
    the full compressed products give, bit for bit."""
    c = pointer_jumping_recognizer(dfa)
    rng = random.Random(0)
    symbols = list(dfa.ordered_alphabet)
    words = [c.encode([rng.choice(symbols) for _ in range(19)]) for _ in range(6)]
    calls = []
    original = ActiveUnitsMLP.__call__
    monkeypatch.setattr(ActiveUnitsMLP, "__call__", lambda self, x: calls.append(len(x)) or original(self, x))
    fast = classify(c.model, words, TorchArithmetic(dtype=dtype))
    assert calls, "the composition MLPs did not take the active-units path"
    without_active_units(monkeypatch)
    full = classify(c.model, words, TorchArithmetic(dtype=dtype))
    assert fast.trace.labels == full.trace.labels
    for label in full.trace.labels:
        assert torch.equal(fast.trace[label], full.trace[label]), label
    assert fast.labels == full.labels


def _random_models_with_every_mlp_sparse_give_the_full_products_floats(model, word, monkeypatch):
    monkeypatch.setattr(sparse_products, "SPARSE_MIN_ENTRIES", 0)
    monkeypatch.setattr(sparse_products, "SPARSE_DENSITY", 1)
    exact = classify(model, [word], ExactArithmetic())
    assume(min(exact.margins, default=1.0) > 1e-9)
    sparse = with_sparse_mlps(model)
    for dtype in (torch.float64, torch.float32):
        fast = classify(sparse, [word], TorchArithmetic(dtype=dtype))
        with monkeypatch.context() as m:
            without_active_units(m)
            full = classify(sparse, [word], TorchArithmetic(dtype=dtype))
        for label in full.trace.labels:
            assert torch.equal(fast.trace[label], full.trace[label]), (dtype, label)


(
    test_random_models_with_every_mlp_sparse_give_the_full_products_floats,
    test_random_models_with_every_mlp_sparse_give_the_full_products_floats_on_30_examples,
) = in_two_sizes(
    _random_models_with_every_mlp_sparse_give_the_full_products_floats, 10, 30,
    model=transformers(rational_only=True), word=random_words,
    health=(HealthCheck.too_slow, HealthCheck.function_scoped_fixture),
)


def test_a_nan_input_takes_the_full_product_which_reports_it():
    c = pointer_jumping_recognizer(word_problem("A5", alphabet="generators"))
    arith = TorchArithmetic()
    mlp = max((sub.block for _, layer in c.model.named_layers(None) for _, sub in layer.sublayers()
               if hasattr(sub.block, "d_mlp")), key=lambda m: m.d_mlp)
    x = torch.zeros(1, 2, c.model.d_model, dtype=torch.float64)
    W_in, W_out = arith.weights(mlp.W_in), arith.weights(mlp.W_out)
    assert arith._active_units(x, mlp, W_in, W_out) is not None
    x[0, 1, int(mlp.W_in.rows[0])] = float("nan")  # a coordinate the MLP reads
    assert arith._active_units(x, mlp, W_in, W_out) is None
    assert torch.isnan(arith.mlp(x, mlp, "L0.mlp")).any()


def test_an_arithmetic_that_rounds_intermediate_results_takes_the_full_product():
    """The active units skip the pre-activations, which a fixed-point arithmetic must round: it declares that it
    rounds (``rounds_intermediate_results``), and its MLPs take the rounded general path."""
    c = pointer_jumping_recognizer(word_problem("A5", alphabet="generators"))
    mlp = max((sub.block for _, layer in c.model.named_layers(None) for _, sub in layer.sublayers()
               if hasattr(sub.block, "d_mlp")), key=lambda m: m.d_mlp)
    x = torch.zeros(1, 2, c.model.d_model, dtype=torch.float64)
    for arith, fast in ((TorchArithmetic(), True), (FixedPointArithmetic(int_bits=8, frac_bits=8), False)):
        W_in, W_out = arith.weights(mlp.W_in), arith.weights(mlp.W_out)
        assert (arith._active_units(x, mlp, W_in, W_out) is not None) == fast
