"""The paper-faithful tree's certificate: proven for every word up to a length (certified ball runs of the exact
weights), never for every n (it says why), with the float64 test beside it; each printed erratum and a mutated
weight fail the lemma they break, by name."""

from __future__ import annotations

import pytest

import exactformer as ef
from exactformer.catalog import build
from exactformer.languages import named
from exactformer.proofs.log_depth_paper import proof_range
from exactformer.verify.certificate import prove
from exactformer.verify.mutants import Mutation, apply_mutation

from .mutants import assert_behaviour_changing_mutants_break_a_lemma

RUNS = ("decisions_certified", "positions", "level_invariant", "accepts_iff_dfa")


def _prove(construction, up_to):
    with proof_range(up_to):
        return prove(construction)


def test_every_word_of_up_to_five_letters_is_proven_with_every_lemma_exhaustive():
    cert = _prove(ef.constructions.paper_tree_recognizer(named.parity()), 5)
    assert cert.proven, cert.to_markdown()
    assert cert.status == "proven for n <= 5"
    assert [lm.name for lm in cert.lemmas] == ["enough_levels", *RUNS]
    assert cert.lemma("accepts_iff_dfa").cases == 2**6 - 1  # every word of 0..5 letters
    assert cert.lemma("positions").cases == sum(2**n * (n + 2) for n in range(6))  # every token of every word
    assert all(cert.lemma(name).scope == "n <= 5" for name in RUNS)


def test_the_float64_test_stays_beside_the_proof_and_the_conclusion_says_why_no_n_is_unbounded():
    cert = _prove(ef.constructions.paper_tree_recognizer(named.parity()), 1)
    beside = cert.lemma("accepts_iff_dfa_tested")
    assert beside.method == "tested" and beside.status == "tested" and beside.scope == "n <= 16"
    assert beside not in cert.lemmas  # evidence, not part of the proof
    assert "1e-40" in cert.conclusion and "1/(2 p^4)" in cert.conclusion


@pytest.mark.parametrize("flag, lemma", [
    ("partner_key_fix", "level_invariant"),      # the partner read from A_j, not A_{j-1}: a survivor's block is wrong
    ("activeness_and_fix", "level_invariant"),   # alpha <- E alone: BOS (E = 1 at c = 0) becomes active
    ("final_level", "enough_levels"),            # ceil(log2 n) levels: none at n = 1
])
def test_each_printed_erratum_fails_the_lemma_it_breaks(flag, lemma):
    cert = _prove(ef.constructions.paper_tree_recognizer(named.parity(), **{flag: False}), 3)
    assert lemma in [lm.name for lm in cert.failed], cert.to_markdown()
    assert not cert.proven


def test_a_partner_head_that_no_longer_breaks_ties_by_position_fails_the_certified_decisions():
    c = ef.constructions.paper_tree_recognizer(named.parity())
    head = c.model.loop.block[4].attention.block
    row = c.model.space.index("pos:z")
    before = head.W_K[0, row, 0]
    # the key is 2 alpha_{j-1} alone: every key after an active one scores the same, up to the balls' width
    mutant = apply_mutation(c, Mutation("loop0.B4.attn.W_K", (0, row, 0), "=0", before, 0 * before))
    cert = _prove(mutant, 3)
    assert "decisions_certified" in [lm.name for lm in cert.failed], cert.to_markdown()


def test_every_behaviour_changing_mutant_breaks_a_lemma_within_the_range_the_oracle_asks():
    with proof_range(4):  # the oracle's lengths: a mutant wrong only on longer words is outside this range
        assert_behaviour_changing_mutants_break_a_lemma("log-depth-paper-parity", build("log-depth-paper-parity"), 5,
                                                        range(0, 5))
