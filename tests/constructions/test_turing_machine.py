"""Turing machines and tag systems through the one-layer window decoder, token by token against the references
(exactformer.languages: TuringMachine, the TM -> Post compiler, PostMachine, TagSystem)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings

from exactformer.constructions.post_machine import ENTRIES, run_turing_machine, tag_system, turing_machine
from exactformer.core.errors import InputError
from exactformer.languages.compiler import predicted_post_steps
from exactformer.languages.tag import collatz_tag_system
from exactformer.languages.turing import TuringMachine
from exactformer.verify.strategies import turing_machines

DATA = Path("/work/shared/data/busy_beaver")


def through_the_transformer(text: str, extra: int = 0, dtype=torch.float64) -> None:
    tm = TuringMachine.from_standard(text)
    ref = tm.run(100_000)
    assert ref.halted
    T = max(ref.width + extra, 3)
    c = turing_machine(tm, T)
    compiled = c.extras["compiled"]
    pm_run = compiled.machine.run(compiled.initial_queue(), 10_000_000, trace=True)
    run = run_turing_machine(c, max_tokens=pm_run.steps + 10, dtype=dtype)
    assert run.halted
    assert run.post.tokens == list(pm_run.trace)  # every token is the reference Post step
    assert run.tokens == predicted_post_steps(ref, T)
    assert (run.tm_steps, run.ones) == (ref.steps, ref.ones)
    assert set(run.post.margins) == {1.0}


@pytest.mark.parametrize("text,steps,ones,tokens", [
    ("1RB1LB_1LA1RZ", 6, 4, 12), ("1RB1RZ_1LB0RC_1LC1LA", 21, 5, 51), ("1RB1RZ_0RC1RB_1LC1LA", 14, 6, 38),
])
def test_small_busy_beavers(text, steps, ones, tokens):
    through_the_transformer(text)
    r = run_turing_machine(turing_machine(text, TuringMachine.from_standard(text).run(100).width))
    assert (r.tm_steps, r.ones, r.tokens) == (steps, ones, tokens)


def test_bb2_in_half_precision_and_exact():
    through_the_transformer("1RB1LB_1LA1RZ", dtype=torch.float16)
    through_the_transformer("1RB1LB_1LA1RZ", dtype=torch.bfloat16)
    c = turing_machine("1RB1LB_1LA1RZ", 4)
    run = run_turing_machine(c, backend="exact")
    assert (run.tm_steps, run.ones, run.tokens) == (6, 4, 12)


@pytest.mark.slow
def test_bb4():
    through_the_transformer("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")  # 107 steps, 13 ones, 803 tokens


@pytest.mark.slow
@pytest.mark.skipif(not DATA.exists(), reason="shared/data/busy_beaver is absent")
@pytest.mark.parametrize("name", ["2x2", "3x2", "4x2"])
def test_every_listed_machine(name):
    for line in (DATA / "ligocki_bb_lists" / f"{name}.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "Halt":
            through_the_transformer(parts[0])


@pytest.mark.skipif(not DATA.exists(), reason="shared/data/busy_beaver is absent")
def test_the_2x2_list():
    for line in (DATA / "ligocki_bb_lists" / "2x2.txt").read_text().splitlines():
        through_the_transformer(line.split()[0])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=turing_machines(max_states=3, symbols=2))
def test_random_halting_machines(text):
    r = TuringMachine.from_standard(text).run(60)
    assume(r.halted and predicted_post_steps(r, max(r.width, 3)) <= 120)
    through_the_transformer(text)


def test_wider_tape_changes_only_the_window():
    a, b = turing_machine("1RB1LB_1LA1RZ", 4), turing_machine("1RB1LB_1LA1RZ", 9)
    wa, wb = a.weights(), b.weights()
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    assert run_turing_machine(b).tokens == 6 + 7 * 3  # t + (T - 2)·3 left moves


def test_collatz_through_the_transformer():
    system = collatz_tag_system()
    for n, L in [(3, 9), (4, 5)]:
        c = tag_system(system, L)
        ring = c.extras["ring"]
        ref = system.run("a" * n)
        pm_run = ring.machine.run(ring.queue("a" * n), 100_000, trace=True)
        run = c.simulate(ring.queue("a" * n), max_tokens=pm_run.steps + 5, dtype=torch.float16)
        assert run.halted and run.tokens == list(pm_run.trace)
        assert run.steps == ring.post_steps(ref.steps) and ring.word(run.queue) == "a"


def test_collatz_batched():
    c = tag_system(collatz_tag_system(), 6)
    ring = c.extras["ring"]
    queues = [ring.queue("a" * n) for n in (1, 2, 4)]
    runs = c.simulate(queues=queues, max_tokens=200)
    for n, run in zip((1, 2, 4), runs):
        assert run.halted and run.steps == ring.post_steps(collatz_tag_system().run("a" * n).steps)


def test_tape_too_narrow_is_a_wrong_answer_not_silence():
    # BB(2) visits 4 cells; on 3 cyclic cells the tape wraps (the note's caveat) and the count of ones differs
    run = run_turing_machine(turing_machine("1RB1LB_1LA1RZ", 3), max_tokens=100)
    assert run.ones != 4 or run.tm_steps != 6


def test_errors():
    with pytest.raises(InputError, match="TuringMachine"):
        turing_machine(42, 5)
    c = turing_machine("1RB1LB_1LA1RZ", 4)
    with pytest.raises(InputError, match="exactly"):
        c.simulate(["0", "0"])


def test_entries_build_and_verify():
    from exactformer.verify import check

    names = {e.name for e in ENTRIES}
    assert names == {"post-machine", "turing-machine"}
    for e in ENTRIES:
        c = e.builder()
        report = check(c, e.reference(c), lengths=e.lengths, samples_per_length=20, exhaustive_up_to=100, seed=0)
        assert report.passed, e.name
