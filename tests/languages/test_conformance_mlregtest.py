"""MLRegTest conformance (van der Poel et al. 2024): every AT&T automaton parses, and its minimal DFA has the sizes
recorded in counts.tsv (``Size`` = states of the trimmed minimal DFA; ``Monoid`` = size of the syntactic monoid,
i.e. the transition monoid of the minimal complete DFA). The 330 complement languages (co-SL, co-SP, TcoSL) have no
file; they are checked as complements of their base language.

The default run checks a fixed sample; ``-m slow`` checks all 1470 files (``scripts/languages_conformance.py``
prints the full figures).
"""

from __future__ import annotations

import csv
import random

import pytest

from exactformer.languages import DFA, data_dir

ROOT = data_dir() / "mlregtest"

CO = {"coSL": "SL", "coSP": "SP", "TcoSL": "TSL"}


def rows() -> dict[str, dict[str, str]]:
    if not (ROOT / "counts.tsv").is_file():
        return {}
    with open(ROOT / "counts.tsv", encoding="utf-8") as f:
        return {".".join(r[c] for c in ("Alph", "Tier", "Class", "k", "j", "i")): r
                for r in csv.DictReader(f, delimiter="\t")}


ROWS = rows()
FILES = sorted(p.stem for p in (ROOT / "att_format").glob("*.att")) if ROOT.is_dir() else []
SAMPLE = sorted(random.Random(0).sample(FILES, min(40, len(FILES)))) if FILES else []
CO_ROWS = sorted(n for n, r in ROWS.items() if r["Class"] in CO)


def check_file(name: str, *, monoid_limit: int = 1000) -> None:
    dfa = DFA.from_att(ROOT / "att_format" / f"{name}.att")
    row = ROWS[name]
    assert len(dfa.alphabet) == int(row["Alph"])
    trimmed = dfa.minimize(complete=False)
    assert len(trimmed) == int(row["Size"]), name
    # every file is already minimal (complete or trimmed): its own size is Size or Size + 1 (the dead state)
    assert len(dfa) in (int(row["Size"]), int(row["Size"]) + 1)
    if int(row["Monoid"]) <= monoid_limit:
        assert len(dfa.minimize(complete=True).transition_monoid()) == int(row["Monoid"]), name


def base_of(co_name: str) -> str:
    parts = co_name.split(".")
    parts[2] = CO[parts[2]]
    return ".".join(parts)


def check_complement(co_name: str) -> None:
    base = DFA.from_att(ROOT / "att_format" / f"{base_of(co_name)}.att")
    co = base.complement()
    row = ROWS[co_name]
    assert len(co.minimize(complete=False)) == int(row["Size"]), co_name
    assert len(co.minimize(complete=True).transition_monoid()) == int(row["Monoid"]), co_name


def test_inventory():
    assert len(FILES) == 1470
    assert len(ROWS) == 1800
    assert set(FILES) <= set(ROWS)
    assert set(ROWS) - set(FILES) == set(CO_ROWS) and len(CO_ROWS) == 330
    assert all(base_of(n) in FILES for n in CO_ROWS)


@pytest.mark.parametrize("name", SAMPLE)
def test_sample_parses_and_matches_counts(name):
    check_file(name)


def test_start_state_is_the_first_lines_source():
    name = "04.04.Zp.2.1.1"
    text = (ROOT / "att_format" / f"{name}.att").read_text()
    first_source = int(text.split()[0])
    assert first_source != 0
    assert DFA.from_att(text).start == first_source


@pytest.mark.parametrize("name", CO_ROWS[::30])
def test_sample_of_complements(name):
    check_complement(name)


@pytest.mark.slow
def test_all_files_parse_and_match_counts():
    for name in FILES:
        check_file(name, monoid_limit=5000)


@pytest.mark.slow
def test_all_complements_match_counts():
    for name in CO_ROWS:
        check_complement(name)
