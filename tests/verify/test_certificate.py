"""The certificate framework: the four ways a lemma is checked, the status a certificate derives from its lemmas, its
renderings, and the prover registry (exactformer.verify.certificate). Every lemma here is planted, so each claim is
checked on lemmas known to hold and lemmas known to fail."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from fractions import Fraction

import pytest
import sympy
from rich.console import Console

from exactformer.constructions import copy_first
from exactformer.core.construction import Construction
from exactformer.verify import certificate as cert
from exactformer.verify.certificate import Certificate, Lemma, exhaustive, induction, symbolic, tested


def squares_are_nonnegative() -> Lemma:
    return exhaustive("squares", "x^2 >= 0 for every x in -3..3", range(-3, 4), lambda x: Fraction(x) ** 2 >= 0)


def test_an_exhaustive_lemma_that_holds_is_proven_and_counts_every_case():
    lemma = squares_are_nonnegative()
    assert (lemma.status, lemma.method, lemma.cases, lemma.detail) == ("proven", "exhaustive", 7, "")
    assert lemma.proven and not lemma.failed


def test_a_failing_exhaustive_lemma_reports_its_first_counterexample_and_stops_there():
    seen = []

    def below_three(x: int) -> bool:
        seen.append(x)
        return x < 3

    lemma = exhaustive("small", "x < 3 for every x in 0..9", range(10), below_three, describe=lambda x: f"x = {x}")
    assert lemma.failed and lemma.status == "failed"
    assert lemma.detail == "fails at x = 3"
    assert lemma.cases == 4 and seen == [0, 1, 2, 3]  # the first counterexample, not a later one


def test_an_exhaustive_lemma_reports_the_reason_a_case_returns():
    lemma = exhaustive("even", "every x is even", [2, 4, 5, 7], lambda x: True if x % 2 == 0 else f"{x} is odd")
    assert lemma.detail == "fails at 5: 5 is odd"


def test_an_exhaustive_lemma_over_the_empty_set_is_proven_vacuously_with_zero_cases():
    lemma = exhaustive("none", "nothing to check", [], lambda x: False)
    assert lemma.proven and lemma.cases == 0


def test_a_symbolic_lemma_is_proven_or_failed_by_its_check_and_keeps_the_closed_form():
    n = sympy.Symbol("n", positive=True, integer=True)

    def identity() -> tuple[bool, str]:
        expr = sympy.simplify((n + 1) ** 2 - n**2 - 2 * n - 1)
        return expr == 0, f"(n+1)^2 - n^2 = 2n + 1 (difference {expr})"

    def false_inequality() -> tuple[bool, str]:
        return bool(sympy.simplify(n - 2).is_nonnegative), "n - 2 >= 0 fails at n = 1"

    good, bad = symbolic("square", "(n+1)^2 = n^2 + 2n + 1", identity), symbolic("ge2", "n >= 2", false_inequality)
    assert good.proven and good.method == "symbolic" and "2n + 1" in good.detail
    assert bad.failed and bad.detail == "n - 2 >= 0 fails at n = 1"


def test_a_symbolic_check_that_raises_is_a_failure_never_a_pass():
    def broken() -> tuple[bool, str]:
        raise ZeroDivisionError("1/0")

    lemma = symbolic("raises", "a proof attempt that raises", broken)
    assert lemma.failed and lemma.detail == "ZeroDivisionError: 1/0"


def test_an_induction_is_proven_failed_or_tested_exactly_as_its_weakest_lemma():
    proven = squares_are_nonnegative()
    failed = exhaustive("small", "x < 3", range(5), lambda x: x < 3)
    evidence = tested("sampled", "held on samples", True, "100 samples", scope="n <= 8")
    assert induction("all", "composed", [proven, proven]).status == "proven"
    broken = induction("all", "composed", [proven, failed, evidence])
    assert broken.status == "failed" and broken.detail == "a lemma it uses fails: small"
    partly = induction("all", "composed", [proven, evidence])
    assert partly.status == "tested" and partly.uses == ("squares", "sampled")
    with pytest.raises(ValueError, match="uses no lemma"):
        induction("empty", "composed of nothing", [])


def test_a_tested_lemma_is_evidence_not_proof():
    held = tested("sampled", "held on samples", True, "100 samples", scope="n <= 8")
    assert held.status == "tested" and not held.proven and not held.failed and held.scope == "n <= 8"
    assert tested("sampled", "held on samples", False, "1 of 100 wrong", scope="n <= 8").failed


def certificate_of(*lemmas: Lemma, tested_to: str | None = None, scope: str = "every n") -> Certificate:
    return Certificate("planted", "the planted conclusion", list(lemmas), scope=scope, tested_to=tested_to)


def test_the_status_string_says_proven_tested_or_which_lemmas_failed():
    proven = squares_are_nonnegative()
    evidence = tested("sampled", "held on samples", True, "100 samples", scope="n <= 12")
    failed = exhaustive("small", "x < 3", range(5), lambda x: x < 3)
    assert certificate_of(proven).status == "proven for every n"
    assert certificate_of(proven, scope="n <= 2^16").status == "proven for n <= 2^16"
    assert certificate_of(proven, evidence, tested_to="n = 12").status == "tested to n = 12"
    assert certificate_of(proven, evidence).status == "tested, not proven"
    both = certificate_of(proven, failed, evidence, exhaustive("also", "x < 1", range(3), lambda x: x < 1))
    assert both.status == "failed: small, also"
    assert not both.holds and not both.proven and [lm.name for lm in both.failed] == ["small", "also"]
    assert certificate_of(proven, evidence).holds and not certificate_of(proven, evidence).proven
    assert not certificate_of().proven  # no lemma proves nothing


def test_a_lemma_is_found_by_name_and_a_missing_name_lists_the_ones_there_are():
    c = certificate_of(squares_are_nonnegative())
    assert c.lemma("squares").cases == 7
    with pytest.raises(KeyError, match="no lemma 'cubes'.*squares"):
        c.lemma("cubes")


def test_the_json_rendering_round_trips_every_field_of_every_lemma():
    lemmas = (squares_are_nonnegative(), exhaustive("small", "x < 3", range(5), lambda x: x < 3),
              tested("sampled", "held", True, "100 samples", scope="n <= 12"))
    c = certificate_of(*lemmas, induction("all", "composed", lemmas), tested_to="n = 12")
    data = json.loads(c.to_json())
    assert data["status"] == "failed: small, all" and data["proven"] is False and data["tested_to"] == "n = 12"
    rebuilt = [Lemma(**{**d, "uses": tuple(d["uses"])}) for d in data["lemmas"]]
    assert rebuilt == c.lemmas
    assert data["assumptions"] == list(c.assumptions)


def test_the_markdown_rendering_is_a_table_of_every_lemma_with_pipes_escaped():
    odd = exhaustive("pipes", "a | b", ["x|y"], lambda s: "bad | case", describe=str)
    c = certificate_of(squares_are_nonnegative(), odd)
    text = c.to_markdown()
    assert text.startswith("**planted: failed: pipes (2 lemmas: exhaustive 2)**")
    assert "| squares | exhaustive | 7 | every n | proven |  |" in text
    assert "| pipes | exhaustive | 1 | every n | failed | fails at x\\|y: bad \\| case |" in text
    assert "Conclusion: the planted conclusion" in text and str(c) == text


def test_the_terminal_rendering_shows_every_lemma_and_the_conclusion():
    c = certificate_of(squares_are_nonnegative(), exhaustive("small", "x < 3", range(5), lambda x: x < 3))
    console = Console(record=True, width=200)
    console.print(c.render())
    out = console.export_text()
    assert "squares" in out and "small" in out and "fails at 3" in out and "Conclusion: the planted conclusion" in out
    assert repr(c) == "<Certificate planted: failed: small (2 lemmas: exhaustive 2)>"


@dataclass(frozen=True)
class _Params:
    size: int


@dataclass(frozen=True)
class _Special(_Params):
    pass


def test_prove_dispatches_on_the_parameters_type_most_specific_first_and_refuses_an_unknown_one(monkeypatch):
    monkeypatch.setattr(cert, "_PROVERS", {})

    def base(c: Construction) -> Certificate:
        return certificate_of(squares_are_nonnegative())

    def special(c: Construction) -> Certificate:
        return certificate_of(exhaustive("small", "x < 3", range(5), lambda x: x < 3))

    cert.register_prover(_Params, base)
    fake = dataclasses.replace(copy_first(), name="fake", parameters=_Special(3))
    assert cert.prove(fake).status == "proven for every n"  # the base class's prover serves the subclass
    cert.register_prover(_Special, special)
    assert cert.prove(fake).status == "failed: small"
    fake = dataclasses.replace(fake, parameters=3)
    with pytest.raises(TypeError, match="no prover for 'fake' \\(parameters int\\); provers exist for _Params, "
                                        "_Special"):
        cert.prove(fake)


def test_tested_lemmas_beside_a_bounded_proof_leave_its_status_unless_one_fails():
    proof = [exhaustive("small", "x < 4 for x in 0..3", range(4), lambda x: x < 4)]
    held = tested("floats", "runs in float64 beyond the range", True, "8 words", scope="n <= 16")
    c = Certificate("planted", "x < 4 for x <= 3", proof, scope="n <= 3", tested_to="n = 16", beside=[held])
    assert c.proven and c.status == "proven for n <= 3"
    assert c.lemma("floats") is held and json.loads(c.to_json())["beside"][0]["name"] == "floats"
    assert "floats" in c.to_markdown()
    wrong = tested("floats", "runs in float64 beyond the range", False, "wrong on '1'", scope="n <= 16")
    c = Certificate("planted", "x < 4 for x <= 3", proof, scope="n <= 3", beside=[wrong])
    assert not c.proven and c.status == "failed: floats"
