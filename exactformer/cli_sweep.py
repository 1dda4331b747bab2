"""The body of ``exactformer sweep`` (``exactformer/cli.py`` only declares the command)."""

from __future__ import annotations

from pathlib import Path

import typer

from .sweep.config import load_config
from .sweep.plot import plot_store
from .sweep.render import render_store
from .sweep.runner import sweep
from .sweep.tasks.errors import SweepConfigError


def _usage(message: str) -> typer.Exit:
    """Print ``error: <message>`` as one line on stderr; the exit (status 2, a usage error) to raise."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    return typer.Exit(2)


def run_sweep_command(config: Path, store: Path | None, scheduler: str | None, workers: int | None,
                      render: Path | None, progress: bool = True, plot: Path | None = None,
                      axes: tuple[str | None, str | None, str | None] = (None, None, None), run: bool = True) -> int:
    """Run the configuration's missing cells, print the summary, optionally render the table and draw the plot
    (``axes``: its x, y and group, :func:`~exactformer.sweep.plot.plot_store`); the exit status: 0 when every cell
    is in the store, 1 when a cell failed (its error is in the store's ``errors`` table). With ``run=False``
    (``--no-run``) no cell runs: the table and plot show what the store holds (a campaign in progress elsewhere is
    left alone), and the status is 0."""
    x, y, group = axes
    if not run and render is None and plot is None:
        raise _usage("--no-run renders or plots the store: give --render or --plot")
    if plot is not None and (x is None or y is None):
        raise _usage("--plot needs --x and --y (a cell parameter or figure each)")
    if plot is None and any(a is not None for a in axes):
        raise _usage("--x, --y and --group describe a plot: give --plot PATH too")
    if workers is not None and workers < 1:
        raise _usage(f"--workers must be at least 1, not {workers}")
    if scheduler is not None and workers is not None:
        raise _usage("--workers starts a local cluster; with --scheduler the cluster's workers are used")
    try:
        cfg = load_config(config)
    except SweepConfigError as e:
        raise _usage(str(e)) from None
    store_path = store if store is not None else config.with_suffix(".sqlite")
    summary = None
    if run:
        summary = sweep(cfg, store=store_path, scheduler=scheduler, workers=workers, progress=progress)
        typer.echo(str(summary))
        if summary.log_dir is not None:
            typer.echo(f"worker logs: {summary.log_dir}")
    elif not store_path.exists():
        raise _usage(f"no results store at {store_path}")
    if render is not None:
        text = render_store(store_path, cfg)
        if str(render) == "-":
            typer.echo(text)
        else:
            render.write_text(text + "\n")
            typer.echo(f"wrote {render}")
    if plot is not None:
        try:
            plot_store(store_path, cfg, plot, x=x or "", y=y or "", group=group)
        except SweepConfigError as e:
            raise _usage(str(e)) from None
        typer.echo(f"wrote {plot}")
    return 0 if summary is None or summary.complete else 1
