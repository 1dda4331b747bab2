"""The one-layer decoder runs synchronous Post machines token by token (Li & Wang 2025).

The reference here is a Post-machine simulator written in this file from the definition (pop the front, push b,
move to p'), independent of the construction.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exactformer.constructions.post_machine import post_machine
from exactformer.core.errors import InputError
from exactformer.verify.strategies import post_machines

torch.set_num_threads(1)  # the test machines are shared; one thread is also faster here


def reference_run(pm: dict, queue: list, max_steps: int) -> tuple[list, bool, list, str]:
    """Pop the front, push delta's symbol, move to delta's state; stop on a halting state."""
    state, queue, steps = pm["start"], list(queue), []
    for _ in range(max_steps):
        b, state = pm["delta"][(state, queue[0])]
        queue = queue[1:] + [b]
        steps.append((b, state))
        if state in pm["halting"]:
            return steps, True, queue, state
    return steps, False, queue, state


ROTATE_THEN_HALT = {
    # flip every symbol as it passes; halt when the front symbol is 2
    "states": ["run", "stop"],
    "symbols": ["0", "1", "2"],
    "delta": {("run", "0"): ("1", "run"), ("run", "1"): ("0", "run"), ("run", "2"): ("2", "stop")},
    "start": "run",
    "halting": {"stop"},
}


@pytest.mark.parametrize(
    "backend,dtype", [("exact", None), ("torch", torch.float64), ("torch", torch.float16), ("torch", torch.bfloat16)]
)
def test_every_token_is_the_reference_step(backend, dtype):
    queue = list("0110102")
    c = post_machine(ROTATE_THEN_HALT, queue_length=len(queue))
    run = c.simulate(queue, max_tokens=50, backend=backend, dtype=dtype)
    steps, halted, final_queue, state = reference_run(ROTATE_THEN_HALT, queue, 50)
    assert run.tokens == steps and run.halted == halted
    assert run.queue == final_queue and run.state == state
    assert set(run.margins) == {1.0}  # the right pair scores 2, every other pair at most 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pm=post_machines())
def test_random_post_machines_match_the_reference_token_by_token(pm):
    c = post_machine(pm, queue_length=len(pm["queue"]))
    run = c.simulate(pm["queue"], max_tokens=60, backend="torch", dtype=torch.float16)
    steps, halted, final_queue, state = reference_run(pm, pm["queue"], 60)
    assert run.tokens == steps and run.halted == halted and run.queue == final_queue


def test_the_front_reading_invariant_holds_in_exact_arithmetic():
    queue = list("1102")
    c = post_machine(ROTATE_THEN_HALT, queue_length=4)
    (invariant,) = c.invariants
    result = c.run(queue, backend="exact")
    got = invariant.probe.read(result.output.trace, c.model.space.index)
    assert got.tolist() == [[Fraction(0), Fraction(1), Fraction(0)]]  # front symbol '1'
    assert result.answer == ("0", "run")


def test_only_the_relative_bias_depends_on_the_queue_length():
    small, large = (post_machine(ROTATE_THEN_HALT, queue_length=L) for L in (4, 100_000))
    ws, wl = small.weights(), large.weights()
    assert ws.keys() == wl.keys()
    assert all((ws[k] == wl[k]).all() for k in ws)
    assert small.model.layers[0].attention.block.relative_bias[0].values == {3: 1}
    assert large.model.layers[0].attention.block.relative_bias[0].values == {99_999: 1}


def test_resources_one_layer_one_head_width_three_symbols_plus_two_states():
    r = post_machine(ROTATE_THEN_HALT, queue_length=5).resources(5)
    assert (r.layers, r.heads, r.d_model, r.d_mlp) == (1, 1, 3 * 3 + 2 * 2, 3)
    assert r.attention_kinds == ("hard",) and r.masks == ("window(5)",)
    assert all(abs(v) <= 1 for w in post_machine(ROTATE_THEN_HALT, queue_length=5).weights().values() for v in w.flat)


def test_a_prompt_of_the_wrong_length_or_alphabet_is_refused():
    c = post_machine(ROTATE_THEN_HALT, queue_length=4)
    with pytest.raises(InputError, match="exactly the queue of 4 symbols"):
        c.run(list("012"))
    with pytest.raises(InputError, match="symbol '7' is not in the Post machine's alphabet"):
        c.run(list("0127"))


def test_a_malformed_machine_is_refused():
    bad = dict(ROTATE_THEN_HALT, delta={("run", "0"): ("9", "run")})
    with pytest.raises(InputError, match="symbol '9' outside the alphabet"):
        post_machine(bad, queue_length=3)


def test_a_batch_of_queues_decodes_together():
    c = post_machine(ROTATE_THEN_HALT, queue_length=5)
    queues = [list("01102"), list("11120"), list("20000")]
    runs = c.simulate(queues=queues, max_tokens=30)
    for q, run in zip(queues, runs):
        steps, halted, _, _ = reference_run(ROTATE_THEN_HALT, q, 30)
        assert run.tokens == steps and run.halted == halted


def _rotation_queue(L: int) -> list[str]:
    return [str(k % 2) for k in range(L - 1)] + ["2"]


@pytest.mark.parametrize("L", [256, pytest.param(1000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("arith", ["float16", "bfloat16", "fixed3"])
def test_constant_bit_size_the_whole_queue_comes_round(arith, L):
    """The machine passes every symbol through the window once, then halts: exact in 3 bits (larger windows, up to
    L = 100,000: scripts/post_machine_precision_figure.py)."""
    from exactformer.core.fixed_point import FixedPointArithmetic
    from exactformer.core.runners import decode

    queue = _rotation_queue(L)
    c = post_machine(ROTATE_THEN_HALT, queue_length=L)
    steps, halted, _, _ = reference_run(ROTATE_THEN_HALT, queue, L + 5)
    if arith == "fixed3":
        machine = FixedPointArithmetic(int_bits=2, frac_bits=0)
        out = decode(c.model, [c.encode(queue)], machine, max_new_tokens=L + 5, stop={"0|stop", "1|stop", "2|stop"})
        tokens = [tuple(t.split("|")) for t in out.tokens[0]]
    else:
        run = c.simulate(queue, max_tokens=L + 5, dtype=getattr(torch, arith))
        tokens = run.tokens
    assert tokens == steps and halted and len(tokens) == L


def test_two_bits_are_not_enough():
    """With a sign and one integer bit the winning logit 2 saturates to 1 and ties with near misses."""
    from exactformer.core.fixed_point import FixedPointArithmetic
    from exactformer.core.runners import decode

    queue = _rotation_queue(6)
    c = post_machine(ROTATE_THEN_HALT, queue_length=6)
    steps, _, _, _ = reference_run(ROTATE_THEN_HALT, queue, 6)
    from exactformer.core.errors import ReadoutTieError

    assert steps  # the reference has a next token; the 2-bit decoder has none (greedy decoding refuses the tie)
    with pytest.raises(ReadoutTieError, match="decoding step 0"):
        decode(c.model, [c.encode(queue)], FixedPointArithmetic(int_bits=1, frac_bits=0), max_new_tokens=6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_the_same_weights_read_the_front_of_a_window_of_100_000(dtype):
    L = 100_000
    queue = _rotation_queue(L)
    run = post_machine(ROTATE_THEN_HALT, queue_length=L).simulate(queue, max_tokens=16, dtype=dtype)
    steps, _, _, _ = reference_run(ROTATE_THEN_HALT, queue, 16)
    assert run.tokens == steps and set(run.margins) == {1.0}


def test_the_machine_can_start_in_any_working_state():
    """Every prompt token carries the start state; a batch may start its queues in different states."""
    pm = dict(
        ROTATE_THEN_HALT,
        states=["run", "keep", "stop"],
        delta={
            **ROTATE_THEN_HALT["delta"],
            ("keep", "0"): ("0", "keep"),
            ("keep", "1"): ("1", "keep"),
            ("keep", "2"): ("2", "stop"),
        },
    )
    c = post_machine(pm, queue_length=4)
    runs = c.simulate(queues=[list("0112"), list("0112")], states=["keep", "run"], max_tokens=10)
    assert [t for t, _ in runs[0].tokens] == list("0112") and [t for t, _ in runs[1].tokens] == list("1002")
    assert runs[0].state == runs[1].state == "stop"
    assert c.encode(list("0112"), state="keep") == ["0|keep", "1|keep", "1|keep", "2|keep"]
    with pytest.raises(InputError, match="not a working state"):
        c.encode(list("0112"), state="stop")
    with pytest.raises(InputError, match="one start state per queue"):
        c.simulate(queues=[list("0112")], states=["run", "keep"])


def test_softmax_needs_beta_of_order_log_L():
    """With softmax, the weight on the front is 1/(1 + (L-1)e^-beta): beta = 1 fails at L = 64, beta = ln(2(L-1))+2
    does not."""
    import math

    L = 64
    queue = _rotation_queue(L)
    steps, _, _, _ = reference_run(ROTATE_THEN_HALT, queue, L + 2)
    weak = post_machine(ROTATE_THEN_HALT, queue_length=L, attention="softmax", beta=1)
    strong = post_machine(
        ROTATE_THEN_HALT, queue_length=L, attention="softmax", beta=math.ceil(math.log(2 * (L - 1))) + 2
    )
    assert weak.simulate(queue, max_tokens=L + 2).tokens != steps
    assert strong.simulate(queue, max_tokens=L + 2).tokens == steps


KEEP_STUCK = {
    # "keep" copies 0 and 1 and has no transition on 2: the reference is stuck there
    "states": ["run", "keep", "stop"],
    "symbols": ["0", "1", "2"],
    "delta": {("run", "0"): ("1", "run"), ("run", "1"): ("0", "keep"), ("run", "2"): ("2", "stop"),
              ("keep", "0"): ("0", "keep"), ("keep", "1"): ("1", "keep")},
    "start": "run",
    "halting": {"stop"},
}


def test_a_prompt_may_be_explicit_tokens_in_mixed_states():
    """After some steps the window holds tokens emitted in different states: the next token is delta(state of the
    newest token, symbol of the oldest), whatever the other tokens' states."""
    c = post_machine(KEEP_STUCK, queue_length=4)
    prompt = [("1", "keep"), ("0", "run"), ("2", "keep"), ("0", "run")]
    assert c.encode(prompt) == ["1|keep", "0|run", "2|keep", "0|run"]
    assert c.run(prompt, backend="exact").answer == KEEP_STUCK["delta"][("run", "1")]
    assert c.run([("1", "run"), ("0", "keep"), ("2", "run"), ("0", "keep")], backend="exact").answer == ("1", "keep")
    assert c.encode(["1", ("0", "keep"), "2", "0"], state="keep") == ["1|keep", "0|keep", "2|keep", "0|keep"]
    with pytest.raises(InputError, match="not a working state"):
        c.encode([("1", "run"), ("0", "run"), ("2", "run"), ("0", "stop")])
    with pytest.raises(InputError, match="'nowhere', which is not a state"):
        c.encode([("1", "nowhere"), ("0", "run"), ("2", "run"), ("0", "run")])


