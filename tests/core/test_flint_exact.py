"""The exact evaluator on FLINT computes what the Fraction one computed: the same rationals at every residual, the
same decisions (with the same float margins), the same logits, labels and errors.

``FractionArithmetic`` below is the exact evaluator with the entry-by-entry MLP and attention of
:class:`~exactformer.core.arith.exact.ObjectArithmetic` (numpy ``@`` on object arrays of Fractions), the code the
FLINT products replaced; every test runs both on the same inputs.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
from flint import fmpq, fmpq_mat, fmpz_mat
from hypothesis import strategies as st

import exactformer as ef
from exactformer.core.arith import ExactArithmetic
from exactformer.core.arith.exact import ObjectArithmetic
from exactformer.core.arith.flint_matrices import (
    IntegerMatrix,
    RowIndex,
    from_integers,
    integer_matrix,
    integer_product,
    to_fractions,
)
from exactformer.core.errors import AttentionTieError, ExactformerError, IrrationalOperation
from exactformer.core.forward import forward
from exactformer.core.runners import classify
from exactformer.core.sparse import SparseRationalMatrix
from exactformer.verify.reference import as_reference

from ..sizes import in_two_sizes
from .random_models import VOCAB, transformers


class FractionArithmetic(ExactArithmetic):
    """The exact evaluator as it was before FLINT: MLP and attention entry by entry on Fractions."""

    mlp = ObjectArithmetic.mlp
    attend = ObjectArithmetic.attend


def assert_same_trace(flint_trace, fraction_trace):
    assert flint_trace.labels == fraction_trace.labels
    for label, a, b in zip(flint_trace.labels, flint_trace.residuals, fraction_trace.residuals, strict=True):
        assert a.shape == b.shape, label
        assert all(type(v) is Fraction for v in a.ravel()), label
        assert a.tolist() == b.tolist(), label
    assert flint_trace.decisions == fraction_trace.decisions


def run_both(run):
    """``run(arith)`` with the FLINT and the Fraction evaluator: both results, or both errors' types and texts."""
    outcomes = []
    for arith in (ExactArithmetic(), FractionArithmetic()):
        try:
            outcomes.append(("ok", run(arith)))
        except ExactformerError as exc:
            outcomes.append(("error", (type(exc), str(exc))))
    return outcomes


# -- random models -----------------------------------------------------------------------------------------------
def _flint_and_fraction_evaluators_agree_on_random_rational_models(model, data):
    n = data.draw(st.integers(1, 6))
    batch = data.draw(st.integers(1, 3))
    words = [[data.draw(st.sampled_from(VOCAB)) for _ in range(n)] for _ in range(batch)]
    (kind_a, a), (kind_b, b) = run_both(lambda arith: classify(model, words, arith))
    assert kind_a == kind_b
    if kind_a == "error":
        assert a == b
        return
    assert_same_trace(a.trace, b.trace)
    assert a.logits.tolist() == b.logits.tolist()
    assert (a.labels, a.margins, a.certified, a.tied) == (b.labels, b.margins, b.certified, b.tied)


(
    test_flint_and_fraction_evaluators_agree_on_random_rational_models,
    test_flint_and_fraction_evaluators_agree_on_random_rational_models_on_60_examples,
) = in_two_sizes(
    _flint_and_fraction_evaluators_agree_on_random_rational_models, 20, 60, model=transformers(rational_only=True),
    data=st.data()
)


# -- every registered construction ----------------------------------------------------------------------------------
#: Sizes and inputs per construction: the smallest positive default length, two inputs. log-depth-a5's Fraction run
#: takes minutes (dense 253 x 7,388 composition MLP), so it is compared at the smallest size on one input.
SLOW = {"log-depth-a5"}


def _inputs(name: str):
    entry = ef.constructions.registry.get(name)
    c = entry.builder(**entry.options)
    reference = entry.reference(c)
    if reference is None:
        return c, []
    sizes = sorted(s for s in entry.default_lengths(c) if s > 0)
    ref = as_reference(reference)
    xs, _ = ref.inputs(sizes[0], count=2, exhaustive_limit=2, rng=random.Random(0))
    return c, list(xs)[: 1 if name in SLOW else 2]


