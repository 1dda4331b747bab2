"""Runners: cached windowed decoding equals full recomputation; thoughts are fed back as input vectors."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings

from exactformer.core.architecture import (
    MLP,
    Attention,
    Embedding,
    Layer,
    Mask,
    Readout,
    RelativeBias,
    Sublayer,
    Transformer,
)
from exactformer.core.arith import CertifiedArithmetic, ExactArithmetic, TorchArithmetic
from exactformer.core.errors import InputError
from exactformer.core.runners import decode, think
from exactformer.core.space import Block, Space, linear_map, vector

from .random_models import VOCAB, transformers, words


def echo_model(window: int) -> Transformer:
    """Emit the token ``window - 1`` places back: with a prompt of ``window`` tokens the output repeats the prompt.

    A tiny synchronous queue: the relative bias marks the oldest key in the window, hard attention reads it.
    """
    space = Space.of(Block("sym", ["a", "b"]), Block("old", ["a", "b"]))
    head = Space.of(Block("h", ["0"]))
    val = Space.of(Block("v", ["a", "b"]))
    att = Attention(
        W_Q=[linear_map(space, head, {})],
        W_K=[linear_map(space, head, {})],
        W_V=[linear_map(space, val, {"sym:a": {"v:a": 1}, "sym:b": {"v:b": 1}})],
        W_O=[linear_map(val, space, {"v:a": {"old:a": 1}, "v:b": {"old:b": 1}})],
        kind="hard", tie_rule="leftmost", mask=Mask("window", window),
        relative_bias=(RelativeBias({window - 1: 1}),),
    )
    return Transformer(
        space=space,
        embedding=Embedding(W_E=[vector(space, {"sym:a": 1}), vector(space, {"sym:b": 1})], vocab=("a", "b")),
        layers=(Layer(attention=Sublayer(att)),),
        readout=Readout(W_U=linear_map(space, Space.of(Block("o", ["a", "b"])),
                                       {"old:a": {"o:a": 1}, "old:b": {"o:b": 1}}), labels=("a", "b")),
    )


@pytest.mark.parametrize("window", [2, 3, 7])
def test_cached_decoding_repeats_the_queue(window):
    prompt = [["a", "b"][(i * i) % 3 % 2] for i in range(window)]
    out = decode(echo_model(window), [prompt], TorchArithmetic(), max_new_tokens=3 * window)
    # position i reads key i - window + 1, so token `window + t` is prompt[t]: the queue comes round again
    assert out.tokens[0] == (prompt * 4)[: 3 * window]


def test_cached_decoding_equals_full_recomputation_in_exact_arithmetic():
    model = echo_model(4)
    prompts = [list("abba"), list("bbba")]
    cached = decode(model, prompts, TorchArithmetic(torch.float16), max_new_tokens=9)
    full = decode(model, prompts, ExactArithmetic(), max_new_tokens=9)
    assert cached.tokens == full.tokens


def test_decoding_stops_at_a_stop_token():
    out = decode(echo_model(3), [list("aab")], TorchArithmetic(), max_new_tokens=50, stop={"b"})
    assert out.tokens[0] == ["a", "a", "b"] and out.stopped == [True]


def test_decoding_refuses_a_sign_readout():
    from dataclasses import replace

    model = echo_model(2)
    sign = replace(model, readout=Readout(W_U=model.readout.W_U[:, :1], labels=("a",), decision="sign"))
    with pytest.raises(InputError, match="argmax readout"):
        decode(sign, [["a", "b"]], TorchArithmetic(), max_new_tokens=1)


def counter_model() -> Transformer:
    """Each pass adds 1 to ``count``; the readout at the last thought accepts iff count >= 3."""
    space = Space.of(Block("one"), Block("count"))
    hidden = Space.of(Block("u"))
    mlp = MLP(W_in=linear_map(space, hidden, {"one": {"u": 1}}), W_out=linear_map(hidden, space, {"u": {"count": 1}}))
    return Transformer(
        space=space,
        embedding=Embedding(W_E=[vector(space, {"one": 1}), vector(space, {})], vocab=("s", "?")),
        layers=(Layer(mlp=Sublayer(mlp)),),
        readout=Readout(W_U=linear_map(space, Space.of(Block("y")), {"count": {"y": 1}}), b_U=[Fraction(-5, 2)],
                        labels=("at least 3",), decision="sign", position=-2),
    )


@pytest.mark.parametrize("arith", [ExactArithmetic(), CertifiedArithmetic(), TorchArithmetic()], ids=lambda a: a.name)
def test_each_thought_is_the_previous_final_residual(arith):
    result = think(counter_model(), [["s"]], arith, num_thoughts=4, then=["?"])
    counts = [float(v[1].mid) if hasattr(v[1], "mid") else float(v[1]) for v in result.thoughts[0]]
    assert counts == [1, 2, 3, 4]
    assert result.output.labels == [True]  # the last thought (count 4, fed back) reads 5 >= 3


def test_two_thoughts_are_not_enough():
    result = think(counter_model(), [["s"]], ExactArithmetic(), num_thoughts=1, then=["?"])
    assert result.output.labels == [False]  # the thought with count 1 comes back with count 2 < 3


def test_the_prompt_pass_gives_every_prompt_position_its_own_window():
    """Regression (found by the property test below): the prompt pass trimmed the window's keys to what the LAST
    prompt position sees, so earlier prompt positions lost their own keys. Here a width-1 window copies each token
    to itself and a causal layer averages the copies; the first token ``b`` must still count."""
    space = Space.of(Block("sym", ["a", "b"]), Block("copy", ["b"]), Block("mean", ["b"]))
    head = Space.of(Block("h", ["0"]))
    copy = Attention(
        W_Q=[linear_map(space, head, {})], W_K=[linear_map(space, head, {})],
        W_V=[linear_map(space, Space.of(Block("v", ["b"])), {"sym:b": {"v:b": 1}})],
        W_O=[linear_map(Space.of(Block("v", ["b"])), space, {"v:b": {"copy:b": 1}})],
        kind="hard", tie_rule="leftmost", mask=Mask("window", 1),
    )
    mean = Attention(
        W_Q=[linear_map(space, head, {})], W_K=[linear_map(space, head, {})],
        W_V=[linear_map(space, Space.of(Block("v", ["b"])), {"copy:b": {"v:b": 1}})],
        W_O=[linear_map(Space.of(Block("v", ["b"])), space, {"v:b": {"mean:b": 1}})],
        kind="average_hard", mask=Mask("causal"),
    )
    model = Transformer(
        space=space,
        embedding=Embedding(W_E=[vector(space, {"sym:a": 1}), vector(space, {"sym:b": 1})], vocab=("a", "b")),
        layers=(Layer(attention=Sublayer(copy)), Layer(attention=Sublayer(mean))),
        # "b" iff at least a third of the tokens so far are b: mean - 1/3 against 0
        readout=Readout(W_U=linear_map(space, Space.of(Block("o", ["a", "b"])), {"mean:b": {"o:b": 3}}),
                        b_U=vector(Space.of(Block("o", ["a", "b"])), {"o:b": -1}), labels=("a", "b")),
    )
    prompt = ["b", "a"]  # mean 1/2: "b"; had the first token been dropped, mean 0: "a"
    full = decode(model, [prompt], TorchArithmetic(torch.float64), max_new_tokens=3, cache=False)
    cached = decode(model, [prompt], TorchArithmetic(torch.float64), max_new_tokens=3)
    assert full.tokens[0][0] == "b"
    assert cached.tokens == full.tokens


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=transformers(rational_only=False, causal_only=True, allow_loop=False), prompt=words)
def test_cached_decoding_equals_full_recomputation_on_random_causal_models(model, prompt):
    from dataclasses import replace

    from exactformer.core.errors import AttentionTieError, NonFiniteError, ReadoutTieError

    assume(not model.embedding.depends_on_length)
    readout = model.readout
    if readout.decision != "argmax" or readout.position != -1:
        model = replace(model, readout=Readout(W_U=np.ones((model.d_model, 3), dtype=object) * Fraction(0) +
                                               _column_mix(model.d_model), labels=VOCAB))
    try:
        full = decode(model, [prompt], TorchArithmetic(torch.float64), max_new_tokens=5, cache=False)
    except (AttentionTieError, NonFiniteError, ReadoutTieError):  # no next token: nothing to compare
        return
    assume(all(m > 1e-9 for m in full.margins[0]))
    cached = decode(model, [prompt], TorchArithmetic(torch.float64), max_new_tokens=5)
    assert cached.tokens == full.tokens


def _column_mix(d: int) -> np.ndarray:
    """A fixed readout that looks at every coordinate differently."""
    return np.array([[Fraction((3 * r + 5 * c) % 7 - 3, 2) for c in range(3)] for r in range(d)], dtype=object)


def test_cached_decoding_drops_the_stopped_sequences_and_the_others_decode_as_before(monkeypatch):
    """Sequences of one batch stop at different steps (the stop token "b" comes round at different times); once
    most have stopped, the cache keeps only the running ones (``KVCache.keep``), and every sequence's tokens, margins
    and stop flags are still those of the full recomputation."""
    from exactformer.core.forward import KVCache

    kept: list[list[int]] = []
    keep = KVCache.keep
    monkeypatch.setattr(KVCache, "keep", lambda self, rows: (kept.append(list(rows)), keep(self, rows))[1])
    window = 70  # past the projection cache's MIN_ROWS, so the kept projections start over too
    prompts = [["a"] * k + ["b"] + ["a"] * (window - 1 - k) for k in (60, 1, 0, 2, 3, 40, 5, 6)]
    model = echo_model(window)
    cached = decode(model, prompts, TorchArithmetic(torch.float64), max_new_tokens=window, stop={"b"})
    full = decode(model, prompts, TorchArithmetic(torch.float64), max_new_tokens=window, stop={"b"}, cache=False)
    assert kept, "no sequence was dropped: the test does not reach KVCache.keep"
    assert cached.tokens == full.tokens and cached.stopped == full.stopped and cached.margins == full.margins
    assert [len(t) for t in cached.tokens] == [61, 2, 1, 3, 4, 41, 6, 7]


def test_a_readout_tie_after_the_stopped_sequences_were_dropped_names_the_sequence_of_the_batch():
    """A token "c" embedded as 0 reads as a tie (both logits 0). Sequence 5 meets it at step 40, after most of the
    batch stopped at once and the cache kept only the running rows: the error names batch 5, not its row."""
    from dataclasses import replace

    from exactformer.core.errors import ReadoutTieError

    window = 70
    model = echo_model(window)
    space = model.space
    model = replace(model, embedding=Embedding(
        W_E=[vector(space, {"sym:a": 1}), vector(space, {"sym:b": 1}), vector(space, {})], vocab=("a", "b", "c")))
    prompts = [["b"] + ["a"] * (window - 1) for _ in range(8)]
    prompts[5] = ["a"] * 39 + ["c"] + ["a"] * (window - 40)
    prompts[6] = ["a"] * 60 + ["b"] + ["a"] * (window - 61)
    with pytest.raises(ReadoutTieError, match=r"at decoding step 39 \(batch 5\)"):
        decode(model, prompts, TorchArithmetic(torch.float64), max_new_tokens=window, stop={"b"})
