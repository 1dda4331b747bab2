"""The torch evaluator's fast paths give the results of the general path they replace.

The reference is the general path itself: :class:`General` below switches the shortcuts off (no zero-map or zero-row
detection, item-by-item embedding), and, for the answers, the exact and certified evaluators.

Bit for bit (``torch.equal``), because they change no operation's shape or order:

* the one-gather embedding of token batches against the item-by-item embedding;
* the batched readout decisions (sign and argmax, with ties) against the per-row formula;
* attention with constant scores whose values are identically 0 (the output is exactly ``b_O``), and hard attention
  with constant scores and a tie rule (a gather of the leftmost or rightmost allowed value);
* constant-score attention in a small fixed-point arithmetic (every sum is exact in float64, so both paths round the
  same exact value once).

Not bit for bit, so against the general path to within a worst-case rounding bound, and against the exact model /
inside the certified intervals wherever no decision is within 1e-9 of flipping:

* attention with constant scores (every query or key map identically 0: uniform softmax / average-hard weights)
  computed in O(N) by :meth:`TorchArithmetic._constant_attention`: the mean of the allowed values as a float64 sum
  (one sum, or a cumulative sum for causal masks) times ``1/c``, instead of the general path's N x N weights and
  ``sum_j w_j v_j``. The order of the floating-point sums differs, so the last bits may;
* query rows that are exactly 0 although the query map is not (:meth:`TorchArithmetic._zero_query_rows`): those rows
  take the same O(N) path, the others the general path on fewer rows;
* ``classify(..., keep_trace=False)`` (the last attention layer answers only the readout query): the same operations
  on fewer rows. A matrix product over fewer rows may round its last bit differently (so does the full pass when the
  batch size changes).

Hard-attention ties without a tie rule raise the general path's error with the same message, and non-finite inputs,
keys or values send the pass down the general path, which reports them. On the Chiang & Cholak constructions the O(N)
paths are checked to be taken, and the answers and logits to agree with the certified evaluator.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable
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
from exactformer.core.arith import CertifiedArithmetic, Decision, ExactArithmetic, TorchArithmetic, Trace
from exactformer.core.arith.torch import _all_finite
from exactformer.core.errors import AttentionTieError, InputError, NonFiniteError
from exactformer.core.fixed_point import FixedPointArithmetic
from exactformer.core.forward import forward
from exactformer.core.positions import IndicatorAt
from exactformer.core.rational import rational_zeros, to_float_array
from exactformer.core.runners import _read_out_floats, classify, decode, forward_to_readout
from exactformer.core.space import Block, Space

from ..sizes import in_two_sizes
from .random_models import VOCAB, attentions, norms, transformers, words

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
FLOAT_ERRORS = (AttentionTieError, NonFiniteError)
DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
CHIANG_CHOLAK = ["parity", "parity-ln", "first", "first-ln", "first-scaled"]


class _NoShortcuts:
    """Switches the torch arithmetic's shortcuts off (mixed into a torch arithmetic class)."""

    def _zero_heads(self, W: torch.Tensor, b: torch.Tensor) -> tuple[bool, ...]:
        return (False,) * W.shape[0]

    def _zero_query_rows(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202 (the overridden signature)
        return None

    def _token_indices(self, model, inputs):  # noqa: ANN001, ANN202 (the overridden signature)
        return None


def _attention(arith: TorchArithmetic, x: torch.Tensor, att: Attention, length: int, where: str) -> torch.Tensor:
    """The attention sublayer ``att`` on the whole sequence ``x``: every query over every key."""
    positions = torch.arange(length)
    return arith.attend(x, x, positions, positions, att, length, where)


class General(_NoShortcuts, TorchArithmetic):
    """The torch arithmetic with every shortcut switched off: the unoptimized reference."""


class GeneralFixedPoint(_NoShortcuts, FixedPointArithmetic):
    """Fixed-point arithmetic with every shortcut switched off."""


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


@st.composite
def zero_row_transformers(draw, rational_only: bool = False, position: int | None = None) -> Transformer:
    """Random models with a first attention layer whose queries read only ``p:a``, which is ``[i = position]``
    (0 or the last position) and exactly 0 elsewhere: every other query row is exactly 0 in every head (so those
    rows take the zero-row path) while the query map is not."""
    model = draw(transformers(rational_only=rational_only))
    target = draw(st.sampled_from([0, -1])) if position is None else position
    c = model.space.index("p:a")
    W_E = model.embedding.W_E.copy()
    W_E[:, c] = Fraction(0)
    positional = tuple((coord, f) for coord, f in model.embedding.positional if coord != "p:a")
    embedding = dataclasses.replace(model.embedding, W_E=W_E, positional=(*positional, ("p:a", IndicatorAt(target))))
    att = draw(attentions(model.d_model, rational_only))
    W_Q = rational_zeros(att.W_Q.shape)
    W_Q[:, c, :] = att.W_Q[:, c, :]
    att = dataclasses.replace(att, W_Q=W_Q, b_Q=rational_zeros(att.b_Q.shape), relative_bias=None)
    first = Layer(
        attention=Sublayer(att, residual=draw(st.booleans()), output_norm=draw(norms(model.space, rational_only)))
    )
    return dataclasses.replace(model, embedding=embedding, layers=(first, *model.layers))


def shortcut_models(rational_only: bool = False, position: int | None = None) -> st.SearchStrategy[Transformer]:
    """Random models that take the constant-score or the zero-row path somewhere (when their inputs allow)."""
    return st.one_of(zero_map_transformers(rational_only), zero_row_transformers(rational_only, position))


def _is_zero(arr: np.ndarray) -> bool:
    return all(v == 0 for v in arr.ravel())


def _constant_scores(att: Attention) -> bool:
    """Whether every score of ``att`` is +-0 for finite inputs: in every head the query or the key map is 0."""
    return att.relative_bias is None and all(
        (_is_zero(att.W_Q[h]) and _is_zero(att.b_Q[h])) or (_is_zero(att.W_K[h]) and _is_zero(att.b_K[h]))
        for h in range(att.n_heads)
    )


def _structural_ties(model: Transformer, length: int) -> Callable[[str, int], bool]:
    """``(site, query) -> bool``: whether all the scores of that query are exactly 0 by construction, in exact
    arithmetic and in floats alike (so a tie there is no decision near flipping): every query of an attention
    sublayer with constant scores, and, in a model of :func:`zero_row_transformers`, the first layer's queries
    other than the one ``p:a`` marks."""
    constant = {
        f"{label}.attn"
        for label, layer in model.named_layers(length)
        if layer.attention is not None and _constant_scores(layer.attention.block)  # type: ignore[arg-type]
    }
    marked: int | None = None
    first = model.layers[0].attention
    if first is not None and first.input_norm.is_identity:
        att = first.block
        assert isinstance(att, Attention)
        c = model.space.index("p:a")
        others = [i for i in range(model.d_model) if i != c]
        features = dict(model.embedding.positional)
        feature = features.get("p:a")
        if (
            att.relative_bias is None
            and isinstance(feature, IndicatorAt)
            and _is_zero(att.b_Q)
            and _is_zero(att.W_Q[:, others, :])
            and _is_zero(model.embedding.W_E[:, c])
        ):
            marked = feature.position % length
    return lambda site, query: site in constant or (site == "L0.attn" and marked is not None and query != marked)


def _query_of(decision: Decision) -> int:
    found = re.search(r"query (\d+)", decision.what)
    return int(found.group(1)) if found else -1


def _safe(trace: Trace, structural: Callable[[str, int], bool] | None = None) -> bool:
    """No decision within 1e-9 of flipping, except ties that hold by construction (``structural``)."""
    return all(
        d.margin is None
        or d.margin == float("inf")
        or d.margin > 1e-9
        or (structural is not None and d.margin == 0 and structural(d.where, _query_of(d)))
        for d in trace.decisions
    )


def _attention_inputs(model: Transformer, batch: list[list[str]], dtype: torch.dtype):
    """``(site, attention, normalised input)`` of every attention sublayer the general path reaches (the inputs
    it computes, so the two paths are compared on equal inputs)."""
    general = General(dtype)
    try:
        forward(model, batch, general)
    except FLOAT_ERRORS:
        pass  # the trace holds the residuals up to the sublayer that raised
    assert general.trace is not None
    length = len(batch[0])
    sites = [(f"{label}.{kind}", sub) for label, layer in model.named_layers(length) for kind, sub in layer.sublayers()]
    return [
        (where, sub.block, general.norm(x, sub.input_norm, model, where + ".input_norm"))
        for (where, sub), x in zip(sites, general.trace.residuals)
        if isinstance(sub.block, Attention)
    ]


def _rounding_bound(h: torch.Tensor, att: Attention, dtype: torch.dtype) -> float:
    """A worst-case bound on ``|fast - general|`` for the attention output of softmax / average-hard attention.

    Each path computes every ``z`` (a convex combination of K values, |v| <= M) to within ``(K + 2) u M`` (u the unit
    roundoff, eps / 2): the general path's ``sum_j w_j v_j`` (a dot product of K terms with rounded weights,
    Higham's gamma_K), the fast path's float64 sum (at most (K - 1) u64 sum|v| <= K u M with w ~ 1/c) times the
    rounded weight, rounded once. The projection ``b_O + sum_{h,e} z W_O`` adds ``gamma_{HE+1} (|b_O| + S_O M)``
    per path, S_O = max_d sum_{h,e} |W_O|. Summed over both paths that is
    ``2 u (K + HE + 3) (S_O M + |b_O|) = (K + HE + 3) eps (S_O M + |b_O|)``; twice that allows for
    gamma_n = n u / (1 - n u) and the rounding of v itself.
    """
    arith = TorchArithmetic(dtype)
    W_V, b_V = arith.weights(att.W_V), arith.weights(att.b_V)
    v = torch.einsum("bnd,hde->bhne", h, W_V) + b_V[None, :, None, :]
    M = float(v.abs().max().to(torch.float64))
    W_O, b_O = to_float_array(att.W_O), to_float_array(att.b_O)
    S_O = float(np.abs(W_O).sum(axis=(0, 1)).max())
    K, HE = h.shape[1], att.W_V.shape[0] * att.W_V.shape[2]
    return 2 * (K + HE + 3) * torch.finfo(dtype).eps * (S_O * M + float(np.abs(b_O).max()))


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


def _floats(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64).numpy()
    return np.vectorize(lambda v: float(v.mid) if hasattr(v, "mid") else float(v), otypes=[float])(x)


def _readout_only_pass_agrees_with_the_exact_model(model, batch):
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


(
    test_readout_only_pass_agrees_with_the_exact_model,
    test_readout_only_pass_agrees_with_the_exact_model_on_25_examples,
) = in_two_sizes(
    _readout_only_pass_agrees_with_the_exact_model, 8, 25, model=transformers(rational_only=True), batch=batches,
    health=(HealthCheck.too_slow, HealthCheck.filter_too_much)
)


def _assert_float64_inside_tight_intervals(model, word, certified, *, keep_trace: bool) -> None:
    """Where the certified run is tight (every interval narrower than 1e-12, every value below 1e6), the float64
    pass decides as it does and its logits lie within 1e-8 of the certified ones."""
    widths = [_floats(np.vectorize(lambda v: float(v.delta), otypes=[float])(x)) for x in certified.trace.residuals]
    assume(max(w.max() for w in widths) < 1e-12)
    assume(max(np.abs(_floats(x)).max() for x in certified.trace.residuals) < 1e6)
    fast = classify(model, [word], TorchArithmetic(torch.float64), keep_trace=keep_trace)
    assert fast.labels == certified.labels
    np.testing.assert_allclose(_floats(fast.logits), _floats(certified.logits), rtol=1e-8, atol=1e-8)


def _readout_only_pass_lies_in_the_certified_intervals_for_irrational_options(model, word):
    try:
        certified = classify(model, [word], CertifiedArithmetic(precision=96))
    except FLOAT_ERRORS:
        assume(False)
    assume(certified.trace.certified and _safe(certified.trace) and certified.certified[0])
    _assert_float64_inside_tight_intervals(model, word, certified, keep_trace=False)


(
    test_readout_only_pass_lies_in_the_certified_intervals_for_irrational_options,
    test_readout_only_pass_lies_in_the_certified_intervals_for_irrational_options_on_25_examples,
) = in_two_sizes(
    _readout_only_pass_lies_in_the_certified_intervals_for_irrational_options, 8, 25,
    model=transformers(rational_only=False), word=words
)


@SETTINGS
@given(model=shortcut_models(), batch=batches, dtype=st.sampled_from(DTYPES))
def test_each_shortcut_attention_agrees_with_the_general_path_on_equal_inputs(model, batch, dtype):
    """Sublayer by sublayer, on the general path's own inputs: the same tie error, the same non-finite entries,
    bit for bit where the shortcut sums nothing (zero values: exactly b_O; hard attention: a gather), and within
    the rounding bound of :func:`_rounding_bound` for uniform softmax / average-hard weights."""
    length = len(batch[0])
    for where, att, h in _attention_inputs(model, batch, dtype):
        try:
            want = _attention(General(dtype), h, att, length, where)
        except (AttentionTieError, NonFiniteError) as exc:  # a tie, or a NaN/infinite score: the same refusal
            with pytest.raises(type(exc)) as info:
                _attention(TorchArithmetic(dtype), h, att, length, where)
            assert str(info.value) == str(exc)
            continue
        got = _attention(TorchArithmetic(dtype), h, att, length, where)
        finite = torch.isfinite(want)
        if not bool(finite.all()):  # a non-finite input, key or value: both take the general path
            assert torch.equal(torch.isfinite(got), finite)
            continue
        if _constant_scores(att) and (att.kind == "hard" or _is_zero(att.W_V) and _is_zero(att.b_V)):
            assert torch.equal(got, want), where
        elif att.kind != "hard":  # hard attention on zero rows: a gather; the other rows' argmax: end-to-end tests
            assert float((got - want).abs().max()) <= _rounding_bound(h, att, dtype), where


def _shortcut_models_agree_with_the_exact_model(model, batch, keep_trace):
    """End to end, every residual (or the readout row) and the logits, against the exact model wherever no decision
    is within 1e-9 of flipping (ties among scores that are 0 by construction are exact in floats too)."""
    try:
        exact = classify(model, batch, ExactArithmetic())
    except FLOAT_ERRORS:
        assume(False)
    assume(_safe(exact.trace, _structural_ties(model, len(batch[0]))) and min(exact.margins) > 1e-9)
    assume(max(np.abs(_floats(x)).max() for x in exact.trace.residuals) < 1e6)
    fast = classify(model, batch, TorchArithmetic(torch.float64), keep_trace=keep_trace)
    assert fast.labels == exact.labels
    np.testing.assert_allclose(_floats(fast.logits), _floats(exact.logits), rtol=1e-9, atol=1e-9)
    if keep_trace:
        for label, a, b in zip(exact.trace.labels, exact.trace.residuals, fast.trace.residuals):
            np.testing.assert_allclose(_floats(b), _floats(a), rtol=1e-9, atol=1e-9, err_msg=label)


(
    test_shortcut_models_agree_with_the_exact_model,
    test_shortcut_models_agree_with_the_exact_model_on_25_examples,
) = in_two_sizes(
    _shortcut_models_agree_with_the_exact_model, 8, 25, model=shortcut_models(rational_only=True), batch=batches,
    keep_trace=st.booleans(), health=(HealthCheck.too_slow, HealthCheck.filter_too_much)
)


def _shortcut_models_lie_in_the_certified_intervals_for_irrational_options(model, word, keep_trace):
    try:
        certified = classify(model, [word], CertifiedArithmetic(precision=96))
    except FLOAT_ERRORS:
        assume(False)
    structural = _structural_ties(model, len(word))
    assume(certified.trace.certified and _safe(certified.trace, structural) and certified.certified[0])
    assume(min(certified.margins) > 1e-9)
    _assert_float64_inside_tight_intervals(model, word, certified, keep_trace=keep_trace)


(
    test_shortcut_models_lie_in_the_certified_intervals_for_irrational_options,
    test_shortcut_models_lie_in_the_certified_intervals_for_irrational_options_on_25_examples,
) = in_two_sizes(
    _shortcut_models_lie_in_the_certified_intervals_for_irrational_options, 8, 25, model=shortcut_models(),
    word=words, keep_trace=st.booleans(), health=(HealthCheck.too_slow, HealthCheck.filter_too_much)
)


def _argmax_readout(model: Transformer) -> Transformer:
    labels = dataclasses.replace(
        model.readout,
        labels=VOCAB,
        decision="argmax",
        W_U=np.array([[Fraction(k + j, 3) for k in range(3)] for j in range(model.d_model)], dtype=object),
        b_U=rational_zeros((3,)),
        position=-1,
    )
    return dataclasses.replace(model, readout=labels)


def _cached_decoding_with_shortcuts_agrees_with_certified_greedy_decoding(model, prompt, steps):
    """Cached decoding (new queries over cached keys 0..K-1: the causal shortcuts apply) against greedy decoding
    step by step with the certified evaluator, wherever no decision is within 1e-9 of flipping."""
    causal = _causal(_argmax_readout(model))
    assume(not causal.embedding.depends_on_length and causal.loop is None)
    # cached decoding keeps the inputs of earlier positions computed with an earlier N, so a ln N logit scale
    # makes it differ from recomputation (a limitation of the cache, with or without shortcuts; not refused yet)
    assume(not any(lay.attention.block.scale.log_length for _, lay in causal.named_layers(None) if lay.attention))
    seq, want, margins = list(prompt), [], []
    for _ in range(steps):
        try:
            r = classify(causal, [seq], CertifiedArithmetic(precision=96))
        except FLOAT_ERRORS:
            assume(False)
        assume(r.trace.certified and r.certified[0] and r.margins[0] > 1e-9)
        assume(_safe(r.trace, _structural_ties(causal, len(seq))))
        widths = [_floats(np.vectorize(lambda v: float(v.delta), otypes=[float])(x)) for x in r.trace.residuals]
        assume(max(w.max() for w in widths) < 1e-12)
        assume(max(np.abs(_floats(x)).max() for x in r.trace.residuals) < 1e6)
        want.append(r.labels[0])
        margins.append(r.margins[0])
        seq.append(r.labels[0])
    got = decode(causal, [prompt], TorchArithmetic(torch.float64), max_new_tokens=steps)
    assert got.tokens == [want]
    np.testing.assert_allclose(got.margins[0], margins, rtol=1e-8, atol=1e-8)


(
    test_cached_decoding_with_shortcuts_agrees_with_certified_greedy_decoding,
    test_cached_decoding_with_shortcuts_agrees_with_certified_greedy_decoding_on_15_examples,
) = in_two_sizes(
    _cached_decoding_with_shortcuts_agrees_with_certified_greedy_decoding, 5, 15, model=shortcut_models(position=0),
    prompt=words, steps=st.integers(1, 3), health=(HealthCheck.too_slow, HealthCheck.filter_too_much)
)


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
    kind: str,
    mask: Mask,
    tie_rule: str = "error",
    zero_values: bool = False,
    input_norm: Norm = NO_NORM,
    b_O: tuple[Fraction, Fraction] = (Fraction(1, 3), Fraction(-1, 7)),
) -> Transformer:
    """One attention layer with zero queries and keys over a 2-coordinate stream (token one-hot)."""

    space = Space.of(Block("t", ["a", "b"]))
    W_V = rational_zeros((1, 2, 2)) if zero_values else np.array([[[1, 0], [0, 1]]], dtype=object)
    att = Attention(
        W_Q=rational_zeros((1, 2, 1)),
        W_K=rational_zeros((1, 2, 1)),
        W_V=W_V,
        W_O=np.array([[[Fraction(1), Fraction(0)], [Fraction(0), Fraction(1)]]], dtype=object),
        b_O=np.array(b_O, dtype=object),
        kind=kind,
        mask=mask,
        tie_rule=tie_rule,
    )  # type: ignore[arg-type]
    embedding = Embedding(W_E=np.array([[1, 0], [0, 1]], dtype=object), vocab=("a", "b"))
    readout = Readout(W_U=np.array([[1], [-1]], dtype=object), labels=("yes",), decision="sign", position=-1)
    layer = Layer(attention=Sublayer(att, input_norm=input_norm))
    return Transformer(space=space, embedding=embedding, layers=(layer,), readout=readout)