@pytest.mark.parametrize("name", ef.constructions.names())
def test_flint_and_fraction_evaluators_agree_on_every_construction(name):
    c, xs = _inputs(name)
    assert xs, f"{name}: no registered reference, or it drew no input at its smallest positive size"
    if name in SLOW:  # the Fraction evaluator takes minutes here: the FLINT run is checked against the DFA and
        # every invariant of the proof, exactly, instead
        report = ef.verify.check(c, ef.constructions.registry.get(name).reference(c), lengths=[1],
                                 samples_per_length=2, backend="exact")
        assert report.passed
        return
    outcomes = run_both(lambda arith: c.run_batch(xs[:1], backend="exact", arith=arith))
    outcomes += run_both(lambda arith: c.run_batch(xs, backend="exact", arith=arith))
    for (kind_a, a), (kind_b, b) in zip(outcomes[::2], outcomes[1::2]):
        assert kind_a == kind_b
        if kind_a == "error":
            assert a == b
            assert a[0] is IrrationalOperation, a
            continue
        for ra, rb in zip(a, b, strict=True):
            assert ra.answer == rb.answer
            assert_same_trace(ra.output.trace, rb.output.trace)
            assert np.asarray(ra.output.logits).tolist() == np.asarray(rb.output.logits).tolist()
            assert ra.output.margins == rb.output.margins


# -- edge cases ------------------------------------------------------------------------------------------------------
def test_a_matrix_round_trips_through_flint_unchanged_with_huge_numerators_and_denominators():
    huge = Fraction(10**400 + 1, 3**300)
    arr = np.array([[huge, Fraction(-1, 7), Fraction(0)], [Fraction(5), -huge, Fraction(2**200, 2**201 - 1)]],
                   dtype=object)
    back = to_fractions(integer_matrix(arr))
    assert back.tolist() == arr.tolist()
    assert all(type(v) is Fraction for v in back.ravel())


def test_an_integer_matrix_is_the_matrix_over_one_positive_denominator():
    m = integer_matrix(np.array([[Fraction(-1, 3), Fraction(1, 6)], [Fraction(2), Fraction(0)]], dtype=object))
    numerators, denominator = m.integers(), m.denominator
    assert denominator > 0
    assert [[Fraction(v, denominator) for v in row] for row in numerators.tolist()] == [
        [Fraction(-1, 3), Fraction(1, 6)], [Fraction(2), Fraction(0)]]
    assert from_integers(numerators, denominator) == m


def test_numerators_too_large_for_int64_products_stay_python_ints():
    m = integer_matrix(np.array([[Fraction(2**31), Fraction(1, 2)]], dtype=object))
    assert m.integers().dtype == object and m.integers().tolist() == [[2**32, 1]]
    small = integer_matrix(np.array([[Fraction(2**30 - 1), Fraction(-3)]], dtype=object))
    assert small.integers().dtype == np.int64


def test_sums_and_products_over_different_denominators_are_those_of_the_rationals():
    a = np.array([[Fraction(1, 3), Fraction(-2, 5)], [Fraction(7, 4), Fraction(0)]], dtype=object)
    b = np.array([[Fraction(3, 10), Fraction(1)], [Fraction(-1, 6), Fraction(5, 9)]], dtype=object)
    A, B = integer_matrix(a), integer_matrix(b)
    assert to_fractions(A + B).tolist() == (a + b).tolist()
    assert to_fractions(A @ B).tolist() == (a @ b).tolist()
    assert to_fractions(A.transpose()).tolist() == a.T.tolist()
    assert (A @ B).fmpq() == A.fmpq() * B.fmpq()


def test_the_fractions_of_a_matrix_are_in_lowest_terms_whatever_its_denominator():
    m = IntegerMatrix(fmpz_mat(1, 3, [6, -4, 0]), 12)
    assert to_fractions(m).tolist() == [[Fraction(1, 2), Fraction(-1, 3), Fraction(0)]]
    assert m.reduced().denominator == 6 and m.reduced() == m


