"""Every example in docs/*.md runs, and its printed output is checked (doctest over markdown)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).resolve().parents[1] / "docs").glob("*.md"))


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_docs_examples_run(page):
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(page), module_relative=False, optionflags=flags)
    assert result.attempted > 0, f"{page.name} has no runnable examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {page.name}"


@pytest.mark.parametrize("module", ["exactformer.testing", "exactformer.core.space"])
def test_docstring_examples_run(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