def _row_model(kind: str, mask: Mask, tie_rule: str = "leftmost", input_norm: Norm = NO_NORM) -> Transformer:
    """One attention layer whose query is ``t:a`` (so every 'b' position has a zero query row) and whose key is
    ``t:b``: an 'a' query prefers the 'b' keys, a 'b' query averages uniformly."""
    model = _uniform_model(kind, mask, tie_rule=tie_rule, input_norm=input_norm)
    att = model.layers[0].attention.block
    att = dataclasses.replace(
        att,
        W_Q=np.array([[[Fraction(3, 2)], [Fraction(0)]]], dtype=object),
        W_K=np.array([[[Fraction(0)], [Fraction(1)]]], dtype=object),
    )
    layer = Layer(attention=Sublayer(att, input_norm=input_norm))
    return dataclasses.replace(model, layers=(layer,))


class _Spy:
    """Counts the calls of a TorchArithmetic method that return something other than ``None``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.taken = 0
        original = getattr(TorchArithmetic, name)

        def spy(arith, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            out = original(arith, *args, **kwargs)
            self.taken += out is not None
            return out

        monkeypatch.setattr(TorchArithmetic, name, spy)


MASKS = [Mask("none"), Mask("causal"), Mask("strict_causal"), Mask("window", 2)]
O_N_MASKS = MASKS[:3]  # the masks of the O(N) paths; a window takes the general path


@pytest.mark.parametrize("mask", MASKS, ids=lambda m: m.describe())
@pytest.mark.parametrize("kind", ["softmax", "average_hard", "hard"])
@pytest.mark.parametrize("zero_values", [False, True])
@pytest.mark.parametrize("keep_trace", [True, False])
def test_constant_scores_give_the_general_paths_output(kind, mask, zero_values, keep_trace, monkeypatch):
    model = _uniform_model(kind, mask, tie_rule="leftmost", zero_values=zero_values)
    batch = [list("abbab"), list("bbbba"), list("aaaab")]
    want = classify(model, batch, General(torch.float64))
    spy = _Spy(monkeypatch, "_constant_attention")
    got = classify(model, batch, TorchArithmetic(torch.float64), keep_trace=keep_trace)
    assert spy.taken == (mask.kind != "window")  # the O(N) path is taken, the window keeps the general path
    final = want.trace.final[:, model.readout.position] if not keep_trace else want.trace.final
    got_final = got.trace.final[:, 0] if not keep_trace else got.trace.final
    if zero_values or kind == "hard" or mask.kind == "window":  # exactly b_O, a gather, or the general path itself
        assert torch.equal(got_final, final) and torch.equal(got.logits, want.logits)
    else:
        # values 0/1 and b_O of size < 1, 5 keys: each path is within (5 + 2 + 3) eps of the exact mean (see
        # _rounding_bound), 2e-15; 1e-12 leaves room without hiding a wrong weight (which moves z by >= 1/30)
        assert torch.allclose(got_final, final, rtol=1e-12, atol=1e-12)
        assert torch.allclose(got.logits, want.logits, rtol=1e-12, atol=1e-12)
    assert got.labels == want.labels
    # the shortcut is really taken on this model: no queries or keys computed, constant scores
    arith = TorchArithmetic(torch.float64)
    att = model.layers[0].attention.block
    x = arith.embed(model, batch)
    W_Q, b_Q, W_K, b_K = (arith.weights(w) for w in (att.W_Q, att.b_Q, att.W_K, att.b_K))
    assert arith._queries_and_keys(x, x, W_Q, b_Q, W_K, b_K, att) == (None, None, True)


@pytest.mark.parametrize("mask", MASKS, ids=lambda m: m.describe())
@pytest.mark.parametrize("kind", ["softmax", "average_hard", "hard"])
def test_constant_scores_agree_with_the_exact_weights(kind, mask):
    """Against the exact evaluator (certified for softmax): uniform weights over the allowed keys, ties resolved
    leftmost; no decision is near flipping (the ties are exact)."""
    model = _uniform_model(kind, mask, tie_rule="leftmost")
    batch = [list("abbab"), list("bbbba"), list("aaaab")]
    reference = classify(model, batch, CertifiedArithmetic() if kind == "softmax" else ExactArithmetic())
    for keep_trace in (True, False):
        fast = classify(model, batch, TorchArithmetic(torch.float64), keep_trace=keep_trace)
        assert fast.labels == reference.labels
        np.testing.assert_allclose(_floats(fast.logits), _floats(reference.logits), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mask", O_N_MASKS, ids=lambda m: m.describe())
@pytest.mark.parametrize("kind", ["softmax", "average_hard", "hard"])
def test_a_zero_value_head_is_left_out_of_the_constant_path(kind, mask):
    """Two heads with constant scores, the second with zero values (as PARITY's layer 1): the O(N) path computes
    the first head only; the second would add +-0."""
    model = _uniform_model(kind, mask, tie_rule="rightmost")
    att = model.layers[0].attention.block
    two = dataclasses.replace(
        att,
        W_Q=np.concatenate([att.W_Q, att.W_Q]),
        W_K=np.concatenate([att.W_K, att.W_K]),
        W_V=np.concatenate([att.W_V, rational_zeros(att.W_V.shape)]),
        W_O=np.concatenate([att.W_O, np.array([[[Fraction(5), Fraction(-2)], [Fraction(1), Fraction(7)]]])]),
        b_Q=rational_zeros((2, 1)),
        b_K=rational_zeros((2, 1)),
        b_V=rational_zeros((2, 2)),
    )
    model = dataclasses.replace(model, layers=(Layer(attention=Sublayer(two)),))
    batch = [list("abbabab"), list("bbbbaaa")]
    got = forward(model, batch, TorchArithmetic(torch.float64)).final
    want = forward(model, batch, General(torch.float64)).final
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)  # 7 keys, values 0/1: a few eps (see above)
    if kind != "softmax":
        np.testing.assert_allclose(_floats(got), _floats(forward(model, batch, ExactArithmetic()).final), atol=1e-12)


@pytest.mark.parametrize("mask", O_N_MASKS, ids=lambda m: m.describe())
@pytest.mark.parametrize("kind", ["softmax", "average_hard", "hard"])
def test_zero_query_rows_take_the_uniform_path(kind, mask, monkeypatch):
    model = _row_model(kind, mask)
    batch = [list("abbabba"), list("bbbbaab"), list("abababb")]
    spy = _Spy(monkeypatch, "_zero_query_rows")
    got = forward(model, batch, TorchArithmetic(torch.float64)).final
    assert spy.taken == 1
    want = forward(model, batch, General(torch.float64)).final
    if kind == "hard":  # a gather on the 'b' rows; the 'a' rows' scores are exact (0 or 3/2)
        assert torch.equal(got, want)
    else:  # as in test_constant_scores_give_the_general_paths_output: a few eps at most
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    if kind != "softmax":
        exact = forward(model, batch, ExactArithmetic()).final
        np.testing.assert_allclose(_floats(got), _floats(exact), rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 40), heads=st.integers(1, 3), rows=st.integers(2, 70), d_head=st.integers(1, 6),
       d_model=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_one_row_projected_is_that_row_projected_among_copies_up_to_rounding(batch, heads, rows, d_head, d_model,
                                                                             seed):
    """Projecting the uniform rows' ``z`` once per sequence against projecting every copy: the same sum of ``h e``
    products, which BLAS may order differently for one row than for many (batch 2, 2 heads, 17 rows, d_head 6,
    d_model 1 differ in the last bit), so equal to a few eps; and every copy gets the one row's bits."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, heads, 1, d_head, dtype=torch.float64, generator=g)
    W_O = torch.randn(heads, d_head, d_model, dtype=torch.float64, generator=g)
    arith = TorchArithmetic(torch.float64)
    once = arith._heads_out(z, W_O).expand(-1, rows, -1)
    every = arith._project(z.expand(-1, -1, rows, -1).contiguous(), W_O)
    scale = (z.abs()[:, :, 0, :, None] * W_O.abs()).sum(dim=(1, 2))[:, None, :]  # sum of |products| per output
    assert bool(((once - every).abs() <= 4 * heads * d_head * torch.finfo(torch.float64).eps * scale).all())


@pytest.mark.parametrize("kind", ["softmax", "average_hard"])
def test_zero_query_rows_without_a_mask_are_projected_once_per_sequence(kind, monkeypatch):
    """Without a mask every zero query row averages the same keys: its ``z`` is projected for one row and added
    to every such row, so those rows are equal bit for bit (in the general path, one BLAS product of every row,
    they may differ in a last bit)."""
    model = _row_model(kind, Mask("none"))
    batch = [list("abbabba"), list("bbbbaab"), list("abababb")]
    rows_projected: list[int] = []
    heads_out = TorchArithmetic._heads_out

    def spy(arith, z, W_O):  # noqa: ANN001, ANN202
        rows_projected.append(z.shape[2])
        return heads_out(arith, z, W_O)

    monkeypatch.setattr(TorchArithmetic, "_heads_out", spy)
    got = forward(model, batch, TorchArithmetic(torch.float64)).final
    assert rows_projected[0] == 1  # the uniform rows ('b' queries), once per sequence
    for b, word in enumerate(batch):
        uniform = [i for i, t in enumerate(word) if t == "b"]
        assert all(torch.equal(got[b, uniform[0]], got[b, i]) for i in uniform)
    want = forward(model, batch, General(torch.float64)).final
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)


