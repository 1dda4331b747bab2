"""The ball evaluator (FLINT ``arb``) is certified arithmetic:

* its balls contain the exact values on random rational models, at every sublayer;
* on the irrational options (the norms, masked or not) its balls overlap the interval evaluator's and it decides the
  same answers wherever both certify them;
* an exact tie between point scores is certified, a zero-width doubt never is; softmax is refused by name;
* and the interval evaluator keeps its precision through the residual sums (it ran them at mpmath's default 53 bits,
  which lost the paper-faithful tree's certified run at ``11010011``).
"""

from __future__ import annotations

import pytest
from flint import arb
from hypothesis import HealthCheck, assume, given, settings

import exactformer as ef
from exactformer.core.arith import CertifiedArithmetic, ExactArithmetic, interval_bounds
from exactformer.core.arith.ball import BallArithmetic, ball_bounds, ball_sign
from exactformer.core.arith.ball_prefix import prefix_shared_forward
from exactformer.core.errors import AttentionTieError, InputError, NonFiniteError
from exactformer.core.forward import forward
from exactformer.languages import named

from .random_models import transformers, words

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(model, word, arith):
    try:
        return forward(model, [word], arith)
    except (AttentionTieError, NonFiniteError, InputError):
        return None


@SETTINGS
@given(model=transformers(rational_only=True), word=words)
def test_balls_contain_the_exact_values_at_every_sublayer(model, word):
    exact = _run(model, word, ExactArithmetic())
    balls = _run(model, word, BallArithmetic(96))
    assume(exact is not None and balls is not None and balls.certified)
    assert balls.labels == exact.labels
    for label, e, b in zip(exact.labels, exact.residuals, balls.residuals):
        for value, v in zip(e.flat, b.flat):
            lo, hi = ball_bounds(v)
            assert lo <= value <= hi, f"{label}: {value} not in {v}"


@SETTINGS
@given(model=transformers(rational_only=False), word=words)
def test_balls_overlap_the_certified_intervals_for_the_norms(model, word):
    balls = _run(model, word, BallArithmetic(96))
    intervals = _run(model, word, CertifiedArithmetic(96))
    # both certified: after a decision one of them could not make (a step input on its threshold, an argmax tie),
    # each flags it and may take either branch (hypothesis found a step input of exactly -1 at threshold -1)
    assume(balls is not None and intervals is not None and balls.certified and intervals.certified)
    for label, b, c in zip(balls.labels, balls.residuals, intervals.residuals):
        for v, interval in zip(b.flat, c.flat):
            lo, hi = ball_bounds(v)
            ilo, ihi = interval_bounds(interval)
            assert lo <= ihi and ilo <= hi, f"{label}: {v} and {interval} are disjoint"


def test_an_exact_zero_is_zero_and_a_ball_around_zero_is_undecided():
    assert ball_sign(arb(0) * (arb(1) / 3)) == 0
    assert ball_sign(arb(1) / 3 - arb(1) / 3) is None  # the same value twice, but two balls: no decision
    assert ball_sign(arb(1) / 3) == 1 and ball_sign(-arb(1) / 3) == -1


def test_the_zero_query_averaging_heads_tie_exactly_and_certified():
    tree = ef.constructions.paper_tree_recognizer(named.parity())
    trace = forward(tree.model, [tree.encode(list("0110"))], BallArithmetic(128))
    uniform = [d for d in trace.decisions if d.where.startswith("L0.attn")]
    assert uniform and all(d.certified for d in uniform)
    assert any("[0, 1, 2]" in d.what for d in uniform)  # query 2 averages keys 0..2


def test_softmax_is_refused_naming_the_sublayer(softmax_model):
    with pytest.raises(InputError, match="softmax attention .*L0.attn"):
        forward(softmax_model, [["a", "b"]], BallArithmetic())


def test_the_interval_evaluator_keeps_its_precision_in_the_residual_sums():
    tree = ef.constructions.paper_tree_recognizer(named.parity())
    result = tree.run("11010011", backend="certified", precision=128)
    assert result.certified and result.answer == tree.parameters.dfa.accepts(list("11010011"))


def test_sharing_prefixes_computes_what_each_word_computes_alone():
    tree = ef.constructions.paper_tree_recognizer(named.parity())
    seqs = [tuple(tree.encode(list(w))) for w in ("", "1", "10", "011")]
    shared = prefix_shared_forward(tree.model, seqs, BallArithmetic(128), keep=[4])  # after the prefix (L2.attn)
    assert len(shared.rows) == 1 + 5 + 4  # BOS; the letter prefixes 1, 10, 0, 01, 011; one $ per word
    for seq in seqs:
        alone = forward(tree.model, [list(seq)], BallArithmetic(128))
        x = alone["L2.attn"]
        for i in range(len(seq)):
            row = shared.snapshots[4][shared.row_of[seq[:i + 1]]]
            for v, w in zip(row, x[0, i]):
                (lo, hi), (wlo, whi) = ball_bounds(v), ball_bounds(w)
                assert lo <= whi and wlo <= hi


def test_sharing_prefixes_is_refused_when_the_final_block_is_not_the_loop_block():
    from exactformer.verify.mutants import Mutation, apply_mutation

    tree = ef.constructions.paper_tree_recognizer(named.parity())
    before = tree.model.suffix[0].mlp.block.b_out[0]
    mutant = apply_mutation(tree, Mutation("S0.mlp.b_out", (0,), "+1", before, before + 1))
    seqs = [tuple(mutant.encode(list(w))) for w in ("1", "101")]
    with pytest.raises(InputError, match="prefixes cannot be shared"):
        prefix_shared_forward(mutant.model, seqs, BallArithmetic(64))
