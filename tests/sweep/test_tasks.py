"""The corpus tasks that replace the long scripts' loops reproduce the committed results files' lines (the seconds
aside): the busy-beaver decoder on the 2x2 list and the champions."""

from __future__ import annotations

import pytest

from exactformer.sweep.tasks import busy_beaver

from ..scripts import ROOT

BB_RESULTS = ROOT / "scripts" / "results" / "post_machine_bb_sweep.txt"


def _without_seconds(line: str) -> list[str]:
    return line.split()[:-1]


def test_the_busy_beaver_task_reproduces_the_committed_lines_of_the_2x2_list_and_three_champions():
    assert busy_beaver.DATA.exists(), f"the external busy-beaver data is missing: {busy_beaver.DATA}"
    steps = {f"{m[0]}:{m[1]}": m[2] for m in busy_beaver.machines(busy_beaver.DATA, ["2x2", "champions"])}
    small = [e for e in busy_beaver.entries(lists=["2x2", "champions"]) if steps[e] < 100]  # BB(4)'s 107 aside
    result = busy_beaver.run(small)
    committed = {tuple(line.split()[:2]): line for line in BB_RESULTS.read_text().splitlines()
                 if not line.startswith("#")}
    assert result["figures"]["machines"] == result["figures"]["match"] == len(small)
    for record in result["machines"]:
        ours = busy_beaver.line(record)
        assert _without_seconds(ours) == _without_seconds(committed[(record["list"], record["machine"])])


def test_an_unknown_list_is_refused_by_name():
    with pytest.raises(ValueError, match=r"unknown busy-beaver list\(s\) \['5x2'\]"):
        busy_beaver.entries(lists=["5x2"])


def test_a_check_cell_stores_the_verifiers_report_and_a_bad_name_is_refused_before_running():
    from exactformer.sweep import SweepConfigError, parse_config
    from exactformer.sweep.tasks.check import run_check

    out = run_check("demo", lengths=[1, 2, 3], samples=8)
    assert out["figures"]["passed"] is True and out["figures"]["sizes"] == 3
    assert out["report"]["construction"] and out["summary"].startswith("PASSED")
    with pytest.raises(SweepConfigError, match="no construction named 'nope'"):
        parse_config({"name": "t", "task": "check", "grid": {"construction": ["demo", "nope"]}})
    with pytest.raises(SweepConfigError, match="dtype 'float8'"):
        parse_config({"name": "t", "task": "check", "params": {"construction": "demo", "dtype": "float8"}})


def test_the_readme_row_rendered_from_a_cell_is_the_readmes_row():
    from types import SimpleNamespace

    from exactformer.catalog import readme_table
    from exactformer.sweep.tasks import readme

    cell = SimpleNamespace(result=readme.run("demo"))
    rendered = readme.render([cell]).splitlines()
    assert rendered[2] in readme_table(ROOT / "README.md").splitlines()


def test_three_readme_rows_rendered_from_cells_are_the_readmes_rows_in_its_order():
    """The README's table from cells of ``configs/readme_table.toml``, on three of its rows (the full table:
    ``docs/sweep.md``, "The README's table from a store")."""
    from types import SimpleNamespace

    from exactformer.catalog import readme_table
    from exactformer.sweep.tasks import readme

    names = ["first", "first-ln", "first-scaled"]
    rendered = readme.render([SimpleNamespace(result=readme.run(name)) for name in names]).splitlines()
    table = readme_table(ROOT / "README.md").splitlines()
    assert rendered[:2] == table[:2]  # the column names and the rule
    ours = rendered[2:]
    assert [line.split(" | ")[0] for line in ours] == [f"| `{name}`" for name in names]
    start = table.index(ours[0])
    assert table[start : start + 3] == ours


def test_an_mlregtest_forward_pass_keeps_its_residual_stream_within_the_budget_and_holds_at_least_one_word():
    from exactformer.core.arith.torch_fast import RESIDUAL_BUDGET
    from exactformer.sweep.tasks.mlregtest import words_per_pass

    for length in (1, 8, 32, 128):
        for d_model in (21, 85, 767, 6851, 10**6):
            size = words_per_pass(length, d_model)
            assert 1 <= size <= 512
            assert size == 1 or size * (length + 1) * d_model * 8 <= RESIDUAL_BUDGET
            assert size == 512 or (size + 1) * (length + 1) * d_model * 8 > RESIDUAL_BUDGET
    assert words_per_pass(128, 6851) == 1 and words_per_pass(1, 21) == 512
