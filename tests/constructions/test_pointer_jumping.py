"""The pointer-jumping recognizer (the log-depth note's Path B) against DFAs from ``exactformer.languages``.

The references are the DFAs themselves: ``DFA.accepts`` for the answer and ``DFA.run`` for the state after every
prefix (the ``final.prefix_states`` invariant, compared by the verifier at every token). Round invariants are
computed from the letter maps by the proof's formula.
"""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exactformer.catalog import get
from exactformer.constructions.pointer_jumping import (
    IndexSquared,
    pointer_jumping_recognizer,
    prefix_states,
    rounds_for,
)
from exactformer.core.arith import arithmetic_for
from exactformer.core.errors import InputError
from exactformer.languages import named
from exactformer.languages.dfa import DFA
from exactformer.verify import check

ENTRIES = [get("pointer-jumping-parity"), get("pointer-jumping-a5")]

# The models are small; on a loaded machine torch's thread pool makes each forward pass much slower.
torch.set_num_threads(1)


def random_dfa(seed: int, n_states: int, n_symbols: int, partial: bool = False) -> DFA:
    rng = random.Random(seed)
    symbols = "abcd"[:n_symbols]
    transitions = {
        (q, a): rng.randrange(n_states)
        for q in range(n_states)
        for a in symbols
        if not (partial and rng.random() < 0.2)
    }
    accepting = {q for q in range(n_states) if rng.random() < 0.5}
    return DFA(states=range(n_states), alphabet=symbols, transitions=transitions, start=0, accepting=accepting)


def assert_passes(report) -> None:
    assert report.passed, report.render()
    for lr in report.lengths:
        for tally in lr.invariants.values():
            assert tally.held == tally.checked == lr.tested, (lr.size, tally)


def test_depth_is_ceil_log2_n() -> None:
    c = pointer_jumping_recognizer(named.parity())
    for n, layers in [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (64, 6), (65, 7), (1024, 10)]:
        assert c.resources(n).layers == layers == rounds_for(n)
    r = c.resources(100)
    assert (r.attention_kinds, r.masks, r.norm_kinds, r.max_heads_per_layer) == (("hard",), ("causal",), (), 1)


def test_parity_exact_exhaustive_small() -> None:
    dfa = named.parity()
    report = check(
        pointer_jumping_recognizer(dfa),
        dfa,
        lengths=range(0, 6),
        backend="exact",
        exhaustive_up_to=16,
        samples_per_length=4,
        shrink=False,
    )
    assert_passes(report)
    assert all(lr.certified == lr.tested for lr in report.lengths)


@pytest.mark.parametrize("k", range(1, 8))
def test_tomita_torch_with_invariants(k: int) -> None:
    dfa = named.tomita(k)
    report = check(
        pointer_jumping_recognizer(dfa),
        dfa,
        lengths=[0, 1, 2, 3, 4, 7, 8, 9, 17],
        backend="torch",
        samples_per_length=6,
        exhaustive_up_to=16,
        shrink=False,
    )
    assert_passes(report)


@pytest.mark.parametrize("dfa", [named.modular_count(1, 3), named.modular_count(2, 5)], ids=["mod3", "mod5"])
def test_modular_counters(dfa: DFA) -> None:
    report = check(
        pointer_jumping_recognizer(dfa),
        dfa,
        lengths=[0, 1, 2, 3, 5, 8, 13, 33],
        backend="torch",
        samples_per_length=6,
        exhaustive_up_to=16,
        shrink=False,
    )
    assert_passes(report)


def test_a5_label_at_every_token() -> None:
    dfa = named.word_problem("A5")
    c = pointer_jumping_recognizer(dfa)
    assert c.parameters.composition.kind == "lookup" and c.parameters.composition.units == 3600
    rng = random.Random(5)
    words = ["".join(rng.choice(sorted(dfa.alphabet)) for _ in range(n)) for n in (0, 1, 8, 9)]
    arith = arithmetic_for("torch", dtype=torch.float64)
    for word, states in zip(words, prefix_states(c, words, arith=arith)):
        assert states == dfa.run(word)


@pytest.mark.slow
def test_a5_label_exact() -> None:
    dfa = named.word_problem("A5")
    c = pointer_jumping_recognizer(dfa)
    rng = random.Random(5)
    words = ["".join(rng.choice(sorted(dfa.alphabet)) for _ in range(n)) for n in (0, 1, 2)]
    assert prefix_states(c, words, backend="exact") == [dfa.run(w) for w in words]


@pytest.mark.slow
def test_a5_and_s5_verifier() -> None:
    for group, lengths in (("A5", [0, 1, 2, 4, 9, 17]), ("S5", [0, 1, 5, 9])):
        dfa = named.word_problem(group)
        report = check(pointer_jumping_recognizer(dfa), dfa, lengths=lengths, backend="torch", samples_per_length=4)
        assert_passes(report)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_states=st.integers(1, 4),
    n_symbols=st.integers(1, 3),
    partial=st.booleans(),
    composition=st.sampled_from([None, "function"]),
)
def test_random_dfas(seed: int, n_states: int, n_symbols: int, partial: bool, composition: str | None) -> None:
    """Answers against DFA.accepts and every declared invariant (round segments, prefix states against DFA.run),
    checked by the verifier at every tested input."""
    dfa = random_dfa(seed, n_states, n_symbols, partial)
    c = pointer_jumping_recognizer(dfa, composition=composition)
    report = check(
        c,
        dfa,
        lengths=[0, 1, 2, 3, 4, 5, 8, 9],
        backend="torch",
        samples_per_length=4,
        exhaustive_up_to=4,
        shrink=False,
        seed=seed,
    )
    assert_passes(report)


