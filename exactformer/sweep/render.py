"""Tables rendered from a results store: the task's own renderer, or one markdown row per cell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import SweepConfig, as_config
from .store import Store, StoredCell
from .tasks import resolve_task


def _cell_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("|", "\\|")


def markdown_table(cells: list[StoredCell]) -> str:
    """One row per cell: its parameters (those that vary, plus every one when a single cell), then its figures."""
    if not cells:
        return "(no stored cells)"
    names = list(dict.fromkeys(k for c in cells for k in c.params))
    varying = [k for k in names if len({json.dumps(c.params.get(k), sort_keys=True) for c in cells}) > 1] or names
    figures = list(dict.fromkeys(k for c in cells for k in c.figures))
    columns = [*varying, *figures, "seconds"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for c in cells:
        values = [c.params.get(k, "-") for k in varying] + [c.figures.get(k, "-") for k in figures]
        lines.append("| " + " | ".join(_cell_text(v) for v in values) + f" | {c.seconds:.1f} |")
    return "\n".join(lines)


def stored_cells(store: Store, config: SweepConfig) -> list[StoredCell]:
    """The configuration's cells that the store holds, in the configuration's order."""
    by_key = {c.key: c for c in store.cells()}
    return [by_key[cell.key] for cell in config.cells if cell.key in by_key]


def render_store(store: str | Path, config: SweepConfig | str | Path) -> str:
    """The configuration's table from the store (cells not yet stored are left out; the renderer says so)."""
    cfg = as_config(config)
    task = resolve_task(cfg.task)
    with Store(store) as db:
        cells = stored_cells(db, cfg)
        if task.render is None:
            body = markdown_table(cells)
        else:
            body = task.render(cells, store=db) if task.reads_store else task.render(cells)
    missing = len(cfg.cells) - len(cells)
    note = f"\n\n({missing} of {len(cfg.cells)} cells not in the store yet)" if missing else ""
    return body + note


def sweep_and_render(config: SweepConfig, store: str | Path, out: str | Path | None = None, *,
                     workers: int | None = None, scheduler: str | None = None) -> tuple[Any, list[StoredCell]]:
    """Run the configuration's missing cells (:func:`~exactformer.sweep.runner.sweep`, with a progress bar when
    stderr is a terminal), then write its table to ``out`` (or print it) and the run's summary to stderr.

    Returns the summary and the configuration's stored cells (what the scripts' exit statuses read)."""
    import sys

    from .runner import sweep

    summary = sweep(config, store=store, workers=workers, scheduler=scheduler, progress=sys.stderr.isatty())
    text = render_store(store, config)
    if out is not None:
        Path(out).write_text(text + "\n")
    else:
        print(text)
    print(summary, file=sys.stderr)
    with Store(store) as db:
        return summary, stored_cells(db, config)
