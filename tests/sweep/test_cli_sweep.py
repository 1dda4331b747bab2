"""``exactformer sweep``: a bad configuration or option is one line on stderr and exit status 2, before any cluster
starts; a run stores its cells and renders the table (the client-kill test runs it as a subprocess too)."""

from __future__ import annotations

from typer.testing import CliRunner

from exactformer.cli import app

runner = CliRunner()


def test_a_missing_configuration_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["sweep", str(tmp_path / "none.toml")])
    assert result.exit_code == 2 and "no sweep configuration at" in result.output


def test_a_configuration_with_an_unknown_parameter_is_a_usage_error_naming_it(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('name = "x"\ntask = "check"\n[grid]\nconstructoin = ["demo"]\n')
    result = runner.invoke(app, ["sweep", str(config)])
    assert result.exit_code == 2 and "has no parameter 'constructoin'" in result.output


def test_workers_below_one_and_workers_with_a_scheduler_are_refused(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('name = "x"\ntask = "check"\n[params]\nconstruction = "demo"\n')
    result = runner.invoke(app, ["sweep", str(config), "--workers", "0"])
    assert result.exit_code == 2 and "--workers must be at least 1" in result.output
    result = runner.invoke(app, ["sweep", str(config), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "with --scheduler the cluster's workers are used" in result.output
