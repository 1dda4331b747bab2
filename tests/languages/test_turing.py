"""TuringMachine against the published busy-beaver values and an independent dict-tape simulator in this file."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from exactformer.languages import data_dir
from exactformer.languages.errors import InvalidMachineError, ParseError, SymbolNotInAlphabetError
from exactformer.languages.turing import TuringMachine
from exactformer.verify.strategies import turing_machines

DATA = data_dir() / "busy_beaver"


def naive_run(text: str, max_steps: int) -> tuple[bool, int, int, dict[int, int]]:
    """Standard notation parsed by hand; a dict tape; the halting step counts and its write applies."""
    groups = text.split("_")
    k = len(groups[0]) // 3
    table = {(chr(65 + q), a): g[3 * a: 3 * a + 3] for q, g in enumerate(groups) for a in range(k)}
    tape: dict[int, int] = {}
    state, head, steps = "A", 0, 0
    while steps < max_steps:
        cell = table[(state, tape.get(head, 0))]
        steps += 1
        if cell == "---":
            return True, steps, sum(1 for v in tape.values() if v), tape
        tape[head] = int(cell[0])
        head += 1 if cell[1] == "R" else -1
        state = cell[2]
        if ord(state) - 65 >= len(groups):
            return True, steps, sum(1 for v in tape.values() if v), tape
    return False, steps, sum(1 for v in tape.values() if v), tape


@pytest.mark.parametrize("text,steps,ones", [
    ("1RB1LB_1LA1RZ", 6, 4),  # BB(2), Rado
    ("1RB1RZ_1LB0RC_1LC1LA", 21, 5),  # BB(3) steps champion (Marxen)
    ("1RB1RZ_0RC1RB_1LC1LA", 14, 6),  # BB(3) ones champion (Marxen)
    ("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", 107, 13),  # BB(4), Brady
])
def test_published_champions(text, steps, ones):
    r = TuringMachine.from_standard(text).run(10_000)
    assert (r.halted, r.steps, r.ones) == (True, steps, ones)
    p = TuringMachine.from_standard(text).run(10_000, accelerate=False)
    assert (p.steps, p.ones, p.tape, p.visited) == (r.steps, r.ones, r.tape, r.visited)


def test_visited_widths_of_the_note():
    widths = {"1RB1LB_1LA1RZ": (-2, 1), "1RB1RZ_1LB0RC_1LC1LA": (-1, 3), "1RB1RZ_0RC1RB_1LC1LA": (-1, 4),
              "1RB1LB_1LA0LC_1RZ1LD_1RD0RA": (-10, 3)}
    for text, visited in widths.items():
        assert TuringMachine.from_standard(text).run(1000).visited == visited


def test_champions_json_small():
    champions = json.loads((DATA / "champions.json").read_text())["champions"]
    checked = 0
    for c in champions:
        if c["steps"] > 5_000_000:
            continue  # BB(3,3) is out of reach; BB(5) and BB(2,4) are in the slow test
        if c["steps"] > 100_000:
            continue
        r = TuringMachine.from_standard(c["tm"]).run(c["steps"] + 10)
        assert (r.halted, r.steps, r.ones) == (True, c["steps"], c["sigma"]), c["domain"]
        checked += 1
    assert checked == 5  # BB(2), BB(3) x2, BB(4), BB(2,3)


@pytest.mark.slow
def test_champions_json_millions():
    champions = json.loads((DATA / "champions.json").read_text())["champions"]
    for c in champions:
        if 100_000 < c["steps"] <= 50_000_000:  # BB(5) 47,176,870 and BB(2,4) 3,932,964
            r = TuringMachine.from_standard(c["tm"]).run(c["steps"] + 10)
            assert (r.halted, r.steps, r.ones) == (True, c["steps"], c["sigma"]), c["domain"]


def _list(name: str) -> list[tuple[str, int, int]]:
    rows = []
    for line in (DATA / "ligocki_bb_lists" / f"{name}.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "Halt":
            rows.append((parts[0], int(parts[2]), int(parts[3])))
    return rows


@pytest.mark.parametrize("name,count", [("2x2", 15), ("3x2", 1379), ("4x2", 1000), ("2x3", 866), ("2x4", 100)])
def test_ligocki_lists(name, count):
    rows = _list(name)
    assert len(rows) == count
    wrong = []
    for text, steps, ones in rows:
        if steps > 200_000:
            continue
        r = TuringMachine.from_standard(text).run(steps + 10)
        if (r.halted, r.steps, r.ones) != (True, steps, ones):
            wrong.append((text, steps, ones, r.steps, r.ones))
    assert not wrong


@settings(max_examples=60, deadline=None)
@given(text=turing_machines(max_states=4, symbols=2))
def test_random_machines_agree_with_the_naive_simulator(text):
    halted, steps, ones, tape = naive_run(text, 300)
    for accelerate in (True, False):
        r = TuringMachine.from_standard(text).run(300, accelerate=accelerate)
        assert (r.halted, r.steps, r.ones) == (halted, steps, ones)
        assert r.cells() == {c: v for c, v in tape.items() if v}


@settings(max_examples=60, deadline=None)
@given(text=turing_machines(max_states=3, symbols=3))
def test_random_three_symbol_machines_agree_with_the_naive_simulator(text):
    halted, steps, ones, _ = naive_run(text, 200)
    r = TuringMachine.from_standard(text).run(200)
    assert (r.halted, r.steps, r.ones) == (halted, steps, ones)


@pytest.mark.parametrize("text,match", [
    ("1RB1LB_1LA", "group 2"),
    ("1XB1LB_1LA1RZ", "1XB"),
    ("2RB1LB_1LA1RZ", "writes 2"),
    ("", "empty"),
    ("1RB1L", "3-character"),
])
def test_malformed_text_is_named(text, match):
    with pytest.raises(ParseError, match=match):
        TuringMachine.from_standard(text)


def test_malformed_machines_are_named():
    with pytest.raises(InvalidMachineError, match="move"):
        TuringMachine(states=["A"], alphabet=[0, 1], transitions={("A", 0): (1, "U", "A")}, start="A")
    with pytest.raises(InvalidMachineError, match="start state"):
        TuringMachine(states=["A"], alphabet=[0, 1], transitions={}, start="B")
    with pytest.raises(InvalidMachineError, match="not in the alphabet"):
        TuringMachine(states=["A"], alphabet=[0, 1], transitions={("A", 2): (1, "R", "A")}, start="A")
    with pytest.raises(InvalidMachineError, match="halting state"):
        TuringMachine(states=["A"], alphabet=[0, 1], transitions={("H", 0): (1, "R", "A")}, start="A",
                      halting=["H"])
    with pytest.raises(InvalidMachineError, match="not a state"):
        TuringMachine(states=["A"], alphabet=[0, 1], transitions={("A", 0): (1, "R", "Q")}, start="A")
    tm = TuringMachine.from_standard("1RB1LB_1LA1RZ")
    with pytest.raises(SymbolNotInAlphabetError, match="cell 1"):
        tm.run(10, tape=[0, 7])
    with pytest.raises(AttributeError):
        tm.start = "B"  # type: ignore[misc]


def test_round_trip_and_input_tape():
    text = "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"
    assert TuringMachine.from_standard(text).to_standard() == text
    # A: on 0 write 1 and move right; on 1 write 1, move right and halt. On the input 1 it halts at once.
    tm = TuringMachine.from_standard("1RA1RZ")
    r = tm.run(10, tape=[1])
    assert (r.steps, r.ones, r.halted) == (1, 1, True)
