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


def _lengths(spec: Optional[str], default: tuple[int, ...]) -> list[int]:
    """``"0-16"``, ``"1,2,8"`` or ``"4-64:4"`` (a step) -> a list of sizes."""
    if not spec:
        return list(default)
    out: list[int] = []
    for part in spec.split(","):
        rng, _, step = part.partition(":")
        lo, dash, hi = rng.partition("-")
        if dash:
            out += list(range(int(lo), int(hi) + 1, int(step or 1)))
        else:
            out.append(int(lo))
    return out


def _reference_for(name: str, construction: Any) -> Any:
    entry = constructions.get(name)
    if entry.reference is None:
        raise typer.BadParameter(f"{name} has no registered reference to verify against")
    return entry.reference(construction)


@app.command()
def verify(
    name: str = typer.Argument(..., help="Registered construction name."),
    lengths: Optional[str] = typer.Option(None, help="Sizes, e.g. '0-16', '1,2,8' or '4-64:4'."),
    samples: int = typer.Option(200, help="Inputs per size when not exhaustive."),
    exhaustive_up_to: int = typer.Option(4096, help="Test every input of a size when there are at most this many."),
    backend: str = typer.Option("torch", help="exact, certified or torch."),
    dtype: str = typer.Option("float64", help="Torch dtype when --backend torch."),
    seed: int = typer.Option(0, help="Random seed (same seed, same report)."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON here."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Also write the report as markdown here."),
    plot: Optional[Path] = typer.Option(None, help="Also plot the smallest margin against n to this PNG."),
) -> None:
    """Check a construction against its independent reference over many sizes; exit 1 if anything fails."""
    from .verify import check

    construction = _build(name, option)
    report = check(
        construction,
        _reference_for(name, construction),
        lengths=_lengths(lengths, constructions.get(name).lengths),
        samples_per_length=samples,
        exhaustive_up_to=exhaustive_up_to,
        backend=backend,
        dtype=_torch_dtype(dtype) if backend == "torch" else None,
        seed=seed,
        progress=console.is_terminal,
    )
    console.print(report.render())
    if json_out:
        json_out.write_text(report.to_json())
    if markdown_out:
        markdown_out.write_text(report.to_markdown())
    if plot:
        report.plot_margins(plot)
    raise typer.Exit(0 if report.passed else 1)


@app.command()
def frontier(
    name: str = typer.Argument(..., help="Registered construction name."),
    lengths: Optional[str] = typer.Option(None, help="Sizes to try in increasing order, e.g. '1-64:8'."),
    samples: int = typer.Option(100, help="Inputs per size when not exhaustive."),
    dtypes: str = typer.Option("float16,bfloat16,float32,float64", help="Comma-separated torch dtypes."),
    seed: int = typer.Option(0, help="Random seed."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
    plot: Optional[Path] = typer.Option(None, help="Also plot pass/fail per size and dtype to this PNG."),
) -> None:
    """Print the precision frontier: per dtype, the largest n that still agrees with the reference."""
    from .verify import frontier as measure

    construction = _build(name, option)
    result = measure(
        construction,
        _reference_for(name, construction),
        lengths=_lengths(lengths, constructions.get(name).lengths),
        dtypes=[_torch_dtype(d.strip()) for d in dtypes.split(",")],
        samples_per_length=samples,
        seed=seed,
    )
    console.print(result.to_markdown())
    if plot:
        result.plot(plot)


@app.command()
def export(
    name: str = typer.Argument(..., help="Registered construction name."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the export."),
    to: str = typer.Option("safetensors", "--to", help="Target format: safetensors (float tensors by "
                           "TransformerLens-style name) or transformer-lens (a HookedTransformer state dict "
                           "for one length, with its config and needed hooks in the metadata)."),
    dtype: str = typer.Option("float32", help="Torch dtype of the exported tensors."),
    n: Optional[int] = typer.Option(None, help="Input size: unrolls loops and materialises W_pos for it."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
) -> None:
    """Export a construction's weights as float tensors named like TransformerLens parameters."""
    from safetensors.torch import save_file

    if to not in ("safetensors", "transformer-lens"):
        raise typer.BadParameter(f"unknown export target {to!r}; available: safetensors, transformer-lens")
    construction = _build(name, option)
    if to == "transformer-lens":
        from .export.transformer_lens import to_transformer_lens

        if n is None:
            raise typer.BadParameter("--to transformer-lens needs --n (the number of tokens the export runs on)")
        exported = to_transformer_lens(construction, length=n)
        exported.save(str(out))
        console.print(f"wrote {out}: HookedTransformer for {n} tokens, {len(exported.hook_notes)} hooks needed "
                      "(rebuild them with exactformer.export.to_transformer_lens)")
        return
    tensors = {k: v.contiguous() for k, v in construction.state_dict(_torch_dtype(dtype), n=n).items()}
    save_file(tensors, str(out), metadata={"construction": name, "citation": str(construction.citation)})
    console.print(f"wrote {out}: {len(tensors)} tensors in {dtype}")


@app.command()
def table(
    write: Optional[Path] = typer.Option(None, "--write", help="Rewrite the table between the markers of this file "
                                         "(the README)."),
    verify_: bool = typer.Option(True, "--verify/--no-verify", help="Run each entry's quick verification."),
) -> None:
    """The table of constructions: theorem, measured resources, verification status (generated, never typed)."""
    from .constructions.table import construction_table, write_readme_table

    text = construction_table(verify=verify_)
    if write is not None:
        changed = write_readme_table(write, text)
        console.print(f"{write}: {'updated' if changed else 'already up to date'}")
    else:
        console.print(text, markup=False, highlight=False)


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