@settings(max_examples=60, deadline=None)
@given(items=st.lists(st.one_of(st.sampled_from(["0", "1", "2", "7", ("1", "run"), ("0", "keep"), ("2", "stop"),
                                                 ("9", "run"), ("1", "nowhere"), ["0", "run"], ("0", "run", "x")]),
                      st.sampled_from(["0", "1", "2"])), min_size=4, max_size=4),
       state=st.sampled_from([None, "keep", "stop"]))
def test_a_prompt_read_by_one_set_inclusion_is_the_item_by_item_reading(items, state):
    """``prompt_pairs`` reads an all-symbol or all-pair prompt by one set inclusion: the same pairs, and the same
    error (naming the same item), as reading item by item."""
    from exactformer.constructions.post_machine import _checked_pairs, prompt_pairs

    spec = post_machine(KEEP_STUCK, queue_length=4).parameters.spec

    def outcome(read):
        try:
            return read()
        except InputError as exc:
            return f"InputError: {exc}"

    default = spec.start if state is None else state
    fast = outcome(lambda: prompt_pairs(spec, 4, items, state))
    slow = outcome(lambda: _checked_pairs(spec, list(items), default))
    if not isinstance(slow, str):
        last = slow[-1][1]
        if last not in spec.states or last in spec.halting:
            slow = f"InputError: the start state {last!r} is not a working state of the Post machine"
    assert fast == slow


