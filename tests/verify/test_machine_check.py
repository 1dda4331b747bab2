"""The default check of a machine construction covers the machine: every defined transition from every working
state (mixed-state windows), and whole decodes compared token by token with the reference simulator.

The references here are the Post-machine simulator (exactformer.languages.post) and, for the expected failing
steps, runs of the machines written out below; nothing is read back from the code under test.
"""

from __future__ import annotations

import dataclasses
import json
import random
from fractions import Fraction

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from typer.testing import CliRunner

from exactformer.cli import app
from exactformer.constructions import REGISTRY
from exactformer.constructions.post_machine import post_machine
from exactformer.constructions.turing_tag import tag_system, turing_machine
from exactformer.core.errors import InputError
from exactformer.languages.compiler import compile_turing_machine
from exactformer.languages.post import PostMachine
from exactformer.languages.tag import collatz_tag_system
from exactformer.languages.turing import TuringMachine
from exactformer.verify import check
from exactformer.verify.machines import (
    PostMachineReference,
    check_decodes,
    post_machine_reference,
    tag_reference,
    turing_reference,
)
from exactformer.verify.strategies import turing_machines as random_turing_machines

torch.set_num_threads(1)

# flip every symbol as it passes, halt on 2; state "keep" copies; "keep" on 2 is undefined (stuck)
MACHINE = dict(
    symbols=["0", "1", "2"],
    states=["run", "keep", "stop"],
    transitions={
        ("run", "0"): ("1", "run"), ("run", "1"): ("0", "keep"), ("run", "2"): ("2", "stop"),
        ("keep", "0"): ("0", "run"), ("keep", "1"): ("1", "keep"),
    },
    start="run",
    halting=["stop"],
)


def machine(**changes) -> PostMachine:
    return PostMachine(**{**MACHINE, **changes})


def with_mlp_bias(construction, index: int, value: Fraction):
    """A copy of ``construction`` whose L0.mlp.b_in[index] is ``value`` (the exact array copied, the frozen
    MLP / Sublayer / Layer / Transformer / Construction replaced)."""
    layer = construction.model.layers[0]
    mlp = layer.mlp.block
    b_in = mlp.b_in.copy()
    b_in[index] = value
    layer = dataclasses.replace(layer, mlp=dataclasses.replace(layer.mlp, block=dataclasses.replace(mlp, b_in=b_in)))
    return dataclasses.replace(construction, model=dataclasses.replace(construction.model, layers=(layer,)))


def default_check(name: str, construction=None):
    entry = REGISTRY[name]
    c = construction if construction is not None else entry.builder(**entry.options)
    return check(c, entry.reference(c), lengths=entry.default_lengths(c))


# -- coverage ----------------------------------------------------------------------------------------------------------
def test_one_step_inputs_cover_every_defined_transition_from_every_working_state():
    pm = compile_turing_machine(TuringMachine.from_standard("1RB1LB_1LA1RZ"), 4).machine
    ref = PostMachineReference(pm, 3)
    xs, _ = ref.inputs(3, count=200, exhaustive_limit=4096, rng=random.Random(0))
    covered = {(x[-1][1], x[0][0]) for x in xs}
    defined = {(p, a) for (p, a) in pm.transitions}
    assert covered == defined
    assert {p for p, _ in defined} == set(pm.states) - set(pm.halting)  # every working state, not only the start
    assert any(len({p for _, p in x}) > 1 for x in xs)  # windows holding tokens of different states
    assert all(ref.expected(x) == pm.transitions[(x[-1][1], x[0][0])] for x in xs)


def test_the_decode_corpus_has_the_machines_own_starts_random_starts_and_every_undefined_pair():
    compiled = compile_turing_machine(TuringMachine.from_standard("1RB1LB_1LA1RZ"), 4)
    ref = turing_reference(compiled)
    corpus = ref.decodes(3, random.Random(0))
    blank = corpus[0]
    assert blank.label == "blank tape"
    assert [b for b, _ in blank.prompt] == list(compiled.initial_queue())
    assert blank.outcome == "halted" and len(blank.tokens) == 12  # BB(2): 12 Post steps (the note's table)
    pm = compiled.machine
    undefined = {(p, a) for p in pm.states if p not in pm.halting for a in pm.symbols} - set(pm.transitions)
    stuck_at_once = {(d.prompt[-1][1], d.prompt[0][0]) for d in corpus if d.outcome == "stuck" and not d.tokens}
    assert stuck_at_once == undefined
    assert any(d.label.startswith("tape ") for d in corpus) and any(d.label.startswith("random") for d in corpus)


