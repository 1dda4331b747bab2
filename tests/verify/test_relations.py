"""check() runs a construction's relations (proof statements that are not exact values) beside its invariants; a
negation relation in floats (:func:`exactformer.verify.relations.relation_holds`) holds when ``x_r + x_-r`` is 0
within ``8 eps ceil(log2(N + 1)) (1 + |x_r|)`` at every position, and its failure names the first pair that is not
(positions first, then pairs)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import exactformer as ef
from exactformer.verify import check
from exactformer.verify.relations import applicable_relations, relation_holds


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


# -- the negation relation in floats, against the statement written as a loop ---------------------------------


@dataclass(frozen=True)
class _Probe:
    values: np.ndarray

    def read(self, trace: Any, space_index: Any, batch_index: int) -> np.ndarray:
        return self.values


@dataclass(frozen=True)
class _Negation:
    probe: _Probe
    pairs: tuple[tuple[str, str], ...]
    name: str = "negation"
    exact_only: bool = False


def _relation(values: np.ndarray) -> _Negation:
    half = values.shape[1] // 2
    return _Negation(_Probe(values), tuple((f"c{r}", f"-c{r}") for r in range(half)))


def _holds(values: np.ndarray, n_tokens: int = 7) -> tuple[bool, str]:
    return relation_holds(_relation(values), {}, 0, "w", n_tokens, lambda name: 0, "torch", torch.float64)


def _first_broken_pair(values: np.ndarray, n_tokens: int) -> tuple[int, int] | None:
    """The statement, one pair at a time."""
    tol = 8 * 2.0**-52 * math.ceil(math.log2(n_tokens + 1))
    half = values.shape[1] // 2
    for pos in range(values.shape[0]):
        for r in range(half):
            a, b = float(values[pos, r]), float(values[pos, half + r])
            if not abs(a + b) <= tol * (1 + abs(a)):
                return pos, r
    return None


def test_a_negated_stream_holds_and_one_broken_pair_is_named():
    u = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    values = np.concatenate([u, -u], axis=1)
    assert _holds(values) == (True, "")
    values[1, 4] += 1e-3  # position 1, pair 1 (c1 = 0.0, -c1 = 0.001)
    values[1, 5] += 1e-3  # position 1, pair 2: later in the order
    assert _holds(values) == (False, "c1 = 0.0 but -c1 = 0.001 at position 1")


def test_a_nan_breaks_the_relation():
    values = np.array([[1.0, float("nan")]])
    held, why = _holds(values)
    assert not held and why == "c0 = 1.0 but -c0 = nan at position 0"


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_tokens=st.integers(1, 5000), noise=st.sampled_from([0.0, 1e-16, 1e-14,
                                                                                              1e-12]))
def test_the_first_broken_pair_is_the_statements(seed, n_tokens, noise):
    """Residues around the tolerance (``8 eps ceil(log2(N + 1))`` is 1.8e-15 to 2.3e-14 here): the relation holds
    exactly when no pair breaks the statement, and names the first that does."""
    rng = np.random.default_rng(seed)
    positions, half = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    u = rng.normal(size=(positions, half)) * 10.0 ** rng.integers(-3, 4, size=(positions, half))
    values = np.concatenate([u, -u + noise * rng.normal(size=u.shape)], axis=1)
    held, why = _holds(values, n_tokens)
    first = _first_broken_pair(values, n_tokens)
    assert held == (first is None)
    if first is not None:
        pos, r = first
        assert why == f"c{r} = {values[pos, r]} but -c{r} = {values[pos, half + r]} at position {pos}"


def test_an_exact_only_relation_is_refused_in_floats():
    relation = _Negation(_Probe(np.zeros((1, 2))), (("c0", "-c0"),), exact_only=True)
    with pytest.raises(ValueError, match="stated for exact arithmetic"):
        relation_holds(relation, {}, 0, "w", 1, lambda name: 0, "torch", torch.float64)
