"""Every configuration in ``configs/`` parses into the cells of the campaign it stands for (the tasks of the
PARITY / FIRST and log-depth scripts are found on ``scripts/``, as their wrappers put it on the path)."""

from __future__ import annotations

import sys

import pytest

from exactformer.sweep import load_config

from ..scripts import ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.toml"))
CELLS = {
    "busy_beaver": 48,  # 2,398 machines, 50 a cell
    "busy_beaver_quick": 4,  # 15 + 4 machines, 5 a cell
    "check_parity_first": 8,
    "log_depth_connectivity": 16,
    "log_depth_verification": 135,  # 15 languages x 3 recognizers x 3 parts
    "log_depth_verification_subset": 18,
    "mlregtest": 1800,
    "mlregtest_subset": 12,
    "parity_first_sweep": 360,  # 5 variants x (64 + 8 lengths)
    "parity_first_sweep_subset": 60,
    "readme_table": 15,
}


def test_every_configuration_is_listed_here():
    assert sorted(p.stem for p in CONFIGS) == sorted(CELLS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_a_configuration_parses_into_its_cells(path, monkeypatch):
    monkeypatch.setattr(sys, "path", [str(ROOT / "scripts"), *sys.path])
    assert len(load_config(path).cells) == CELLS[path.stem]


def test_the_subsets_cells_are_cells_of_the_full_campaigns():
    monkeypatch_path = [str(ROOT / "scripts"), *sys.path]
    old, sys.path[:] = list(sys.path), monkeypatch_path
    try:
        for full, subset in (("mlregtest", "mlregtest_subset"), ("parity_first_sweep", "parity_first_sweep_subset"),
                             ("log_depth_verification", "log_depth_verification_subset")):
            keys = {c.key for c in load_config(ROOT / "configs" / f"{full}.toml").cells}
            assert {c.key for c in load_config(ROOT / "configs" / f"{subset}.toml").cells} <= keys, subset
    finally:
        sys.path[:] = old
