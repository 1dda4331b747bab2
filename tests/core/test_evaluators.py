"""The three evaluators compute the same function.

* exact (rationals) and torch float64 agree on random models with rational weights, for every option that is
  rational (linear maps, ReLU, step, hard and average-hard attention, every mask, relative bias, loops), at every
  sublayer, wherever the exact run makes no decision within 1e-9 of flipping;
* certified intervals contain the exact values, and contain torch float64's values (up to float error) for the
  irrational options (softmax with every scale, LayerNorm, RMSNorm, L2, masked pre-norm, sinusoids).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from exactformer.core.arith import CertifiedArithmetic, ExactArithmetic, TorchArithmetic, interval_bounds
from exactformer.core.errors import AttentionTieError, IrrationalOperation, NonFiniteError
from exactformer.core.forward import forward
from exactformer.core.runners import classify

from ..sizes import in_two_sizes
from .random_models import transformers, words


def as_float(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64).numpy()
    return np.vectorize(lambda v: float(v.mid) if hasattr(v, "mid") else float(v), otypes=[float])(x)


def safe_margins(trace) -> bool:
    return all(d.margin is None or d.margin == float("inf") or d.margin > 1e-9 for d in trace.decisions)


def run(model, word, arith):
    try:
        return forward(model, [word], arith)
    except (AttentionTieError, NonFiniteError):
        return None


def _torch_float64_agrees_with_exact_at_every_sublayer(model, word):
    exact = run(model, word, ExactArithmetic())
    assume(exact is not None and safe_margins(exact))
    values = [as_float(x) for x in exact.residuals]
    assume(max(np.abs(v).max() for v in values) < 1e6)
    floats = forward(model, [word], TorchArithmetic(torch.float64))
    assert floats.labels == exact.labels
    for label, e, f in zip(exact.labels, values, floats.residuals):
        np.testing.assert_allclose(as_float(f), e, rtol=1e-9, atol=1e-9, err_msg=f"residual after {label}")


(
    test_torch_float64_agrees_with_exact_at_every_sublayer,
    test_torch_float64_agrees_with_exact_at_every_sublayer_on_60_examples,
) = in_two_sizes(
    _torch_float64_agrees_with_exact_at_every_sublayer, 20, 60, model=transformers(rational_only=True), word=words
)


def _exact_and_torch_decide_the_same_answer(model, word):
    try:
        exact = classify(model, [word], ExactArithmetic())
    except (AttentionTieError, NonFiniteError):
        assume(False)
    assume(safe_margins(exact.trace) and exact.margins[0] > 1e-9)
    assert classify(model, [word], TorchArithmetic(torch.float64)).labels == exact.labels


(
    test_exact_and_torch_decide_the_same_answer,
    test_exact_and_torch_decide_the_same_answer_on_60_examples,
) = in_two_sizes(
    _exact_and_torch_decide_the_same_answer, 20, 60, model=transformers(rational_only=True), word=words
)


def _certified_intervals_contain_the_exact_values(model, word):
    exact = run(model, word, ExactArithmetic())
    assume(exact is not None and safe_margins(exact))
    certified = forward(model, [word], CertifiedArithmetic(precision=96))
    for label, e, c in zip(exact.labels, exact.residuals, certified.residuals):
        for value, interval in zip(e.flat, c.flat):
            lo, hi = interval_bounds(interval)
            assert lo <= value <= hi, f"{label}: {value} not in {interval}"


(
    test_certified_intervals_contain_the_exact_values,
    test_certified_intervals_contain_the_exact_values_on_25_examples,
) = in_two_sizes(
    _certified_intervals_contain_the_exact_values, 10, 25, model=transformers(rational_only=True), word=words
)


def _torch_float64_lies_in_the_certified_intervals_for_irrational_options(model, word):
    try:
        certified = forward(model, [word], CertifiedArithmetic(precision=96))
    except (AttentionTieError, NonFiniteError):
        assume(False)
    assume(certified.certified and safe_margins(certified))
    widths = [as_float(np.vectorize(lambda v: float(v.delta), otypes=[float])(x)) for x in certified.residuals]
    assume(max(w.max() for w in widths) < 1e-12)
    mids = [as_float(x) for x in certified.residuals]
    assume(max(np.abs(m).max() for m in mids) < 1e6)
    floats = forward(model, [word], TorchArithmetic(torch.float64))
    for label, m, f in zip(certified.labels, mids, floats.residuals):
        np.testing.assert_allclose(as_float(f), m, rtol=1e-8, atol=1e-8, err_msg=f"residual after {label}")


(
    test_torch_float64_lies_in_the_certified_intervals_for_irrational_options,
    test_torch_float64_lies_in_the_certified_intervals_for_irrational_options_on_40_examples,
) = in_two_sizes(
    _torch_float64_lies_in_the_certified_intervals_for_irrational_options, 15, 40,
    model=transformers(rational_only=False), word=words
)


def test_average_hard_ties_between_identical_keys_agree_in_every_backend(tie_model):
    from dataclasses import replace

    from exactformer.core.space import linear_map

    from .conftest import HEAD, SPACE

    att = tie_model.layers[0].attention
    # every query scores [key is a]; the value is the key's position i/N: each query averages i/N over the a's
    block = replace(att.block, kind="average_hard", W_V=[linear_map(SPACE, HEAD, {"pos:i/N": {"h:0": 1}})])
    averaging = replace(tie_model, layers=(replace(tie_model.layers[0], attention=replace(att, block=block)),))
    word = [["a", "b", "a", "a", "b"]]
    exact = forward(averaging, word, ExactArithmetic()).final
    floats = forward(averaging, word, TorchArithmetic(torch.float64)).final
    np.testing.assert_allclose(as_float(floats), as_float(exact), rtol=1e-15)
    assert set(exact[0, :, -1]) == {Fraction(0 + 2 + 3, 3 * 5)}


def test_exact_refuses_softmax_naming_the_sublayer(softmax_model):
    with pytest.raises(IrrationalOperation, match=r"softmax attention in L0\.attn"):
        forward(softmax_model, [["a", "b"]], ExactArithmetic())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_torch_runs_in_every_dtype(softmax_model, dtype):
    trace = forward(softmax_model, [["a", "b", "a"]], TorchArithmetic(dtype))
    assert trace.final.dtype == dtype


def test_a_batch_equals_single_runs(softmax_model):
    batch = [["a", "b", "b"], ["b", "b", "a"], ["a", "a", "a"]]
    together = forward(softmax_model, batch, TorchArithmetic(torch.float64)).final
    for b, word in enumerate(batch):
        alone = forward(softmax_model, [word], TorchArithmetic(torch.float64)).final[0]
        torch.testing.assert_close(together[b], alone, rtol=1e-12, atol=1e-12)


def test_nan_is_detected_and_named(zero_layernorm_model):
    with pytest.raises(NonFiniteError, match=r"NaN after L0\.mlp"):
        forward(zero_layernorm_model, [["a"]], TorchArithmetic(torch.float64))


def test_certified_refuses_a_possibly_zero_norm(zero_layernorm_model):
    with pytest.raises(NonFiniteError, match="may be 0"):
        forward(zero_layernorm_model, [["a"]], CertifiedArithmetic())


def test_hard_attention_tie_without_a_rule_is_an_error_in_every_backend(tie_model):
    for arith in (ExactArithmetic(), CertifiedArithmetic(), TorchArithmetic(torch.float64)):
        with pytest.raises(AttentionTieError, match="tie"):
            forward(tie_model, [["a", "a"]], arith)


@pytest.mark.parametrize("n", [4, 8])
def test_a_sequence_longer_than_max_length_is_refused(n, softmax_model):
    from dataclasses import replace

    from exactformer.core.errors import InputError

    bounded = replace(softmax_model, max_length=3)
    forward(bounded, [["a"] * 3], TorchArithmetic())
    with pytest.raises(InputError, match="longer than the model's max_length 3"):
        forward(bounded, [["a"] * n], TorchArithmetic())


def test_unknown_token_is_refused(softmax_model):
    from exactformer.core.errors import InputError

    with pytest.raises(InputError, match="token 'z' is not in the model's vocabulary"):
        forward(softmax_model, [["a", "z"]], ExactArithmetic())


@settings(max_examples=80, deadline=None)
@given(points=st.lists(st.tuples(st.floats(-60, 60), st.sampled_from([0.0, 1e-30, 1e-3, 2.0])), min_size=1,
                       max_size=10),
       precision=st.sampled_from([53, 128, 300]))
def test_the_certified_softmax_has_the_endpoints_of_its_formula_through_ivmpf_operators(points, precision):
    """CertifiedArithmetic.softmax computes ``1 / sum_k exp(s_k - s_j)`` on raw endpoint pairs with mpmath's libmpi
    functions; written with ivmpf's own operators, the same formula gives the same endpoints, bit for bit."""
    import mpmath

    from exactformer.core.arith.interval import _interval_precision

    arith = CertifiedArithmetic(precision)
    with _interval_precision(precision):
        scores = [mpmath.iv.mpf([a, a + w]) for a, w in points]
        want = [1 / sum((mpmath.iv.exp(s_k - s_j) for s_k in scores), mpmath.iv.mpf(0)) for s_j in scores]
        got = arith.softmax(scores, "L0.attn")
    assert [w._mpi_ for w in want] == [g._mpi_ for g in got]
