"""Every example in docs/*.md runs, and its printed output is checked (doctest over markdown); the site builds."""

from __future__ import annotations

import doctest
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
# pages that are generated or pure prose: they may hold no examples
WITHOUT_EXAMPLES = {"api.md"}
# the project's notes on the papers and data sets the package cites (prose and formulas, no examples)
NOTES = sorted((ROOT / "docs" / "notes").glob("*.md"))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_docs_examples_run(page):
    result = doctest.testfile(str(page), module_relative=False, optionflags=FLAGS)
    if page.name not in WITHOUT_EXAMPLES:
        assert result.attempted > 0, f"{page.name} has no runnable examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {page.name}"


@pytest.mark.parametrize("module", ["exactformer.testing", "exactformer.core.space", "exactformer.verify.mutate"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_tutorials_five_line_test_passes_and_catches_the_broken_variant():
    """The tutorial's ``verified`` test, run on its construction, and on the broken one (which must fail)."""
    from exactformer.testing import assert_verified

    text = (ROOT / "docs" / "tutorial.md").read_text()
    test = doctest.DocTestParser().get_doctest(text, {}, "tutorial", str(ROOT / "docs" / "tutorial.md"), 0)
    doctest.DocTestRunner(optionflags=FLAGS).run(test, clear_globs=False)
    g = test.globs
    assert_verified(g["majority"](), g["is_majority"], lengths=range(0, 13), backend="exact")
    with pytest.raises(AssertionError, match="attention.mean_vote"):
        assert_verified(g["majority"](bos_vote=g["Fraction"](1, 2)), g["is_majority"], lengths=range(0, 4),
                        backend="exact")


def test_every_docs_page_is_in_the_site_navigation():
    import yaml
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(entries):
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            if isinstance(value, list):
                yield from pages(value)
            else:
                yield value

    assert {p.relative_to(ROOT / "docs").as_posix() for p in DOCS + NOTES} == set(pages(nav))


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    mkdocs = shutil.which("mkdocs")
    command = [mkdocs] if mkdocs else [sys.executable, "-m", "mkdocs"]
    done = subprocess.run([*command, "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", **__import__("os").environ})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "site" / "tutorial" / "index.html").exists()
    # the tokens <A>, <R>, <Q>, <e> outside code spans are read as HTML tags and vanish from the page
    # ("⟨u_<R>, content⟩" showed as "⟨u_, content⟩"): every page writes them as code or escaped
    raw = [f"{page.relative_to(tmp_path / 'site')}: {m.group(0)}" for page in (tmp_path / "site").rglob("*.html")
           for m in re.finditer(r"<(A|R|Q|e)>", page.read_text())]
    assert not raw, raw[:10]


def test_the_readme_python_example_runs():
    """The README's first-look example (plain Python, not a doctest) executes without error."""
    import re

    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