def test_hard_attention_without_a_tie_rule_keeps_the_general_path_on_zero_query_rows(monkeypatch):
    model = _row_model("hard", Mask("causal"), tie_rule="error")
    spy = _Spy(monkeypatch, "_zero_query_rows")
    messages = []
    for arith in (General(torch.float64), TorchArithmetic(torch.float64)):
        with pytest.raises(AttentionTieError) as info:
            forward(model, [list("abba")], arith)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and spy.taken == 0


def _low_precision_uniform_case(kind: str, mask: Mask, dtype: torch.dtype, accumulate: str, n: int = 300):
    """A uniform attention (W_V = W_O = identity, so out = z) on ``n`` random float32 values: the fast output,
    the general path's, the values as fractions and each query's weight ``w`` (1/c as the general path rounds
    it) and key count ``c``."""
    model = _uniform_model(kind, mask, b_O=(Fraction(0), Fraction(0)))
    att = model.layers[0].attention.block
    rng = np.random.default_rng(7)
    seq = [rng.uniform(-4, 4, size=2).astype(np.float32).astype(np.float64) for _ in range(n)]
    fast, general = TorchArithmetic(dtype, accumulate=accumulate), General(dtype)
    x = fast.embed(model, [seq])
    got = _attention(fast, x, att, n, "L0.attn")[0]
    want = _attention(general, x, att, n, "L0.attn")[0]
    values = [[Fraction(float(v)) for v in row] for row in x[0].to(torch.float64).tolist()]
    counts = [{"none": n, "causal": i + 1, "strict_causal": i}[mask.kind] for i in range(n)]
    weights = []
    for c in counts:
        if c == 0:
            weights.append(None)
        elif kind == "softmax":  # softmax of equal scores in float32, then the dtype (as the general path)
            weights.append(torch.softmax(torch.zeros(c, dtype=torch.float32), -1)[0].to(dtype))
        else:
            weights.append(torch.ones((), dtype=dtype) / torch.tensor(float(c), dtype=dtype))
    return got, want, values, weights, counts


