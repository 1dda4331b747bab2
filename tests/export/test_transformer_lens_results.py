"""scripts/transformer_lens_export.py: its quick mode runs, and its committed results cover every construction.

The results file is the closing note's source for the export's max differences: every registered construction that
exports has a float64 and a float32 row in which every decision agrees with our torch evaluator and the model
loaded from the file computes the in-memory export's logits bit for bit; every other one is listed as refused.
"""

from __future__ import annotations

from pathlib import Path

import transformer_lens  # noqa: F401  (the test extra installs it: nothing skips)

from ..scripts import import_script

RESULTS = Path(__file__).resolve().parents[2] / "scripts" / "results" / "transformer_lens_export.txt"


def rows() -> dict[tuple[str, str], list[str]]:
    out = {}
    for line in RESULTS.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `"):
            out[(cells[0].strip("`"), cells[1])] = cells
    return out


def test_quick_mode_runs_and_prints_a_row_per_construction(capsys):
    script = import_script("scripts", "transformer_lens_export")
    assert script.main(["--quick"]) == 0
    printed = capsys.readouterr().out
    assert "| `demo` | float64 |" in printed and "| `parity` | float64 |" in printed


def test_the_results_cover_every_registered_construction():
    from exactformer.constructions import REGISTRY, build
    from exactformer.export import export_problems

    table = rows()
    refused = {line.split("`")[1] for line in RESULTS.read_text().splitlines() if line.startswith("- `")}
    for name in REGISTRY:
        if export_problems(build(name)):
            assert name in refused, name
            continue
        for dtype in ("float64", "float32"):
            cells = table[(name, dtype)]
            assert cells[7] == "yes" and cells[8] == "yes", (name, dtype, cells)
