"""A sweep configuration is a grid of frozen cells with stable keys; a bad configuration is refused by name."""

from __future__ import annotations

import pytest

from exactformer.sweep import Cell, SweepConfigError, load_config, parse_config

TASK = "tests.sweep.counting:count"


def _config(**extra):
    return {"name": "t", "task": TASK, "params": {"ledger": "/dev/null"}, **extra}


def test_the_grid_is_the_product_of_its_axes_and_ranges_expand():
    cfg = parse_config(_config(grid={"x": ["1..3", 10], "seconds": [0, 0.5]}))
    assert [(c.kwargs["x"], c.kwargs["seconds"]) for c in cfg.cells] == [
        (x, s) for x in (1, 2, 3, 10) for s in (0, 0.5)
    ]


def test_an_array_of_grids_gives_each_grids_cells_in_turn_with_the_keys_of_one_grid():
    cfg = parse_config(_config(grid=[{"x": ["1..2"], "seconds": [0]}, {"x": [10], "seconds": [0.5, 1]}]))
    assert [(c.kwargs["x"], c.kwargs["seconds"]) for c in cfg.cells] == [(1, 0), (2, 0), (10, 0.5), (10, 1)]
    alone = parse_config(_config(grid={"x": [10], "seconds": [0.5, 1]}))
    assert [c.key for c in cfg.cells[2:]] == [c.key for c in alone.cells]


def test_a_cells_key_depends_on_its_parameters_not_on_their_order():
    a = Cell.of(TASK, {"x": 1, "ledger": "l"})
    b = Cell.of(TASK, {"ledger": "l", "x": 1})
    assert a == b and a.key == b.key
    assert Cell.of(TASK, {"x": 2, "ledger": "l"}).key != a.key
    assert Cell.of("other:task", {"x": 1, "ledger": "l"}).key != a.key


def test_the_key_is_the_same_in_every_process():
    # the hash of the task name and canonical JSON, never Python's salted hash()
    import hashlib

    text = f'{TASK}\n{{"ledger":"l","x":1}}'
    assert Cell.of(TASK, {"x": 1, "ledger": "l"}).key == hashlib.sha256(text.encode()).hexdigest()[:20]


def test_cells_are_frozen():
    cell = Cell.of(TASK, {"x": 1})
    with pytest.raises(AttributeError):
        cell.task = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "t", "task": "no_such_task"}, "unknown task 'no_such_task'"),
        ({"name": "t", "task": "no.such.module:f"}, "cannot import"),
        (_config(grid={"y": [1]}), "has no parameter 'y'"),
        (_config(grid={"x": []}), "grid.x is an empty list"),
        (_config(grid={"x": ["5..1"]}), "is empty"),
        (_config(grid={"x": [1, 1]}), "appears twice"),
        (_config(grid={"x": [1]}, params={"x": 2, "ledger": "l"}), "in both [params] and [grid]"),
        (_config(grid={"x": [1]}, colour="red"), "unknown key(s) ['colour']"),
        (_config(grid={"x": [1]}, resources={"GPU": 0}), "positive numbers"),
        (_config(grid={"x": [1]}, corpus={"chunk": 2}), "has no corpus"),
        ({"task": TASK}, "'name' must be a non-empty string"),
        (_config(grid=[]), "'grid' a table or an array of tables"),
        (_config(grid=[{"x": [1]}, 3]), "'grid' a table or an array of tables"),
        (_config(grid=[{"x": [1]}, {"x": [1]}]), "appears twice"),
        (_config(grid=[{"x": [1]}, {"y": [1]}]), "has no parameter 'y'"),
        (_config(grid=[{"x": [1]}, {"ledger": ["l"]}]), "in both [params] and [grid[1]]"),
    ],
)
def test_a_bad_configuration_is_refused_naming_what_is_wrong(data, message):
    with pytest.raises(SweepConfigError, match=None) as info:
        parse_config(data)
    assert message in str(info.value)


def test_a_missing_or_malformed_file_is_refused(tmp_path):
    with pytest.raises(SweepConfigError, match="no sweep configuration"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(SweepConfigError, match="not valid TOML"):
        load_config(bad)


def test_a_toml_file_parses_to_the_same_cells_as_its_table(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'name = "t"\ntask = "{TASK}"\n[params]\nledger = "/dev/null"\n[grid]\nx = ["1..4"]\n')
    assert load_config(path).cells == parse_config(_config(grid={"x": ["1..4"]})).cells


def test_a_corpus_selection_is_not_a_cell_parameter_so_a_subsets_cells_are_the_wholes():
    from exactformer.sweep.tasks.mlregtest import DATA

    assert (DATA / "counts.tsv").exists(), f"the external MLRegTest data is missing: {DATA / 'counts.tsv'}"
    base = {"name": "m", "task": "mlregtest", "params": {"samples": 4}}
    whole = parse_config({**base, "corpus": {"chunk": 1}})
    subset = parse_config({**base, "corpus": {"chunk": 1, "match": "04.0", "every": 40}})
    assert 0 < len(subset.cells) < len(whole.cells)
    assert {c.key for c in subset.cells} <= {c.key for c in whole.cells}
    with pytest.raises(SweepConfigError, match=r"unknown key\(s\) \['colour'\] in \[corpus\]"):
        parse_config({**base, "corpus": {"chunk": 1, "colour": "red"}})
    with pytest.raises(SweepConfigError, match="'every' must be a positive integer"):
        parse_config({**base, "corpus": {"every": 0}})
