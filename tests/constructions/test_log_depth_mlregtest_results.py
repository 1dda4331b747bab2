"""The MLRegTest conformance results (issue 5, item 7): how ``scripts/log_depth_mlregtest.py`` merges its runs, and
that the committed results file is such a merge (nothing edited by hand, every line a recorded run)."""

from __future__ import annotations

from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.core.architecture import MLP
from exactformer.languages.dfa import DFA

from ..scripts import ROOT, import_script

RESULTS = ROOT / "scripts" / "results" / "log_depth_mlregtest.txt"


def _script():
    return import_script("scripts", "log_depth_mlregtest")


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
    assert merged[1] == "# merged: ok: 2, FAIL: 1, not run: 0, skipped: 1, missing: 0 (4 languages)"
    assert merged[2] == _script().HEADER
    body = merged[3:]
    assert [line.split()[0] for line in body] == sorted(line.split()[0] for line in body)
    assert any(line.startswith("04.03.TLT.4.1.2") and " ok " in line for line in body)
    assert not any("too wide" in line for line in body)


def test_too_wide_lines_of_old_runs_count_as_not_run(tmp_path):
    old = tmp_path / "old.txt"
    old.write_text(
        "\n".join(
            [
                _line("04.03.TLT.4.1.2", "26 227 function 18252 too wide (d_model x d_mlp = 2.58e+07)"),
                _line("04.03.TLT.6.1.2", "42 619 function 75852 not run (d_model x d_mlp = 2.75e+08, over --max-entries)"),  # noqa: E501
                _line("04.03.TLT.2.1.0", "6 15 lookup 225 3173 ok 3.5"),
            ]
        )
    )
    assert _script().merge([old])[0] == "# merged: ok: 1, FAIL: 0, not run: 2, skipped: 0, missing: 0 (3 languages)"


def test_the_committed_results_are_a_merge_of_recorded_runs():
    """Merging the committed file alone reproduces it: its tally line counts its own lines, which are sorted, one
    per language."""
    assert _script().merge([RESULTS]) == RESULTS.read_text().splitlines()


def test_a_run_orders_by_size_and_lists_the_languages_over_max_entries_as_not_run(capsys):
    """Three small languages of the quick set, fewest MLP units first, the widest over --max-entries."""
    assert _script().main(["--quick", "--limit", "3", "--smallest-first", "--max-entries", "2e4"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line[:1].isdigit()]
    assert len(lines) == 3
    assert [line.split()[0] for line in lines] == ["04.03.TcoSL.4.1.0", "04.03.TLT.2.1.0", "04.03.TLTT.6.2.0"]
    assert [" ok " in line for line in lines] == [True, True, False]
    model = pointer_jumping_recognizer(DFA.from_att(_script().DATA / "att_format" / "04.03.TLTT.6.2.0.att")).model
    d_mlp = max(sub.block.d_mlp for _, layer in model.named_layers(None) for _, sub in layer.sublayers()
                if isinstance(sub.block, MLP))
    assert f"not run    (d_model x d_mlp = {model.d_model * d_mlp:.2e}, over --max-entries)" in lines[2]
