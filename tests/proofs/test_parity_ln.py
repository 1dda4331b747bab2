"""PARITY with layer norm, layer 2 for every n: the per-position lemmas of ``proofs/parity_ln.py``.

Two of the ten cases (k even with a 0 at k, n even; k odd with a 1 at k, n odd) keep these tests short; the whole
certificate, on all ten, is ``test_parity_ln_is_proven_for_every_n_with_z_plus_minus_sqrt_10`` (slow).
"""

from __future__ import annotations

import copy
import dataclasses
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp

from exactformer.constructions.parity_first import parity
from exactformer.proofs.parity_first_cases import k, locate, n, parity_cases
from exactformer.proofs.parity_ln import (
    MU,
    RHO,
    J,
    answer_sign_at,
    factor_bounds,
    interval,
    layer_two,
    parity_ln_lemmas,
)
from exactformer.proofs.parity_ln_readout import readout_lemmas
from exactformer.verify.mutants import Mutation, apply_mutation

FAST_CASES = (0, 8)  # n even, k even, a 0 at position k; n odd, k odd, a 1 at position k


@pytest.fixture(scope="module")
def construction():
    return parity(layer_norm=True)


@pytest.fixture(scope="module")
def two(construction):
    cases = parity_cases()
    return [layer_two(construction.model, cases[i]) for i in FAST_CASES]


def _lemmas(data):
    return {lm.name: lm for lm in parity_ln_lemmas(data)[0]}


def _mutant(construction, site: str, head: int, pick, after: Fraction):
    """A single-weight mutant of layer 2's attention: the entry of ``site``'s head picked by ``pick`` (row, column
    from the weight's nonzero entries)."""
    weight = np.asarray(getattr(construction.model.layers[1].attention.block, site.split(".")[-1])[head], dtype=float)
    row, column = pick(weight)
    before = Fraction(getattr(construction.model.layers[1].attention.block, site.split(".")[-1])[head][row][column])
    return apply_mutation(construction, Mutation(site, (head, row, column), "hand", before, after))


def test_every_layer_2_lemma_holds_on_these_cases(two, construction):
    lemmas = _lemmas(two)
    assert all(lm.proven for lm in lemmas.values()), {k: lm.detail for k, lm in lemmas.items()}
    assert all(lm.proven for lm in readout_lemmas(construction, two))


def test_head_0s_score_is_the_product_of_the_query_and_key_layer_norm_factors(two):
    # written from the note, not the weights: after layer 1, position j holds u_j = (token one-hot, j/N, (-1)^j,
    # k/N, 1/N, [j = k]/N) doubled and scaled by lambda_j = 1/sqrt(|u_j|^2 / 10); layer 2's score at CLS on j is
    # (1/sqrt(d_head)) * big * lambda_CLS * lambda_j * (-1)^j with d_head = 10 and big = 1.
    N = n + 1
    for d in two:
        hat_at_cls = d.case.hat_token == "CLS"
        lam_cls2 = 10 / (2 + (n ** 2 + k ** 2 + 1 + (1 if hat_at_cls else 0)) / N ** 2)
        lam_j2 = 10 / (2 + (J ** 2 + k ** 2 + 1) / N ** 2)
        assert sp.cancel(d.curve ** 2 - sp.Rational(1, 10) * lam_cls2 * lam_j2) == 0
        lam_k2 = 10 / (2 + (2 * k ** 2 + 2) / N ** 2)  # the hat adds 1/N^2 to |u_k|^2
        t_k = d.scores[0][d.hat] * (1 if d.hat_class.parity == 0 else -1)
        assert sp.cancel(t_k ** 2 - sp.Rational(1, 10) * lam_cls2 * lam_k2) == 0


def test_the_per_position_sums_give_the_certified_backends_sign_at_concrete_words(two, construction):
    by_case = {d.case.name: d for d in two}
    checked = 0
    for length in range(1, 8):
        for w in range(2 ** length):
            word = format(w, f"0{length}b")
            case, _, values = locate(word, "parity")
            if case.name not in by_case:
                continue
            z = construction.run(word, backend="certified").logits[0]
            sign = answer_sign_at(by_case[case.name], int(values[n]), int(values[k]))
            assert sign == (1 if z.a > 0 else -1 if z.b < 0 else 0), word
            checked += 1
    assert checked > 30


