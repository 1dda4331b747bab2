"""``check`` takes any model that answers words (a callable, a torch module, a HookedTransformer) and checks its
answers against an independent reference: a black-box report, answers only; garbage and exceptions are refused
with errors naming the word."""

from __future__ import annotations

import math

import pytest
import torch

import exactformer as ef
from exactformer.languages import named
from exactformer.verify import check
from exactformer.verify.black_box import BlackBoxError, as_black_box, torch_black_box

PARITY = named.parity()
LENGTHS = range(0, 8)


def odd_ones(word: str) -> bool:
    return word.count("1") % 2 == 1


def test_a_correct_callable_passes_as_a_black_box_with_answers_only():
    report = check(odd_ones, PARITY, lengths=LENGTHS)
    assert report.passed and report.black_box
    assert report.tested == sum(2**n for n in LENGTHS)
    assert all(not r.invariants and not r.claims and math.isnan(r.min_margin) for r in report.lengths)
    assert "black box: answers only, no invariants" in report.summary()
    assert report.as_dict()["black_box"] is True
    assert "| 3 | exhaustive | 8 | 8 | 0 | - |" in report.to_markdown()


def test_a_callable_wrong_on_one_word_fails_with_that_word_as_the_minimal_input():
    report = check(lambda w: odd_ones(w) != (w == "0110"), PARITY, lengths=LENGTHS)
    assert not report.passed
    assert [(f.kind, f.minimal_input, f.expected, f.got) for f in report.failures] == [("answer", "0110", False, True)]


def test_a_callable_whose_wrong_answers_are_long_is_shrunk_to_a_shorter_wrong_word():
    def wrong_with_two_zeros(w: str) -> bool:  # wrong on every word holding "00"
        return odd_ones(w) != ("00" in w)

    report = check(wrong_with_two_zeros, PARITY, lengths=[7])
    assert not report.passed
    assert {f.minimal_input for f in report.failures} == {"00"}


def test_float_logits_decide_by_their_sign():
    report = check(lambda w: 2.5 if odd_ones(w) else -0.25, PARITY, lengths=LENGTHS)
    assert report.passed


@pytest.mark.parametrize(
    ("returned", "message"),
    [(None, "returned None (NoneType) for the word ''"), (1, "returned 1 (int)"), ("yes", "returned 'yes' (str)"),
     (float("nan"), "NaN decides nothing"), (0.0, "a logit of exactly 0 decides nothing"),
     (torch.zeros(2), "a tensor of shape (2,)")],
    ids=["None", "int", "str", "NaN", "zero logit", "tensor"],
)
def test_a_callable_returning_garbage_is_refused_naming_the_word_and_the_value(returned, message):
    with pytest.raises(BlackBoxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(lambda w: returned, PARITY, lengths=LENGTHS)


def test_a_callable_that_raises_is_refused_naming_the_word_and_the_exception():
    def raises_on_01(w: str) -> bool:
        if w == "01":
            raise KeyError("no such word")
        return odd_ones(w)

    with pytest.raises(BlackBoxError, match=r"raises_on_01 raised KeyError on the word '01'") as info:
        check(raises_on_01, PARITY, lengths=LENGTHS)
    assert isinstance(info.value.__cause__, KeyError)


def test_a_callable_may_answer_labels_where_the_reference_does():
    first_symbol = ef.verify.FunctionReference(lambda w: w[0], "ab", name="first symbol")
    assert check(lambda w: w[0], first_symbol, lengths=range(1, 5)).passed
    assert not check(lambda w: w[-1], first_symbol, lengths=range(1, 5)).passed


class CountingParity(torch.nn.Module):
    """A stand-in for a trained network: token ids -> one sign logit per position (odd number of 1s so far)."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        odd = torch.cumsum(ids, dim=1) % 2
        return (2.0 * odd - 1.0).to(torch.float64).unsqueeze(-1)


def test_a_torch_module_is_tokenised_by_alphabet_index_and_read_at_the_last_position():
    assert check(CountingParity(), PARITY, lengths=range(1, 8)).passed
    flipped = torch_black_box(CountingParity(), "01", tokens={"0": 1, "1": 0})
    assert not check(flipped, PARITY, lengths=range(1, 8)).passed


def test_the_torch_adapter_refuses_a_readout_it_cannot_read_and_a_tokenisation_with_gaps():
    box = torch_black_box(lambda ids: torch.zeros(ids.shape[0], ids.shape[1], 3), "01")  # type: ignore[arg-type]
    with pytest.raises(BlackBoxError, match="1 column .* or 2 .* gives 3: pass readout="):
        box.answers(["01"])
    with pytest.raises(ef.core.errors.InputError, match=r"no id for the symbol\(s\) \['1'\]"):
        torch_black_box(CountingParity(), "01", tokens={"0": 0})


def test_an_exported_hooked_transformer_checked_as_a_black_box_agrees_with_parity():
    from exactformer.export.transformer_lens import to_transformer_lens

    length = 6
    export = to_transformer_lens(ef.constructions.parity(), length=length + 1)  # the word, then CLS

    class WithHooks(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tl = export.model

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.tl.run_with_hooks(ids, fwd_hooks=export.hooks)

    ids = {s: i for i, s in enumerate(export.vocab)}
    box = torch_black_box(WithHooks(), "01", tokens=ids, eos=ids["CLS"], name="HookedTransformer(parity)")
    report = check(box, PARITY, lengths=[length])
    assert report.passed and report.tested == 2**length and report.construction == "HookedTransformer(parity)"


def test_a_construction_wrapped_as_a_black_box_is_checked_by_its_answers_alone():
    report = check(as_black_box(ef.constructions.parity()), PARITY, lengths=range(1, 7))
    assert report.passed and report.black_box and report.construction == "parity"


def test_what_is_not_a_model_is_refused():
    with pytest.raises(TypeError, match="a Construction, a callable or a torch module"):
        check(42, PARITY, lengths=LENGTHS)


@pytest.mark.parametrize("option", [dict(backend="exact"), dict(dtype=torch.float32), dict(path="tensor")],
                         ids=["backend", "dtype", "path"])
def test_options_about_running_a_construction_are_refused_for_a_black_box(option):
    with pytest.raises(ef.core.errors.InputError, match=f"{next(iter(option))} do\\(es\\) not apply to a black-box"):
        check(odd_ones, PARITY, lengths=LENGTHS, **option)
