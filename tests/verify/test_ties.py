"""Ties are failures, not passes: a readout whose two largest logits are equal (or whose sign logit is exactly 0),
a hard-attention tie where the model states no tie rule, and (certified backend) a decision the intervals do not
separate all fail ``check`` in every backend, reported as ``"tie"`` / ``"uncertified"``.

Before, the label of a tie was whatever the evaluation order gave, so a model that decided nothing on half its
inputs passed when that label happened to match the reference: ``first_is_b`` reading ``fired`` (0 or 1) instead of
``z`` (-1 or +1) tied on the 255 words of lengths 1-8 that start with ``a`` and passed ``check(backend="exact")``.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from exactformer.constructions.registry import REGISTRY, build
from exactformer.core.architecture import MLP, Embedding, Layer, Norm, Readout, Sublayer, Transformer
from exactformer.core.arith import TorchArithmetic
from exactformer.core.construction import Citation, Construction
from exactformer.core.errors import AttentionTieError, ReadoutTieError
from exactformer.core.runners import classify, decode
from exactformer.core.space import Block, Space, linear_map, vector
from exactformer.verify import FunctionReference, check
from exactformer.verify.check import diagnose

from .controls import SPACE, first_is_b

FIRST_IS_B = FunctionReference(lambda w: w[0] == "b", "ab", name="first symbol is b")
BACKENDS = ["exact", "certified", "torch"]


def reads_fired() -> Construction:
    """first_is_b whose readout is the sign of ``fired`` (1 for b, 0 for a): a tie on every word starting with a,
    where the label ``0 > 0 = False`` agrees with the reference by accident."""
    c = first_is_b()
    readout = Readout(W_U=linear_map(SPACE, Space.of(Block("y")), {"fired": {"y": 1}}), labels=("b first",),
                      decision="sign")
    return dataclasses.replace(c, model=dataclasses.replace(c.model, readout=readout), invariants=())


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sign_logit_of_zero_is_a_tie_and_fails_check(backend):
    lengths = range(1, 9) if backend == "exact" else range(1, 5)
    report = check(reads_fired(), FIRST_IS_B, lengths=lengths, backend=backend)
    words = sum(2**n for n in lengths)
    assert not report.passed
    assert sum(r.ties for r in report.lengths) == words // 2  # the words starting with a: 255 of 510 at 1-8
    assert sum(r.passed for r in report.lengths) == words // 2
    assert all(r.min_margin == 0 for r in report.lengths)
    assert {f.kind for f in report.failures} == {"tie"}
    assert all(f.minimal_input == "a" for f in report.failures)  # shrunk to the smallest tied word
    assert all(f.reason.startswith("ReadoutTieError: readout tie") for f in report.failures)
    assert f"{words // 2} ties" in report.summary()


def test_a_readout_tie_raises_on_run_and_the_other_inputs_answer():
    c = reads_fired()
    assert c.run("ba", backend="exact").answer is True
    with pytest.raises(ReadoutTieError, match=r"sign readout's logit is exactly 0"):
        c.run("ab", backend="exact")
    with pytest.raises(ReadoutTieError):
        c.answer_batch(["ba", "ab"])


def test_classify_reports_ties_without_raising_unless_asked():
    model = reads_fired().model
    out = classify(model, [list("ba"), list("ab")], TorchArithmetic())
    assert out.tied == [False, True] and out.margins == [1.0, 0.0] and out.labels == [True, False]
    with pytest.raises(ReadoutTieError, match=r"batch 1"):
        classify(model, [list("ba"), list("ab")], TorchArithmetic(), on_tie="raise")


def test_a_mutant_of_the_unembedding_with_equal_top_logits_fails_the_default_check():
    """demo with ``W_U[0, 0] + 1``: on words starting with b both logits are 1. It passed ``exactformer verify demo``
    with minimum margin 0 before; now every such word is a tie."""
    entry = REGISTRY["demo"]
    base = build("demo")
    W_U = base.model.readout.W_U.copy()
    W_U[0, 0] += 1
    readout = dataclasses.replace(base.model.readout, W_U=W_U)
    mutant = dataclasses.replace(base, model=dataclasses.replace(base.model, readout=readout))
    report = check(mutant, entry.reference(mutant), lengths=[1, 2, 3])
    assert not report.passed
    assert [r.ties for r in report.lengths] == [1, 2, 4]
    assert report.failures[0].kind == "tie" and "the logits of 'a', 'b' are all 1.0" in report.failures[0].reason
    assert check(base, entry.reference(base), lengths=[1, 2, 3]).passed


@pytest.mark.parametrize("backend", ["exact", "torch"])
def test_a_hard_attention_tie_without_a_tie_rule_is_reported_as_a_tie(backend):
    """first_is_b's copy head gives every key the same score: with no tie rule every word of 2+ symbols ties."""
    report = check(first_is_b(tie_rule="error"), FIRST_IS_B, lengths=[1, 2, 3], backend=backend)
    assert [r.ok for r in report.lengths] == [True, False, False]
    assert [r.ties for r in report.lengths] == [0, 4, 8]
    assert report.lengths[1].min_margin == 0
    failure = report.failures[0]
    assert failure.kind == "tie" and failure.reason.startswith("AttentionTieError: hard attention tie in L0.attn")
    where, why, _ = diagnose(first_is_b(tie_rule="error"), FIRST_IS_B, "ab", backend=backend)
    assert why.startswith("tie: hard attention tie") and where.startswith("hard attention tie in L0.attn")
    with pytest.raises(AttentionTieError):
        first_is_b(tie_rule="error").run("ab", backend=backend)