@pytest.mark.parametrize("mask", O_N_MASKS, ids=lambda m: m.describe())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kind", ["softmax", "average_hard"])
def test_low_precision_uniform_attention_summed_in_float64_rounds_once(kind, dtype, mask):
    """With ``accumulate="float64"``, in float32/16 and bfloat16 the O(N) path sums the values in float64 and
    rounds ``w * S`` once (w: the weight the general path uses, 1/c rounded to the dtype): within one ulp of that
    exact product. The general path (sums in the dtype) is within its own bound of the same value."""
    got, loose, values, weights, counts = _low_precision_uniform_case(kind, mask, dtype, "float64")
    got, loose = got.to(torch.float64), loose.to(torch.float64)
    eps, tiny = torch.finfo(dtype).eps, torch.finfo(dtype).tiny
    for i, (w, c) in enumerate(zip(weights, counts)):
        if w is None:
            assert torch.equal(got[i], torch.zeros(2, dtype=torch.float64))
            continue
        for e in range(2):
            exact = Fraction(float(w)) * sum((values[j][e] for j in range(c)), Fraction(0))
            assert abs(Fraction(float(got[i, e])) - exact) <= Fraction(eps) * abs(exact) + Fraction(tiny), (i, e)
            bound = 2 * (c + 2) * eps * max(abs(float(v[e])) for v in values[:c]) + tiny
            assert abs(float(loose[i, e]) - float(exact)) <= bound, (i, e)


