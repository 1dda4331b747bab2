"""Turing machines and tag systems through the one-layer window decoder, token by token against the references
(exactformer.languages: TuringMachine, the TM -> Post compiler, PostMachine, TagSystem)."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings

from exactformer.constructions.post_machine import token_name
from exactformer.constructions.turing_tag import (
    run_turing_machine,
    run_turing_machines,
    tag_system,
    turing_machine,
    turing_machines,
)
from exactformer.core.errors import InputError
from exactformer.languages import data_dir
from exactformer.languages.compiler import compile_turing_machine, predicted_post_steps, tape_length_for
from exactformer.languages.tag import TagRing, collatz_tag_system, post_tag_system
from exactformer.languages.turing import TuringMachine
from exactformer.verify.strategies import turing_machines as random_turing_machines

DATA = data_dir() / "busy_beaver"
TAGS = data_dir() / "tag_systems" / "tag_systems.json"

torch.set_num_threads(1)  # the test machines are shared; one thread is also faster here


def through_the_transformer(text: str, extra: int = 0, dtype=torch.float64) -> None:
    tm = TuringMachine.from_standard(text)
    ref = tm.run(100_000)
    assert ref.halted
    T = max(ref.width + extra, 3)
    c = turing_machine(tm, T)
    compiled = c.parameters.compiled
    pm_run = compiled.machine.run(compiled.initial_queue(), 10_000_000, trace=True)
    run = run_turing_machine(c, max_tokens=pm_run.steps + 10, dtype=dtype)
    assert run.halted
    assert run.post.tokens == list(pm_run.trace)  # every token is the reference Post step
    assert run.tokens == predicted_post_steps(ref, T)
    assert (run.tm_steps, run.ones) == (ref.steps, ref.ones)
    assert set(run.post.margins) == {1.0}


@pytest.mark.parametrize(
    "text,steps,ones,tokens",
    [
        ("1RB1LB_1LA1RZ", 6, 4, 12),
        ("1RB1RZ_1LB0RC_1LC1LA", 21, 5, 51),
        ("1RB1RZ_0RC1RB_1LC1LA", 14, 6, 38),
    ],
)
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


def listed(name: str) -> list[tuple[str, int, int]]:
    """(machine, listed steps, listed ones) for every halting line of a Ligocki list."""
    rows = []
    for line in (DATA / "ligocki_bb_lists" / f"{name}.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "Halt":
            rows.append((parts[0], int(parts[2]), int(parts[3])))
    return rows


def batched_through_the_transformer(rows: list[tuple[str, int, int]], batch: int = 4) -> None:
    """Machines of the same visited width, ``batch`` at a time through one decoder (the disjoint union of their
    Post machines): every token against each machine's own reference Post run, TM steps and ones against the
    listed values."""
    by_width: dict[int, list[tuple[str, int, int]]] = {}
    for row in rows:
        by_width.setdefault(max(TuringMachine.from_standard(row[0]).run(100_000).width, 3), []).append(row)
    for T, group in by_width.items():
        for k in range(0, len(group), batch):
            chunk = group[k : k + batch]
            c = turing_machines([text for text, _, _ in chunk], T)
            runs = run_turing_machines(c, max_tokens=100_000)
            for (text, steps, ones), run in zip(chunk, runs):
                compiled = compile_turing_machine(TuringMachine.from_standard(text), T)
                pm_run = compiled.machine.run(compiled.initial_queue(), 10_000_000, trace=True)
                assert run.halted and run.post.tokens == list(pm_run.trace), text
                assert (run.tm_steps, run.ones) == (steps, ones), text
                assert set(run.post.margins) == {1.0}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["2x2", "3x2", "4x2"])
def test_every_listed_machine(name):
    """The whole lists (2394 machines; 4x2 took 251 s and 3x2 92 s on one loaded core): see also
    scripts/post_machine_bb_sweep.py and scripts/results/post_machine_bb_sweep.txt."""
    batched_through_the_transformer(listed(name))


def test_the_2x2_list():
    for text, steps, ones in listed("2x2"):
        through_the_transformer(text)
        ref = TuringMachine.from_standard(text).run(100)
        assert (ref.steps, ref.ones) == (steps, ones)


@pytest.mark.parametrize("name", ["3x2", "4x2"])
def test_a_sample_of_the_3x2_and_4x2_lists_batched(name):
    """Ten machines spread over the list (sorted by steps; the longest, BB(3) and BB(4), are tested apart)."""
    rows = listed(name)
    batched_through_the_transformer(rows[len(rows) // 20 :: len(rows) // 10][:10])


def test_the_champions_of_at_most_four_states():
    champions = [
        ch
        for ch in json.loads((DATA / "champions.json").read_text())["champions"]
        if ch["symbols"] == 2 and ch["states"] <= 4
    ]
    assert len(champions) == 4
    small = [(ch["tm"], ch["steps"], ch["sigma"]) for ch in champions if ch["states"] <= 3]
    batched_through_the_transformer(small)  # BB(4) is test_bb4 (slow) and test_every_listed_machine


def test_a_batch_of_machines_is_one_decoder():
    texts = ["1RB1LB_1LA1RZ", "1RB1RZ_1LB1LA", "1RB0LB_1LA1RZ"]  # 2x2.txt: 6 steps with 4, 3 and 3 ones
    c = turing_machines(texts, 4)
    assert c.model.layers[0].attention.block.n_heads == 1 and len(c.model.layers) == 1
    runs = run_turing_machines(c)
    refs = [TuringMachine.from_standard(text).run(100) for text in texts]
    assert [(r.tm_steps, r.ones) for r in runs] == [(6, 4), (6, 3), (6, 3)]
    assert [r.tokens for r in runs] == [predicted_post_steps(ref, 4) for ref in refs]
    with pytest.raises(InputError, match="TuringMachines"):
        turing_machines([42], 4)
    with pytest.raises(InputError, match="at least one"):
        turing_machines([], 4)


def test_every_token_meets_the_invariants_of_the_note():
    """After every generated token t: the symbols of the last L tokens are the reference Post queue after step t
    (front first), the newest token's state is the reference state, and token t is reference step t. Inside the
    model (a fresh full pass on the prompt and the first t - 1 tokens): the head's ``read`` block is the one-hot of
    the reference queue front, and the readout's maximum is 2, unique, at token t."""
    from exactformer.core import TorchArithmetic
    from exactformer.core.construction import Probe
    from exactformer.core.runners import classify

    for text, T in [("1RB1LB_1LA1RZ", 4), ("1RB1RZ_0RC1RB_1LC1LA", 6)]:
        c = turing_machine(text, T)
        L = T - 1
        pm = c.parameters.compiled.machine
        configs = list(pm.configurations(c.parameters.queue, 10_000))  # the reference, one per step
        run = run_turing_machine(c)
        assert run.halted and len(run.post.tokens) == len(configs) - 1
        spec = c.parameters.spec
        read = Probe("L0.attn", tuple(f"read:{a}" for a in spec.symbols), (-1,))
        labels = list(c.model.readout.labels)
        sequence = c.encode(c.parameters.queue)
        symbols = list(c.parameters.queue)
        for t, (b, p) in enumerate(run.post.tokens, 1):
            out = classify(c.model, [sequence], TorchArithmetic(torch.float64))
            front = configs[t - 1].queue[0]
            assert read.read(out.trace, c.model.space.index).tolist() == [[float(a == front) for a in spec.symbols]]
            logits = out.logits[0].tolist()
            assert max(logits) == 2 and logits.count(2) == 1 and labels[logits.index(2)] == token_name(b, p)
            symbols.append(b)
            sequence.append(token_name(b, p))
            assert tuple(symbols[-L:]) == configs[t].queue and p == configs[t].state


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=random_turing_machines(max_states=3, symbols=2))
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
        ring = c.parameters.ring
        ref = system.run("a" * n)
        pm_run = ring.machine.run(ring.queue("a" * n), 100_000, trace=True)
        run = c.simulate(ring.queue("a" * n), max_tokens=pm_run.steps + 5, dtype=torch.float16)
        assert run.halted and run.tokens == list(pm_run.trace)
        assert run.steps == ring.post_steps(ref.steps) and ring.word(run.queue) == "a"


