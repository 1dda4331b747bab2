"""The PARITY / FIRST tasks of the package (``parity_first_frontier``, ``parity_first_sweep``) reproduce the committed
results files: the frontier's search and diagnosis give the committed rows and tested lengths of PARITY-LN in float16
and bfloat16 (every column but the seconds), and the renderer writes the committed file's lines, its float64 rows
derived from the sweep's rows."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from exactformer.sweep import SweepConfigError, parse_config
from exactformer.sweep.tasks import parity_first_frontier as frontier
from exactformer.sweep.tasks.parity_first_sweep import sweep_cell

from ..scripts import ROOT

RESULTS = ROOT / "scripts" / "results"


def _table(name: str) -> tuple[list[str], list[dict[str, str]]]:
    """The lines and the rows (dicts by column) of a committed results file."""
    lines = (RESULTS / f"{name}.txt").read_text().splitlines()
    table = [line for line in lines if line.startswith("|") and not line.startswith("|---")]
    columns = [c.strip() for c in table[0].strip("|").split("|")]
    return lines, [dict(zip(columns, (c.strip() for c in line.strip().strip("|").split("|")))) for line in table[1:]]


@pytest.fixture(scope="module")
def ln_cells():
    """The frontier cells of PARITY-LN in float16 and bfloat16 (the full configuration's parameters)."""
    params = {"max_n": 10_000, "samples": 200, "seed": 0, "length_cpu_seconds": 10.0, "bisect_steps": 8,
              "device": "cpu", "accumulate": "dtype"}
    return {dtype: frontier.frontier_cell("parity-ln", dtype, **params) for dtype in ("float16", "bfloat16")}


def test_the_frontier_cells_of_parity_ln_in_half_precision_are_the_committed_rows(ln_cells):
    _, rows = _table("parity_first_frontier")
    committed = {(r["variant"], r["dtype"]): r for r in rows}
    for dtype, result in ln_cells.items():
        assert result["row"] == committed[("parity-ln", dtype)]
        assert result["figures"]["first failing"] == int(committed[("parity-ln", dtype)]["first failing n"])


def test_the_frontier_cells_test_the_committed_lengths_with_the_committed_outcomes(ln_cells):
    _, cells = _table("parity_first_frontier_cells")
    for dtype, result in ln_cells.items():
        committed = [c for c in cells if c["variant"] == "parity-ln" and c["dtype"] == dtype]
        ours = [{k: str(v) for k, v in c.items() if k != "seconds"} for c in result["lengths"]]
        assert ours == [{k: v for k, v in c.items() if k != "seconds"} for c in committed]


def test_the_rendered_frontier_table_has_the_committed_lines_and_derives_float64_from_the_sweep(ln_cells):
    lines, _ = _table("parity_first_frontier")
    _, sweep_rows = _table("parity_first_sweep")
    stored = [SimpleNamespace(params={"samples": 200, "length_cpu_seconds": 10.0, "max_n": 10_000}, result=r,
                              finished="2026-12-06T00:00:00+00:00", machine="test") for r in ln_cells.values()]
    text = frontier.render_table(stored, sweep_rows, "read from scripts/results/parity_first_sweep.txt")
    rendered = text.splitlines()
    assert rendered[4:6] == lines[4:6]  # the column names and the rule
    ours = [line for line in rendered if line.startswith("| parity-ln |")]
    assert ours == [line for line in lines if line.startswith("| parity-ln |") and "| float32 |" not in line]
    assert "CPU s per length (time.process_time of the worker" in rendered[1]
    for name in ("parity", "first", "first-ln", "first-scaled"):  # every committed float64 row, from the sweep's rows
        row = frontier.float64_row(name, sweep_rows)
        assert f"| {' | '.join(row[c] for c in frontier.COLUMNS)} |" in lines


def test_a_frontier_length_stops_once_its_cpu_budget_is_spent_and_never_reads_the_wall_clock(monkeypatch):
    ticks = iter(range(0, 10_000, 100))  # a CPU clock that jumps 100 s a read
    # the module's clock is this CPU clock alone: reading a wall clock (time.time, perf_counter) is an AttributeError
    monkeypatch.setattr(frontier, "time", SimpleNamespace(process_time=lambda: next(ticks)))
    cell = frontier.check_length("first", 300, frontier.DTYPES["float32"], 200, 0, 10.0, "cpu")
    assert cell["words"] >= frontier.MIN_WORDS and cell["words"] < 200 and cell["wrong"] == 0


def test_a_frontier_configuration_with_an_unknown_variant_or_dtype_is_refused_by_name():
    with pytest.raises(SweepConfigError, match="unknown variant 'parity-lm'"):
        parse_config({"name": "f", "task": "parity_first_frontier", "grid": {"variant": ["parity-lm"]},
                      "params": {"dtype": "float16"}})
    with pytest.raises(SweepConfigError, match="dtype 'float8'"):
        parse_config({"name": "f", "task": "parity_first_frontier", "params": {"variant": "first", "dtype": "float8"}})


def test_a_sweep_cell_gives_the_committed_rows_of_first_at_n_9_and_parity_at_n_12():
    """The committed file is a render of the sweep's store: a cell run now gives its row in every column but the
    seconds, exactly, except the two rounding-level ones (the largest relative deviation from the closed form and
    the CE's standard error), which move with the order in which BLAS sums: PARITY at n = 12 gives 2.4e-15 in a fresh
    process and 2.3e-15 inside the whole test run on the machine that made the file, and 5.7e-15 on an AVX512 AMD
    EPYC whose MKL kernels round differently (family 25 model 17; see tests/fingerprint.py). Those two are compared
    at the rounding level, within 1e-14 (45 float64 ulps of z; a construction error moves z by its own size)."""
    _, rows = _table("parity_first_sweep")
    rounding = {"max rel dev from closed form", "CE std err"}
    for variant, n in (("first", 9), ("parity", 12)):
        committed = next(r for r in rows if (r["variant"], r["dtype"], r["n"]) == (variant, "float64", str(n)))
        ours = sweep_cell(variant, n, samples=1000)["row"]
        assert committed["CE members"] != "-"
        exact = {k for k in ours if k != "seconds" and k not in rounding}
        assert {k: str(ours[k]) for k in exact} == {k: committed[k] for k in exact}
        for k in rounding:
            assert abs(float(ours[k]) - float(committed[k])) <= 1e-14, (k, ours[k], committed[k])
    json.dumps(ours)
