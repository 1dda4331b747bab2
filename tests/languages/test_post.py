"""PostMachine: the synchronous fixed-length queue, checked against hand-computed runs and a list-based simulator."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from exactformer.constructions.post_machine import PostMachineSpec
from exactformer.languages.errors import InvalidMachineError, SymbolNotInAlphabetError
from exactformer.languages.post import PMConfiguration, PostMachine
from exactformer.verify.strategies import post_machines

FLIP = dict(
    symbols="012",
    states=["run", "stop"],
    start="run",
    halting=["stop"],
    transitions={("run", "0"): ("1", "run"), ("run", "1"): ("0", "run"), ("run", "2"): ("2", "stop")},
)


def test_hand_computed_run():
    pm = PostMachine(**FLIP)
    r = pm.run("0112", trace=True)
    # pops 0,1,1 pushing 1,0,0; pops 2 pushing 2 and stops: queue 1002
    assert r.halted and not r.stuck and r.steps == 4 and "".join(r.queue) == "1002"
    assert r.trace == (("1", "run"), ("0", "run"), ("0", "run"), ("2", "stop"))
    assert pm.step(PMConfiguration("run", tuple("10"))) == PMConfiguration("run", tuple("00"))  # pop 1, push 0
    assert pm.step(PMConfiguration("stop", tuple("10"))) is None


def test_budget_and_stuck():
    pm = PostMachine(**FLIP)
    r = pm.run("0101", max_steps=7)
    assert (r.halted, r.stuck, r.steps) == (False, False, 7)
    partial = PostMachine(
        symbols="01", states=["a", "h"], start="a", halting=["h"], transitions={("a", "0"): ("1", "a")}
    )
    r = partial.run("001")
    assert (r.halted, r.stuck, r.steps, "".join(r.queue)) == (False, True, 2, "111")


def list_simulator(pm: dict, queue: list, max_steps: int) -> tuple[list, str, bool]:
    state, queue = pm["start"], list(queue)
    for _ in range(max_steps):
        if state in pm["halting"]:
            break
        b, state = pm["delta"][(state, queue.pop(0))]
        queue.append(b)
    return queue, state, state in pm["halting"]


@settings(max_examples=60, deadline=None)
@given(pm=post_machines())
def test_random_machines_agree_with_a_list_simulator(pm):
    machine = PostMachine(
        symbols=pm["symbols"], states=pm["states"], transitions=pm["delta"], start=pm["start"], halting=pm["halting"]
    )
    r = machine.run(pm["queue"], max_steps=50)
    queue, state, halted = list_simulator(pm, pm["queue"], 50)
    assert (list(r.queue), r.state, r.halted) == (queue, state, halted)
    configs = list(machine.configurations(pm["queue"], 50))
    assert configs[-1] == PMConfiguration(r.state, r.queue) and len(configs) == r.steps + 1


def test_accepted_by_the_construction_spec():
    spec = PostMachineSpec.of(PostMachine(**FLIP))
    assert spec.start == "run" and spec.halting == {"stop"} and len(spec.transitions) == 3


@pytest.mark.parametrize(
    "change,match",
    [
        ({"start": "go"}, "start state"),
        ({"halting": ["nope"]}, "not states"),
        ({"transitions": {("stop", "0"): ("1", "run")}}, "halting state"),
        ({"transitions": {("run", "9"): ("1", "run")}}, "symbol '9'"),
        ({"transitions": {("run", "0"): ("1", "elsewhere")}}, "elsewhere"),
        ({"transitions": {("run", "0"): "1"}}, "must map to"),
        ({"transitions": {"run": ("1", "run")}}, "pair"),
        ({"symbols": ""}, "at least one"),
    ],
)
def test_malformed_machines_are_named(change, match):
    with pytest.raises(InvalidMachineError, match=match):
        PostMachine(**{**FLIP, **change})


def test_bad_queues_and_immutability():
    pm = PostMachine(**FLIP)
    with pytest.raises(SymbolNotInAlphabetError, match="position 2"):
        pm.run("01x")
    with pytest.raises(SymbolNotInAlphabetError, match="non-empty"):
        pm.run("")
    with pytest.raises(InvalidMachineError, match="not a state"):
        pm.run("01", state="zzz")
    with pytest.raises(AttributeError):
        pm.start = "stop"  # type: ignore[misc]
    with pytest.raises(TypeError):
        PostMachine(FLIP["symbols"], FLIP["states"])  # type: ignore[misc]  # keyword-only
    assert PostMachine(**FLIP) == pm and hash(PostMachine(**FLIP)) == hash(pm)
