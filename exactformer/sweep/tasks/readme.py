"""The README's constructions table as a sweep (``configs/readme_table.toml``): one cell per registered
construction computes its :class:`~exactformer.catalog.TableRow` (measured resources, a fresh quick check, the
certificate), and the renderer is the catalog's own table of those rows, so the table can come from a store."""

from __future__ import annotations

import dataclasses
from typing import Any

from . import Task


def _validate(construction: str = "", **_: Any) -> None:
    from ... import catalog

    catalog.get(construction)  # KeyError naming the registered constructions


def run(construction: str) -> dict[str, Any]:
    """The construction's table row (as ``exactformer table`` computes it), as a dict."""
    import torch

    from ... import catalog

    torch.set_num_threads(1)
    row = catalog.construction_rows([construction])[0]
    return {"row": dataclasses.asdict(row), "figures": {"status": row.status, "proof": row.proof}}


def render(cells: list[Any]) -> str:
    """The README's table (:func:`exactformer.catalog.rows_table`) of the stored rows, in the configuration's order."""
    from ... import catalog

    return catalog.rows_table([catalog.TableRow(**c.result["row"]) for c in cells])


README_TABLE = Task(run=run, validate=_validate, render=render, name="readme_table",
                    params=frozenset({"construction"}))
