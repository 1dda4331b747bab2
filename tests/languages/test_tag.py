"""Tag systems against OEIS (shared/data/tag_systems), and their ring Post machines against the tag systems."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from exactformer.languages import data_dir
from exactformer.languages.errors import InvalidMachineError, SymbolNotInAlphabetError
from exactformer.languages.tag import TagRing, TagSystem, collatz_tag_system, post_tag_system, tag_post_machine

DATA = data_dir() / "tag_systems" / "tag_systems.json"


def systems() -> dict:
    return {s["id"]: s for s in json.loads(DATA.read_text())["systems"]}


def test_note_examples():
    s = collatz_tag_system()
    assert [s.run("a" * n).steps for n in range(1, 13)] == [0, 2, 24, 6, 20, 30, 128, 14, 152, 30, 120, 42]
    assert s.run("aaaa", keep_words=True).words == ("aaaa", "aabc", "bcbc", "bca", "aa", "bc", "a")


def test_collatz_trajectories_A351849():
    to_oeis = str.maketrans("abc", "123")
    rows = systems()["demol_collatz_2tag"]["trajectories_oeis_A351849_rows_1_to_4"]
    for n, words in rows.items():
        got = collatz_tag_system().run("a" * int(n), keep_words=True).words
        assert [w.translate(to_oeis) for w in got] == words


def test_collatz_steps_A351850():
    steps = systems()["demol_collatz_2tag"]["steps_to_reach_word_1_oeis_A351850_n_1_to_54"]
    got = [collatz_tag_system().run("a" * n) for n in range(1, 55)]
    assert all(r.halted and r.word == "a" for r in got)
    assert [r.steps for r in got] == steps


def shortcut_collatz_formula(n: int) -> int:
    """Sum over the shortcut trajectory n -> ... -> 1 (excluding 1) of x + 1 (x odd) or x (x even)."""
    total = 0
    while n != 1:
        total += n + 1 if n % 2 else n
        n = (3 * n + 1) // 2 if n % 2 else n // 2
    return total


def test_collatz_step_formula():
    # the note's form "sum over the trajectory minus 2" counts the final 1 -> ... term; the sum without 1 is exact
    assert all(collatz_tag_system().run("a" * n).steps == shortcut_collatz_formula(n) for n in range(1, 80))


def test_post_3tag_A284119_example():
    data = systems()["post_3tag_00_1101"]["example_trajectory_start_100100_oeis_A284119"]
    words = data["preperiod_words"] + data["cycle_words"]
    got = list(post_tag_system().trajectory("100100", len(words)))
    assert got[: len(words)] == words
    assert got[len(words)] == data["cycle_words"][0]  # the 6-cycle closes


def test_post_3tag_preperiods_of_100_n():
    pre = systems()["post_3tag_00_1101"]["start_word_(100)^n"]["preperiod_A284119_n_1_to_49"]
    s = post_tag_system()
    for n in range(1, 14):
        seen: dict[str, int] = {}
        for t, w in enumerate(s.trajectory("100" * n, 100_000)):
            if w in seen:
                break
            seen[w] = t
        first_repeat = seen[w] if w in seen and len(seen) > seen[w] else None
        # preperiod: the index of the first word that recurs (the empty word counts as a state)
        if w == "" and w not in seen:
            assert t == pre[n - 1]
        else:
            assert first_repeat == pre[n - 1]


def test_post_3tag_known_cycles():
    s = post_tag_system()
    for cycle in systems()["post_3tag_00_1101"]["known_cycles_A289674_converted_to_01"]:
        for i, w in enumerate(cycle):
            assert s.step(w) == cycle[(i + 1) % len(cycle)]


@pytest.mark.parametrize("n,L,tokens", [(4, 5, 44), (3, 9, 266), (7, 27, 3714)])
def test_collatz_ring_token_counts_of_the_note(n, L, tokens):
    ring = tag_post_machine(collatz_tag_system(), L)
    run = ring.machine.run(ring.queue("a" * n), 100_000)
    assert run.halted and run.steps == tokens == ring.post_steps(collatz_tag_system().run("a" * n).steps)
    assert ring.word(run.queue) == "a"


def test_collatz_ring_over_many_inputs_and_rings():
    s = collatz_tag_system()
    for n in range(1, 15):
        ref = s.run("a" * n)
        for L in (ref.max_length + 1, ref.max_length + 4):
            ring = tag_post_machine(s, L)
            run = ring.machine.run(ring.queue("a" * n), 1_000_000)
            assert run.halted and run.steps == ring.post_steps(ref.steps) and ring.word(run.queue) == ref.word
        if ref.max_length > n:  # a ring of exactly the longest word length overflows: the machine gets stuck
            ring = tag_post_machine(s, ref.max_length)
            run = ring.machine.run(ring.queue("a" * n), 1_000_000)
            assert run.stuck and not run.halted


def test_ring_halting_restores_short_words():
    s = TagSystem(deletion=3, productions={"0": "00", "1": "1101"}, halt="short")
    for word in ["100100", "1001101", "10", "0"]:
        ref = s.run(word, 200)
        L = ref.max_length + 1
        ring = tag_post_machine(s, L)
        run = ring.machine.run(ring.queue(word), 100_000)
        assert run.halted == ref.halted
        if ref.halted:
            assert ring.word(run.queue) == ref.word
            assert run.steps == ring.post_steps(ref.steps, final_length=len(ref.word))


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(2, 4),
    productions=st.lists(st.text("abc", min_size=1, max_size=5), min_size=3, max_size=3),
    word=st.text("abc", min_size=1, max_size=8),
    extra=st.integers(1, 3),
)
def test_ring_cost_is_L_plus_m_per_tag_step(m, productions, word, extra):
    """For any m: (L + m) Post steps per tag step, plus 2k at the halt (k the final word's length); the ring's final
    word is the tag system's. (The note's L + 2 is the m = 2 case.)"""
    s = TagSystem(deletion=m, productions=dict(zip("abc", productions)), halt="short")
    ref = s.run(word, 200)
    assume(ref.halted)
    L = ref.max_length + extra
    ring = tag_post_machine(s, L)
    run = ring.machine.run(ring.queue(word), 1_000_000)
    assert run.halted and ring.word(run.queue) == ref.word
    assert run.steps == (L + m) * ref.steps + 2 * len(ref.word) == ring.post_steps(ref.steps, len(ref.word))


def test_post_3tag_ring_follows_the_cycle():
    """Post's system from 100100 never halts; the ring machine's words at each deletion match the trajectory."""
    s = post_tag_system(halt="short")
    words = list(s.trajectory("100100", 40))
    L = max(map(len, words)) + 1
    ring = tag_post_machine(s, L)
    pm = ring.machine
    seen = []
    for config in pm.configurations(ring.queue("100100"), (L + 3) * 42):
        if str(config.state).startswith("D:") and len(str(config.state)) == 3:  # the first symbol was just deleted
            seen.append(str(config.state)[2] + TagRing.word(config.queue))
    assert seen[:40] == words[:40]


def test_errors():
    with pytest.raises(InvalidMachineError, match="deletion"):
        TagSystem(deletion=0, productions={"a": "a"})
    with pytest.raises(InvalidMachineError, match="no production"):
        TagSystem(deletion=2, productions={"a": "ab"})
    with pytest.raises(InvalidMachineError, match="halt"):
        TagSystem(deletion=2, productions={"a": "a"}, halt="never")
    with pytest.raises(SymbolNotInAlphabetError, match="position 1"):
        collatz_tag_system().run("ax")
    with pytest.raises(InvalidMachineError, match="short"):
        tag_post_machine(post_tag_system(), 10)
    with pytest.raises(InvalidMachineError, match="at most 4"):
        tag_post_machine(collatz_tag_system(), 5).queue("aaaaa")
    with pytest.raises(InvalidMachineError, match="halted"):
        collatz_tag_system().step("a")
