"""Hard attention by a gather (:mod:`exactformer.core.arith.torch_hard`) computes the general path's floats bit for bit
(signed zeros included), and where it cannot promise that it declines, so the general path answers and raises as
before.

Each test runs one attention sublayer of the fast arithmetic twice, with the gather path and with it switched off
(the general path: dense weights times values), and compares the raw bytes of the outputs or the errors raised.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import exactformer.core.arith.torch_hard as torch_hard
from exactformer.core.architecture import Attention, Mask, RelativeBias
from exactformer.core.arith import TorchArithmetic
from exactformer.core.errors import AttentionTieError
from exactformer.core.selection_products import SelectionMatrix


class _General(TorchArithmetic):
    """The fast arithmetic with the gather path switched off (alone, and beside uniform heads)."""

    def _one_hot_attention(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def _uniform_heads_beside_one_hot(self, *args: Any, **kwargs: Any) -> bool:
        return False


class _Counting(TorchArithmetic):
    """The fast arithmetic, counting the calls the gather path answered (``beside``: those it answered beside
    uniform heads)."""

    answered = 0
    beside = 0

    def _one_hot_attention(self, *args: Any, **kwargs: Any) -> bool:
        done = super()._one_hot_attention(*args, **kwargs)
        self.answered += int(done)
        return done

    def _uniform_heads_beside_one_hot(self, *args: Any, **kwargs: Any) -> bool:
        done = super()._uniform_heads_beside_one_hot(*args, **kwargs)
        self.beside += int(done)
        return done


def _fractions(a: np.ndarray) -> np.ndarray:
    return np.vectorize(Fraction, otypes=[object])(a)


def _attention(rng: np.random.Generator, d: int, heads: int, d_head: int, *, kind: str, mask: Mask,
               tie_rule: str = "leftmost", bias: RelativeBias | None = None, values: float = 1.0,
               zero_queries: bool = False, zero_heads: tuple[int, ...] = ()) -> Attention:
    W_Q = np.zeros((heads, d, d_head)) if zero_queries else rng.integers(-2, 3, (heads, d, d_head))
    W_Q[list(zero_heads)] = 0  # uniform heads (every score +-0) beside the others
    return Attention(
        W_Q=_fractions(W_Q), W_K=_fractions(rng.integers(-2, 3, (heads, d, d_head))),
        W_V=_fractions(rng.integers(-2, 3, (heads, d, d_head)) * Fraction(values)),
        W_O=_fractions(rng.integers(-1, 2, (heads, d_head, d))),
        kind=kind, mask=mask, tie_rule=tie_rule,  # type: ignore[arg-type]
        relative_bias=None if bias is None else (bias,) * heads,
    )


def _attend(arith: TorchArithmetic, att: Attention, x: torch.Tensor) -> bytes | str:
    """The output's bytes, or the error's type and message."""
    positions = torch.arange(x.shape[1])
    try:
        out = arith.attend(x, x, positions, positions, att, x.shape[1], "L0.attn")
    except Exception as exc:  # the two paths must raise alike
        return f"{type(exc).__name__}: {exc}"
    return out.contiguous().numpy().tobytes()


def _inputs(rng: np.random.Generator, batch: int, n: int, d: int, zeros: bool = True) -> torch.Tensor:
    x = torch.from_numpy(rng.integers(-1, 2, (batch, n, d)).astype(np.float64))
    if zeros:  # signed zeros in the input: a -0 row entry gives -0 products
        x = torch.where(x == 0, torch.where(torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.5,
                                            -0.0, 0.0), x)
    return x


MASKS = [Mask("none"), Mask("causal"), Mask("strict_causal"), Mask("window", 3)]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mask=st.sampled_from(MASKS), kind=st.sampled_from(["hard", "average_hard"]),
       tie_rule=st.sampled_from(["leftmost", "rightmost", "error"]), block=st.sampled_from([1, 7, 2**20]),
       biased=st.booleans(), zero_queries=st.booleans(), zero_head=st.booleans(), thirds=st.booleans())
def test_the_gather_path_equals_the_general_path_bit_for_bit_or_declines(seed, mask, kind, tie_rule, block, biased,
                                                                         zero_queries, zero_head, thirds):
    """Same bytes (or the same error) as the dense weights times the values, over masks, tie rules, average-hard
    ties, relative biases, scores shared by the batch (zero queries), a uniform head beside the others, scores that
    are not dyadic (queries in thirds), signed zeros and blocks of any size."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch_hard, "HARD_BLOCK_ENTRIES", block)
        _compare_one(seed, mask, kind, tie_rule, biased, zero_queries, zero_head, thirds)


