"""Plots come from the store: the points of ``plot_store`` are the stored cells' parameters and figures (one line
per group), a missing or non-numeric value is refused naming the cell, and the command draws the figure."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from exactformer.cli import app
from exactformer.sweep.config import parse_config
from exactformer.sweep.execute import execute_cell
from exactformer.sweep.plot import plot_points, plot_store
from exactformer.sweep.render import stored_cells
from exactformer.sweep.store import Store
from exactformer.sweep.tasks.errors import SweepConfigError

CONFIG = {"name": "demo-sizes", "task": "check",
          "params": {"construction": "demo", "samples": 5, "exhaustive_up_to": 16, "seed": 0},
          "grid": {"lengths": [[2], [4], [8]], "dtype": ["float32", "float64"]}}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Four of the six cells run for real (``execute_cell``, no cluster) and stored."""
    path = tmp_path_factory.mktemp("plot") / "runs.sqlite"
    cfg = parse_config(CONFIG)
    with Store(path) as db:
        for cell in cfg.cells[:4]:
            db.add(cfg.name, cell, execute_cell(cell))
    return path, cfg


def test_the_points_are_the_stored_cells_parameters_and_figures(stored):
    path, cfg = stored
    with Store(path) as db:
        cells = stored_cells(db, cfg)
    lines = plot_points(cells, x="lengths", y="tested", group="dtype")
    expected = {}
    for c in cells:  # the stored values themselves, read independently of plot_points
        expected.setdefault(c.params["dtype"], []).append((float(c.params["lengths"][0]), float(c.figures["tested"])))
    assert lines == {k: sorted(v) for k, v in expected.items()}
    assert sum(len(v) for v in lines.values()) == 4


def test_a_missing_name_or_a_value_that_is_not_a_number_is_refused_naming_the_cell(stored):
    path, cfg = stored
    with Store(path) as db:
        cells = stored_cells(db, cfg)
    with pytest.raises(SweepConfigError, match="has no parameter or figure 'margin'"):
        plot_points(cells, x="lengths", y="margin")
    with pytest.raises(SweepConfigError, match='dtype = "float32" is not a number'):
        plot_points(cells, x="dtype", y="tested")


def test_the_figure_is_written_and_says_how_many_cells_are_not_stored_yet(stored, tmp_path):
    path, cfg = stored
    out = plot_store(path, cfg, tmp_path / "tested.png", x="lengths", y="tested", group="dtype", log_x=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SweepConfigError, match="holds none of the 6 cells"):
        plot_store(tmp_path / "empty.sqlite", cfg, tmp_path / "x.png", x="lengths", y="tested")


def test_the_sweep_command_draws_the_plot_after_the_run(stored, tmp_path):
    """The remaining two cells run on a one-worker local cluster; then the figure is drawn from all six."""
    import json

    path, cfg = stored
    config = tmp_path / "demo.toml"
    config.write_text(f'name = "{cfg.name}"\ntask = "check"\n[params]\n'
                      + "".join(f"{k} = {json.dumps(v)}\n" for k, v in CONFIG["params"].items())
                      + "[grid]\nlengths = [[2], [4], [8]]\ndtype = [\"float32\", \"float64\"]\n")
    out = tmp_path / "all.svg"
    result = CliRunner().invoke(app, ["sweep", str(config), "--store", str(path), "--workers", "1", "--plot",
                                      str(out), "--x", "lengths", "--y", "tested", "--group", "dtype"])
    assert result.exit_code == 0, result.output
    assert out.exists() and "<svg" in out.read_text()[:500]
    assert "6 cells" in out.read_text()


def test_a_plot_without_axes_or_axes_without_a_plot_is_a_usage_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('name = "x"\ntask = "check"\n[params]\nconstruction = "demo"\n')
    result = CliRunner().invoke(app, ["sweep", str(config), "--plot", str(tmp_path / "p.png"), "--x", "lengths"])
    assert result.exit_code == 2 and "--plot needs --x and --y" in result.output
    result = CliRunner().invoke(app, ["sweep", str(config), "--y", "tested"])
    assert result.exit_code == 2 and "give --plot PATH too" in result.output
