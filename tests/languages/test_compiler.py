"""The TM -> Post compiler: exact step count t + (T-2)·(non-halting left moves), and the final tape, against the
TuringMachine reference, over the busy-beaver lists and random halting machines."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings

from exactformer.languages import data_dir
from exactformer.languages.compiler import compile_turing_machine, predicted_post_steps
from exactformer.languages.errors import InvalidMachineError
from exactformer.languages.turing import TuringMachine
from exactformer.verify.strategies import turing_machines

DATA = data_dir() / "busy_beaver"


def check_machine(text: str, extra: int = 0) -> tuple[int, int]:
    """Compile with T = visited width + extra; compare the count with t + (T - 2)·#L (counted here from a plain
    step-by-step TM run) and the final cyclic tape with the TM's."""
    tm = TuringMachine.from_standard(text)
    configs = list(tm.configurations(100_000))
    ref = tm.run(100_000)
    assert ref.halted
    t = len(configs) - 1
    lefts = sum(1 for a, b in zip(configs, configs[1:]) if b.head < a.head)
    halting_left = ref.halting_move == "L"
    T = max(ref.width + extra, 3)
    c = compile_turing_machine(tm, T)
    run = c.machine.run(c.initial_queue(), 10_000_000)
    assert run.halted
    assert run.steps == t + (T - 2) * (lefts - halting_left) == predicted_post_steps(ref, T)
    tape, _ = c.final_tape(run)
    last = ref.head - {"R": 1, "L": -1, None: 0}[ref.halting_move]  # the cell of the halting transition
    lo = ref.visited[0]
    # the cyclic tape holds cell c at c mod T; the visited range [lo, lo + width) maps injectively
    expected = tuple(ref.cells().get(lo + (cell - lo) % T, 0) for cell in range(last, last + T))
    assert tape == expected
    return run.steps, T


def test_note_table():
    # docs/notes/post_machine.md §6.1: PM steps 12, 51, 38, 803 at T = visited width
    for text, steps, T in [
        ("1RB1LB_1LA1RZ", 12, 4),
        ("1RB1RZ_1LB0RC_1LC1LA", 51, 5),
        ("1RB1RZ_0RC1RB_1LC1LA", 38, 6),
        ("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", 803, 14),
    ]:
        assert check_machine(text) == (steps, T)
    assert check_machine("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", extra=4) == (1035, 18)


def test_sizes():
    c = compile_turing_machine(TuringMachine.from_standard("1RB1LB_1LA0LC_1RZ1LD_1RD0RA"), 14)
    # |Sigma_P| = 2|Gamma|, |P| = 2|Q\H||Gamma| + |Gamma|, FFN width = 3|Q\H||Gamma|^2 defined pairs
    assert (len(c.machine.symbols), len(c.machine.states), len(c.machine.transitions)) == (4, 18, 48)


def _rows(name: str) -> list[str]:
    return [
        line.split()[0]
        for line in (DATA / "ligocki_bb_lists" / f"{name}.txt").read_text().splitlines()
        if len(line.split()) >= 4 and line.split()[1] == "Halt"
    ]


@pytest.mark.parametrize("name,stride", [("2x2", 1), ("3x2", 1), ("4x2", 7)])
def test_ligocki_machines(name, stride):
    rows = _rows(name)[::stride]
    for text in rows:
        check_machine(text)
    for text in rows[::25]:
        check_machine(text, extra=3)  # any T >= the visited width


@pytest.mark.slow
def test_every_4x2_machine():
    for text in _rows("4x2"):
        check_machine(text)


@settings(max_examples=40, deadline=None)
@given(text=turing_machines(max_states=4, symbols=2))
def test_random_halting_machines(text):
    r = TuringMachine.from_standard(text).run(200)
    assume(r.halted)
    check_machine(text)


def test_three_symbol_machine():
    check_machine("1RB2LB1RZ_2LA2RB1LB")  # BB(2,3): 38 steps, 9 non-zero cells


def test_errors():
    tm = TuringMachine.from_standard("1RB1LB_1LA1RZ")
    with pytest.raises(InvalidMachineError, match="at least 3"):
        compile_turing_machine(tm, 2)
    c = compile_turing_machine(tm, 4)
    with pytest.raises(InvalidMachineError, match="only 4"):
        c.initial_queue([0, 1, 0, 1, 1])
    with pytest.raises(InvalidMachineError, match="not a halting state"):
        c.final_tape(c.machine.run(c.initial_queue(), max_steps=2))
