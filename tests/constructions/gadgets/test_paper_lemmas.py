"""The paper's printed lemmas (Lemma 1, 7, 8, the activeness tree) at the algorithm level against independent
formulas: divmod, the monoid's own multiplication, closed-form hash values."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
import torch

from exactformer.constructions.gadgets.layer_norm_hash import layer_norm_read, phi
from exactformer.constructions.gadgets.paper_lemmas import (
    activeness_tree,
    lemma1_division,
    lemma1_multiple_flags,
    lemma7_offset,
    lemma8_equality_bit,
)
from exactformer.languages import named


@pytest.mark.parametrize("i,k", [(0, 0), (5, 1), (5, 2), (9, 9), (30, 7)])
def test_lemma7_offset_reads_phi_of_i_minus_k(i, k):
    num, den = lemma7_offset(i, k)
    assert den == Fraction(1, i + 1) and num / den == i - k
    read = layer_norm_read(num, den)
    assert all(math.isclose(a, b, abs_tol=1e-15) for a, b in zip(read, phi(i - k)))
    with pytest.raises(ValueError):
        lemma7_offset(1, 2)


def test_lemma8_equality_bit():
    assert [lemma8_equality_bit(x, 3) for x in (1, 3, 5, Fraction(7, 2))] == [0, 1, 0, 0]


@pytest.mark.parametrize("m", range(1, 8))
def test_lemma1_division_matches_divmod(m):
    rng = random.Random(m)
    n = 30
    a = [rng.randint(0, i) for i in range(n)]
    assert lemma1_division(a, m) == [divmod(x, m) for x in a]


def test_lemma1_rejects_a_beyond_i():
    with pytest.raises(ValueError):
        lemma1_division([0, 2], 2)


def test_lemma1_multiple_test_is_exact_when_the_two_routes_scale_by_a_power_of_two():
    # Query <i, 2, -i, -2> is exactly twice the key cells <j, 1, -j, -1> of j = i/2: every rounded operation of the
    # LayerNorm read scales by 2 exactly, so the equality test of Lemma 1's first layer is decided right.
    assert lemma1_multiple_flags(2000, 2, dtype=torch.float64, storage="integer") == []


@pytest.mark.parametrize("m", [2, 3, 5])
def test_lemma1_multiple_test_fails_in_float64_on_attention_ratios(m):
    # Theorem 1 has no positional encoding: counts reach the stream as ratios <c/(i+1), 1/(i+1)> from uniform
    # attention. The query phi(i/m) at position i and the value phi(i/m) stored at position i/m are then the same
    # real number rounded by different routes, and Lemma 8's exact sign test sees the residue. Every error is a
    # multiple of m read as a non-multiple (the hash itself still finds j* = i/m far below its frontier).
    wrong = lemma1_multiple_flags(300, m, dtype=torch.float64, storage="ratio")
    assert wrong, "expected the printed equality test to fail somewhere below n = 300 in float64"
    assert all(i % m == 0 for i in wrong)
    assert min(wrong) < 50


def test_lemma1_multiple_test_float64_misses_multiples_of_3_even_with_integer_storage():
    wrong = lemma1_multiple_flags(300, 3, dtype=torch.float64, storage="integer")
    assert wrong and all(i % 3 == 0 for i in wrong)


def test_lemma1_multiple_flags_rejects_bad_options():
    with pytest.raises(ValueError, match="m must be"):
        lemma1_multiple_flags(5, 0)
    with pytest.raises(ValueError, match="storage"):
        lemma1_multiple_flags(5, 2, storage="binary")


def _a5():
    monoid = named.word_problem("A5").transition_monoid()
    return monoid, list(monoid.generators.values())


def test_activeness_tree_computes_the_word_product_and_its_invariants():
    monoid, gens = _a5()
    rng = random.Random(0)
    for n in list(range(1, 40)) + [63, 64, 65]:
        word = [rng.choice(gens) for _ in range(n)]
        truth = monoid.identity
        for g in word:
            truth = monoid.multiply(truth, g)
        run = activeness_tree(word, monoid.multiply, monoid.identity, n.bit_length())
        assert run.product == truth, n
        for lv, (alpha, blocks, tail) in enumerate(zip(run.alphas, run.blocks, run.tails)):
            g = 2**lv
            assert alpha == [int(1 <= i <= n and i % g == 0) for i in range(n + 2)]
            for i in range(g, n + 1, g):
                e = monoid.identity
                for x in word[i - g:i]:
                    e = monoid.multiply(e, x)
                assert blocks[i] == e
            e = monoid.identity
            for x in word[g * (n // g):]:
                e = monoid.multiply(e, x)
            assert tail == e


def test_tree_with_ceil_log2_levels_misses_the_top_block_at_powers_of_two():
    monoid, gens = _a5()
    rng = random.Random(1)
    for n in (2, 4, 8, 16, 32):
        word = [rng.choice(gens) for _ in range(n)]
        run = activeness_tree(word, monoid.multiply, monoid.identity, (n - 1).bit_length())
        assert run.product == monoid.identity  # nothing was absorbed into $: the whole word is one block
        truth = monoid.identity
        for g in word:
            truth = monoid.multiply(truth, g)
        assert truth != monoid.identity  # this sample's product is not the identity, so the answer is wrong


def test_tree_printed_errata_fail():
    monoid, gens = _a5()
    word = [gens[0], gens[1], gens[0]]
    truth = monoid.multiply(monoid.multiply(gens[0], gens[1]), gens[0])
    assert activeness_tree(word, monoid.multiply, monoid.identity, 2).product == truth
    assert activeness_tree(word, monoid.multiply, monoid.identity, 2, partner_key_fix=False).product != truth
    word4 = [gens[0], gens[1], gens[1], gens[0]]
    truth4 = monoid.identity
    for g in word4:
        truth4 = monoid.multiply(truth4, g)
    assert activeness_tree(word4, monoid.multiply, monoid.identity, 3, activeness_and_fix=False).product != truth4