@pytest.mark.parametrize("mask", O_N_MASKS, ids=lambda m: m.describe())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kind", ["softmax", "average_hard"])
def test_low_precision_uniform_attention_is_pytorchs_arithmetic_by_default(kind, dtype, mask):
    """By default (``accumulate="dtype"``) softmax and average-hard attention with all-equal scores in float32/16
    and bfloat16 compute ``z`` as PyTorch does, ``softmax(scores) @ v`` with each value times its weight summed in
    the dtype: bit for bit the general path's output."""
    got, want, _, _, _ = _low_precision_uniform_case(kind, mask, dtype, "dtype")
    assert got.dtype == dtype and torch.equal(got, want)


def test_float64_accumulation_is_an_explicit_option_and_computes_another_float_than_pytorch():
    """Chiang & Cholak's PARITY on ``1^9646`` (even: reject) in float32: by default layer 1's uniform head is
    PyTorch's ``softmax @ v`` in float32; with ``accumulate="float64"`` it sums its 9,647 weighted indicators in
    float64 and rounds once: another logit, and (the sum being exact in float64) a right answer."""
    import exactformer as ef

    c, word = ef.constructions.parity(), "1" * 9646
    default = c.run(word, dtype=torch.float32)
    wide = c.run(word, dtype=torch.float32, accumulate="float64")
    assert not torch.equal(wide.output.logits, default.output.logits)
    assert wide.answer is False and c.run(word, dtype=torch.float64).answer is False


