"""Every benchmark script runs in its ``--quick`` mode and prints a table (the numbers themselves are not asserted:
speed belongs in benchmarks/README.md, not in timed tests).

The quick modes that take longest (20-85 s each on a loaded 2-core machine) run behind ``-m slow``; in the default
run each of them runs through the same code at smaller sizes (its own options), or, where it has no smaller size
(``sweep_scaling.py``, which times Dask clusters that tests/sweep/ start too), is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .scripts import import_script

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))

# script -> the options that run its quick mode's code at smaller sizes, in the default run
SMALLER = {
    "tensor_check.py": ["--n", "6", "--recognizer-n", "2", "--threads", "1", "--measure-bounds"],
    "parity_first_exhaustive.py": ["--n", "8", "--loop-sample", "5", "--workers", "1"],  # batches in-process
    "exact_largest_n.py": ["--only", "log-depth-parity", "--limit", "10", "--max-n", "2"],
    "machine_check.py": ["--quick", "--only", "post-machine"],
    "exact_speed.py": ["--quick", "--only", "connectivity"],
}
SLOW_QUICK_MODES = {*SMALLER, "sweep_scaling.py", "side_by_side.py"}


def _runs_and_prints_a_table(script: Path, options: list[str]) -> None:
    done = subprocess.run([sys.executable, str(script), *options], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(done.stdout.strip().splitlines()) >= 2, "a benchmark prints a table"


@pytest.mark.parametrize("script", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_QUICK_MODES else p
                                    for p in BENCHMARKS], ids=lambda p: p.name)
def test_benchmark_quick_mode_runs(script):
    _runs_and_prints_a_table(script, ["--quick"])


@pytest.mark.parametrize("name", sorted(SMALLER))
def test_slow_benchmarks_run_at_smaller_sizes(name):
    _runs_and_prints_a_table(BENCHMARKS[0].parent / name, SMALLER[name])


def test_every_slow_quick_mode_has_a_smaller_run_or_is_imported():
    assert SLOW_QUICK_MODES <= {p.name for p in BENCHMARKS}
    for name in sorted(SLOW_QUICK_MODES - set(SMALLER)):
        assert callable(import_script("benchmarks", name[:-3]).main), name


def test_the_prepared_device_run_works_on_the_cpu(tmp_path):
    """``benchmarks/device_run.sh`` (the one script a lent GPU runs) at small sizes with ``DEVICE=cpu``: every step
    exits 0 and writes its table, the device's with the table of fractions of the measured bounds."""
    script = BENCHMARKS[0].parent / "device_run.sh"
    env = {**os.environ, "OUT": str(tmp_path), "DEVICE": "cpu", "THREADS": "1", "N": "6", "RECOGNIZER_N": "2"}
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=script.parents[1])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tables = sorted(p.name for p in tmp_path.glob("tensor_check_*.txt"))
    assert tables == ["tensor_check_cpu1_baseline_float64.txt", "tensor_check_cpu_float32.txt",
                      "tensor_check_cpu_float64.txt"]
    device = (tmp_path / "tensor_check_cpu_float64.txt").read_text()
    assert "| log-depth-a5, n = 2 | 3,600 | 3,600 |" in device and "of bandwidth" in device


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


def test_a_check_past_the_cpu_limit_is_stopped_by_the_kernel_and_counted_a_timeout(monkeypatch):
    """With ``--clock cpu`` the child process sets ``RLIMIT_CPU`` a second or two past the limit: log-depth-a5 at
    n = 64 (a few CPU seconds) under a 0.2 s limit ends as a timeout long before the wall-clock fallback, while a
    check within its limit passes."""
    script = _largest_n_script()
    monkeypatch.setitem(script.CLOCK, "name", "cpu")
    status, seconds = script.one_size("log-depth-a5", 64, limit=0.2)
    assert status == "timeout" and seconds == 0.2
    status, _ = script.one_size("demo", 4, limit=60.0)
    assert status == "passed"