def _compare_one(seed: int, mask: Mask, kind: str, tie_rule: str, biased: bool, zero_queries: bool,
                 zero_head: bool = False, thirds: bool = False) -> None:
    rng = np.random.default_rng(seed)
    n, d, heads = int(rng.integers(1, 9)), 4, int(rng.integers(1, 4))
    bias = RelativeBias({2: Fraction(1)}) if biased else None
    att = _attention(rng, d, heads, int(rng.integers(1, 3)), kind=kind, mask=mask, tie_rule=tie_rule, bias=bias,
                     values=Fraction(1, 2), zero_queries=zero_queries, zero_heads=(0,) if zero_head else ())
    if thirds:
        att = _scaled_queries(att, Fraction(1, 3))
    x = _inputs(rng, int(rng.integers(1, 4)), n, d)
    assert _attend(TorchArithmetic(), att, x) == _attend(_General(), att, x)


def _scaled_queries(att: Attention, step: Fraction) -> Attention:
    return Attention(W_Q=att.W_Q * step, W_K=att.W_K, W_V=att.W_V, W_O=att.W_O, kind=att.kind, mask=att.mask,
                     tie_rule=att.tie_rule, relative_bias=att.relative_bias)


def test_integer_scores_are_computed_in_small_blocks_with_the_same_bits(monkeypatch):
    """With integer scores the gather path splits the batch and the queries into blocks (here of at most 50 scores)
    and reads only the keys a causal mask allows; the output is the general path's, and the gather path answered."""
    monkeypatch.setattr(torch_hard, "HARD_BLOCK_ENTRIES", 50)
    rng = np.random.default_rng(3)
    att = _attention(rng, 5, 2, 3, kind="hard", mask=Mask("causal"))
    x = _inputs(rng, 3, 40, 5)
    fast = _Counting()
    assert _attend(fast, att, x) == _attend(_General(), att, x)
    assert fast.answered == 1


def _recorded_blocks(monkeypatch: pytest.MonkeyPatch, entries: int) -> list[tuple[slice, slice, slice]]:
    """The ``(sequences, queries, keys)`` slices of every block the gather path makes, with at most ``entries``
    scores a block (a list the calls append to)."""
    blocks: list[tuple[slice, slice, slice]] = []
    real_blocks = torch_hard.OneHotAttention._blocks

    def recording_blocks(self, *args, **kwargs):
        for block in real_blocks(self, *args, **kwargs):
            blocks.append(block)
            yield block

    monkeypatch.setattr(torch_hard, "HARD_BLOCK_ENTRIES", entries)
    monkeypatch.setattr(torch_hard.OneHotAttention, "_blocks", recording_blocks)
    return blocks


def test_dyadic_scores_are_computed_in_small_blocks_with_the_same_bits(monkeypatch):
    """Queries in multiples of 1/8 (a dyadic score, as the Theorem 1 tree's nearest-key head has) are exact in every
    order of summation: the gather path blocks them as it blocks integer scores (here at most 50 scores a block)
    and gives the general path's bits; queries in thirds are not dyadic and keep the general path's product of
    every query of the chunk by every key, one sequence at a time (a sequence's 3200 scores are over the 50)."""
    rng = np.random.default_rng(4)
    blocks = _recorded_blocks(monkeypatch, entries=50)
    for step, dyadic in ((Fraction(1, 8), True), (Fraction(1, 3), False)):
        att = _scaled_queries(_attention(rng, 5, 2, 3, kind="hard", mask=Mask("causal")), step)
        x = _inputs(rng, 3, 40, 5)
        fast, blocks[:] = _Counting(), []
        assert _attend(fast, att, x) == _attend(_General(), att, x)
        assert fast.answered == 1
        whole = [(b.indices(3), q.indices(40), k.indices(40)) for b, q, k in blocks]
        if dyadic:
            assert len(blocks) > 3 and all(q != (0, 40, 1) or k != (0, 40, 1) for _, q, k in whole)
        else:
            assert whole == [((i, i + 1, 1), (0, 40, 1), (0, 40, 1)) for i in range(3)]


