"""Every configuration in ``configs/`` parses into the cells of the campaign it stands for, with the package alone on
the path (every task a configuration names is one of the package's), and a subset's cells are cells of its full
campaign."""

from __future__ import annotations

import pytest

from exactformer.sweep import TASKS, load_config

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
    "parity_first_frontier": 15,  # 5 variants x 3 dtypes (float64 rows: the sweep's)
    "parity_first_frontier_subset": 4,
    "parity_first_sweep": 378,  # 5 variants x (64 + 8 lengths), 2 eps variants x 9 lengths
    "parity_first_sweep_subset": 60,
    "readme_table": 15,
}


def test_every_configuration_is_listed_here():
    assert sorted(p.stem for p in CONFIGS) == sorted(CELLS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_a_configuration_parses_into_its_cells_and_names_a_task_of_the_package(path):
    cfg = load_config(path)
    assert len(cfg.cells) == CELLS[path.stem]
    assert cfg.task in TASKS, f"{path.name} names {cfg.task!r}, not a task of exactformer.sweep.tasks.TASKS"


@pytest.mark.parametrize("full, subset", [("mlregtest", "mlregtest_subset"),
                                          ("parity_first_sweep", "parity_first_sweep_subset"),
                                          ("parity_first_frontier", "parity_first_frontier_subset"),
                                          ("log_depth_verification", "log_depth_verification_subset")])
def test_the_subsets_cells_are_cells_of_the_full_campaigns(full, subset):
    keys = {c.key for c in load_config(ROOT / "configs" / f"{full}.toml").cells}
    assert {c.key for c in load_config(ROOT / "configs" / f"{subset}.toml").cells} <= keys
