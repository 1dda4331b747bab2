"""The MLRegTest conformance results (issue 5, item 7): the committed file (the render of the campaign's store) is
consistent (its tally counts its own lines, one per language, sorted), it has every line of the file merged by hand
before the sweep but the seconds, and the sweep task (:mod:`exactformer.sweep.tasks.mlregtest`,
``configs/mlregtest.toml``) reproduces its lines but the seconds."""

from __future__ import annotations

from types import SimpleNamespace

from exactformer.sweep.tasks.mlregtest import HEADER, line, render, run

from ..scripts import ROOT

RESULTS = ROOT / "scripts" / "results" / "log_depth_mlregtest.txt"


def _committed() -> dict[str, str]:
    return {row.split()[0]: row for row in RESULTS.read_text().splitlines() if row[:1].isdigit()}


def test_the_committed_file_has_one_sorted_line_per_language_and_its_tally_counts_them():
    lines = RESULTS.read_text().splitlines()
    body = [row for row in lines if row[:1].isdigit()]
    names = [row.split()[0] for row in body]
    assert names == sorted(names) and len(set(names)) == len(names) == 1800
    assert HEADER in lines
    tally = {"ok": sum(" ok " in row for row in body), "FAIL": sum(" FAIL" in row for row in body),
             "skipped": sum(" skipped " in row for row in body)}
    assert tally == {"ok": 1776, "FAIL": 0, "skipped": 24}
    assert lines[0] == "# store: ok: 1776, FAIL: 0, skipped: 24, missing: 0 (1800 languages)"
    assert lines[1].startswith("# rendered from the store of configs/mlregtest.toml: 1800 cells")


def test_the_store_render_has_every_line_of_the_hand_merged_file_but_the_seconds():
    """The campaign as a sweep (``configs/mlregtest.toml``, 2026-12-06) against the file merged by hand from the
    sessions' sharded runs (2026-11-30, kept beside it): every language's line is the same but the seconds."""
    merged = {row.split()[0]: row.split() for row in (RESULTS.parent / "log_depth_mlregtest_2026-11-30.txt")
              .read_text().splitlines() if row[:1].isdigit()}
    store = {name: row.split() for name, row in _committed().items()}
    assert store.keys() == merged.keys()
    for name, ours in store.items():
        theirs = merged[name]
        if ours[-2] == "ok":
            ours, theirs = ours[:-1], theirs[:-1]
        assert ours == theirs, name


def test_the_sweep_task_reproduces_committed_lines_but_the_seconds():
    """Two small languages and one whose monoid is over the limit, with the full run's parameters."""
    names = ["04.03.TSL.2.1.0", "04.04.SL.4.1.0", "64.64.coSP.6.1.6"]
    records = run(names)["languages"]
    committed = _committed()
    for record in records:
        ours, theirs = line(record).split(), committed[record["language"]].split()
        if record["status"] == "ok":
            ours, theirs = ours[:-1], theirs[:-1]  # the seconds
        assert ours == theirs


def test_the_rendered_table_counts_and_sorts_the_stored_languages():
    records = [
        {"language": "16.04.SL.2.1.0", "status": "ok", "states": 4, "monoid": 9, "code": "lookup", "units": 81,
         "words": 3000, "wrong": 0, "first": "", "seconds": 1.0},
        {"language": "04.04.SP.2.1.0", "status": "FAIL", "states": 3, "monoid": 7, "code": "lookup", "units": 49,
         "words": 3100, "wrong": 2, "first": "('a',): model True, DFA False", "seconds": 3.0},
        {"language": "64.64.coSP.6.1.6", "status": "skipped", "max_monoid": 1000},
    ]
    where = {"code_version": "abc1234", "machine": "here", "finished": "2026-12-06T12:00:00+00:00"}
    cells = [SimpleNamespace(result={"languages": records[:2]}, **where),
             SimpleNamespace(result={"languages": records[2:]}, **where)]
    text = render(cells).splitlines()
    assert text[0] == "# store: ok: 1, FAIL: 1, skipped: 1, missing: 0 (3 languages)"
    assert text[1].startswith("# rendered from the store of configs/mlregtest.toml: 2 cells") and "abc1234" in text[1]
    assert text[2] == HEADER
    assert [row.split()[0] for row in text[3:]] == ["04.04.SP.2.1.0", "16.04.SL.2.1.0", "64.64.coSP.6.1.6"]
    assert "2 FAIL" in text[3] and "first: ('a',): model True, DFA False" in text[3]
