"""The MLRegTest conformance results (issue 5, item 7): how ``scripts/log_depth_mlregtest.py`` merges its runs, and
that the committed results file is such a merge (nothing edited by hand, every line a recorded run)."""

from __future__ import annotations

from .test_parity_first import RESULTS as RESULTS_DIR
from .test_parity_first import _script as script

RESULTS = RESULTS_DIR / "log_depth_mlregtest.txt"


def _script():
    return script("log_depth_mlregtest")


def _line(name: str, rest: str) -> str:
    return f"{name:24} {rest}"


def test_a_later_run_of_a_language_replaces_the_earlier_one(tmp_path):
    first = tmp_path / "first.txt"
    first.write_text(
        "\n".join(
            [
                "# the first run",
                _line("16.04.SL.2.1.0", "4 9 lookup 81 3000 ok 1.0"),
                _line("04.03.TLT.4.1.2", "26 227 function 18252 too wide (d_model x d_mlp = 2.58e+07)"),
                _line("64.64.coSP.6.1.6", ">1000 skipped (monoid larger than --max-monoid)"),
                "",
                "languages: 3 | passed: 1",
            ]
        )
    )
    second = tmp_path / "second.txt"
    second.write_text(
        "\n".join(
            [
                "# a rerun, whose comment is not kept",
                _line("04.03.TLT.4.1.2", "26 227 function 18252 3138 ok 51.0"),
                _line("04.04.SP.2.1.0", "3 7 lookup 49 3100 2 FAIL 3.0  first: ('a', 'ok'): model True, DFA False"),
            ]
        )
    )
    merged = _script().merge([first, second])
    assert merged[0] == "# the first run"
    assert merged[1] == "# merged: ok: 2, FAIL: 1, too wide: 0, skipped: 1, missing: 0 (4 languages)"
    assert merged[2] == _script().HEADER
    body = merged[3:]
    assert [line.split()[0] for line in body] == sorted(line.split()[0] for line in body)
    assert any(line.startswith("04.03.TLT.4.1.2") and " ok " in line for line in body)
    assert not any("too wide" in line for line in body)


def test_the_committed_results_are_a_merge_of_recorded_runs():
    """Merging the committed file alone reproduces it: its tally line counts its own lines, which are sorted, one
    per language."""
    assert _script().merge([RESULTS]) == RESULTS.read_text().splitlines()
