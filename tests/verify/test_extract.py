"""L* extraction (``extract_dfa``) learns, from answers alone, the language every registered recognizer computes,
and it is the reference's; a broken model is learned as another language, and the shortest word on which the two
differ is the one a brute-force search of the model finds."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from aalpy.automata import Dfa, DfaState

import exactformer as ef
from exactformer.constructions.registry import REGISTRY
from exactformer.core.errors import InputError
from exactformer.languages import DFA, named
from exactformer.verify.black_box import BlackBoxError, as_black_box
from exactformer.verify.extract import dfa_from_aalpy, extract_dfa
from exactformer.verify.mutants import Mutation, apply_mutation

from ..scripts import ROOT, import_script

PARITY = named.parity()


def _recognizers() -> dict[str, tuple[object, DFA]]:
    """Every registered construction whose reference is a DFA, built with its default options."""
    out = {}
    for name, entry in sorted(REGISTRY.items()):
        construction = entry.builder(**entry.options)
        reference = entry.reference(construction) if entry.reference else None
        if isinstance(reference, DFA):
            out[name] = (construction, reference)
    return out


RECOGNIZERS = _recognizers()
LARGE = {name for name, (_, ref) in RECOGNIZERS.items() if len(ref.alphabet) > 2}  # the A5 word problem: 60 letters


def shortest_disagreement(answer, reference: DFA, alphabet: str, longest: int) -> str | None:
    """The first word in shortlex order (length, then symbol order) where ``answer`` and ``reference`` differ."""
    for length in range(longest + 1):
        for letters in itertools.product(alphabet, repeat=length):
            word = "".join(letters)
            if answer(word) != reference.accepts(word):
                return word
    return None


def test_the_recognizers_are_every_registered_construction_with_a_dfa_reference():
    assert set(RECOGNIZERS) == {"parity", "parity-ln", "first", "first-ln", "first-scaled", "log-depth-parity",
                                "log-depth-a5", "log-depth-paper-parity", "pointer-jumping-parity",
                                "pointer-jumping-a5"}


@pytest.mark.parametrize("name", [n if n not in LARGE else pytest.param(n, marks=pytest.mark.slow)
                                  for n in RECOGNIZERS])
def test_extraction_learns_the_reference_language_from_every_registered_recognizer(name):
    construction, reference = RECOGNIZERS[name]
    binary = name not in LARGE
    result = extract_dfa(construction, reference=reference, max_length=8 if binary else 4,
                         outside_domain="reference")
    assert result.equivalent, result.render()
    assert result.learned == reference.minimize(complete=True)  # the same minimal DFA, state for state
    assert result.disagreement is None and result.queries >= result.membership_queries > 0


def test_the_chiang_cholak_models_refuse_the_empty_word_and_say_so():
    construction, reference = RECOGNIZERS["parity"]
    with pytest.raises(BlackBoxError, match="parity refused the word ''"):
        extract_dfa(construction, reference=reference, max_length=3)
    result = extract_dfa(construction, reference=reference, max_length=3, outside_domain="reference")
    assert result.outside_domain == ("",) and "outside the model's domain" in result.render()


def test_a_callable_wrong_on_one_word_is_learned_as_another_language_differing_first_at_that_word():
    def wrong_on_0110(word: str) -> bool:
        return (word.count("1") % 2 == 1) != (word == "0110")

    result = extract_dfa(wrong_on_0110, "01", reference=PARITY, max_length=8)
    assert not result.equivalent
    assert result.disagreement == shortest_disagreement(wrong_on_0110, PARITY, "01", 8) == "0110"
    assert (result.model_answer, result.reference_answer) == (True, False)
    assert "DISAGREES" in result.render() and "'0110'" in result.render()


def test_a_mutated_weight_is_learned_as_another_language_whose_first_disagreement_brute_force_confirms():
    construction, reference = RECOGNIZERS["pointer-jumping-parity"]
    mutant = apply_mutation(construction, Mutation(site="loop0.B0.mlp.W_out", index=(3, 7), operator="zero",
                                                   before=Fraction(1), after=Fraction(0)))
    result = extract_dfa(mutant, reference=reference, max_length=8)
    box = as_black_box(mutant)
    expected = shortest_disagreement(lambda w: box.answers([w])[0], reference, "01", 8)
    assert expected is not None and not result.equivalent
    assert result.disagreement == expected
    assert result.model_answer == mutant.accepts(expected) != reference.accepts(expected)
    assert result.states > len(reference.minimize().states)


def test_the_w_method_finds_the_error_only_within_its_state_bound():
    def wrong_on_0110(word: str) -> bool:
        return (word.count("1") % 2 == 1) != (word == "0110")

    # the model's minimal DFA has 7 states; a 2-state hypothesis plus 1 extra state cannot reach "0110"...
    small = extract_dfa(wrong_on_0110, "01", reference=PARITY, equivalence="w-method", extra_states=1)
    assert small.equivalent and "at most 1 state(s) more" in small.bound
    # ... plus 5 extra states can, and then the learned DFA is the model's
    large = extract_dfa(wrong_on_0110, "01", reference=PARITY, equivalence="w-method", extra_states=5)
    assert large.disagreement == "0110" and large.states == 7


def test_an_aalpy_dfa_converts_to_the_library_dfa_of_the_same_language():
    even, odd = DfaState("even", is_accepting=False), DfaState("odd", is_accepting=True)
    even.transitions.update({"0": even, "1": odd})
    odd.transitions.update({"0": odd, "1": even})
    converted = dfa_from_aalpy(Dfa(even, [even, odd]), "01")
    assert converted == DFA(states={"even", "odd"}, alphabet="01", start="even", accepting={"odd"},
                            transitions={("even", "0"): "even", ("even", "1"): "odd", ("odd", "0"): "odd",
                                         ("odd", "1"): "even"})


def test_the_demo_answers_symbols_not_decisions_so_it_is_not_extracted():
    with pytest.raises(BlackBoxError, match=r"returned 'a' \(str\) for the word 'a'"):
        extract_dfa(ef.constructions.copy_first(), "ab", max_length=2, outside_domain=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [(dict(alphabet="011"), "distinct symbols"), (dict(alphabet="ab"), "alphabet"),
     (dict(equivalence="exact"), "equivalence must be"), (dict(max_length=-1), "must be >= 0"),
     (dict(outside_domain="skip"), "outside_domain must be")],
    ids=["repeated symbol", "other alphabet", "unknown equivalence", "negative bound", "unknown domain rule"],
)
def test_bad_arguments_are_refused_naming_what_is_wrong(kwargs, message):
    with pytest.raises(InputError, match=message):
        extract_dfa(lambda w: True, **{"reference": PARITY, **kwargs})


def test_the_reference_rule_for_words_outside_the_domain_needs_a_reference():
    with pytest.raises(InputError, match="needs a reference"):
        extract_dfa(lambda w: True, "01", outside_domain="reference")


def test_without_a_reference_extraction_only_learns():
    result = extract_dfa(lambda w: w.endswith("1"), "01", max_length=6)
    assert result.equivalent is None and result.states == 2 and "no reference" in result.render()


def test_the_extraction_script_quick_mode_extracts_parity_and_first_and_they_agree(capsys):
    assert import_script("scripts", "extract_dfa").main(["--quick"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("| yes |") == 2 and "`parity`" in printed and "`first`" in printed


def test_the_committed_extraction_table_has_every_recognizer_agreeing_with_its_reference():
    lines = (ROOT / "scripts" / "results" / "extract_dfa.txt").read_text().splitlines()
    rows = {line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[2:-1]]
            for line in lines if line.startswith("| `")}
    assert set(rows) == set(RECOGNIZERS)
    for name, (alphabet, reference_states, learned_states, agrees, disagreement, *_) in rows.items():
        minimal = RECOGNIZERS[name][1].minimize(complete=True)
        assert (int(alphabet), int(reference_states)) == (len(minimal.alphabet), len(minimal.states)), name
        assert (learned_states, agrees, disagreement) == (reference_states, "yes", "-"), name
