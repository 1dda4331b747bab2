"""Every benchmark script runs in its ``--quick`` mode and prints a table (the numbers themselves are not asserted:
speed belongs in benchmarks/README.md, not in timed tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .scripts import import_script

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_quick_mode_runs(script):
    done = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(done.stdout.strip().splitlines()) >= 2, "a benchmark prints a table"


def _largest_n_script():
    return import_script("benchmarks", "largest_n_in_60s")


@pytest.mark.parametrize("name", ["post-machine", "turing-machine", "superposition"])
def test_constructions_sized_by_a_builder_option_verify_at_their_first_two_sizes(name):
    """The largest-n benchmark sizes these three by a builder option (ring length, tape length, node budget): at
    its first size and the next, the option it passes builds a model whose check runs and passes at that size (a
    wrong mapping of size to option makes the check refuse the prompt or the graph, as the size-1 default did)."""
    script = _largest_n_script()
    first = script.first_size(name)
    for n in (first, 2 * first):
        status, seconds = script.in_process(name, n, limit=600.0)
        assert status == "passed", (name, n, status)
