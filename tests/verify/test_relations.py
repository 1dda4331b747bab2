"""check() runs a construction's relations (proof statements that are not exact values) beside its invariants."""

from __future__ import annotations

import dataclasses

import torch

import exactformer as ef
from exactformer.verify import check
from exactformer.verify.relations import applicable_relations


def test_check_tallies_the_relations_of_parity_and_first():
    for c, language in ((ef.constructions.parity(), ef.languages.parity()),
                        (ef.constructions.first(layer_norm=True), ef.languages.first())):
        report = check(c, language, lengths=range(1, 5), backend="certified")
        assert report.passed
        names = [r.name for r in c.relations]
        assert "answer.sign" in names
        for lr in report.lengths:
            for name in names:
                tally = lr.invariants[name]
                assert tally.checked == lr.tested == tally.held > 0


def test_exact_only_relations_are_left_out_in_floats():
    c = ef.constructions.parity(layer_norm=True)
    exact_only = [r.name for r in c.relations if getattr(r, "exact_only", False)]
    assert exact_only == ["ln.negated_halves.L1.mlp"]
    stated = {r.name for r in c.relations}
    assert {r.name for r in applicable_relations(c, "torch")} == stated - set(exact_only)
    report = check(c, ef.languages.parity(), lengths=[3], backend="torch", dtype=torch.float64)
    assert report.passed and exact_only[0] not in report.lengths[0].invariants


def test_a_false_relation_fails_the_check_though_every_answer_is_right():
    c = ef.constructions.parity()
    (sign,) = [r for r in c.relations if r.name == "answer.sign"]
    flipped = dataclasses.replace(sign, expected=lambda word, n: [[-s for s in row] for row in sign.expected(word, n)])
    broken = dataclasses.replace(c, relations=(flipped,))
    report = check(broken, ef.languages.parity(), lengths=range(1, 4), backend="torch", dtype=torch.float64)
    assert not report.passed
    assert all(lr.passed == lr.tested for lr in report.lengths)  # the answers are all right
    failure = report.failures[0]
    assert failure.kind == "invariant" and "relation 'answer.sign'" in failure.where
    assert check(broken, ef.languages.parity(), lengths=range(1, 4), check_invariants=False).passed