def test_scores_of_relative_biases_alone_are_chosen_once_for_every_sequence(monkeypatch):
    """Zero queries and a relative bias: every score is the bias, the same in every sequence (the Post and Turing
    machines' heads), so the gather path makes one block of the chunk for the whole batch, however small
    :data:`HARD_BLOCK_ENTRIES` is."""
    rng = np.random.default_rng(6)
    blocks = _recorded_blocks(monkeypatch, entries=50)
    att = _attention(rng, 5, 2, 3, kind="hard", mask=Mask("causal"), zero_queries=True,
                     bias=RelativeBias({1: Fraction(1)}))
    x = _inputs(rng, 3, 40, 5)
    fast = _Counting()
    assert _attend(fast, att, x) == _attend(_General(), att, x)
    assert fast.answered == 1
    assert [(b.indices(3), q.indices(40), k.indices(40)) for b, q, k in blocks] == [((0, 3, 1), (0, 40, 1), (0, 40, 1))]


def test_fraction_bits_are_the_least_power_of_two_that_makes_every_entry_an_integer():
    assert torch_hard._fraction_bits(torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)) == 0
    assert torch_hard._fraction_bits(torch.tensor([8.125, 3.0], dtype=torch.float64)) == 3
    assert torch_hard._fraction_bits(torch.tensor([-0.75], dtype=torch.float32)) == 2
    assert torch_hard._fraction_bits(torch.tensor([2.0**-20, 7.0], dtype=torch.float64)) == 20
    assert torch_hard._fraction_bits(torch.tensor([1 / 3], dtype=torch.float64)) == 54  # 1/3 rounded: 54 bits
    assert torch_hard._fraction_bits(torch.tensor([0.1 * 2.0**-40], dtype=torch.float64)) is None  # over 64
    assert torch_hard._fraction_bits(torch.tensor([float("nan")], dtype=torch.float64)) is None


def test_average_hard_ties_over_a_power_of_two_are_averaged_exactly_by_the_gather_path():
    """Average-hard attention whose scores are all equal (a zero key map) averages 2^k allowed keys: the gather path
    answers (exact sums of dyadic values over a power of two) with the general path's bits."""
    rng = np.random.default_rng(5)
    att = _attention(rng, 4, 1, 2, kind="average_hard", mask=Mask("none"), values=Fraction(1, 4))
    att = Attention(W_Q=att.W_Q, W_K=_fractions(np.zeros((1, 4, 2))), W_V=att.W_V, W_O=att.W_O,
                    kind="average_hard", mask=Mask("none"), relative_bias=(RelativeBias({}, Fraction(1)),))
    x = _inputs(rng, 2, 8, 4)
    fast = _Counting()
    assert _attend(fast, att, x) == _attend(_General(), att, x)
    assert fast.answered == 1


@pytest.mark.parametrize("tie_rule", ["leftmost", "rightmost"])
def test_a_hard_tie_with_a_tie_rule_is_answered_by_the_gather_path_with_the_general_paths_bits(tie_rule):
    """A zero key map and a relative bias of 1 at offsets 0 and 1 make every query after the first tie between its
    own key and the previous one: the gather path answers (it does not decline) and reads the leftmost or the
    rightmost of the two, as the general path does, bit for bit; the two rules read different keys."""
    rng = np.random.default_rng(11)
    base = _attention(rng, 4, 2, 2, kind="hard", mask=Mask("causal"))
    att = Attention(W_Q=base.W_Q, W_K=_fractions(np.zeros((2, 4, 2))), W_V=base.W_V, W_O=base.W_O, kind="hard",
                    mask=Mask("causal"), tie_rule=tie_rule,  # type: ignore[arg-type]
                    relative_bias=(RelativeBias({0: Fraction(1), 1: Fraction(1)}),) * 2)
    x = _inputs(rng, 3, 9, 4, zeros=False)
    fast = _Counting()
    out = _attend(fast, att, x)
    assert out == _attend(_General(), att, x)
    assert fast.answered == 1
    other = Attention(W_Q=att.W_Q, W_K=att.W_K, W_V=att.W_V, W_O=att.W_O, kind="hard", mask=Mask("causal"),
                      tie_rule="rightmost" if tie_rule == "leftmost" else "leftmost", relative_bias=att.relative_bias)
    assert out != _attend(TorchArithmetic(), other, x)