def test_the_answer_at_cls_after_layer_2_attention_is_the_certified_enclosure_at_omega_equal_a(two, construction):
    # the pass leaves layer 2's CLS answer as +-omega = +-(1 + rho)/(1 + mu); at a word, omega = |A| from the
    # per-position sums (|A| < 1: rho = 0, mu = 1/|A| - 1)
    checked = 0
    for word in ("0000", "1100", "10011", "1110110"):
        case, _, values = locate(word, "parity")
        d = next((x for x in two if x.case.name == case.name), None)
        if d is None:
            continue
        sub = {n: values[n], k: values[k]}
        nv, hat_j = int(values[n]), int(values[k])
        sums = [sum((mpmath.exp(float((d.scores[h][d.hat] if j == hat_j else d.curve.xreplace({J: j}) *
                                       (1 if j % 2 == 0 else -1) * (1 if h == 0 else -1)).xreplace(sub)))
                     for j in range(nv + 1)), mpmath.mpf(0)) for h in (0, 1)]
        t = [float(sp.sympify(d.scores[h][d.hat]).xreplace(sub)) for h in (0, 1)]
        v0 = float(sp.sympify(d.values[0][d.hat][d.answer]).xreplace(sub))
        a = v0 * (mpmath.exp(t[0]) / sums[0] - mpmath.exp(t[1]) / sums[1])
        enclosure = construction.run(word, backend="certified").residual("L1.attn", -1)
        row = d.trace["L1.attn"][0][0]
        assert 0 < abs(a) < 1
        point = {**sub, RHO: sp.Integer(0), MU: sp.Float(1 / abs(a) - 1, 30)}
        for name, got in zip(construction.model.space.names, row):
            value = mpmath.mpf(sp.N(sp.sympify(got).xreplace(point), 30))
            box = enclosure[name]
            assert box.a - 1e-9 <= value <= box.b + 1e-9, (word, name, value, box)
            checked += 1
    assert checked == 4 * 20


def test_the_tail_starts_where_n_plus_1_exceeds_r(two):
    bounds = factor_bounds(two)
    assert bounds.low > 0 and bounds.high > 0
    r = bounds.threshold.b
    assert bounds.small_n + 2 > r  # the tail's first n has n + 1 > R
    assert bounds.small_n < r  # and the exhaustive range is no longer than it needs to be
    small = _lemmas(two)["L1.attn.even_k_small_n"]
    # case 0 (n even, k even, a 0 at k): every n <= small_n, every k = 0, 2, ..., n - 2
    expected = {(a, b) for a in range(2, bounds.small_n + 1, 2) for b in range(0, a - 1, 2)}
    assert small.cases == len(expected)


def test_interval_rules_are_outward_and_refuse_what_they_do_not_know():
    x = interval(sp.sqrt(10) * sp.exp(sp.Rational(1, 3)) / 7)
    assert x.a <= mpmath.sqrt(10) * mpmath.exp(mpmath.mpf(1) / 3) / 7 <= x.b
    with pytest.raises(ValueError):
        interval(sp.log(3))


# ---------------------------------------------------------------------------------------------------------------
# a certificate can fail: each new lemma, by name
# ---------------------------------------------------------------------------------------------------------------


def _one_case(model, index=0):
    return [layer_two(model, parity_cases()[index])]


def test_a_layer_2_key_that_is_not_head_0s_mirror_fails_per_position(construction):
    # head 1's key reads -(-1)^i with weight -1; make it -2: its scores are no longer head 0's negatives
    mutant = _mutant(construction, "L1.attn.W_K", 1, lambda w: np.argwhere(w != 0)[0], Fraction(-2))
    lemmas = _lemmas(_one_case(mutant.model))
    assert lemmas["L1.attn.per_position"].failed and "head 1's score" in lemmas["L1.attn.per_position"].detail
    assert lemmas["L1.attn.hat_value"].proven
    assert lemmas["L1.attn.answer_sign"].failed


