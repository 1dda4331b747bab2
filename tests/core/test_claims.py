"""A theorem's resource claims, as functions of n, against what a model measures."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from exactformer.core.claims import Claim, ClaimedResources, ceil_log2, constant, log_depth
from exactformer.core.errors import InputError


@dataclass(frozen=True)
class Measured:
    """The fields of Resources a claim reads."""

    n: int
    layers: int
    heads: int = 1
    attention_kinds: tuple[str, ...] = ("hard",)


@pytest.mark.parametrize(("n", "want"), [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (1024, 10), (1025, 11)])
def test_ceil_log2(n, want):
    assert ceil_log2(n) == want


def test_an_upper_bound_holds_up_to_its_value_and_breaks_past_it():
    claims = ClaimedResources(claims=(Claim("layers", "<=", log_depth(8, 9), "8⌈log2 n⌉ + 9"),))
    (at_bound,) = claims.compare(Measured(n=16, layers=41))
    (past,) = claims.compare(Measured(n=16, layers=42))
    assert at_bound.holds and at_bound.bound == 41
    assert not past.holds
    assert "BROKEN" in str(past) and "8⌈log2 n⌉ + 9" in str(past)


def test_an_equality_claim_breaks_on_either_side():
    claims = ClaimedResources(claims=(Claim("heads", "==", constant(1), "1"),))
    assert [c.holds for c in claims.compare(Measured(n=5, layers=1, heads=1))] == [True]
    assert [c.holds for c in claims.compare(Measured(n=5, layers=1, heads=0))] == [False]
    assert [c.holds for c in claims.compare(Measured(n=5, layers=1, heads=2))] == [False]


def test_the_attention_claim():
    hard = ClaimedResources(attention=("hard", "average_hard"))
    assert hard.attention_holds(Measured(n=1, layers=1, attention_kinds=("average_hard",)))
    assert not hard.attention_holds(Measured(n=1, layers=1, attention_kinds=("hard", "softmax")))
    assert ClaimedResources().attention_holds(Measured(n=1, layers=1, attention_kinds=("softmax",)))


def test_malformed_claims_are_refused():
    with pytest.raises(InputError, match="bounds one of"):
        Claim("depth", "<=", constant(1), "1")
    with pytest.raises(InputError, match="relation"):
        Claim("layers", "<", constant(1), "1")  # type: ignore[arg-type]


def test_describe():
    claims = ClaimedResources(claims=(Claim("layers", "==", constant(2), "2"),), attention=("softmax",),
                              precision="O(log n) bits")
    assert claims.describe() == "layers == 2; attention softmax; precision O(log n) bits"
    assert ClaimedResources().describe() == "no resource claims"
