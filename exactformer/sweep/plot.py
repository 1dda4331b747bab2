"""Figures rendered from a results store: one figure of the stored cells against one parameter.

A campaign's table comes from :func:`~exactformer.sweep.render.render_store`; its plots come from here, from the
same cells, so a rerun that adds cells redraws the figure without recomputing any. ``x`` and ``y`` name a cell's
parameter or one of its figures (the task result's ``"figures"`` entry); ``group`` names a parameter whose values get
one line each. Every plotted value must be a number: a cell whose value is missing or not a number is refused,
naming the cell, rather than left out silently.

    >>> from exactformer.sweep.plot import plot_store                                    # doctest: +SKIP
    >>> plot_store("runs.sqlite", "configs/check_parity_first.toml", "words.png",        # doctest: +SKIP
    ...            x="lengths", y="tested", group="construction")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import SweepConfig, as_config
from .render import stored_cells
from .store import Store, StoredCell
from .tasks.errors import SweepConfigError

__all__ = ["plot_store", "plot_points"]


def _value(cell: StoredCell, name: str) -> Any:
    if name in cell.params:
        return cell.params[name]
    if name in cell.figures:
        return cell.figures[name]
    raise SweepConfigError(f"cell {cell.key[:12]} ({_describe(cell)}) has no parameter or figure {name!r}; its "
                           f"parameters are {sorted(cell.params)} and its figures {sorted(cell.figures)}")


def _number(cell: StoredCell, name: str) -> float:
    value = _value(cell, name)
    if isinstance(value, list) and len(value) == 1:  # a one-element list parameter (e.g. lengths = [64])
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SweepConfigError(f"cell {cell.key[:12]} ({_describe(cell)}): {name} = {json.dumps(value)} is not a "
                               "number, so it cannot be plotted")
    return float(value)


def _describe(cell: StoredCell) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(cell.params.items()))


def plot_points(cells: list[StoredCell], *, x: str, y: str,
                group: str | None = None) -> dict[str, list[tuple[float, float]]]:
    """The points of the figure: per value of ``group`` (one key ``""`` without a group), ``(x, y)`` of each cell,
    sorted by ``x``."""
    lines: dict[str, list[tuple[float, float]]] = {}
    for cell in cells:
        label = "" if group is None else (v if isinstance(v := _value(cell, group), str) else json.dumps(v))
        lines.setdefault(label, []).append((_number(cell, x), _number(cell, y)))
    return {label: sorted(points) for label, points in lines.items()}


def plot_store(store: str | Path, config: SweepConfig | str | Path, out: str | Path, *, x: str, y: str,
               group: str | None = None, log_x: bool = False, log_y: bool = False) -> Path:
    """Draw the configuration's stored cells as ``y`` against ``x`` (one line per value of ``group``) into ``out``
    (PNG, SVG or PDF, by its suffix); returns ``out``. Cells not yet stored are left out and the title says how
    many there are.

    Raises
    ------
    SweepConfigError
        When no cell of the configuration is stored, or a cell lacks ``x``, ``y`` or ``group``, or a value to plot
        is not a number.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = as_config(config)
    with Store(store) as db:
        cells = stored_cells(db, cfg)
    if not cells:
        raise SweepConfigError(f"the store {store} holds none of the {len(cfg.cells)} cells of '{cfg.name}'")
    lines = plot_points(cells, x=x, y=y, group=group)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, points in lines.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label or None)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    if group is not None:
        ax.legend(title=group)
    missing = len(cfg.cells) - len(cells)
    ax.set_title(f"{cfg.name}: {len(cells)} cells" + (f" ({missing} not stored yet)" if missing else ""))
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path)
    plt.close(fig)
    return path
