"""Verify your own construction from a test in a few lines.

>>> from exactformer.testing import assert_verified
>>> from exactformer.verify import FunctionReference
>>> import exactformer as ef
>>> assert_verified(ef.constructions.copy_first(), FunctionReference(lambda w: w[0], "ab"), lengths=range(1, 6))
<Report PASSED: demo vs function (torch, float64, seed 0): 62 inputs over 5 sizes, 0 wrong answers, 0 failure reports>

``assert_verified`` runs :func:`exactformer.verify.check` and, on failure, raises an ``AssertionError`` whose message
is the markdown report (every size, the shrunk counterexamples, the invariant that broke). The pytest plugin
(registered as ``exactformer``) also provides it as the fixture ``verified``::

    def test_majority(verified):
        verified(majority(), FunctionReference(lambda w: 2 * w.count("1") > len(w), "01"), lengths=range(1, 12))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .core.construction import Construction
from .verify import Report, check

__all__ = ["assert_verified", "verified"]


def assert_verified(construction: Construction, reference: Any, **options: Any) -> Report:
    """Check ``construction`` against ``reference`` (keyword options as for :func:`~exactformer.verify.check`);
    return the report, or fail with it."""
    report = check(construction, reference, **options)
    if not report.passed:
        raise AssertionError("\n" + report.to_markdown())
    return report


@pytest.fixture
def verified() -> Callable[..., Report]:
    """The fixture form of :func:`assert_verified`."""
    return assert_verified
