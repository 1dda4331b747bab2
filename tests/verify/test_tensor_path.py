"""The tensor path of ``check`` gives the general path's report, for every registered construction.

``check(path="tensor")`` and ``check(path="general")`` are run on the same construction, reference, sizes and seed;
the reports must agree on everything: the inputs tested per size (mode and count), pass/fail counts, ties, the
smallest margin to the last bit, every invariant's tally, the claims, and every failure (kind, input, minimal
input, expected, got, where, reason). The one stated exception is the mean cross-entropy, which the tensor path sums
with numpy (vectorised ``exp``/``log1p``, pairwise sum) where the general path adds ``math`` values one by one: it is
compared to a relative 1e-12 (each term is a few ulps apart at most; the sums of at most a few hundred terms
differ by far less than 1e-12 relative).

Where the tensor path does not apply (a machine or graph reference, a construction without a batched encoder), the
test checks that ``tensor_path_unavailable`` says why, that ``path="tensor"`` is refused, and that ``path="auto"``
ran the general path (the same report as ``path="general"``).
"""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest
import torch

import exactformer as ef
from exactformer.constructions import registry
from exactformer.core.errors import InputError
from exactformer.languages import named
from exactformer.verify import check, tensor_check
from exactformer.verify.mutants import apply_mutation, sample_mutations
from exactformer.verify.reference import as_reference
from exactformer.verify.tensor_check import tensor_path_unavailable
from exactformer.verify.tensor_inputs import (
    RARE,
    TransitionTable,
    exhaustive_words,
    render_words,
    sample_words,
    word_dtype,
)

#: small sizes per construction: a few exhaustive ones and (exhaustive_up_to below) some sampled ones
OPTIONS = dict(samples_per_length=12, exhaustive_up_to=16, seed=3)


def _sizes(name: str, construction) -> list[int]:
    sizes = list(registry.get(name).default_lengths(construction))
    return sizes[:4] + sizes[6:7] + sizes[-1:] if len(sizes) > 5 else sizes[:2]


def _same_reports(a, b) -> None:
    da, db = a.as_dict(), b.as_dict()
    assert len(da["lengths"]) == len(db["lengths"])
    for la, lb in zip(da["lengths"], db["lengths"], strict=True):
        ca, cb = la.pop("cross_entropy_bits"), lb.pop("cross_entropy_bits")
        assert la == lb, la["size"]
        assert (ca is None) == (cb is None)
        if ca is not None:
            assert math.isclose(ca, cb, rel_tol=1e-12, abs_tol=0.0)
    for ra, rb in zip(a.lengths, b.lengths, strict=True):  # the float margins themselves, not their JSON form
        assert ra.min_margin == rb.min_margin or (math.isnan(ra.min_margin) and math.isnan(rb.min_margin))
    assert da.pop("lengths") is not None and db.pop("lengths") is not None
    assert da == db


@pytest.mark.parametrize("name", registry.names())
def test_the_tensor_path_gives_the_general_paths_report_or_says_why_it_does_not_apply(name):
    entry = registry.get(name)
    c = entry.builder(**entry.options)
    reference = entry.reference(c)
    why = tensor_path_unavailable(c, as_reference(reference), "torch")
    sizes = _sizes(name, c)
    if why is None:
        tensor = check(c, reference, lengths=sizes, path="tensor", **OPTIONS)
        _same_reports(tensor, check(c, reference, lengths=sizes, path="general", **OPTIONS))
        assert tensor.tested > 0
        return
    # not applicable: refused when forced, and "auto" runs the general path (the same report)
    with pytest.raises(InputError, match="the tensor path does not apply"):
        check(c, reference, lengths=sizes[:1], path="tensor", **OPTIONS)
    auto = check(c, reference, lengths=sizes[:1], samples_per_length=2, seed=3)
    _same_reports(auto, check(c, reference, lengths=sizes[:1], samples_per_length=2, seed=3, path="general"))


APPLICABLE = ["parity", "parity-ln", "first", "first-ln", "first-scaled", "log-depth-parity", "pointer-jumping-parity"]


@pytest.mark.parametrize("name", APPLICABLE)
def test_on_broken_constructions_both_paths_report_the_same_failures_and_minimal_counterexamples(name):
    """Weight mutants (``verify.mutants``): every failure, with its shrunk input and diagnosis, is the same."""
    entry = registry.get(name)
    c = entry.builder(**entry.options)
    reference = entry.reference(c)
    sizes = [s for s in _sizes(name, c) if s <= 6]
    failing = 0
    for mutation in sample_mutations(c.model, 16, seed=5):  # until two mutants fail (passing ones compared too)
        broken = apply_mutation(c, mutation)
        tensor = check(broken, reference, lengths=sizes, path="tensor", **OPTIONS)
        _same_reports(tensor, check(broken, reference, lengths=sizes, path="general", **OPTIONS))
        failing += not tensor.passed
        if failing == 2:
            break
    assert failing == 2, "fewer than two of 16 mutants failed: the comparison of failures tested too little"


