"""The body of ``exactformer sweep`` (``exactformer/cli.py`` only declares the command)."""

from __future__ import annotations

from pathlib import Path

import typer

from .sweep.config import load_config
from .sweep.render import render_store
from .sweep.runner import sweep
from .sweep.tasks.errors import SweepConfigError


def _usage(message: str) -> typer.Exit:
    """Print ``error: <message>`` as one line on stderr; the exit (status 2, a usage error) to raise."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    return typer.Exit(2)


def run_sweep_command(config: Path, store: Path | None, scheduler: str | None, workers: int | None,
                      render: Path | None, progress: bool = True) -> int:
    """Run the configuration's missing cells, print the summary, optionally render the table; the exit status:
    0 when every cell is in the store, 1 when a cell failed (its error is in the store's ``errors`` table)."""
    if workers is not None and workers < 1:
        raise _usage(f"--workers must be at least 1, not {workers}")
    if scheduler is not None and workers is not None:
        raise _usage("--workers starts a local cluster; with --scheduler the cluster's workers are used")
    try:
        cfg = load_config(config)
    except SweepConfigError as e:
        raise _usage(str(e)) from None
    store_path = store if store is not None else config.with_suffix(".sqlite")
    summary = sweep(cfg, store=store_path, scheduler=scheduler, workers=workers, progress=progress)
    typer.echo(str(summary))
    if summary.log_dir is not None:
        typer.echo(f"worker logs: {summary.log_dir}")
    if render is not None:
        text = render_store(store_path, cfg)
        if str(render) == "-":
            typer.echo(text)
        else:
            render.write_text(text + "\n")
            typer.echo(f"wrote {render}")
    return 0 if summary.complete else 1
