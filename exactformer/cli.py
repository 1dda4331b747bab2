"""The ``exactformer`` command: list, build, trace, verify, frontier, export."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import constructions
from .core.errors import ExactformerError
from .core.serialize import save_model

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Exact transformer constructions of published theorems, and a verifier that checks them.",
)
console = Console()

_DTYPES = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float32", "float64": "float64"}


def _parse_options(options: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: literal(v)}`` (numbers, tuples, booleans; anything else stays a string)."""
    out: dict[str, Any] = {}
    for item in options:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"option {item!r} must look like key=value")
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def _build(name: str, options: list[str]):
    try:
        return constructions.build(name, **_parse_options(options))
    except (KeyError, TypeError, ValueError) as exc:
        raise typer.BadParameter(str(exc).strip("'\"")) from None


def _torch_dtype(name: str):
    import torch

    if name not in _DTYPES:
        raise typer.BadParameter(f"dtype must be one of {', '.join(_DTYPES)}")
    return getattr(torch, name)


@app.command("list")
def list_constructions() -> None:
    """List the registered constructions with their citations."""
    table = Table(title="exactformer constructions")
    table.add_column("name", style="bold")
    table.add_column("what it does")
    table.add_column("citation")
    for name in constructions.names():
        entry = constructions.get(name)
        try:
            citation = str(constructions.build(name).citation)
        except Exception as exc:  # a builder that needs arguments still gets listed
            citation = f"(needs options: {exc})"
        table.add_row(name, entry.summary, citation)
    console.print(table)


@app.command()
def build(
    name: str = typer.Argument(..., help="Registered construction name (see `exactformer list`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the model (.safetensors)."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
) -> None:
    """Build a construction and save its exact weights and architecture as safetensors."""
    construction = _build(name, option)
    path = save_model(
        construction.model,
        out,
        extra_metadata={"construction": name, "citation": str(construction.citation),
                        "options": json.dumps(_parse_options(option), default=str)},
    )
    console.print(f"wrote {path} ({construction.model.d_model} coordinates, {len(construction.weights())} tensors)")


@app.command()
def trace(
    name: str = typer.Argument(..., help="Registered construction name."),
    input: Optional[str] = typer.Argument(None, help="The input (a word); defaults to the construction's example."),
    backend: str = typer.Option("exact", help="exact, certified or torch."),
    dtype: str = typer.Option("float64", help="Torch dtype when --backend torch."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
    all_coordinates: bool = typer.Option(False, "--all", help="Show coordinates that are zero everywhere too."),
) -> None:
    """Print the residual stream after every sublayer, one row per named coordinate, one column per position."""
    construction = _build(name, option)
    x = input if input is not None else constructions.get(name).example
    kwargs: dict[str, Any] = {"backend": backend}
    if backend == "torch":
        kwargs["dtype"] = _torch_dtype(dtype)
    result = construction.run(x, **kwargs)
    trace_ = result.output.trace
    tokens = [t if isinstance(t, str) else "vec" for t in construction.encode(x)]
    for label in trace_.labels:
        table = Table(title=f"{name}: residual after {label}", title_justify="left")
        table.add_column("coordinate", style="bold")
        for i, token in enumerate(tokens):
            table.add_column(f"{i}:{token}", justify="right")
        rows = trace_[label][0]
        for c, coord in enumerate(construction.model.space.names):
            values = [rows[i][c] for i in range(len(tokens))]
            if not all_coordinates and all(_is_zero(v) for v in values):
                continue
            table.add_row(coord, *[_fmt(v) for v in values])
        console.print(table)
    status = "certified" if result.certified else "not certified"
    console.print(f"answer: {result.answer!r}  (label {result.label!r}, margin {result.margin:.6g}, {status})")


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


def main() -> None:
    """Entry point of the ``exactformer`` console script: library errors print one line and exit 1."""
    try:
        app()
    except ExactformerError as exc:
        console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":  # pragma: no cover
    main()