def test_every_first_token_meets_every_last_token_for_every_pair_defined_or_not():
    """The model reads the first and the last token whole (one embedding row each), so for every working pair (p, a)
    the check holds every front token (a, q) against every last token (b, p): defined pairs as one-step inputs,
    undefined ones as decodes that must be stuck at once."""
    pm = compile_turing_machine(TuringMachine.from_standard("1RB1LB_1LA1RZ"), 4).machine
    ref = PostMachineReference(pm, 3)
    working = [p for p in pm.states if p not in pm.halting]
    frames = {(p, a, q, b) for p in working for a in pm.symbols for q in working for b in pm.symbols}
    xs, _ = ref.inputs(3, count=10, exhaustive_limit=0, rng=random.Random(1))
    stuck = [d.prompt for d in ref.decodes(3, random.Random(1)) if d.outcome == "stuck" and not d.tokens]
    seen = {(x[-1][1], x[0][0], x[0][1], x[-1][0]) for x in (*xs, *stuck)}
    assert seen == frames
    assert {(x[-1][1], x[0][0]) for x in stuck} == {(p, a) for p, a, _, _ in frames} - set(pm.transitions)


def test_a_mutant_only_one_last_token_exposes_is_caught():
    """The mutant the 200-mutant run of scripts/mutation.py found missed before the frames above: one entry of
    one token's embedding row (W_E[16, 7] from 1 to 2) makes the model emit a token where the reference is stuck,
    but only when that token is the newest of the window and the front symbol has no transition."""
    entry = REGISTRY["post-machine"]
    c = entry.builder(**entry.options)
    W_E = c.model.embedding.W_E.copy()
    assert W_E[16, 7] == 1
    W_E[16, 7] = Fraction(2)
    mutant = dataclasses.replace(c, model=dataclasses.replace(
        c.model, embedding=dataclasses.replace(c.model.embedding, W_E=W_E)))
    report = default_check("post-machine", mutant)
    assert not report.passed
    assert any(f.kind == "decode" and "stuck" in f.reason + f.where for f in report.failures), report.failures


def test_a_machine_construction_has_one_size_its_window():
    c = post_machine(machine(), queue_length=5)
    ref = post_machine_reference(machine(), 5)
    assert check(c, ref, lengths=[5]).passed
    with pytest.raises(InputError, match="one size, its window L = 5"):
        check(c, ref, lengths=[4])


# -- the unmodified constructions pass, at several window sizes ------------------------------------------------------
@pytest.mark.parametrize("name", ["post-machine", "turing-machine"])
def test_the_registered_constructions_pass_their_default_check(name):
    report = default_check(name)
    assert report.passed, report.failures
    lr = report.lengths[0]
    assert lr.tested >= 200 and "decodes" in lr.mode and lr.min_margin == 1.0


@pytest.mark.parametrize("T", [4, 5, 7])
def test_bb2_passes_at_several_tape_lengths(T):
    c = turing_machine("1RB1LB_1LA1RZ", T)
    assert check(c, turing_reference(c.parameters.compiled), lengths=[T - 1]).passed


@pytest.mark.parametrize("L", [6, 12])
def test_the_collatz_ring_passes_at_several_ring_lengths(L):
    c = tag_system(collatz_tag_system(), L)
    assert check(c, tag_reference(c.parameters.ring), lengths=[L]).passed


