"""The tasks that used to live in ``scripts/`` are the package's: ``exactformer sweep CONFIG.toml`` runs each of them
from any directory with only the package importable (no ``PYTHONPATH=scripts``; the Dask workers inherit the same
path), and renders its table from the store."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ..scripts import ROOT

TINY = {
    "log_depth_verification": ('[params]\nlanguage = "parity"\nrecognizer = "pointer_jumping"\npart = "exact"\n',
                               "| parity | 2 | pointer_jumping | exact | 0..8 | all<=8 else 4 | 35 | 0 | 35 | 0 (-) |"),
    "log_depth_connectivity": ('[params]\nn = 2\ndtype = "float64"\n', "| 2 | 2 (0.1, 0.2) | 8 | float64 | 0 |"),
    "parity_first_sweep": ('[params]\nvariant = "first"\nn = 3\nsamples = 8\n',
                           "| first | float64 | 3 | 8 | exhaustive | 0 |"),
    "parity_first_frontier": ('[params]\nvariant = "first"\ndtype = "float32"\nlengths = [1, 2]\n',
                              "| first | float32 | 2 (4) | - | - |"),
}


@pytest.mark.parametrize("task", sorted(TINY))
def test_a_package_task_runs_from_a_temporary_directory_without_the_scripts_on_the_path(task, tmp_path):
    params, expected = TINY[task]
    (tmp_path / "tiny.toml").write_text(f'name = "tiny-{task}"\ntask = "{task}"\n{params}')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # the package, not scripts/
    done = subprocess.run([sys.executable, "-m", "exactformer.cli", "sweep", "tiny.toml", "--workers", "1",
                           "--render", "-"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 cells, 0 already stored, 1 run, 0 failed" in done.stdout
    assert expected in done.stdout, done.stdout
    assert (tmp_path / "tiny.sqlite").exists() and not (tmp_path / "scripts").exists()
