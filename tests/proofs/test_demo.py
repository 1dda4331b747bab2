"""The demo's certificate: proven for every n, and broken by its behaviour-changing mutants."""

from __future__ import annotations

import exactformer as ef
from exactformer.verify.certificate import prove

from .mutants import assert_behaviour_changing_mutants_break_a_lemma


def test_copy_first_is_proven_for_every_n():
    cert = prove(ef.constructions.copy_first(("a", "b", "c")))
    assert cert.proven, cert.to_markdown()
    assert cert.lemma("readout").cases == 9 + 3
    assert "gap 1" in cert.lemma("head_selects_first").detail


def test_every_behaviour_changing_mutant_breaks_a_lemma():
    assert_behaviour_changing_mutants_break_a_lemma("demo", ef.constructions.copy_first(), 30, range(1, 7))


def test_the_certificate_mutants_script_runs_in_quick_mode(capsys):
    from ..scripts import import_script

    assert import_script("scripts", "certificate_mutants").main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| `demo` | 1..8 | 3 |" in out