def test_function_code_agrees_with_lookup_code_exactly() -> None:
    dfa = named.tomita(3)
    lookup = pointer_jumping_recognizer(dfa, composition="lookup")
    function = pointer_jumping_recognizer(dfa, composition="function")
    assert (lookup.parameters.composition.kind, function.parameters.composition.kind) == ("lookup", "function")
    # the default is the narrower code: |M|^2 = 27^2 lookup units against |Q|^3 + |Q|^2 = 150 function units
    default = pointer_jumping_recognizer(dfa).parameters.composition
    assert len(dfa.transition_monoid()) == 27 and len(dfa.states) == 5
    assert (default.kind, default.units) == ("function", 5**3 + 5**2)
    assert lookup.parameters.composition.units == 27**2
    assert_passes(
        check(function, dfa, lengths=[3], backend="exact", samples_per_length=2, exhaustive_up_to=1, shrink=False)
    )
    for c in (lookup, function):
        assert_passes(
            check(
                c, dfa, lengths=[0, 2, 4, 9], backend="torch", samples_per_length=6, exhaustive_up_to=16, shrink=False
            )
        )


def test_float32_precision_prediction() -> None:
    """Scores -(j - p)^2 are integers up to about 2 n^2: float32 keeps them exact far beyond the hash's n ~ 50."""
    dfa = named.parity()
    c = pointer_jumping_recognizer(dfa)
    report = check(
        c, dfa, lengths=[257, 1000], backend="torch", dtype=torch.float32, samples_per_length=4, check_invariants=False
    )
    assert report.passed, report.render()


def test_broken_model_is_caught() -> None:
    """Too few rounds (⌈log2 n⌉ - 1) is caught by the verifier, with the round invariant and DFA.run named."""
    import dataclasses

    from exactformer.core.architecture import RepeatCount

    dfa = named.parity()
    good = pointer_jumping_recognizer(dfa)
    short = dataclasses.replace(
        good.model, loop=dataclasses.replace(good.model.loop, count=RepeatCount("ceil_log2", offset=-1, extra_tokens=1))
    )
    bad = dataclasses.replace(good, model=short)
    report = check(bad, dfa, lengths=[5], backend="exact", samples_per_length=4, exhaustive_up_to=4)
    assert not report.passed
    broken = {name for lr in report.lengths for name, t in lr.invariants.items() if t.held < t.checked}
    assert "final.prefix_states" in broken


def test_bad_inputs() -> None:
    c = pointer_jumping_recognizer(named.parity())
    with pytest.raises(InputError, match="alphabet"):
        c.accepts("012")
    with pytest.raises(InputError, match="DFA"):
        pointer_jumping_recognizer("not a dfa")


def test_index_squared_feature_round_trips_and_is_exact() -> None:
    from exactformer.core.positions import FEATURE_KINDS, feature_from_json

    # the core owns the feature: a saved model that uses it loads without importing a construction
    assert IndexSquared.__module__ == "exactformer.core.positions" and FEATURE_KINDS["index_squared"] is IndexSquared
    f = IndexSquared()
    assert feature_from_json(f.to_json()) == f
    assert f.exact(1234, 0) == 1234**2
    assert f.torch(torch.tensor([3, 4096]), 0, torch.float32).tolist() == [9.0, 4096.0**2]


def test_entries() -> None:
    names = {e.name for e in ENTRIES}
    assert names == {"pointer-jumping-parity", "pointer-jumping-a5"}
    for e in ENTRIES:
        c = e.builder()
        ref = e.reference(c)
        assert c.accepts(e.example) == ref.accepts(e.example)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["parity", "tomita3", "mod5", "A5"])
def test_sweep_all_lengths_0_64_and_sampled_to_1024(name: str) -> None:
    dfa = {
        "parity": named.parity(),
        "tomita3": named.tomita(3),
        "mod5": named.modular_count(0, 5),
        "A5": named.word_problem("A5"),
    }[name]
    c = pointer_jumping_recognizer(dfa)
    samples = 20 if name == "A5" else 200
    assert_passes(check(c, dfa, lengths=range(0, 65), backend="torch", samples_per_length=samples))
    report = check(
        c,
        dfa,
        lengths=[127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, 1023, 1024],
        backend="torch",
        samples_per_length=4 if name == "A5" else 20,
        check_invariants=False,
    )
    assert report.passed, report.render()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_states=st.integers(1, 4),
    n_symbols=st.integers(1, 3),
    partial=st.booleans(),
    composition=st.sampled_from(["lookup", "function"]),
    n=st.integers(0, 19),
)
def test_batched_invariants_equal_the_word_by_word_ones(seed: int, n_states: int, n_symbols: int, partial: bool,
                                                        composition: str, n: int) -> None:
    """Each invariant's ``expected.batch`` (segment products by doubling, prefix states by a table fold) gives, on
    every word of a batch, exactly what its ``expected`` gives word by word: both codes, partial DFAs (the sink),
    every round up to past ⌈log2 n⌉."""
    from exactformer.core.batch_encoding import batch_of

    dfa = random_dfa(seed, n_states, n_symbols, partial)
    c = pointer_jumping_recognizer(dfa, composition=composition)
    alphabet = list(dfa.ordered_alphabet)
    rng = random.Random(seed)
    words = torch.tensor([[rng.randrange(len(alphabet)) for _ in range(n)] for _ in range(6)],
                         dtype=torch.int64).reshape(6, n)
    n_tokens = n + 1
    for inv in c.invariants:
        batched = batch_of(inv.expected)
        assert batched is not None, inv.name
        got = batched(words, n_tokens)
        want = torch.tensor([inv.expected([alphabet[k] for k in row], n_tokens) for row in words.tolist()],
                            dtype=torch.float64).reshape(got.shape)
        assert torch.equal(got, want), inv.name
