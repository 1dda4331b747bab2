"""The pytest plugin: a user's construction is verified by a five-line test."""

from __future__ import annotations

import pytest

import exactformer as ef
from exactformer.testing import assert_verified
from exactformer.verify import FunctionReference


def test_the_fixture_verifies_a_correct_construction(verified):
    report = verified(ef.constructions.copy_first(), FunctionReference(lambda w: w[0], "ab"), lengths=range(1, 6))
    assert report.passed


def test_a_wrong_reference_fails_with_the_report_as_message():
    with pytest.raises(AssertionError, match=r"(?s)FAILED: demo vs .* minimal `ab`"):
        assert_verified(ef.constructions.copy_first(), FunctionReference(lambda w: w[-1], "ab"), lengths=[3])
