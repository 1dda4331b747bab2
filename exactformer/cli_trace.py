"""``exactformer trace``'s tables: the residual stream after every sublayer, one row per named coordinate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def print_residual_tables(console: Console, name: str, construction: Any, result: Any, encoded: Sequence[Any],
                          all_coordinates: bool) -> None:
    """Print one table per sublayer of ``result``'s trace: a row per coordinate, a column per position.

    Coordinates that are zero at every position are left out unless ``all_coordinates``. Names are printed
    verbatim: :class:`rich.text.Text` is never read as markup or emoji (state ``ARR:B:1`` stays ``ARR:B:1``).
    """
    trace_ = result.output.trace
    tokens = [t if isinstance(t, str) else "vec" for t in encoded]
    for label in trace_.labels:
        table = Table(title=Text(f"{name}: residual after {label}"), title_justify="left")
        table.add_column(Text("coordinate"), style="bold")
        for i, token in enumerate(tokens):
            table.add_column(Text(f"{i}:{token}"), justify="right")
        rows = trace_[label][0]
        for c, coord in enumerate(construction.model.space.names):
            values = [rows[i][c] for i in range(len(tokens))]
            if not all_coordinates and all(_is_zero(v) for v in values):
                continue
            table.add_row(Text(coord), *[Text(_fmt(v)) for v in values])
        console.print(table)


def _is_zero(v: Any) -> bool:
    try:
        return float(v.mid if hasattr(v, "mid") else v) == 0.0 and not (hasattr(v, "delta") and v.delta != 0)
    except TypeError:
        return False


def _fmt(v: Any) -> str:
    if hasattr(v, "mid"):
        return f"{float(v.mid):.6g}±{float(v.delta) / 2:.1e}"
    if hasattr(v, "item"):
        v = v.item()
    return str(v) if not isinstance(v, float) else f"{v:.6g}"