def test_an_unknown_accumulation_is_refused_by_name():
    with pytest.raises(InputError, match="accumulate must be 'dtype' or 'float64', got 'float128'"):
        TorchArithmetic(torch.float32, accumulate="float128")


@pytest.mark.parametrize("mask", O_N_MASKS, ids=lambda m: m.describe())
@pytest.mark.parametrize("kind", ["softmax", "average_hard", "hard"])
@pytest.mark.parametrize("frac_bits", [3, 10])
def test_fixed_point_constant_attention_is_bit_identical(kind, mask, frac_bits):
    """A fixed-point arithmetic rounds the weight 1/c to its grid (to 0 once 1/c < 2^-(frac_bits + 1)) and then
    the output: with 0/1 values every sum is exact in float64, so both paths round the same value."""
    model = _uniform_model(kind, mask, tie_rule="rightmost")
    rng = np.random.default_rng(3)
    batch = [list(rng.choice(["a", "b"], size=37)) for _ in range(3)]
    want = forward(model, batch, GeneralFixedPoint(4, frac_bits)).final
    got = forward(model, batch, FixedPointArithmetic(4, frac_bits)).final
    assert torch.equal(got, want)


@pytest.mark.parametrize("mask", O_N_MASKS, ids=lambda m: m.describe())
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("keep_trace", [True, False])
def test_a_tie_without_a_tie_rule_is_reported_on_the_constant_path_as_on_the_general_path(mask, dtype, keep_trace):
    model = _uniform_model("hard", mask, tie_rule="error", zero_values=True)
    messages = []
    for arith in (General(dtype), TorchArithmetic(dtype)):
        with pytest.raises(AttentionTieError) as info:
            classify(model, [list("abb"), list("bab")], arith, keep_trace=keep_trace)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    # no tie where every query sees at most one key (strict causal, two tokens): both paths run through
    if mask.kind == "strict_causal":
        for arith in (General(dtype), TorchArithmetic(dtype)):
            classify(model, [list("ab")], arith, keep_trace=keep_trace)


