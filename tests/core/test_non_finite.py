"""No silent answers from non-finite numbers: a NaN or an infinity in a weight, an input, an attention score or a
logit raises :class:`NonFiniteError` naming the tensor and the position, in every backend and every runner.

Weights are exact rationals and the builders refuse floats, so a NaN gets into a model only by writing into one of
its weight arrays after it was built (as a hand edit or a mutation would). Before these checks, a NaN in ``W_Q``
made ``copy_first().run("ab")`` answer ``'b'`` in torch, a NaN in ``W_U`` gave margin nan and an answer, and the
exact, certified and ``save_model`` paths failed with IndexError, AttributeError and fractions' ValueError.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
import torch

from exactformer.constructions import copy_first
from exactformer.core.arith import (
    CertifiedArithmetic,
    ExactArithmetic,
    TorchArithmetic,
    arithmetic_for,
    named_weights,
    torch_device,
)
from exactformer.core.errors import InputError, ModelFormatError, NonFiniteError
from exactformer.core.forward import forward
from exactformer.core.runners import decode, think
from exactformer.core.serialize import save_model
from exactformer.export.torch_module import to_torch_module

from .test_runners import counter_model, echo_model

BACKENDS = ["exact", "certified", "torch"]
NON_FINITE = [float("nan"), float("inf"), float("-inf")]


def _with_entry(construction, weight: str, index: tuple[int, ...], value):
    """A fresh copy_first whose weight ``weight`` (a :func:`named_weights` name) has ``value`` written at ``index``."""
    arrays = dict(named_weights(construction.model))
    arrays[weight][index] = value
    return construction


def test_every_weight_has_a_name_in_trace_label_style():
    names = [name for name, _ in named_weights(copy_first().model)]
    assert names[0] == "embed.W_E" and names[-2:] == ["readout.W_U", "readout.b_U"]
    assert "L0.attn.W_Q" in names and len(names) == len(set(names))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_a_non_finite_query_weight_is_refused_naming_it(backend, value):
    c = _with_entry(copy_first(), "L0.attn.W_Q", (0, 0, 0), value)
    with pytest.raises(NonFiniteError, match=r"weight L0\.attn\.W_Q\[0, 0, 0\]"):
        c.run("ab", backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nan_in_the_unembedding_is_refused_naming_it(backend):
    c = _with_entry(copy_first(), "readout.W_U", (4, 1), float("nan"))
    with pytest.raises(NonFiniteError, match=r"weight readout\.W_U\[4, 1\] is nan"):
        c.run("ab", backend=backend)


def test_the_readout_only_pass_refuses_a_nan_weight_too():
    c = _with_entry(copy_first(), "embed.W_E", (1, 2), float("nan"))
    with pytest.raises(NonFiniteError, match=r"weight embed\.W_E\[1, 2\]"):
        c.answer_batch(["ab", "ba"])
    with pytest.raises(NonFiniteError, match=r"weight embed\.W_E\[1, 2\]"):
        c.run_batch(["ab"], keep_trace=False)


def test_an_inexact_finite_weight_is_refused_by_the_exact_evaluators():
    c = _with_entry(copy_first(), "L0.attn.W_V", (0, 1, 0), 0.5)
    for backend in ("exact", "certified"):
        with pytest.raises(ModelFormatError, match=r"weight L0\.attn\.W_V\[0, 1, 0\] is 0\.5 \(float\)"):
            c.run("ab", backend=backend)


def test_an_exact_weight_too_large_for_the_dtype_is_refused():
    c = _with_entry(copy_first(), "readout.W_U", (5, 1), Fraction(70000))  # float16's largest is 65504
    assert c.run("ab", backend="exact").answer == "a"
    with pytest.raises(NonFiniteError, match=r"readout\.W_U\[5, 1\] = 70000 is too large for torch\.float16"):
        c.run("ab", dtype=torch.float16)


def _scaled_query(construction, entries: dict[str, Fraction], kind: str = "hard"):
    """copy_first with ``W_Q[0, coordinate, 0]`` set and ``W_K`` scaled: finite weights whose products overflow
    float16 (largest 65504). ``kind="average_hard"`` averages over the maximal keys instead (the same answers: the
    first position's key is the unique maximum)."""
    att = construction.model.layers[0].attention.block
    W_Q, W_K = att.W_Q.copy(), att.W_K * Fraction(60000)
    for coord, value in entries.items():
        W_Q[0, construction.model.space.index(coord), 0] = value
    layer = construction.model.layers[0]
    block = dataclasses.replace(att, W_Q=W_Q, W_K=W_K, kind=kind)
    layer = dataclasses.replace(layer, attention=dataclasses.replace(layer.attention, block=block))
    return dataclasses.replace(construction, model=dataclasses.replace(construction.model, layers=(layer,)))


def test_a_hard_attention_score_that_overflows_is_refused_naming_head_and_query():
    """Scores 60000 * 60000 overflow float16 (they were argmaxed as infinities before): the score is named."""
    c = _scaled_query(copy_first(), {"one": Fraction(60000)})
    assert c.run("ab", backend="exact").answer == "a"
    assert c.run("ab", dtype=torch.float32).answer == "a"
    with pytest.raises(NonFiniteError, match=r"attention score inf in L0\.attn head 0, query 0 \(batch 0\) in "
                                             r"torch\.float16: the largest score over the keys is not finite"):
        c.run("ab", dtype=torch.float16)


def test_an_average_hard_score_that_overflows_is_refused_naming_head_query_and_key():
    c = _scaled_query(copy_first(), {"one": Fraction(60000)}, kind="average_hard")
    assert c.run("ab", backend="exact").answer == c.run("ab", dtype=torch.float32).answer == "a"
    with pytest.raises(NonFiniteError, match=r"attention score inf in L0\.attn head 0, query 0, key 0 \(batch 0\)"):
        c.run("ab", dtype=torch.float16)


def test_on_long_inputs_scores_are_bounded_through_the_queries_and_keys():
    """At 120 tokens (14,400 scores) the scores are certified finite by max|q| max|k| rather than tested one by
    one: a query that overflows is named there; finite queries with finite products pass."""
    word = "ab" * 60
    assert _scaled_query(copy_first(), {"one": Fraction(1, 1000)}, kind="average_hard").run(
        word, dtype=torch.float16).answer == "a"
    c = _scaled_query(copy_first(), {"one": Fraction(40000), "pos:first": Fraction(40000)}, kind="average_hard")
    with pytest.raises(NonFiniteError, match=r"infinity in the queries of L0\.attn head 0 at position 0"):
        c.run(word, dtype=torch.float16)
    overflow = _scaled_query(copy_first(), {"one": Fraction(60000)}, kind="average_hard")
    with pytest.raises(NonFiniteError, match=r"attention score inf in L0\.attn head 0, query 0, key 0"):
        overflow.run(word, dtype=torch.float16)


def test_a_logit_that_overflows_is_refused_naming_the_label():
    c = copy_first()
    W_U = c.model.readout.W_U
    W_U[c.model.space.index("copy:a"), 0] = Fraction(40000)
    W_U[c.model.space.index("one"), 0] = Fraction(40000)  # 80000 > 65504 at every "a..." input
    assert c.run("ab", dtype=torch.float32).margin == 80000 - 0
    with pytest.raises(NonFiniteError, match=r"readout logit inf for label 'a' \(batch 0\) in torch\.float16"):
        c.run("ab", dtype=torch.float16)


@pytest.mark.parametrize("arith", [ExactArithmetic(), CertifiedArithmetic(), TorchArithmetic()], ids=lambda a: a.name)
def test_a_nan_in_a_continuous_input_is_refused_naming_its_position(arith):
    model = copy_first().model
    vec = [Fraction(0)] * model.d_model if arith.name != "torch" else torch.zeros(model.d_model)
    vec[3] = float("nan")
    with pytest.raises(NonFiniteError, match=r"position 1"):
        forward(model, [["a", vec]], arith)


def test_thinking_refuses_a_nan_thought():
    with pytest.raises(NonFiniteError, match=r"position 1, entry 1"):
        think(counter_model(), [["s", [Fraction(1), float("nan")]]], ExactArithmetic(), num_thoughts=1)


@pytest.mark.parametrize("cache", [True, False])
def test_decoding_refuses_a_nan_value_weight(cache):
    model = echo_model(3)
    model.layers[0].attention.block.W_V[0, 1, 1] = float("nan")
    with pytest.raises(NonFiniteError, match=r"weight L0\.attn\.W_V\[0, 1, 1\] is nan"):
        decode(model, [list("aba")], TorchArithmetic(), max_new_tokens=4, cache=cache)


def test_save_model_refuses_a_nan_weight_naming_it(tmp_path):
    c = _with_entry(copy_first(), "L0.attn.W_O", (0, 0, 4), float("nan"))
    with pytest.raises(NonFiniteError, match=r"weight layers\.L0\.attn\.W_O\[0, 0, 4\] is nan"):
        save_model(c.model, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_the_torch_module_refuses_a_parameter_set_to_nan_in_place():
    c = copy_first()
    module = to_torch_module(c.model, dtype=torch.float64)
    tokens = [list("ab")]
    assert module(tokens).argmax().item() == 0  # "a": the first symbol
    with torch.no_grad():
        module.blocks[0].attn.W_Q[0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"parameter blocks\.0\.attn\.W_Q\[0, 0, 0\] is nan"):
        module(tokens)


def test_correct_models_keep_their_margins():
    """The checks only read: on a correct model answers and margins are those of the exact evaluator."""
    c = copy_first()
    for word in ("a", "ab", "ba", "bbab"):
        exact, floats = c.run(word, backend="exact"), c.run(word)
        assert floats.answer == exact.answer == word[0]
        assert floats.margin == exact.margin == 1.0


# -- devices -------------------------------------------------------------------------------------------------------
def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(InputError, match=r"device 'cuda' is not available: .*available here: cpu"):
        arithmetic_for("torch", device="cuda")
    with pytest.raises(InputError, match=r"device 'cuda' is not available"):
        copy_first().run("ab", device="cuda")


def test_a_gpu_index_beyond_the_machine_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InputError, match=r"device 'cuda:3' is not available: this machine has 1 CUDA GPU"):
        torch_device("cuda:3")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu"])
def test_an_unknown_device_name_is_a_clear_error(name):
    with pytest.raises(InputError, match=rf"unknown device {name!r}.*available here: cpu"):
        arithmetic_for("torch", device=name)


def test_an_unknown_backend_is_a_clear_error():
    with pytest.raises(InputError, match=r"unknown backend 'gpu'; choose 'exact', 'certified' or 'torch'"):
        arithmetic_for("gpu")


def test_the_cpu_is_always_available():
    assert torch_device("cpu") == torch.device("cpu")
    assert np.isclose(copy_first().run("ab", device=torch.device("cpu")).margin, 1.0)