def test_a_tie_without_a_tie_rule_raises_the_general_paths_error():
    """The gather path declines at a tie of hard attention with ``tie_rule="error"``: the general path raises its
    AttentionTieError, naming the same head, query and batch."""
    att = Attention(W_Q=_fractions(np.ones((1, 2, 1))), W_K=_fractions(np.zeros((1, 2, 1))),
                    W_V=_fractions(np.ones((1, 2, 1))), W_O=_fractions(np.ones((1, 1, 2))), kind="hard",
                    mask=Mask("causal"), relative_bias=(RelativeBias({0: Fraction(1)}),))
    x = torch.ones((2, 4, 2), dtype=torch.float64)
    x[1, 2] = 2.0
    general = _attend(_General(), att, x)
    assert isinstance(general, bytes)  # the diagonal bias makes every maximum unique
    att_tied = Attention(W_Q=att.W_Q, W_K=att.W_K, W_V=att.W_V, W_O=att.W_O, kind="hard", mask=Mask("causal"),
                         relative_bias=(RelativeBias({1: Fraction(0)}),))
    tied = _attend(TorchArithmetic(), att_tied, x)
    assert tied == _attend(_General(), att_tied, x)
    assert isinstance(tied, str) and tied.startswith(AttentionTieError.__name__)


def test_values_whose_column_is_all_negative_are_left_to_the_general_path():
    """A column of values with every sign bit set makes the sign of a zero sum depend on how BLAS sums: the gather
    path declines (the output is the general path's)."""
    att = Attention(W_Q=_fractions(np.ones((1, 1, 1))), W_K=_fractions(np.ones((1, 1, 1))),
                    W_V=_fractions(-np.ones((1, 1, 1))), W_O=_fractions(np.ones((1, 1, 1))), kind="hard",
                    mask=Mask("none"))
    x = torch.tensor([[[0.0], [1.0], [2.0]]], dtype=torch.float64)
    fast = _Counting()
    assert _attend(fast, att, x) == _attend(_General(), att, x)
    assert fast.answered == 0


def _negative_values(mask: Mask) -> tuple[Attention, torch.Tensor]:
    """One hard head whose value column is ``-x``, over positive inputs: every value negative, none zero."""
    att = Attention(W_Q=_fractions(np.ones((1, 1, 1))), W_K=_fractions(np.ones((1, 1, 1))),
                    W_V=_fractions(-np.ones((1, 1, 1))), W_O=_fractions(np.ones((1, 1, 1))), kind="hard",
                    mask=mask)
    return att, torch.tensor([[[1.0], [3.0], [2.0]], [[2.0], [1.0], [5.0]]], dtype=torch.float64)


def test_a_column_of_negative_values_without_a_zero_is_gathered():
    """Every value of the column is negative and none is 0: the chosen value is never 0, so the general path's sum
    is that value, whatever the signs of its zeros; the gather path answers with its bytes."""
    att, x = _negative_values(Mask("none"))
    fast = _Counting()
    assert _attend(fast, att, x) == _attend(_General(), att, x)
    assert fast.answered == 1


def test_a_column_of_negative_values_and_a_negative_zero_is_left_to_the_general_path(monkeypatch):
    """The values ``-x`` are -0, -1 and -2; the first query ties over every key (its scores are 0) and takes the
    leftmost, whose value is -0: the general path's sum is then a sum of -0s, whose sign depends on how BLAS
    sums, so the gather path declines. (The value map is the dense product here, whose one term ``0 * -1`` is
    -0; the selection product would compute ``+0 + 0 * -1 = +0``, core/selection_products.py.)"""
    monkeypatch.setattr(SelectionMatrix, "of", classmethod(lambda cls, W: None))
    att = Attention(W_Q=_fractions(np.ones((1, 1, 1))), W_K=_fractions(np.ones((1, 1, 1))),
                    W_V=_fractions(-np.ones((1, 1, 1))), W_O=_fractions(np.ones((1, 1, 1))), kind="hard",
                    mask=Mask("none"), tie_rule="leftmost")
    x = torch.tensor([[[0.0], [1.0], [2.0]]], dtype=torch.float64)
    fast = _Counting()
    assert _attend(fast, att, x) == _attend(_General(), att, x)
    assert fast.answered == 0