@pytest.mark.parametrize("magnitude", [3, 2**20, 2**30, 2**40, 10**30])
def test_integer_products_are_the_products_of_the_python_ints_at_every_magnitude(magnitude):
    # small entries go through float64 (every partial sum below 2^53), larger ones through FLINT: the same ints
    rng = random.Random(magnitude)
    a = [[rng.randint(-magnitude, magnitude) for _ in range(7)] for _ in range(5)]
    b = [[rng.randint(-magnitude, magnitude) for _ in range(4)] for _ in range(7)]
    expected = [[sum(x * y for x, y in zip(row, col)) for col in zip(*b)] for row in a]
    arrays = [IntegerMatrix(fmpz_mat(a)).integers(), IntegerMatrix(fmpz_mat(b)).integers()]
    assert integer_product(*arrays).tolist() == expected


def test_a_product_whose_sums_could_reach_two_to_the_53_is_not_rounded():
    a = np.full((1, 4), 2**30 - 1, dtype=np.int64)  # 4 (2^30 - 1)^2 > 2^53: float64 would round the sum
    b = np.array([[2**30 - 1], [2**30 - 1], [2**30 - 1], [1]], dtype=np.int64)
    assert integer_product(a, b).tolist() == [[3 * (2**30 - 1) ** 2 + 2**30 - 1]]


@pytest.mark.parametrize("sparse", [False, True])
def test_some_rows_of_a_weight_are_the_matrix_of_those_rows(sparse):
    dense = np.array([[Fraction(1, 2), Fraction(0), Fraction(3)], [Fraction(0)] * 3,
                      [Fraction(-7), Fraction(5, 3), Fraction(0)]], dtype=object)
    W = SparseRationalMatrix.from_dense(dense) if sparse else dense
    picked = RowIndex(W).rows(np.array([2, 0, 1]))
    assert to_fractions(picked).tolist() == dense[[2, 0, 1]].tolist()


def test_empty_matrices_convert_and_multiply():
    empty = integer_matrix(np.empty((0, 3), dtype=object))
    assert empty.shape == (0, 3)
    assert to_fractions(empty @ integer_matrix(np.full((3, 2), Fraction(1), dtype=object))).shape == (0, 2)
    product = integer_matrix(np.empty((2, 0), dtype=object)) @ IntegerMatrix(fmpz_mat(0, 4))
    assert to_fractions(product).tolist() == [[Fraction(0)] * 4] * 2


def test_a_zero_or_negative_denominator_is_refused_with_a_clear_error():
    with pytest.raises(ZeroDivisionError, match="positive denominator, got 0"):
        IntegerMatrix(fmpz_mat(1, 1), 0)
    with pytest.raises(ZeroDivisionError, match="positive denominator, got -2"):
        IntegerMatrix(fmpz_mat(1, 1), -2)
    with pytest.raises(ZeroDivisionError):
        Fraction(1, 0)  # a rational array cannot hold one in the first place


def test_a_sparse_weight_converts_to_the_same_matrix_as_its_dense_form():
    W = SparseRationalMatrix.from_entries(shape=(3, 4), entries={(0, 1): "1/3", (2, 3): -5, (1, 0): 10**30})
    assert integer_matrix(W) == integer_matrix(W.toarray())
    assert integer_matrix(W).fmpq() == fmpq_mat(3, 4, [0, fmpq(1, 3), 0, 0, 10**30, 0, 0, 0, 0, 0, 0, -5])


def test_an_attention_tie_without_a_tie_rule_raises_the_same_error_in_both_evaluators():
    demo = ef.constructions.copy_first()
    model = demo.model
    # an input whose hard-attention scores tie is found among short words; both evaluators must agree on each
    for word in ("aa", "ab", "ba", "bb", "abab", "bbab"):
        outcomes = run_both(lambda arith, w=word: forward(model, [list(w)], arith))
        (kind_a, a), (kind_b, b) = outcomes
        assert kind_a == kind_b
        if kind_a == "error":
            assert a == b and a[0] is AttentionTieError
        else:
            assert_same_trace(a, b)


def test_an_empty_sequence_or_batch_is_refused_by_the_exact_evaluator_with_a_clear_error():
    model = ef.constructions.copy_first().model
    with pytest.raises(ef.core.errors.InputError, match="at least one token"):
        forward(model, [[]], ExactArithmetic())
    with pytest.raises(ef.core.errors.InputError, match="batch is empty"):
        forward(model, [], ExactArithmetic())
