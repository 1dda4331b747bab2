"""The connectivity certificate: its MLPs proven on every local configuration, its heads tested; each printed
erratum fails the lemma it breaks."""

from __future__ import annotations

import pytest

import exactformer as ef
from exactformer.verify.certificate import prove


def test_the_mlps_are_proven_and_the_run_is_tested():
    cert = prove(ef.constructions.log_depth_connectivity(num_vertices=4))
    assert cert.holds and not cert.proven
    assert cert.lemma("base_case_mlp").proven and cert.lemma("squaring_mlp").proven
    assert cert.lemma("heads_and_run_tested").status == "tested"
    assert cert.status.startswith("tested to n = 4")


@pytest.mark.parametrize("flag, lemma", [
    ("printed_base_case", "base_case_mlp"),
    ("printed_flip", "squaring_mlp"),
    ("printed_threshold", "squaring_mlp"),
])
def test_each_printed_erratum_fails_the_lemma_it_breaks(flag, lemma):
    cert = prove(ef.constructions.log_depth_connectivity(num_vertices=3, **{flag: True}))
    assert not cert.lemma(lemma).proven
    assert cert.lemma(lemma).status == "failed"
