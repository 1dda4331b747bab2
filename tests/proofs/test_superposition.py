"""The superposition certificate is tested, not proven, and says so; the printed eps2 fails its bound."""

from __future__ import annotations

import exactformer as ef
from exactformer.verify.certificate import prove


def test_the_certificate_is_tested_and_names_its_range():
    cert = prove(ef.constructions.superposition_reachability(max_nodes=8, max_edges=16))
    assert cert.holds and not cert.proven
    assert [lm.name for lm in cert.tested_only] == ["answers_tested", "thoughts_are_frontiers"]
    assert cert.lemma("eps2_bound").proven
    assert cert.status == "tested to n = 8 (sampled graphs)"


def test_the_printed_eps2_fails_the_bound():
    cert = prove(ef.constructions.superposition_reachability(max_nodes=8, max_edges=16, printed_eps2=True))
    assert cert.lemma("eps2_bound").failed