def normalised_pair() -> Construction:
    """One token embedded as (1, 1), L2-normalised to (1/sqrt 2, 1/sqrt 2); the readout is the sign of the
    difference. Exactly 0 in the reals: the certified intervals straddle 0 (not verified), torch computes 0.0 (a
    tie)."""
    space = Space.of(Block("x", ["0", "1"]))
    unit = Space.of(Block("u"))
    idle = MLP(W_in=linear_map(space, unit, {}), W_out=linear_map(unit, space, {}))
    model = Transformer(
        space=space,
        embedding=Embedding(W_E=[vector(space, {"x:0": 1, "x:1": 1})], vocab=("t",)),
        layers=(Layer(mlp=Sublayer(idle, output_norm=Norm("l2"))),),
        readout=Readout(W_U=linear_map(space, Space.of(Block("y")), {"x:0": {"y": 1}, "x:1": {"y": -1}}),
                        labels=("first larger",), decision="sign"),
    )
    return Construction(name="normalised pair", model=model, encode=list, interpret=bool, tokens_for=lambda n: n,
                        citation=Citation("tests", "ties", "exactformer test suite", "-"))


def test_an_uncertified_decision_fails_the_certified_check_as_not_verified():
    ref = FunctionReference(lambda w: False, "t", name="never")
    c = normalised_pair()
    assert not c.run("t", backend="certified").certified
    report = check(c, ref, lengths=[1, 2], backend="certified")
    assert not report.passed
    assert [(r.tested, r.passed, r.uncertified, r.ties) for r in report.lengths] == [(1, 0, 1, 0), (1, 0, 1, 0)]
    assert report.failures[0].kind == "uncertified"
    assert report.failures[0].reason.startswith("uncertified")
    assert "2 not verified (uncertified)" in report.summary()
    floats = check(c, ref, lengths=[1, 2], backend="torch")
    assert [r.ties for r in floats.lengths] == [1, 1] and floats.failures[0].kind == "tie"


def test_ties_show_in_every_rendering():
    report = check(reads_fired(), FIRST_IS_B, lengths=[1, 2], backend="exact")
    data = json.loads(report.to_json())
    assert [r["ties"] for r in data["lengths"]] == [1, 2] and data["passed"] is False
    assert data["lengths"][0]["failures"][0]["kind"] == "tie"
    assert "- tie failure: input `a`" in report.to_markdown()
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(report.render())
    assert "tie failure at n=1" in console.export_text()


def test_correct_constructions_still_pass_every_backend_with_no_tie():
    for backend in BACKENDS:
        report = check(first_is_b(), FIRST_IS_B, lengths=range(1, 5), backend=backend)
        assert report.passed and all(r.ties == r.uncertified == 0 for r in report.lengths), report.summary()


def _constant_decoder() -> Transformer:
    """Every logit 0: greedy decoding has no next token."""
    space = Space.of(Block("sym", ["a", "b"]))
    unit = Space.of(Block("u"))
    return Transformer(
        space=space,
        embedding=Embedding(W_E=[vector(space, {"sym:a": 1}), vector(space, {"sym:b": 1})], vocab=("a", "b")),
        layers=(Layer(mlp=Sublayer(MLP(W_in=linear_map(space, unit, {}), W_out=linear_map(unit, space, {})))),),
        readout=Readout(W_U=linear_map(space, Space.of(Block("o", ["a", "b"])), {}), labels=("a", "b")),
    )


@pytest.mark.parametrize("cache", [True, False])
def test_decoding_raises_at_a_tied_step(cache):
    with pytest.raises(ReadoutTieError, match=r"at decoding step 0 \(batch 0\)"):
        decode(_constant_decoder(), [list("ab")], TorchArithmetic(torch.float64), max_new_tokens=3, cache=cache)


def test_a_report_prints_names_and_inputs_verbatim_not_as_rich_markup():
    """``[printed_and]`` and ``:B:`` are rich markup and emoji syntax; the terminal report must show them as they
    are (a construction named like a builder option, a Turing-machine state such as ``ARR:B:1``)."""
    from rich.console import Console

    from exactformer.verify.report import LengthReport, Report

    report = Report(construction="connectivity[printed_and]", reference="ARR:B:1", backend="torch",
                    dtype="float64", seed=0, lengths=[LengthReport(size=3, mode="[bold]x[/bold]", tested=1, passed=1)])
    console = Console(record=True, width=200, emoji=True)
    console.print(report.render())
    text = console.export_text()
    assert "connectivity[printed_and]" in text and "ARR:B:1" in text and "[bold]x[/bold]" in text