@pytest.mark.parametrize("backend", ["torch", "exact"])
def test_an_undefined_transition_stops_the_decode_as_the_reference_does(backend):
    """run on 1 -> keep, keep copies 0 0, then meets 2: undefined. The model has no unit for (keep, 2), so its
    readout has no unique maximum there: the decode stops, stuck, naming the pair, after the reference's tokens."""
    from exactformer.languages.post import PostMachine

    queue = list("1002")
    pm = PostMachine(symbols=KEEP_STUCK["symbols"], states=KEEP_STUCK["states"], transitions=KEEP_STUCK["delta"],
                     start="run", halting=["stop"])
    ref = pm.run(queue, 50, trace=True)
    assert ref.stuck and not ref.halted and ref.state == "keep" and ref.queue[0] == "2"
    c = post_machine(KEEP_STUCK, queue_length=4)
    run = c.simulate(queue, max_tokens=50, backend=backend)
    assert run.tokens == list(ref.trace) and run.stuck and not run.halted
    assert run.stuck_on == ("keep", "2") and run.queue == list(ref.queue)
    with pytest.raises(InputError, match="no transition for state 'keep' on front symbol '2' .*decode step 4"):
        c.simulate(queue, max_tokens=50, backend=backend, on_stuck="raise")
    # in a batch, only the stuck queue stops; the other one runs to its halt
    stuck, halts = c.simulate(queues=[queue, list("0002")], max_tokens=50, backend=backend)
    assert stuck.stuck and not halts.stuck and halts.halted and halts.tokens == list(pm.run(list("0002"),
                                                                                               trace=True).trace)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pm=post_machines())
def test_random_post_machines_pass_the_machine_check(pm):
    """Every transition from every working state and the whole decodes, at the machine's own window."""
    from exactformer.verify import check
    from exactformer.verify.machines import post_machine_reference

    L = len(pm["queue"])
    c = post_machine(pm, queue_length=L)
    ref = post_machine_reference(pm, L, starts=[(pm["queue"], None, "the drawn queue")], max_tokens=200)
    report = check(c, ref, lengths=[L], samples_per_length=40)
    assert report.passed, report.failures