@pytest.mark.parametrize("text", ["1RB0LB_1LA1RZ", "1RB1RZ_0RC1RB_1LC1LA", "1RB0RB_1LA1RZ"])
def test_other_halting_machines_pass_on_the_tape_their_reference_run_needs(text):
    c = turing_machine(text)  # tape_length=None: the visited width
    assert check(c, turing_reference(c.parameters.compiled), lengths=[c.parameters.queue_length]).passed


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=random_turing_machines(max_states=3, symbols=2))
def test_random_halting_machines_pass_the_default_check(text):
    """Random halting machines, each on the tape its blank-tape reference run needs: the built construction passes
    the check of its own compiled machine (blank tape, random tapes, every transition)."""
    r = TuringMachine.from_standard(text).run(60)
    assume(r.halted and r.width <= 8)
    c = turing_machine(text)
    assert check(c, turing_reference(c.parameters.compiled), lengths=[c.parameters.queue_length]).passed


def test_the_exact_backend_runs_short_decodes():
    c = turing_machine("1RB1LB_1LA1RZ", 4)
    report = check(c, turing_reference(c.parameters.compiled), lengths=[3], backend="exact", samples_per_length=24)
    assert report.passed and "cut at 12" in report.lengths[0].mode


# -- broken constructions fail ---------------------------------------------------------------------------------------
def test_the_issue_mutant_of_the_turing_machine_fails_the_default_check():
    """L0.mlp.b_in[15] from -1 to 0 (issue 20: it passed the old default check, yet BB(2) no longer halts)."""
    entry = REGISTRY["turing-machine"]
    c = entry.builder(**entry.options)
    assert c.model.layers[0].mlp.block.b_in[15] == -1
    report = default_check("turing-machine", with_mlp_bias(c, 15, Fraction(0)))
    assert not report.passed
    decode_failures = [f for f in report.failures if f.kind == "decode"]
    assert decode_failures and all(f.where.startswith("decode step ") for f in decode_failures)


def _single_bias_mutants_fail(first: int, step: int) -> None:
    entry = REGISTRY["turing-machine"]
    c = entry.builder(**entry.options)
    units = range(first, len(c.model.layers[0].mlp.block.b_in), step)
    assert len(units) >= 2
    for k in units:
        assert not default_check("turing-machine", with_mlp_bias(c, k, Fraction(0))).passed, k


def test_single_bias_mutants_of_the_turing_machine_fail():
    """Every ninth unit's bias from -1 to 0 (the unit then fires on its state alone or its symbol alone)."""
    _single_bias_mutants_fail(0, 9)


@pytest.mark.slow
@pytest.mark.parametrize("offset", [3, 6])
def test_single_bias_mutants_of_every_third_unit_fail(offset):
    """With the test above, every third unit's bias from -1 to 0."""
    _single_bias_mutants_fail(offset, 9)


def first_difference(a: PostMachine, b: PostMachine, queue: list, steps: int) -> int:
    """The first step (from 1) at which the traces of two machines differ, from the simulator."""
    ta = a.run(queue, steps, trace=True).trace
    tb = b.run(queue, steps, trace=True).trace
    return next(i + 1 for i, (x, y) in enumerate(zip(ta + (None,), tb + (None,))) if x != y)


def test_a_decode_mismatch_names_the_first_differing_step():
    """The construction runs a machine with one transition changed (``keep`` on 1 goes to ``run``); checked against
    the original machine from queue 0110, the decode fails at the first step the two simulators differ."""
    queue = list("01102")
    wrong = machine(transitions={**MACHINE["transitions"], ("keep", "1"): ("1", "run")})
    step = first_difference(machine(), wrong, queue, 50)
    assert step > 1  # a multi-step defect: the start state's transitions agree
    ref = PostMachineReference(machine(), 5, starts=[(queue, None, "queue 01102")], random_starts=0)
    outcomes, _ = check_decodes(post_machine(wrong, queue_length=5), ref, 5)
    (bad,) = [o for o in outcomes if o.decode.label == "queue 01102"]
    assert not bad.ok and bad.step == step and f"decode step {step}:" in bad.message
    report = check(post_machine(wrong, queue_length=5), ref, lengths=[5])
    assert not report.passed
    assert any(f.kind == "decode" and f.where == f"decode step {step} (queue 01102)" for f in report.failures)