def words_read_off(tokens: list, queue: tuple, ring_length: int) -> list[str]:
    """The tag words of a ring run, read off the generated tokens alone: when a token enters ``D:x`` (x the
    symbol just deleted, the first of a word), the word is x followed by the ring's word in the window."""
    symbols, words = list(queue), []
    for b, p in tokens:
        symbols.append(b)
        if str(p).startswith("D:") and len(str(p)) == 3:
            words.append(str(p)[2] + TagRing.word(symbols[-ring_length:]))
    return words


def test_collatz_trajectories_A351849_through_the_transformer():
    """De Mol's system: the words read off the transformer's tokens are the OEIS A351849 rows (n = 1..4), and the
    run halts on the word 1 after A351850's number of steps."""
    data = {s["id"]: s for s in json.loads(TAGS.read_text())["systems"]}["demol_collatz_2tag"]
    to_oeis = str.maketrans("abc", "123")
    rows = data["trajectories_oeis_A351849_rows_1_to_4"]
    steps = data["steps_to_reach_word_1_oeis_A351850_n_1_to_54"]
    for n, expected in rows.items():
        L = max(map(len, expected)) + 1
        c = tag_system(collatz_tag_system(), L)
        queue = c.parameters.ring.queue("a" * int(n))
        run = c.simulate(queue, max_tokens=10_000, dtype=torch.float16)
        assert run.halted and TagRing.word(run.queue) == "a"
        assert [w.translate(to_oeis) for w in words_read_off(run.tokens, queue, L)] == expected
        assert run.steps == (L + 2) * steps[int(n) - 1] + 2


