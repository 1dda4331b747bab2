"""The torch evaluator's fast paths give the results of the general path they replace.

The reference is the general path itself: :class:`General` below switches the shortcuts off (no zero-map
detection, item-by-item embedding). The shortcuts skip work without changing any operation's shape or order, so
they are compared bit for bit (``torch.equal``) in float64 and float32:

* attention whose queries or keys are identically 0 (constant scores: uniform softmax, hard-attention ties), and
  attention whose values are identically 0 as well (output exactly ``b_O``), at every residual;
* the one-gather embedding of token batches against the item-by-item embedding;
* the batched readout decisions (sign and argmax, with ties) against the per-row formula.

``classify(..., keep_trace=False)`` (the last attention layer answers only the readout query) runs the same
operations on fewer rows. A matrix product over fewer rows may round its last bit differently (so does the full pass
when the batch size changes), so it is compared as the full pass is in test_evaluators: with the exact model
(rational options) and inside the certified intervals (irrational options), where no decision is within 1e-9 of
flipping; and on the Chiang & Cholak constructions against the full pass (same answers, logits within 1e-12).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from exactformer.core.architecture import (
    MLP,
    NO_NORM,
    Attention,
    Embedding,
    Layer,
    Mask,
    Norm,
    Readout,
    Sublayer,
    Transformer,
)
from exactformer.core.errors import AttentionTieError, InputError, NonFiniteError
from exactformer.core.evaluate import CertifiedArithmetic, ExactArithmetic, TorchArithmetic, _all_finite, forward
from exactformer.core.rational import rational_zeros
from exactformer.core.runners import _read_out_floats, classify, decode, forward_to_readout
from exactformer.core.space import Block, Space

from .random_models import VOCAB, transformers, words

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FLOAT_ERRORS = (AttentionTieError, NonFiniteError)


class General(TorchArithmetic):
    """The torch arithmetic with every shortcut switched off: the unoptimized reference."""

    def _zero_heads(self, W: torch.Tensor, b: torch.Tensor) -> tuple[bool, ...]:
        return (False,) * W.shape[0]

    def _token_indices(self, model, inputs):  # noqa: ANN001, ANN202 (the overridden signature)
        return None


def _zeroed(att: Attention, which: set[str]) -> Attention:
    """``att`` with the query, key and/or value maps (weights and biases) replaced by zeros."""
    changes = {}
    for name in which:
        W, b = getattr(att, f"W_{name}"), getattr(att, f"b_{name}")
        changes[f"W_{name}"], changes[f"b_{name}"] = rational_zeros(W.shape), rational_zeros(b.shape)
    return dataclasses.replace(att, **changes)


@st.composite
def zero_map_transformers(draw, rational_only: bool = False) -> Transformer:
    """Random models in which some attention sublayers have zero query, key and/or value maps (and, sometimes,
    no relative bias), so that the constant-score and zero-value shortcuts are taken."""
    model = draw(transformers(rational_only=rational_only))

    def layer(lay: Layer) -> Layer:
        if lay.attention is None:
            return lay
        att = lay.attention.block
        assert isinstance(att, Attention)
        which = draw(st.sampled_from([{"Q"}, {"K"}, {"Q", "K"}, {"Q", "V"}, {"K", "V"}, {"Q", "K", "V"}, set()]))
        att = _zeroed(att, which)
        if draw(st.booleans()):
            att = dataclasses.replace(att, relative_bias=None)
        return dataclasses.replace(lay, attention=dataclasses.replace(lay.attention, block=att))

    loop = model.loop
    if loop is not None:
        loop = dataclasses.replace(loop, block=tuple(layer(lay) for lay in loop.block))
    return dataclasses.replace(
        model,
        layers=tuple(layer(lay) for lay in model.layers),
        loop=loop,
        suffix=tuple(layer(lay) for lay in model.suffix),
    )


def _outcome(model: Transformer, batch: list[list[str]], arith: TorchArithmetic, keep_trace: bool):
    try:
        return classify(model, batch, arith, keep_trace=keep_trace)
    except FLOAT_ERRORS as exc:
        return type(exc)


def _assert_same(fast, general) -> None:
    assert fast.labels == general.labels
    assert torch.equal(fast.logits, general.logits)
    assert fast.margins == general.margins or np.array_equal(fast.margins, general.margins, equal_nan=True)
    assert fast.certified == general.certified


batches = st.integers(1, 6).flatmap(
    lambda n: st.lists(st.lists(st.sampled_from(VOCAB), min_size=n, max_size=n), min_size=1, max_size=4)
)


def _safe(trace) -> bool:
    return all(d.margin is None or d.margin == float("inf") or d.margin > 1e-9 for d in trace.decisions)


def _floats(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64).numpy()
    return np.vectorize(lambda v: float(v.mid) if hasattr(v, "mid") else float(v), otypes=[float])(x)


@SETTINGS
@given(model=transformers(rational_only=True), batch=batches)
def test_readout_only_pass_agrees_with_the_exact_model(model, batch):
    """The readout-only pass is the full pass's operations on fewer rows. Its gemms see fewer rows, which (as a
    different batch size already does in the full pass) may change the last bit, so it is compared with the
    exact model, as the full pass is in test_evaluators, wherever the exact run makes no decision within 1e-9."""
    try:
        exact = classify(model, batch, ExactArithmetic())
    except FLOAT_ERRORS:
        assume(False)
    assume(_safe(exact.trace) and min(exact.margins) > 1e-9)
    assume(max(np.abs(_floats(x)).max() for x in exact.trace.residuals) < 1e6)
    fast = classify(model, batch, TorchArithmetic(torch.float64), keep_trace=False)
    assert fast.labels == exact.labels
    np.testing.assert_allclose(_floats(fast.logits), _floats(exact.logits), rtol=1e-9, atol=1e-9)
    final = _floats(exact.trace.final)[:, model.readout.position]
    np.testing.assert_allclose(_floats(fast.trace.final)[:, 0], final, rtol=1e-9, atol=1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=transformers(rational_only=False), word=words)
def test_readout_only_pass_lies_in_the_certified_intervals_for_irrational_options(model, word):
    try:
        certified = classify(model, [word], CertifiedArithmetic(precision=96))
    except FLOAT_ERRORS:
        assume(False)
    assume(certified.trace.certified and _safe(certified.trace) and certified.certified[0])
    widths = [_floats(np.vectorize(lambda v: float(v.delta), otypes=[float])(x)) for x in certified.trace.residuals]
    assume(max(w.max() for w in widths) < 1e-12)
    assume(max(np.abs(_floats(x)).max() for x in certified.trace.residuals) < 1e6)
    fast = classify(model, [word], TorchArithmetic(torch.float64), keep_trace=False)
    assert fast.labels == certified.labels
    np.testing.assert_allclose(_floats(fast.logits), _floats(certified.logits), rtol=1e-8, atol=1e-8)


@SETTINGS
@given(model=zero_map_transformers(), batch=batches, dtype=st.sampled_from([torch.float64, torch.float32]))
def test_zero_map_shortcuts_are_bit_identical_to_the_general_path(model, batch, dtype):
    general = _outcome(model, batch, General(dtype), keep_trace=True)
    fast_full = _outcome(model, batch, TorchArithmetic(dtype), keep_trace=True)
    if isinstance(general, type):  # the general path raises: the shortcut path raises the same error
        assert fast_full is general
        return
    assert not isinstance(fast_full, type)
    _assert_same(fast_full, general)
    for label, a, b in zip(general.trace.labels, general.trace.residuals, fast_full.trace.residuals):
        assert torch.equal(a, b), f"residual after {label}"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=zero_map_transformers(rational_only=False), prompt=words, steps=st.integers(1, 3))
def test_cached_decoding_with_zero_maps_matches_the_general_path(model, prompt, steps):
    labels = dataclasses.replace(
        model.readout,
        labels=VOCAB,
        decision="argmax",
        W_U=np.array([[Fraction(k + j, 3) for k in range(3)] for j in range(model.d_model)], dtype=object),
        b_U=rational_zeros((3,)),
        position=-1,
    )
    causal = _causal(dataclasses.replace(model, readout=labels))
    assume(not causal.embedding.depends_on_length and causal.loop is None)
    try:
        want = decode(causal, [prompt], General(torch.float64), max_new_tokens=steps)
    except FLOAT_ERRORS as exc:
        with pytest.raises(type(exc)):
            decode(causal, [prompt], TorchArithmetic(torch.float64), max_new_tokens=steps)
        return
    got = decode(causal, [prompt], TorchArithmetic(torch.float64), max_new_tokens=steps)
    assert got.tokens == want.tokens and got.margins == want.margins


def _causal(model: Transformer) -> Transformer:
    def layer(lay: Layer) -> Layer:
        if lay.attention is None:
            return lay
        att = dataclasses.replace(lay.attention.block, mask=Mask("causal"))
        return dataclasses.replace(lay, attention=dataclasses.replace(lay.attention, block=att))

    return dataclasses.replace(
        model,
        layers=tuple(layer(lay) for lay in model.layers),
        loop=None,
        suffix=tuple(layer(lay) for lay in model.suffix),
    )


def _uniform_model(
    kind: str, mask: Mask, tie_rule: str = "error", zero_values: bool = False, input_norm: Norm = NO_NORM
) -> Transformer:
    """One attention layer with zero queries and keys over a 2-coordinate stream (token one-hot)."""

    space = Space.of(Block("t", ["a", "b"]))
    W_V = rational_zeros((1, 2, 2)) if zero_values else np.array([[[1, 0], [0, 1]]], dtype=object)
    att = Attention(
        W_Q=rational_zeros((1, 2, 1)),
        W_K=rational_zeros((1, 2, 1)),
        W_V=W_V,
        W_O=np.array([[[Fraction(1), Fraction(0)], [Fraction(0), Fraction(1)]]], dtype=object),
        b_O=np.array([Fraction(1, 3), Fraction(-1, 7)], dtype=object),
        kind=kind,
        mask=mask,
        tie_rule=tie_rule,
    )  # type: ignore[arg-type]
    embedding = Embedding(W_E=np.array([[1, 0], [0, 1]], dtype=object), vocab=("a", "b"))
    readout = Readout(W_U=np.array([[1], [-1]], dtype=object), labels=("yes",), decision="sign", position=-1)
    layer = Layer(attention=Sublayer(att, input_norm=input_norm))
    return Transformer(space=space, embedding=embedding, layers=(layer,), readout=readout)


@pytest.mark.parametrize(
    "mask", [Mask("none"), Mask("causal"), Mask("strict_causal"), Mask("window", 2)], ids=lambda m: m.describe()
)
@pytest.mark.parametrize("kind", ["softmax", "average_hard", "hard"])
@pytest.mark.parametrize("zero_values", [False, True])
def test_constant_scores_give_the_general_paths_weights(kind, mask, zero_values):
    model = _uniform_model(kind, mask, tie_rule="leftmost", zero_values=zero_values)
    batch = [list("abbab"), list("bbbba"), list("aaaab")]
    want = forward(model, batch, General(torch.float64)).final
    arith = TorchArithmetic(torch.float64)
    got = forward(model, batch, arith).final
    assert torch.equal(got, want)
    # the shortcut is really taken on this model: no queries or keys computed, constant scores
    att = model.layers[0].attention.block
    x = arith.embed(model, batch)
    W_Q, b_Q, W_K, b_K = (arith.weights(w) for w in (att.W_Q, att.b_Q, att.W_K, att.b_K))
    assert arith._queries_and_keys(x, x, W_Q, b_Q, W_K, b_K, att) == (None, None, True)


def test_a_tie_without_a_tie_rule_is_reported_on_the_constant_path_as_on_the_general_path():
    model = _uniform_model("hard", Mask("none"), tie_rule="error", zero_values=True)
    messages = []
    for arith in (General(torch.float64), TorchArithmetic(torch.float64)):
        with pytest.raises(AttentionTieError) as info:
            classify(model, [list("ab"), list("ba")], arith)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_a_nan_from_the_input_norm_of_a_zero_map_attention_is_reported():
    """eps = 0 LayerNorm of a constant vector is 0/0. Were the zero-value shortcut taken, the output would be b_O
    and the NaN lost; the non-finite input sends the pass down the general path, which reports it."""
    model = _uniform_model("softmax", Mask("none"), zero_values=True, input_norm=Norm("layernorm", eps=Fraction(0)))
    constant = np.array([Fraction(1), Fraction(1)], dtype=object)
    for arith in (General(torch.float64), TorchArithmetic(torch.float64)):
        with pytest.raises(NonFiniteError):
            classify(model, [["a", constant]], arith)


def test_zero_map_flags_follow_an_in_place_change_of_a_parameter():
    arith = TorchArithmetic(torch.float64)
    W, b = torch.zeros(2, 3, 1, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64)
    assert arith._zero_heads(W, b) == (True, True)
    W[1, 2, 0] = 0.5
    assert arith._zero_heads(W, b) == (True, False)
    b[0, 0] = -1.0
    assert arith._zero_heads(W, b) == (False, False)


def test_all_finite_is_exact_for_nan_infinity_and_overflowing_sums():
    big = torch.tensor([1e308, 1e308, -1.0], dtype=torch.float64)  # finite entries whose sum overflows
    assert _all_finite(big)
    assert not _all_finite(torch.tensor([1.0, float("nan")]))
    assert not _all_finite(torch.tensor([float("inf"), float("-inf")]))  # the sum is NaN
    assert _all_finite(torch.tensor([0.5, -2.0]))


@SETTINGS
@given(model=transformers(rational_only=True), batch=batches)
def test_one_gather_embedding_equals_the_item_by_item_embedding(model, batch):
    fast = TorchArithmetic(torch.float64).embed(model, batch)
    general = General(torch.float64).embed(model, batch)
    assert torch.equal(fast, general)
    # a batch mixing a continuous input with tokens takes the item-by-item path; the token rows agree
    vector = np.array([Fraction(1, 2)] * model.d_model, dtype=object)
    mixed = TorchArithmetic(torch.float64).embed(model, [*batch, [vector, *batch[0][1:]]])
    assert torch.equal(mixed[: len(batch)], fast)


def test_unknown_tokens_are_reported_by_the_fast_embedding():
    model = _uniform_model("softmax", Mask("none"))
    with pytest.raises(InputError, match="'z' is not in the model's vocabulary"):
        TorchArithmetic(torch.float64).embed(model, [list("ab"), list("az")])


@given(
    values=st.lists(
        st.lists(st.sampled_from([-1.5, -0.0, 0.0, 0.25, 2.0, float("nan")]), min_size=3, max_size=3),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=100, deadline=None)
def test_batched_argmax_readout_matches_the_per_row_formula(values):
    readout = Readout(W_U=rational_zeros((2, 3)), labels=("x", "y", "z"), decision="argmax")
    labels, margins, certified = _read_out_floats(readout, torch.tensor(values, dtype=torch.float64))
    for row, label, margin in zip(values, labels, margins):
        order = np.argsort(row)[::-1]  # the per-row formula the readout used before it was batched
        assert label == readout.labels[int(order[0])]
        want = row[int(order[0])] - row[int(order[1])]
        assert margin == want or (np.isnan(margin) and np.isnan(want))
    assert certified == [False] * len(values)


def test_batched_sign_readout_matches_the_per_row_formula():
    readout = Readout(W_U=rational_zeros((2, 1)), labels=("yes",), decision="sign")
    z = [0.5, -0.0, 0.0, -3.0, float("nan")]
    labels, margins, _ = _read_out_floats(readout, torch.tensor([[v] for v in z], dtype=torch.float64))
    assert labels == [v > 0 for v in z]
    assert margins[:4] == [abs(v) for v in z[:4]] and np.isnan(margins[4])


@pytest.mark.parametrize("name", ["parity", "first", "parity-ln", "first-ln", "first-scaled"])
def test_run_batch_without_trace_agrees_on_chiang_cholak(name):
    from exactformer.constructions.registry import build

    construction = build(name)
    words_ = [format(v, "012b") for v in range(0, 1 << 12, 7)]
    arith = TorchArithmetic(torch.float64)
    fast = construction.run_batch(words_, arith=arith, keep_trace=False)
    full = construction.run_batch(words_, arith=General(torch.float64))
    assert [r.answer for r in fast] == [r.answer for r in full]
    got, want = torch.stack([r.logits for r in fast]), torch.stack([r.logits for r in full])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("with_attention", [False, True])
def test_readout_only_pass_skips_a_nan_that_cannot_reach_the_answer(with_attention):
    """After the last attention layer, an MLP zeroes the rows of token 'b' and an eps = 0 LayerNorm divides them
    by 0: the full pass reports the NaN, the readout-only pass never computes those rows (only the readout row,
    a token 'a', reaches the answer)."""
    space = Space.of(Block("t", ["a", "b"]))
    mlp = MLP(
        W_in=np.array([[1], [0]], dtype=object),
        b_in=rational_zeros((1,)),
        W_out=np.array([[1, -1]], dtype=object),
        b_out=rational_zeros((2,)),
    )
    layers = [Layer(mlp=Sublayer(mlp, residual=False, output_norm=Norm("layernorm", eps=Fraction(0))))]
    if with_attention:
        att = _zeroed(_uniform_model("softmax", Mask("none")).layers[0].attention.block, {"V"})
        layers.insert(0, Layer(attention=Sublayer(dataclasses.replace(att, b_O=rational_zeros((2,))))))
    model = Transformer(
        space=space,
        embedding=Embedding(W_E=np.array([[1, 0], [0, 1]], dtype=object), vocab=("a", "b")),
        layers=tuple(layers),
        readout=Readout(W_U=np.array([[1], [-1]], dtype=object), labels=("yes",), decision="sign", position=-1),
    )
    batch = [list("ba"), list("aa")]
    with pytest.raises(NonFiniteError):
        classify(model, batch, TorchArithmetic(torch.float64))
    fast = classify(model, batch, TorchArithmetic(torch.float64), keep_trace=False)
    # the readout rows are LayerNorm([1, -1]) = [1, -1] (eps = 0): the logit is 1 - (-1) = 2
    assert fast.labels == [True, True] and fast.margins == [2.0, 2.0]


def test_forward_to_readout_checks_its_inputs():
    model = _uniform_model("softmax", Mask("none"))
    with pytest.raises(InputError, match="same length"):
        forward_to_readout(model, [list("ab"), list("a")], TorchArithmetic())
    with pytest.raises(InputError, match="empty"):
        forward_to_readout(model, [], TorchArithmetic())
