"""Mutation testing: single-entry mutants of the exact weights, an oracle, and the check's verdict on each."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exactformer import constructions
from exactformer.core.errors import InputError
from exactformer.verify import FunctionReference, check
from exactformer.verify.mutants import _nonzero_positions, _random_index
from exactformer.verify.mutate import (
    OPERATORS,
    CheckOracle,
    Mutation,
    WeightSite,
    apply_mutation,
    mutate,
    sample_mutations,
    weight_sites,
)

from .controls import first_is_b

FIRST_IS_B = FunctionReference(lambda w: w[0] == "b", "ab", name="first symbol is b")


def _differing_entries(a, b):
    """Every (name, index) whose exact value differs between two weight dicts of the same model shape."""
    out = []
    for name in a:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        out += [(name, tuple(int(i) for i in ix)) for ix in np.argwhere(x != y)]
    return out


def test_a_mutant_differs_from_its_construction_in_exactly_the_mutated_entry():
    c = constructions.parity()
    for m in sample_mutations(c.model, 12, seed=3):
        mutant = apply_mutation(c, m)
        diff = _differing_entries(c.weights(), mutant.weights())
        # sites are named by layer label (L0, loop0.B1, ...); weights() numbers an unlooped model's blocks
        name = m.site if m.site.startswith(("embed", "unembed")) else f"blocks.{m.site[1:]}"
        assert diff == [(name, m.index)], (str(m), diff)
        assert mutant.weights()[name][m.index] == m.after != m.before
    # the original is untouched
    assert check(c, constructions.get("parity").reference(c), lengths=range(1, 6)).passed


def test_sampled_mutations_are_distinct_half_on_zeros_and_each_changes_its_entry():
    c = constructions.parity()
    ms = sample_mutations(c.model, 40, seed=0)
    assert len(ms) == 40 and len({(m.site, m.index, m.operator) for m in ms}) == 40
    assert sum(m.before == 0 for m in ms) == 20
    assert all(OPERATORS[m.operator](m.before) == m.after != m.before for m in ms)
    assert sample_mutations(c.model, 40, seed=0) == ms  # the same seed, the same mutants


@given(st.lists(st.sampled_from([0, 0, 1, -2]), min_size=1, max_size=30), st.integers(0, 2**32))
def test_a_sampled_entry_is_a_uniform_choice_among_the_zeros_or_among_the_nonzeros(values, seed):
    """The k-th zero of a dense weight is found by skipping the nonzero positions before it: every zero (and
    every nonzero) entry is reachable, and only entries of the asked kind are returned."""
    rnd = random.Random(seed)
    arr = np.array([Fraction(v) for v in values], dtype=object).reshape(1, -1)
    positions = _nonzero_positions(arr)
    site = WeightSite("w", arr.shape, len(positions))
    for nonzero in (True, False):
        pool = {(0, j) for j, v in enumerate(values) if (v != 0) == nonzero}
        seen = {_random_index(site, arr, nonzero, rnd, positions) for _ in range(40 * len(values))}
        assert seen == (pool or {None})


def test_a_looped_block_is_one_set_of_entries_however_often_it_runs():
    c = first_is_b()
    names = [s.name for s in weight_sites(c.model)]
    assert [n for n in names if n.startswith("loop")] == [f"loop0.B0.mlp.{p}" for p in ("W_in", "b_in", "W_out",
                                                                                         "b_out")]
    m = Mutation("loop0.B0.mlp.W_out", (0, c.model.space.index("count")), "x2", Fraction(1), Fraction(2))
    mutant = apply_mutation(c, m)
    # every repetition reads the one mutated layer: the count after the loop doubles
    trace = mutant.run("ab", backend="exact").output.trace
    assert trace.final[0][-1][c.model.space.index("count")] == 6


def test_relative_biases_are_mutable_entries():
    c = constructions.build("post-machine")
    sites = {s.name: s for s in weight_sites(c.model)}
    assert "L0.attn.rel_bias.h0" in sites
    window = c.parameters.queue_length
    assert sites["L0.attn.rel_bias.h0"].shape == (window,) and sites["L0.attn.rel_bias.h0"].nonzero == 1


def test_a_behaviour_changing_mutant_is_caught_with_a_witness():
    c = first_is_b()
    z = c.model.space.index("z")
    flip = Mutation("L2.mlp.W_out", (0, z), "negate", Fraction(2), Fraction(-2))
    result = mutate(c, FIRST_IS_B, lengths=range(1, 6), mutations=[flip])
    (outcome,) = result.outcomes
    assert outcome.verdict == "caught" and outcome.behaviour_changing
    assert "answer" in outcome.witness and "answer" in outcome.caught_by
    assert result.passed and result.caught_fraction == 1.0


def test_a_change_only_an_invariant_sees_is_equivalent_or_flagged():
    """Doubling the loop's increment changes ``count`` (an invariant) but no answer."""
    c = first_is_b()
    m = Mutation("loop0.B0.mlp.W_out", (0, c.model.space.index("count")), "x2", Fraction(1), Fraction(2))
    assert mutate(c, FIRST_IS_B, lengths=range(1, 5), mutations=[m]).outcomes[0].verdict == "equivalent"
    flagged = mutate(c, FIRST_IS_B, lengths=range(1, 5), mutations=[m], check_equivalent=True).outcomes[0]
    assert flagged.verdict == "flagged" and "invariant" in flagged.caught_by