def test_a_sign_flipped_parity_fails_alike_on_both_paths_with_the_same_minimal_word():
    c = ef.constructions.parity()
    W_U = c.model.readout.W_U * -1
    import dataclasses

    broken = dataclasses.replace(c, model=dataclasses.replace(
        c.model, readout=dataclasses.replace(c.model.readout, W_U=W_U)))
    tensor = check(broken, named.parity(), lengths=[3, 9], path="tensor", **OPTIONS)
    general = check(broken, named.parity(), lengths=[3, 9], path="general", **OPTIONS)
    _same_reports(tensor, general)
    assert not tensor.passed and tensor.failures[0].kind == "answer"
    assert len(tensor.failures[0].minimal_input) == 1  # shrunk to one symbol, on both paths


def test_auto_takes_the_tensor_path_for_a_dfa_reference_and_a_batched_encoder():
    c = ef.constructions.parity()
    assert tensor_path_unavailable(c, as_reference(named.parity()), "torch") is None
    assert "backend" in tensor_path_unavailable(c, as_reference(named.parity()), "exact")
    with pytest.raises(InputError, match="path must be"):
        check(c, named.parity(), lengths=[2], path="fast")


def test_exhaustive_words_are_every_word_in_lexicographic_order():
    words = render_words(exhaustive_words(3, 3), ["a", "b", "c"])
    import itertools

    assert words == ["".join(w) for w in itertools.product("abc", repeat=3)]


@pytest.mark.parametrize(("symbols", "n"), [(2, 0), (2, 1), (1, 3), (3, 4), (5, 3), (2, 9), (0, 2)])
def test_exhaustive_words_are_itertools_product_in_every_shape(symbols, n):
    import itertools

    want = np.array(list(itertools.product(range(symbols), repeat=n)), dtype=np.int64).reshape(symbols**n, n)
    got = exhaustive_words(symbols, n)
    assert got.dtype == np.uint8 and got.shape == want.shape and np.array_equal(got, want)


def test_words_take_a_byte_a_symbol_up_to_256_symbols_and_int64_past_that():
    assert word_dtype(256) == np.uint8 and word_dtype(257) == np.int64
    wide = exhaustive_words(300, 2)
    assert wide.dtype == np.int64 and wide.shape == (90_000, 2) and (wide[-1] == [299, 299]).all()


def test_a_byte_word_gathers_as_indices_not_as_a_mask():
    # torch reads a uint8 index tensor as a boolean mask: the table gather must convert, numpy or torch alike
    table = TransitionTable.from_dfa(named.parity(), ["0", "1"])
    words = exhaustive_words(2, 6)
    want = words.astype(np.int64).sum(axis=1) % 2 == 1
    assert np.array_equal(table.accepts(words), want)
    assert np.array_equal(table.accepts(torch.from_numpy(words)).numpy(), want)


def test_a_dfa_table_gather_gives_the_dfas_own_answers():
    rng = np.random.default_rng(0)
    for dfa in (named.parity(), named.first(), named.word_problem("A5"), named.tomita(3)):
        alphabet = sorted(dfa.alphabet, key=str)
        table = TransitionTable.from_dfa(dfa, alphabet)
        words = rng.integers(0, len(alphabet), size=(64, 7))
        got = table.accepts(words)
        assert got.tolist() == [dfa.accepts(w) for w in render_words(words, alphabet)]


def test_sampled_words_are_exactly_the_requested_kinds_and_uniform_within_each():
    """PARITY at n = 5 (16 accepted words): 1000 draws of 16 accepted and 16 rejected words; every word has the
    requested kind, and the 16 accepted words come out about equally often (chi-square, 15 dof, below the 0.1%
    critical value 37.7)."""
    dfa = named.parity()
    alphabet = sorted(dfa.alphabet, key=str)
    table = TransitionTable.from_dfa(dfa, alphabet)
    rng = random.Random(1)
    counts: Counter[str] = Counter()
    for _ in range(1000):
        words = sample_words(table, dfa, alphabet, 5, 32, rng)
        kinds = table.accepts(words)
        assert len(words) == 32 and kinds[:16].all() and not kinds[16:].any()
        counts.update(render_words(words[:16], alphabet))
    assert len(counts) == 16
    chi2 = sum((m - 1000) ** 2 / 1000 for m in counts.values())
    assert chi2 < 37.7