@pytest.mark.parametrize("zero_values", [True, False])
@pytest.mark.parametrize("keep_trace", [True, False])
def test_a_nan_from_the_input_norm_of_a_zero_map_attention_is_reported(zero_values, keep_trace):
    """eps = 0 LayerNorm of a constant vector is 0/0. Were the constant-score path taken, the output would be b_O
    (zero values) or a mean over NaN; the non-finite input sends the pass down the general path, which reports it."""
    norm = Norm("layernorm", eps=Fraction(0))
    model = _uniform_model("softmax", Mask("none"), zero_values=zero_values, input_norm=norm)
    constant = np.array([Fraction(1), Fraction(1)], dtype=object)
    for arith in (General(torch.float64), TorchArithmetic(torch.float64)):
        with pytest.raises(NonFiniteError):
            classify(model, [["a", constant]], arith, keep_trace=keep_trace)


@pytest.mark.parametrize("keep_trace", [True, False])
def test_a_nan_reaching_zero_query_rows_is_reported(keep_trace, monkeypatch):
    """An eps = 0 L2 norm of the zero vector is 0/0 at one position: its key is NaN, so the zero query rows (the 'b'
    positions) may not take the uniform path (their scores are NaN); the general path reports it."""
    model = _row_model("softmax", Mask("none"), input_norm=Norm("l2", eps=Fraction(0)))
    zero = np.array([Fraction(0), Fraction(0)], dtype=object)
    spy = _Spy(monkeypatch, "_zero_query_rows")
    for arith in (General(torch.float64), TorchArithmetic(torch.float64)):
        with pytest.raises(NonFiniteError):
            classify(model, [["b", zero, "b"]], arith, keep_trace=keep_trace)
    assert spy.taken == 0


