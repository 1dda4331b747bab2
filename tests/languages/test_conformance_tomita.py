"""Tomita conformance: the AALpy and pythautomata DOT files and tomita_dfas.json against ``tomita(k)``.

Convention (stated in :func:`exactformer.languages.tomita`): Weiss, Goldberg & Yahav 2018 for every grammar, i.e.
Tomita 2 accepts the empty word and Tomita 3 is the "anywhere later" reading. The two documented differences are
asserted explicitly: AALpy's Tomita 2 is ``(10)+`` (``include_empty=False``), pythautomata's Tomita 3 is the
"immediately following" reading (``reading="immediate"``), first differing on ``100110``.
"""

from __future__ import annotations

import json

import pytest

from exactformer.languages import DFA, data_dir, tomita

ROOT = data_dir() / "tomita"


def json_dfa(table: dict) -> DFA:
    return DFA(states=table["states"], alphabet="01", transitions=table["transitions"], start=table["start"],
               accepting=table["accepting"])


def grammars() -> dict:
    return json.loads((ROOT / "tomita_dfas.json").read_text())["grammars"]


@pytest.mark.parametrize("k", range(1, 8))
def test_aalpy_dot(k):
    aalpy = DFA.from_dot(ROOT / "aalpy_dot" / f"tomita_{k}.dot")
    assert aalpy.is_complete
    assert len(aalpy) == len(aalpy.minimize())  # the files are minimal
    assert aalpy.equivalent(json_dfa(grammars()[str(k)]["aalpy"]))
    if k == 2:
        assert aalpy.distinguishing_word(tomita(2)) == ""  # AALpy rejects the empty word
        assert aalpy.equivalent(tomita(2, include_empty=False))
    else:
        assert aalpy.equivalent(tomita(k))


@pytest.mark.parametrize("k", range(1, 8))
def test_pythautomata_sfa_dot(k):
    pyth = DFA.from_dot(ROOT / "pythautomata_sfa_dot" / f"tomita_{k}.sfa.dot")
    assert pyth.alphabet == {"0", "1"}
    assert pyth.equivalent(json_dfa(grammars()[str(k)]["pythautomata"]))
    if k == 3:
        assert pyth.distinguishing_word(tomita(3)) == "100110"
        assert pyth.equivalent(tomita(3, reading="immediate"))
    else:
        assert pyth.equivalent(tomita(k))


@pytest.mark.parametrize("k", range(1, 8))
def test_recorded_acceptance_counts(k):
    g = grammars()[str(k)]
    counts = g["accepted_count_len_0_to_10"]
    ours = sum(tomita(k).count(n) for n in range(11))
    assert ours == counts["weiss_predicate"]
    assert sum(json_dfa(g["aalpy"]).count(n) for n in range(11)) == counts["aalpy"]
    assert sum(json_dfa(g["pythautomata"]).count(n) for n in range(11)) == counts["pythautomata"]
    for d in g["first_disagreements_len_le_10"]:
        assert tomita(k).accepts(d["string"]) == d["weiss_predicate"]