@pytest.mark.slow
def test_collatz_steps_A351850_through_the_transformer():
    """n = 1..12 in one batch on one ring (L = 27, longer than every word of these runs): A351850's step counts,
    (L + 2)·steps + 2 tokens, and the words of the tag-system reference."""
    data = {s["id"]: s for s in json.loads(TAGS.read_text())["systems"]}["demol_collatz_2tag"]
    steps = data["steps_to_reach_word_1_oeis_A351850_n_1_to_54"]
    system = collatz_tag_system()
    L = 27
    c = tag_system(system, L)
    queues = [c.parameters.ring.queue("a" * n) for n in range(1, 13)]
    runs = c.simulate(queues=queues, max_tokens=(L + 2) * max(steps[:12]) + 10)
    for n, queue, run in zip(range(1, 13), queues, runs):
        ref = system.run("a" * n, keep_words=True)
        assert ref.max_length < L
        assert run.halted and run.steps == (L + 2) * steps[n - 1] + 2
        assert words_read_off(run.tokens, queue, L) == list(ref.words)


def test_post_3tag_through_the_transformer():
    """Post's {0 -> 00, 1 -> 1101} from 100100 (OEIS A284119): the transformer's words are the 15 pre-period words
    then the 6-cycle, twice round (it never halts: the decoding budget ends it)."""
    data = {s["id"]: s for s in json.loads(TAGS.read_text())["systems"]}["post_3tag_00_1101"]
    example = data["example_trajectory_start_100100_oeis_A284119"]
    expected = example["preperiod_words"] + 2 * example["cycle_words"]
    L = max(map(len, expected)) + 1
    c = tag_system(post_tag_system(halt="short"), L)
    queue = c.parameters.ring.queue("100100")
    run = c.simulate(queue, max_tokens=(L + 3) * len(expected), dtype=torch.float16)  # L + m per tag step
    assert not run.halted
    assert words_read_off(run.tokens, queue, L)[: len(expected)] == expected


def test_collatz_batched():
    c = tag_system(collatz_tag_system(), 6)
    ring = c.parameters.ring
    queues = [ring.queue("a" * n) for n in (1, 2, 4)]
    runs = c.simulate(queues=queues, max_tokens=200)
    for n, run in zip((1, 2, 4), runs):
        assert run.halted and run.steps == ring.post_steps(collatz_tag_system().run("a" * n).steps)


def test_a_head_leaving_the_cyclic_tape_raises_naming_the_step():
    """BB(2) visits 4 cells; on 3 cyclic cells the tape would wrap (3 ones instead of 4): the run raises at the TM
    step where the head first reaches a 4th cell, counted here from the reference TM's own configurations."""
    tm = TuringMachine.from_standard("1RB1LB_1LA1RZ")
    lo = hi = 0
    for config in tm.configurations(100):
        lo, hi = min(lo, config.head), max(hi, config.head)
        if hi - lo + 1 > 3:
            first_wrap = config.steps
            break
    with pytest.raises(InputError, match=f"leaves the cyclic tape of 3 cells at TM step {first_wrap} "):
        run_turing_machine(turing_machine(tm, 3), max_tokens=100)
    with pytest.raises(InputError, match="machine 0 .* leaves the cyclic tape of 3 cells"):
        run_turing_machines(turing_machines([tm], 3), max_tokens=100)
    assert run_turing_machine(turing_machine(tm, 4)).ones == 4


@pytest.mark.parametrize("text", ["1RB1LB_1LA1RZ", "1RB1RZ_1LB0RC_1LC1LA", "1RB1RZ_0RC1RB_1LC1LA"])
def test_tape_length_none_sizes_the_tape_from_the_reference_run(text):
    tm = TuringMachine.from_standard(text)
    ref = tm.run(1000)
    c = turing_machine(tm)  # tape_length=None
    assert c.parameters.tape_length == tape_length_for(tm) == max(ref.width, 3)
    run = run_turing_machine(c)
    assert (run.tm_steps, run.ones) == (ref.steps, ref.ones)
    with pytest.raises(InputError, match="leaves the cyclic tape"):  # one cell fewer is too few
        run_turing_machine(turing_machine(tm, c.parameters.tape_length - 1))
    with pytest.raises(InputError, match="does not halt within 10 steps"):
        turing_machine("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", max_steps=10)  # BB(4) takes 107


def test_errors():
    with pytest.raises(InputError, match="TuringMachine"):
        turing_machine(42, 5)
    c = turing_machine("1RB1LB_1LA1RZ", 4)
    with pytest.raises(InputError, match="exactly"):
        c.simulate(["0", "0"])


def test_entries_build_and_verify():
    """The registered defaults pass their default check: one size, the window L; every transition and the
    decodes."""
    from exactformer.catalog import get
    from exactformer.verify import check

    ENTRIES = [get("post-machine"), get("turing-machine")]
    names = {e.name for e in ENTRIES}
    assert names == {"post-machine", "turing-machine"}
    for e in ENTRIES:
        c = e.builder()
        assert e.default_lengths(c) == (c.parameters.queue_length,)
        report = check(c, e.reference(c), lengths=e.default_lengths(c), seed=0)
        assert report.passed, (e.name, report.failures)
        assert "decodes" in report.lengths[0].mode