def test_unequal_head_values_fail_hat_value(construction):
    mutant = _mutant(construction, "L1.attn.W_O", 1, lambda w: np.argwhere(w != 0)[0], Fraction(2))
    lemmas = _lemmas(_one_case(mutant.model))
    assert lemmas["L1.attn.per_position"].proven
    assert lemmas["L1.attn.hat_value"].failed and "opposite" in lemmas["L1.attn.hat_value"].detail


def _with(d, **changes):
    return dataclasses.replace(copy.copy(d), **changes)


def test_an_increasing_key_factor_fails_key_factor_decreasing(two):
    d = two[0]
    lemmas = _lemmas([_with(d, curve=d.curve * (J + 1))])
    assert lemmas["L1.attn.key_factor_decreasing"].failed and "T(j+1)" in lemmas["L1.attn.key_factor_decreasing"].detail


def test_a_hat_above_the_curve_fails_hat_below_curve(two):
    d = two[1]
    scores = [list(s) for s in d.scores]
    scores[0][d.hat], scores[1][d.hat] = 2 * scores[0][d.hat], 2 * scores[1][d.hat]
    lemmas = _lemmas([_with(d, scores=scores)])
    assert lemmas["L1.attn.per_position"].proven  # the hat's scores stay opposite
    assert lemmas["L1.attn.hat_below_curve"].failed and "T(k)^2 - T_k^2" in lemmas["L1.attn.hat_below_curve"].detail


def test_an_unbounded_key_factor_fails_factor_bounds(two):
    d = two[0]
    lemmas = _lemmas([_with(d, curve=d.curve * (n + 1))])
    assert lemmas["L1.attn.factor_bounds"].failed and "not shown" in lemmas["L1.attn.factor_bounds"].detail
    assert lemmas["L1.attn.even_k_small_n"].failed


def test_a_hat_score_of_the_wrong_sign_fails_the_small_n_check(two):
    d = two[0]  # k even: A < 0 needs the hat's head-0 score +T_k; give it -T_k (both heads, still opposite)
    scores = [list(s) for s in d.scores]
    scores[0][d.hat], scores[1][d.hat] = -scores[0][d.hat], -scores[1][d.hat]
    lemmas = _lemmas([_with(d, scores=scores)])
    assert lemmas["L1.attn.even_k_small_n"].failed and "not shown negative" in lemmas["L1.attn.even_k_small_n"].detail


def test_an_eraser_that_flips_a_positive_answer_fails_the_readout_sign_and_the_sqrt_10_identity(construction):
    # the eraser's hidden unit relu(answer) (hidden unit i reads coordinate i) writes nothing; make it write
    # -2 relu(answer) to the answer: a positive answer becomes its negative, a negative one stays
    answer = construction.model.space.index("answer")
    mutant = apply_mutation(construction, Mutation("L1.mlp.W_out", (answer, answer), "hand", Fraction(0),
                                                   Fraction(-2)))
    lemmas = {lm.name: lm for lm in readout_lemmas(mutant, _one_case(mutant.model, 8))}  # k odd: A > 0
    assert lemmas["readout.sign"].failed and "should be positive" in lemmas["readout.sign"].detail
    assert lemmas["readout.closed_form"].failed


def test_an_eraser_that_keeps_a_coordinate_fails_the_sqrt_10_identity_only(construction):
    # the unit relu(pos:i/N) erases pos:i/N with -1; with 0 it survives to the last layer norm, which then no
    # longer maps the answer to +-sqrt(10) (the sign is unchanged)
    pos = construction.model.space.index("pos:i/N")
    mutant = apply_mutation(construction, Mutation("L1.mlp.W_out", (pos, pos), "hand", Fraction(-1), Fraction(0)))
    lemmas = {lm.name: lm for lm in readout_lemmas(mutant, _one_case(mutant.model))}
    assert lemmas["readout.sign"].proven
    assert lemmas["readout.closed_form"].failed and "not" in lemmas["readout.closed_form"].detail