def test_a_weak_check_misses_mutants_and_the_report_names_them():
    """A check of length-1 words alone cannot see the attention choose the first of several symbols; the oracle
    (lengths 1..5) can, so the harness must report misses with a witness longer than one symbol."""
    c = constructions.copy_first()
    ref = constructions.get("demo").reference(c)
    result = mutate(c, ref, lengths=range(1, 6), samples=60, seed=0, check_options={"lengths": [1]})
    assert result.missed, result.summary()
    assert not result.passed and result.caught_fraction < 1
    for o in result.missed:
        assert o.witness and o.caught_by is None
        word = o.witness.split("'")[1]
        assert len(word) >= 2, o.witness


def test_the_oracle_does_not_reuse_the_checks_inputs():
    oracle = CheckOracle(FIRST_IS_B, [3])
    assert oracle.seed != 0 and oracle.samples_per_length > 200 and oracle.exhaustive_up_to > 4096


def test_mutation_testing_needs_a_correct_construction():
    with pytest.raises(InputError, match="fails its own check"):
        mutate(first_is_b(sign=-1), FIRST_IS_B, lengths=range(1, 4), samples=2)


def test_unknown_operators_and_negative_counts_are_refused():
    c = constructions.copy_first()
    with pytest.raises(InputError, match="unknown mutation operator"):
        sample_mutations(c.model, 3, operators=("flip",))
    with pytest.raises(InputError, match=">= 0"):
        sample_mutations(c.model, -1)


def test_the_report_renders_and_serialises():
    c = constructions.copy_first()
    ref = constructions.get("demo").reference(c)
    result = mutate(c, ref, lengths=range(1, 5), samples=4, seed=2)
    data = result.as_dict()
    assert data["mutants"] == 4 == len(data["outcomes"])
    assert data["behaviour_changing"] == data["caught"] + data["missed"]
    assert "mutants of 72 entries" in result.to_markdown()
    assert result.render() is not None


def test_the_cli_mutates_and_exits_by_the_verdict(tmp_path):
    from typer.testing import CliRunner

    from exactformer.cli import app

    out = tmp_path / "m.json"
    done = CliRunner().invoke(app, ["mutate", "demo", "--samples", "4", "--lengths", "1-4", "--json", str(out)])
    assert done.exit_code == 0, done.output
    assert '"missed": 0' in out.read_text()


# CI-sized samples: a few mutants of every registered construction, at sizes where its check takes well under a
# second; the full run (scripts/mutation.py's sizes, 40 mutants each) is the slow test below.
CI_SIZES = {
    "connectivity": range(1, 4),
    "log-depth-a5": range(0, 2),
    "log-depth-paper-parity": range(0, 7),
    "log-depth-parity": range(0, 9),
    "pointer-jumping-a5": range(0, 5),
    "pointer-jumping-parity": range(0, 9),
    "superposition": range(3, 7),
    "demo": range(1, 9),
    "parity": range(1, 9),
    "parity-ln": range(1, 9),
    "first": range(1, 9),
    "first-ln": range(1, 9),
    "first-scaled": range(1, 9),
}


def _mutation_run(name, sizes, samples, seed):
    entry = constructions.get(name)
    c = constructions.build(name)
    sizes = sizes if sizes is not None else entry.default_lengths(c)
    return mutate(c, entry.reference(c), lengths=sizes, samples=samples, seed=seed, name=name)


# turing-machine's 4 mutants (about 30 s on a loaded 2-core machine) run behind -m slow; by default its single-bias
# and issue mutants are caught in tests/verify/test_machine_check.py
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "turing-machine" else n
                                  for n in constructions.names()])
def test_every_registered_constructions_behaviour_changing_mutants_are_caught(name):
    report = _mutation_run(name, CI_SIZES.get(name), samples=4, seed=11)
    assert report.mutants == 4
    assert not report.missed, "\n".join(f"{o.mutation}: witness {o.witness}" for o in report.missed)


@pytest.mark.slow
@pytest.mark.parametrize("name", constructions.names())
def test_every_registered_construction_full_mutation_run(name):
    from ..scripts import import_script

    script = import_script("scripts", "mutation")
    c = constructions.build(name)
    report = _mutation_run(name, script.sizes_for(name, c), samples=40, seed=0)
    assert not report.missed, "\n".join(f"{o.mutation}: witness {o.witness}" for o in report.missed)


def _run_the_mutation_script(*options: str) -> str:
    import os
    import subprocess
    import sys

    from ..scripts import ROOT

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "mutation.py"), *options],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "missed:" not in done.stdout, done.stdout
    return done.stdout


def _rows(stdout: str) -> list[str]:
    return [line.split("`")[1] for line in stdout.splitlines() if line.startswith("| `")]


@pytest.mark.slow
def test_the_mutation_script_runs_in_its_quick_mode():
    """``scripts/mutation.py --quick`` (three mutants each of two constructions) runs and prints one row per
    construction and no missed mutant (the full run is the slow test above and ``scripts/results/mutation.txt``)."""
    assert _rows(_run_the_mutation_script("--quick")) == ["demo", "post-machine"]


def test_the_mutation_script_runs_on_one_construction():
    """The default run's share of the quick mode above (post-machine's mutants are the per-construction test's)."""
    assert _rows(_run_the_mutation_script("--only", "demo", "--samples", "3", "--workers", "1")) == ["demo"]