def test_a_column_of_negative_values_declines_where_a_query_has_no_key():
    """Under a strict causal mask the first query sees no key: the general path sums only -0s there (+0 or -0 as
    BLAS starts its sum), so the gather path declines."""
    att, x = _negative_values(Mask("strict_causal"))
    fast = _Counting()
    assert _attend(fast, att, x) == _attend(_General(), att, x)
    assert fast.answered == 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
def test_uniform_heads_beside_a_gathered_head_give_the_general_paths_bits(monkeypatch, dtype):
    """Two zero-query heads (every score +-0: weights ``1 / c``) beside a head whose queries are in thirds (scores
    that are not dyadic, each query's maximum unique): the uniform heads' weights are made without scores, the
    third head takes the gather, one sequence's block at a time; the output has the general path's bytes. The
    layer-norm-hash recognizer's count sublayer is such a sublayer."""
    monkeypatch.setattr(torch_hard, "HARD_BLOCK_ENTRIES", 200)
    rng = np.random.default_rng(11)
    for mask in (Mask("causal"), Mask("none"), Mask("strict_causal")):
        base = _attention(rng, 5, 3, 2, kind="average_hard", mask=mask, zero_heads=(0, 2))
        att = _scaled_queries(base, Fraction(1, 3))
        x = torch.from_numpy(rng.normal(size=(4, 30, 5))).to(dtype)  # continuous inputs: no tie in the gathered head
        fast = _Counting(dtype=dtype)
        assert _attend(fast, att, x) == _attend(_General(dtype=dtype), att, x), mask
        assert fast.beside == 1, mask  # (strict causal: the first query has no key, its z is +0 in both)


def test_uniform_heads_beside_a_tie_are_left_to_the_general_path():
    """When the other head ties (integer inputs, scores that are not dyadic: an average over 3 keys is not exact in
    every order of summation) the whole sublayer takes the general path."""
    rng = np.random.default_rng(12)
    base = _attention(rng, 2, 2, 1, kind="average_hard", mask=Mask("causal"), zero_heads=(1,))
    att = _scaled_queries(base, Fraction(1, 3))
    x = torch.ones((2, 6, 2), dtype=torch.float64)  # every score of head 0 equal: a tie over i + 1 keys
    fast = _Counting()
    assert _attend(fast, att, x) == _attend(_General(), att, x)
    assert fast.beside == 0 and fast.answered == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_lower_precision_dtypes_agree_too(dtype):
    """The exactness bound is the dtype's: float32 and float16 give the general path's bytes."""
    rng = np.random.default_rng(11)
    att = _attention(rng, 4, 2, 2, kind="hard", mask=Mask("causal"))
    x = _inputs(rng, 2, 30, 4).to(dtype)
    assert _attend(TorchArithmetic(dtype=dtype), att, x) == _attend(_General(dtype=dtype), att, x)


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_softmax_weights_masked_in_place_equal_the_plain_weights(mask, dtype):
    """The fast arithmetic's softmax weights (the mask written into the fresh score block, no zeroing pass when every
    query has a key) are the plain arithmetic's, bit for bit, a query without keys (strict causal) included."""
    from exactformer.core.arith import PlainTorchArithmetic
    from exactformer.core.attention_rules import allowed

    att = Attention(W_Q=_fractions(np.ones((2, 1, 1))), W_K=_fractions(np.ones((2, 1, 1))),
                    W_V=_fractions(np.ones((2, 1, 1))), W_O=_fractions(np.ones((2, 1, 1))), kind="softmax", mask=mask)
    positions = torch.arange(9)
    sees = allowed(mask, positions, positions)[None, None]
    scores = torch.randn((3, 2, 9, 9), generator=torch.Generator().manual_seed(7), dtype=torch.float64).to(dtype)
    fast = TorchArithmetic(dtype=dtype).attention_weights(scores.clone(), sees, att, "L0.attn", positions)
    plain = PlainTorchArithmetic(dtype=dtype).attention_weights(scores.clone(), sees, att, "L0.attn", positions)
    assert fast.dtype == plain.dtype and fast.contiguous().view(torch.uint8).equal(plain.contiguous().view(torch.uint8))