def test_a_decode_that_runs_on_where_the_reference_halts_fails():
    """The construction's machine has the same tokens but ``stop`` is a working state (it copies on): its decode
    emits the reference's halting token, then goes on."""
    queue = list("00102")
    halts = machine().run(queue, 100, trace=True)
    assert halts.halted
    runs_on = machine(halting=[], transitions={**MACHINE["transitions"], **{("stop", a): (a, "stop") for a in "012"}})
    assert runs_on.run(queue, 100, trace=True).trace[: halts.steps] == halts.trace
    ref = PostMachineReference(machine(), 5, starts=[(queue, None, "queue")], random_starts=0)
    outcomes, _ = check_decodes(post_machine(runs_on, queue_length=5), ref, 5)
    (o,) = [o for o in outcomes if o.decode.label == "queue"]
    assert not o.ok and o.step == halts.steps + 1 and f"halts after {halts.steps} steps" in o.message


def test_a_decode_that_is_not_stuck_where_the_reference_is_fails():
    """The reference is stuck on (keep, 2); a construction with a transition there emits a token instead."""
    queue = list("12000")  # run on 1 -> keep; keep on 2: undefined
    r = machine().run(queue, 10, trace=True)
    assert r.stuck and r.steps == 1
    total = machine(transitions={**MACHINE["transitions"], ("keep", "2"): ("2", "stop")})
    ref = PostMachineReference(machine(), 5, starts=[(queue, None, "queue")], random_starts=0)
    outcomes, _ = check_decodes(post_machine(total, queue_length=5), ref, 5)
    (o,) = [o for o in outcomes if o.decode.label == "queue"]
    assert not o.ok and o.step == 2 and "stuck after 1 steps" in o.message


# -- sizes follow the builder options (CLI) ---------------------------------------------------------------------------
runner = CliRunner()


def test_verify_post_machine_with_another_ring_length(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["verify", "post-machine", "--option", "ring_length=12", "--json", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["passed"] and [r["size"] for r in report["lengths"]] == [12]


def test_verify_turing_machine_with_another_tape_length(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["verify", "turing-machine", "--option", "tape_length=6", "--json", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert [r["size"] for r in json.loads(out.read_text())["lengths"]] == [5]


def test_verify_superposition_with_fewer_nodes(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["verify", "superposition", "--option", "max_nodes=4", "--samples", "1", "--json",
                                 str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert [r["size"] for r in json.loads(out.read_text())["lengths"]] == [3, 4]


def test_default_lengths_read_the_built_construction():
    entry = REGISTRY["post-machine"]
    assert entry.default_lengths() == (9,)
    assert entry.default_lengths(entry.builder(ring_length=12)) == (12,)
    assert REGISTRY["parity"].default_lengths() == tuple(REGISTRY["parity"].lengths)


@pytest.mark.parametrize("changed", [False, True])
def test_the_decode_corpus_in_batches_gives_the_outcomes_of_one_batch(monkeypatch, changed):
    """``check_decodes`` decodes the corpus in batches of at most ``DECODE_BATCH_ENTRIES`` residual entries: with a
    budget of one decode per batch, every outcome (step, tokens, margins) is the one-batch outcome, for a correct
    construction and for one with a changed transition (which both catch)."""
    from exactformer.verify import machines

    transitions = {**MACHINE["transitions"], ("keep", "1"): ("1", "run")} if changed else MACHINE["transitions"]
    construction = post_machine(machine(transitions=transitions), queue_length=5)
    ref = PostMachineReference(machine(), 5, random_starts=6)
    one, _ = check_decodes(construction, ref, 5, rng=random.Random(1))
    calls = []
    simulate = type(construction).simulate
    monkeypatch.setattr(machines, "DECODE_BATCH_ENTRIES", 1)
    monkeypatch.setattr(type(construction), "simulate",
                        lambda self, **kw: calls.append(kw["queues"]) or simulate(self, **kw))
    batched, _ = check_decodes(construction, ref, 5, rng=random.Random(1))
    assert len(calls) == len(one) > 1 and all(len(queues) == 1 for queues in calls)
    assert batched == one
    assert all(o.ok for o in one) != changed
