"""The package cites no file outside the repository: the papers' notes it relies on are pages of ``docs/notes/``.

A docstring that cites ``shared/notes/log_depth.md`` §3.4 or ``shared/data/tomita/NOTES.md`` sends a reader to files
that are not part of the repository; the same content, condensed to what the code cites and with the same section
numbers, is in ``docs/notes/*.md``. Naming the *default location* of the external data folder (``shared/data`` beside
the repository, which ``languages.data_dir`` computes) is not a citation and stays allowed; naming anything inside
it, or the notes folder, is not.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = sorted((ROOT / "exactformer").rglob("*.py"))
DOCS = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
OUTSIDE = re.compile(r"shared/notes|shared/data/|NOTES\.md")
CITED_NOTE = re.compile(r"docs/notes/(\w+)\.md")


def _outside_citations(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [f"{path.relative_to(ROOT)}:{i}: {line.strip()}" for i, line in enumerate(lines, 1) if OUTSIDE.search(line)]


def test_no_module_of_the_package_cites_a_file_outside_the_repository():
    found = [hit for path in PACKAGE for hit in _outside_citations(path)]
    assert not found, "cite the docs/notes/ page instead:\n" + "\n".join(found)


def test_no_docs_page_cites_a_file_outside_the_repository():
    found = [hit for path in DOCS for hit in _outside_citations(path)]
    assert not found, "\n".join(found)


def test_every_notes_page_the_package_cites_exists():
    cited = {(path.relative_to(ROOT), name) for path in PACKAGE for name in CITED_NOTE.findall(path.read_text())}
    missing = sorted(f"{path} cites docs/notes/{name}.md" for path, name in cited
                     if not (ROOT / "docs" / "notes" / f"{name}.md").exists())
    assert not missing, "\n".join(missing)


def test_this_test_finds_an_outside_citation(tmp_path):
    """The pattern catches the forms the package used (a note, a data set's NOTES file) and spares the data folder's
    default location."""
    cited = tmp_path / "m.py"
    cited.write_text('"""See ``shared/notes/log_depth.md`` §3.4 and ``shared/data/tomita/NOTES.md``."""\n'
                     '"""The data folder: ``shared/data`` beside the repository."""\n')
    hits = [line for line in cited.read_text().splitlines() if OUTSIDE.search(line)]
    assert hits == ['"""See ``shared/notes/log_depth.md`` §3.4 and ``shared/data/tomita/NOTES.md``."""']
