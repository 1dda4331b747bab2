"""The tree recognizers' certificates: the rational build proven for every n, each erratum's printed form failing
the lemma it breaks, mutants breaking lemmas (the paper-faithful build's certificate: test_log_depth_paper.py)."""

from __future__ import annotations

import pytest

import exactformer as ef
from exactformer.catalog import build
from exactformer.languages import named
from exactformer.verify.certificate import prove

from .mutants import assert_behaviour_changing_mutants_break_a_lemma


@pytest.mark.parametrize("name", ["log-depth-parity", "log-depth-a5"])
def test_the_catalog_builds_are_proven_for_every_n(name):
    cert = prove(build(name))
    assert cert.proven, cert.to_markdown()
    m = len(named.word_problem("A5").transition_monoid()) if name.endswith("a5") else 2
    assert cert.lemma("combine_mlp").cases == 4 * m * m + 4 * m + 1


@pytest.mark.parametrize("flag, lemma", [
    ("partner_key_fix", "partner_head_selects"),
    ("activeness_and_fix", "activeness_mlp"),
    ("gate_combine", "combine_mlp"),
    ("final_level", "enough_levels"),
])
def test_each_printed_erratum_fails_the_lemma_it_breaks(flag, lemma):
    cert = prove(ef.constructions.log_depth_recognizer(named.parity(), **{flag: False}))
    failed = [lm.name for lm in cert.failed]
    assert lemma in failed
    assert "accepts_iff_dfa" in failed
    # and only the lemmas downstream of it
    assert set(failed) <= {lemma, "level_invariant", "accepts_iff_dfa"}


def test_the_printed_proof_fails_all_four_errata_lemmas():
    cert = prove(ef.constructions.log_depth_recognizer(named.parity(), erratum_fixes=False))
    assert {"partner_head_selects", "activeness_mlp", "combine_mlp", "enough_levels"} <= {lm.name for lm in cert.failed}


def test_the_missing_final_level_fails_first_at_one_letter():
    cert = prove(ef.constructions.log_depth_recognizer(named.parity(), final_level=False))
    assert "n = 1:" in cert.lemma("enough_levels").detail


def test_every_behaviour_changing_mutant_breaks_a_lemma():
    assert_behaviour_changing_mutants_break_a_lemma("log-depth-parity", build("log-depth-parity"), 12, range(0, 9))
