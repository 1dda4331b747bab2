"""Other DFA suites: the STAMINA example (blambeau/stamina ``example/basic``): the ADL target DFA, read by a small ADL
reader written here, labels its 16-string characteristic sample as recorded (a missing arc rejects)."""

from __future__ import annotations

from exactformer.languages import DFA, data_dir

ROOT = data_dir() / "other_dfa_suites" / "stamina_example"


def read_adl(text: str) -> DFA:
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    n_states, n_edges = map(int, lines[0])
    states = lines[1:1 + n_states]
    edges = lines[1 + n_states:1 + n_states + n_edges]
    start = [int(s) for s, init, _ in states if init == "true"]
    assert len(start) == 1
    return DFA(states={int(s) for s, _, _ in states}, alphabet={a for _, _, a in edges},
               transitions={(int(u), a): int(v) for u, v, a in edges}, start=start[0],
               accepting={int(s) for s, _, acc in states if acc == "true"})


def test_stamina_characteristic_sample():
    dfa = read_adl((ROOT / "target.adl").read_text())
    assert len(dfa) == 3 and not dfa.is_complete
    sample = []
    for line in (ROOT / "characteristic_sample.adl").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            label, *word = line.split()
            sample.append((label == "+", word))
    assert len(sample) == 16
    for label, word in sample:
        assert dfa.accepts(word) == label, word
