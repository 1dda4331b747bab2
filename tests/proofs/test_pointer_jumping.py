"""The pointer-jumping certificates: proven for every n on the catalog's builds, and able to fail."""

from __future__ import annotations

import pytest

import exactformer as ef
from exactformer.catalog import build
from exactformer.languages import named
from exactformer.verify.certificate import prove
from exactformer.verify.mutants import Mutation, apply_mutation

from .mutants import assert_behaviour_changing_mutants_break_a_lemma


@pytest.mark.parametrize("name", ["pointer-jumping-parity", "pointer-jumping-a5"])
def test_the_catalog_builds_are_proven_for_every_n(name):
    cert = prove(build(name))
    assert cert.proven, cert.to_markdown()
    assert cert.status == "proven for every n"
    assert cert.lemma("composition_mlp").method == "exhaustive"
    m = len(named.word_problem("A5").transition_monoid()) if name.endswith("a5") else 2
    assert cert.lemma("composition_mlp").cases == m * m
    assert "d**2 >= 1" in cert.lemma("pointer_head_selects_pointer").detail


def test_the_function_code_is_proven_on_every_pair_of_monoid_elements():
    dfa = named.tomita(3)
    cert = prove(ef.constructions.pointer_jumping_recognizer(dfa, composition="function"))
    assert cert.proven, cert.to_markdown()
    assert cert.lemma("composition_mlp").cases == len(dfa.transition_monoid()) ** 2


def test_every_behaviour_changing_mutant_breaks_a_lemma():
    name = "pointer-jumping-parity"
    assert_behaviour_changing_mutants_break_a_lemma(name, build(name), 16, range(0, 9))


def test_a_pointer_head_that_reads_the_position_fails_the_selection_lemma():
    c = build("pointer-jumping-parity")
    row = c.model.space.index("pos:i")
    before = c.model.loop.block[0].attention.block.W_Q[0, row, 0]
    # the query's 2p cell also reads i: the score 2 (p + i) j - j^2 - ... is no longer maximal at j = p
    mutant = apply_mutation(c, Mutation("loop0.B0.attn.W_Q", (0, row, 0), "+1", before, before + 1))
    cert = prove(mutant)
    assert "pointer_head_selects_pointer" in [lm.name for lm in cert.failed]
    assert not cert.proven
