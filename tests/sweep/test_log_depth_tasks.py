"""The log-depth tasks of the package (``log_depth_verification``, ``log_depth_connectivity``): a cell reproduces its
committed row (every column but the seconds), its budget is CPU time (the worker's :func:`time.process_time`, never
the wall clock), and the rendered table says so in its header."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from exactformer.sweep import SweepConfigError, parse_config
from exactformer.sweep.tasks import log_depth_run
from exactformer.sweep.tasks import log_depth_verification as ld

from ..scripts import ROOT

COMMITTED = (ROOT / "scripts" / "results" / "log_depth_verification.txt").read_text().splitlines()


def _without_seconds(row: str, seconds_column: int) -> list[str]:
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    return cells[:seconds_column] + cells[seconds_column + 1 :]


def test_an_exact_cell_and_a_connectivity_cell_reproduce_their_committed_rows():
    row = ld.recognizer_cell("parity", "pointer_jumping", "exact")["row"]
    committed = next(line for line in COMMITTED if line.startswith("| parity | 2 | pointer_jumping | exact |"))
    assert _without_seconds(row, 10) == _without_seconds(committed, 10)
    row = ld.graph_cell(5, "float32")["row"]
    committed = next(line for line in COMMITTED if line.startswith("| 5 | 2 (0.1, 0.2) | 50 | float32 |"))
    assert _without_seconds(row, 5) == _without_seconds(committed, 5)


def test_a_cells_budget_is_cpu_time_and_a_spent_budget_says_where_the_cell_stopped(monkeypatch):
    ticks = iter(range(0, 10_000, 10))  # a CPU clock that jumps 10 s a read
    # the module's clock is this CPU clock alone: reading a wall clock (time.time, perf_counter) is an AttributeError
    clock = SimpleNamespace(process_time=lambda: next(ticks))
    monkeypatch.setattr(ld, "time", clock)
    monkeypatch.setattr(log_depth_run, "time", clock)
    out = ld.recognizer_cell("parity", "pointer_jumping", "exact", exact_budget=15.0)
    assert "CPU-time budget 15s: stopped before n = 1" in out["row"]  # read at 0, 10 (n = 0 runs), 20 > 15
    assert out["figures"]["words"] == 1  # the empty word
    row = ld.graph_cell(3, "float64", budget=5.0)["row"]
    assert "CPU-time budget 5s:" in row


def test_the_rendered_tables_state_their_budgets_in_cpu_seconds():
    cell = SimpleNamespace(params={"budget": 150.0, "long_budget": 90.0, "exact_budget": 45.0},
                           result={"row": "| row |"})
    header = ld.render_matrix([cell]).splitlines()[0]
    assert header.startswith("# budgets: CPU seconds per cell (time.process_time of the worker")
    assert "budget 150, long_budget 90, exact_budget 45" in header
    graph = ld.render_graphs([SimpleNamespace(params={"budget": 60.0}, result={"row": "| row |"})]).splitlines()
    assert "budget 60;" in graph[0] and graph[1].startswith("| n | graphs (p) |")


def test_an_unknown_language_recognizer_or_part_is_refused_by_name():
    for key, value, message in (("language", "tomita9", "unknown language 'tomita9'"),
                                ("recognizer", "tree", "unknown recognizer 'tree'"),
                                ("part", "half", "part 'half'")):
        params = {"language": "parity", "recognizer": "log_depth", "part": "exact", key: value}
        with pytest.raises(SweepConfigError, match=message):
            parse_config({"name": "x", "task": "log_depth_verification", "params": params})
