"""``exactformer tour``, the README's first command: a published construction verified against its independent
reference, with a readable report and pointers to the precision frontier, the deviations and the proof."""

from __future__ import annotations

from typer.testing import CliRunner

from exactformer.cli import app
from exactformer.cli_tour import FRONTIER

runner = CliRunner()


def test_the_tour_verifies_parity_against_its_dfa_and_points_to_the_frontier():
    result = runner.invoke(app, ["tour"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Chiang and Peter Cholak" in out and "exact PARITY transformer" in out
    assert "PASSED: parity vs DFA (torch, float64, seed 0): 8190 inputs over 12 sizes, 0 wrong answers" in out
    assert "proof statement 'layer1.hat': held 8190/8190" in out
    assert "theorem's resource claims (attention softmax; layers == 2): all hold" in out
    # the frontier lines are the results file's rows, read as they are today
    rows = [line for line in FRONTIER.read_text().splitlines() if line.startswith("| parity | float32 |")]
    (row,) = rows
    largest, first_failing = (cell.strip() for cell in row.strip("|").split("|")[2:4])
    largest = largest.split()[0]
    assert (f"float32: no failure found up to n = {largest}" if first_failing == "-"
            else f"float32: right up to n = {largest}, first fails at n = {first_failing}") in out
    assert "docs/parity_first.md" in out and "exactformer prove parity" in out


def test_the_tour_of_a_construction_without_a_frontier_file_row_still_verifies():
    result = runner.invoke(app, ["tour", "demo"])
    assert result.exit_code == 0, result.output
    assert "PASSED: demo vs" in result.output and "precision frontier below float64" not in result.output


def test_the_tour_of_an_unknown_construction_is_refused_by_name():
    result = runner.invoke(app, ["tour", "parityy"])
    assert result.exit_code == 2
    assert "parityy" in result.output