def _recording_chosen(monkeypatch) -> list[int]:
    """The batch size of every score block the gather path chooses keys in, recorded as it runs."""
    batches: list[int] = []
    real_chosen = torch_hard.OneHotAttention._chosen

    def recording_chosen(self, scores, *args, **kwargs):
        batches.append(scores.shape[0])
        return real_chosen(self, scores, *args, **kwargs)

    monkeypatch.setattr(torch_hard.OneHotAttention, "_chosen", recording_chosen)
    return batches


def _positional_attention(rng: np.random.Generator, d: int, kind: str, tie_rule: str) -> Attention:
    """Two heads whose queries (in halves: dyadic scores) and keys read coordinates 0..2 only, values every
    coordinate."""
    base = _attention(rng, d, 2, 3, kind=kind, mask=Mask("causal"), tie_rule=tie_rule, values=Fraction(1, 4))
    queries, keys = np.zeros((2, d, 3), dtype=object), np.zeros((2, d, 3), dtype=object)
    queries[:, :3], keys[:, :3] = base.W_Q[:, :3] * Fraction(1, 2), base.W_K[:, :3]
    return Attention(W_Q=queries + 0 * base.W_Q, W_K=keys + 0 * base.W_K, W_V=base.W_V, W_O=base.W_O, kind=kind,
                     mask=Mask("causal"), tie_rule=tie_rule)  # type: ignore[arg-type]


def test_scores_the_same_in_every_sequence_are_computed_once_with_the_same_bits(monkeypatch):
    """Queries and keys read from coordinates equal in every sequence (a position, as the Theorem 1 tree's heads
    read), values read from coordinates that differ: the gather path computes the score blocks of one sequence and
    reads every sequence's values by its choice, with the general path's bytes; when one sequence's key coordinate
    differs, each sequence's scores are computed (and the bytes still agree)."""
    rng = np.random.default_rng(6)
    score_batches = _recording_chosen(monkeypatch)
    d, batch = 6, 5
    for kind, tie_rule in (("hard", "rightmost"), ("hard", "leftmost"), ("average_hard", "leftmost")):
        att = _positional_attention(rng, d, kind, tie_rule)
        x = _inputs(rng, batch, 30, d, zeros=False)
        x[:, :, :3] = x[:1, :, :3]  # the scores' coordinates: the same in every sequence
        for differs in (False, True):
            if differs:
                x[2, 7, 1] += 1  # one key coordinate of one sequence moved
            fast, score_batches[:] = _Counting(), []
            assert _attend(fast, att, x) == _attend(_General(), att, x), (kind, differs)
            assert fast.answered == (kind == "hard"), (kind, differs)  # average-hard: ties over 3 keys declined
            assert set(score_batches) == ({batch} if differs else {1}), (kind, differs, score_batches)


def test_a_shared_choice_is_remembered_for_the_next_batch_with_the_same_queries_and_keys(monkeypatch):
    """The scores of position alone are the same in every batch of a size: the second batch (other values, the same
    queries and keys) reads its values by the first batch's choice without computing a score, with the general
    path's bytes; a looped model's iterations (queries that alternate) are remembered side by side; other keys
    are computed afresh."""
    rng = np.random.default_rng(7)
    chosen = _recording_chosen(monkeypatch)
    d = 6
    att = _positional_attention(rng, d, "hard", "rightmost")
    positions = [_inputs(rng, 1, 20, d, zeros=False)[:, :, :3] for _ in range(2)]  # two iterations' positions
    fast = TorchArithmetic()
    for step, (which, fresh) in enumerate([(0, True), (1, True), (0, False), (1, False), (2, True)]):
        x = _inputs(rng, 4, 20, d, zeros=False)
        if which < 2:
            x[:, :, :3] = positions[which]
        else:  # other keys in every sequence
            x[:, :, :3] = _inputs(rng, 1, 20, d, zeros=False)[:, :, :3]
        chosen[:] = []
        assert _attend(fast, att, x) == _attend(_General(), att, x), step
        assert bool(chosen) == fresh, (step, chosen)