def test_a_rare_kind_is_drawn_by_the_exact_path_count_sampler():
    """Tomita 1 (1*) has one accepted word of each length: at n = 20 it is far rarer than RARE, so it comes from
    ``dfa.sample``; the rejected ones by rejection (the split: the one accepted word, then ``count - 1`` rejected)."""
    dfa = named.tomita(1)
    alphabet = sorted(dfa.alphabet, key=str)
    assert dfa.count(20) / 2**20 < RARE
    table = TransitionTable.from_dfa(dfa, alphabet)
    words = sample_words(table, dfa, alphabet, 20, 10, random.Random(0))
    assert render_words(words[:1], alphabet) == ["1" * 20] and len(words) == 10  # one accepted, nine rejected
    assert not table.accepts(words[1:]).any()


def test_a_batched_form_that_disagrees_with_its_function_is_refused_not_trusted():
    """A construction whose ``expected.batch`` differs from its ``expected`` makes the tensor path raise (it compares
    the two on the first and last word of every size) rather than check against the wrong values."""
    import dataclasses

    import torch

    from exactformer.core.batch_encoding import batch_of, with_batch
    from exactformer.core.errors import ExactformerError

    c = ef.constructions.parity()
    counts = next(i for i in c.invariants if i.name == "layer1.counts")
    good = batch_of(counts.expected)

    def expected(word, n_tokens):
        return counts.expected(word, n_tokens)

    wrong = with_batch(expected, lambda words, n_tokens: good(words, n_tokens) + torch.tensor(1e-3))
    broken = dataclasses.replace(c, invariants=tuple(
        dataclasses.replace(i, expected=wrong) if i is counts else i for i in c.invariants))
    with pytest.raises(ExactformerError, match="expected.batch disagrees"):
        check(broken, named.parity(), lengths=[3], path="tensor")


def test_an_invariant_rebuilt_with_another_expected_loses_its_batched_form_and_both_paths_still_agree():
    """``dataclasses.replace(invariant, expected=f)`` keeps no stale ``expected.batch``: the tensor path calls ``f``
    word by word, and a shifted expectation fails alike on both paths."""
    import dataclasses
    from fractions import Fraction

    from exactformer.core.batch_encoding import batch_of

    c = ef.constructions.first()
    gate = c.invariants[0]
    shifted = dataclasses.replace(gate, expected=lambda w, n: [[v + Fraction(1, 1000) for v in row]
                                                               for row in gate.expected(w, n)])
    assert batch_of(shifted.expected) is None
    broken = dataclasses.replace(c, invariants=(shifted,))
    tensor = check(broken, named.first(), lengths=[2, 3], path="tensor", **OPTIONS)
    _same_reports(tensor, check(broken, named.first(), lengths=[2, 3], path="general", **OPTIONS))
    assert not tensor.passed and tensor.failures[0].kind == "invariant"



@pytest.mark.parametrize(("n", "doubled"), [(6, False), (9, False), (10, True)])
def test_a_size_of_many_blocks_runs_in_blocks_of_twice_the_budget_and_reports_alike(n, doubled, monkeypatch):
    """Blocks hold ``RESIDUAL_BUDGET`` bytes of residual stream, twice that once the size's words fill
    ``MANY_BLOCKS`` of the larger blocks (their first pass's page faults are then repaid). The report is the
    general path's either way."""
    c = registry.build("parity")
    itemsize, budget = 8, 16 * 11 * c.model.d_model * 8  # 16 words of length 10 (11 tokens) a block
    monkeypatch.setattr(tensor_check, "RESIDUAL_BUDGET", budget)
    rows: list[int] = []
    original = tensor_check.forward

    def spy(model, inputs, arith, **options):
        rows.append(int(inputs.shape[0]))
        return original(model, inputs, arith, **options)

    monkeypatch.setattr(tensor_check, "forward", spy)
    options = dict(lengths=[n], exhaustive_up_to=1 << n, batch_size=1 << 12)
    tensor = check(c, named.parity(), path="tensor", **options)
    _same_reports(tensor, check(c, named.parity(), path="general", **options))
    residual = len(c.encode("0" * n)) * c.model.d_model * itemsize
    assert (2**n * residual >= tensor_check.MANY_BLOCKS * 2 * budget) == doubled  # the case is the one named
    assert max(rows) == (2 if doubled else 1) * budget // residual
    assert tensor.passed and tensor.tested == 2**n