def test_overflowing_values_keep_the_general_path(monkeypatch):
    """Finite inputs whose values overflow (float16: 60000 * 2): the constant-score path declines, and the general
    path's infinity is reported."""
    model = _uniform_model("softmax", Mask("causal"))
    att = dataclasses.replace(model.layers[0].attention.block, W_V=np.array([[[2, 0], [0, 2]]], dtype=object))
    model = dataclasses.replace(model, layers=(Layer(attention=Sublayer(att)),))
    big = np.array([Fraction(60000), Fraction(0)], dtype=object)
    spy = _Spy(monkeypatch, "_constant_attention")
    for arith in (General(torch.float16), TorchArithmetic(torch.float16)):
        with pytest.raises(NonFiniteError):
            classify(model, [[big, "a"]], arith)
    assert spy.taken == 0


def test_zero_map_flags_follow_an_in_place_change_of_a_parameter():
    arith = TorchArithmetic(torch.float64)
    W, b = torch.zeros(2, 3, 1, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64)
    assert arith._zero_heads(W, b) == (True, True)
    W[1, 2, 0] = 0.5
    assert arith._zero_heads(W, b) == (True, False)
    b[0, 0] = -1.0
    assert arith._zero_heads(W, b) == (False, False)


def test_zero_bias_flags_follow_an_in_place_change_of_a_parameter():
    """A bias is left out only while it is 0: a rendered parameter's flag is recomputed after an in-place change,
    and transient tensors (head selections) are looked at each time without being remembered."""
    arith = TorchArithmetic(torch.float64)
    y = torch.ones(2, 3, dtype=torch.float64)
    b = arith.weights(rational_zeros((3,)))
    assert arith._plus(y, b) is y
    b[1] = -0.5
    assert torch.equal(arith._plus(y, b), torch.tensor([[1.0, 0.5, 1.0]] * 2, dtype=torch.float64))
    remembered = len(arith._flags)
    for value in (0.0, 2.0, 0.0):
        transient = torch.full((3,), value, dtype=torch.float64)
        assert (arith._plus(y, transient) is y) == (value == 0.0)
    assert len(arith._flags) == remembered


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


@pytest.mark.parametrize("name", CHIANG_CHOLAK)
def test_run_batch_agrees_with_the_general_path_on_chiang_cholak(name):
    from exactformer.constructions.registry import build

    construction = build(name)
    words_ = [format(v, "012b") for v in range(0, 1 << 12, 7)]
    arith = TorchArithmetic(torch.float64)
    full = construction.run_batch(words_, arith=General(torch.float64))
    want = torch.stack([r.logits for r in full])
    for keep_trace in (False, True):
        fast = construction.run_batch(words_, arith=arith, keep_trace=keep_trace)
        assert [r.answer for r in fast] == [r.answer for r in full]
        # |z| >= 2 tanh(b) / N^2 ~ 4e-3 here; both are within ~1e-15 of the exact logit (next test), 1e-12 is loose
        torch.testing.assert_close(torch.stack([r.logits for r in fast]), want, rtol=1e-12, atol=1e-12)
    # the answers-only sweep path decides every word as the general path does
    assert construction.answer_batch(words_, arith=arith) == [r.answer for r in full]


@pytest.mark.parametrize("name", ["parity", "first"])
def test_answer_batch_refuses_what_run_batch_refuses(name):
    from exactformer.constructions.registry import build

    construction = build(name)
    with pytest.raises(InputError, match="'2'"):
        construction.answer_batch(["0101", "0121"])
    with pytest.raises(InputError, match="same length"):
        construction.answer_batch(["0101", "01"])


def _chiang_cholak_against_certified(name: str, lengths: range, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every word of each length: the O(N) paths are taken (layer 0 always; layer 1's zero query rows in the full
    pass of the models without layer norm), the answers are the certified ones (all certified), and the logits are
    within 1e-12 of the certified midpoints (the intervals are ~1e-30 wide at 128 bits)."""
    from exactformer.constructions.registry import build

    construction = build(name)
    constant, rows = _Spy(monkeypatch, "_constant_attention"), _Spy(monkeypatch, "_zero_query_rows")
    for n in lengths:
        words_ = ["".join(bits) for bits in itertools.product("01", repeat=n)]
        certified = construction.run_batch(words_, backend="certified")
        assert all(r.certified for r in certified)
        mid = np.array([float(r.logits[0].mid) for r in certified])
        for keep_trace in (True, False):
            before = (constant.taken, rows.taken)
            fast = construction.run_batch(words_, arith=TorchArithmetic(torch.float64), keep_trace=keep_trace)
            assert constant.taken == before[0] + 1
            if keep_trace and name in ("parity", "first", "first-scaled"):
                assert rows.taken == before[1] + 1
            assert [r.answer for r in fast] == [r.answer for r in certified], (n, keep_trace)
            z = np.array([float(r.logits[0]) for r in fast])
            np.testing.assert_allclose(z, mid, rtol=0, atol=1e-12, err_msg=f"n = {n}, keep_trace = {keep_trace}")


@pytest.mark.parametrize("name", CHIANG_CHOLAK)
def test_chiang_cholak_take_the_o_n_paths_and_agree_with_the_certified_evaluator(name, monkeypatch):
    """Every word up to length 5 (4 with layer norm: the certified doubled streams are slow); up to 8: below."""
    _chiang_cholak_against_certified(name, range(1, 5 if "-ln" in name else 6), monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("name", CHIANG_CHOLAK)
def test_slow_chiang_cholak_agree_with_the_certified_evaluator_up_to_length_8(name, monkeypatch):
    _chiang_cholak_against_certified(name, range(1, 9), monkeypatch)


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
