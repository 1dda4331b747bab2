"""The ``exactformer`` command: tour, list, build, trace, verify, frontier, export, sweep, prove."""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, Optional

import click
import typer
from rich.console import Console
from rich.table import Table

from . import constructions
from .cli_trace import print_residual_tables
from .core.errors import ExactformerError, InputError, ModelFormatError
from .core.serialize import save_model
from .verify.arguments import BACKENDS

#: Exit status of a usage error: a bad argument or option, an input the construction cannot take, an unwritable
#: output path. The message is one line on stderr, never a traceback.
USAGE_ERROR = 2


def _fail(message: str) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with :data:`USAGE_ERROR`."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(USAGE_ERROR)


def _clean_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command so that what goes wrong prints one line and exits, never a traceback.

    A bad parameter raised in the command, an :class:`~exactformer.core.errors.InputError` or
    :class:`~exactformer.core.errors.ModelFormatError` (what the user gave is wrong) and an output file that cannot
    be written exit 2; any other library error (a NaN, a tie in the model) exits 1.
    """

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except click.exceptions.UsageError as exc:  # typer.BadParameter raised inside a command
            _fail(exc.format_message())
        except (InputError, ModelFormatError) as exc:
            _fail(f"{type(exc).__name__}: {exc}")
        except ExactformerError as exc:
            typer.echo(f"error: {type(exc).__name__}: {' '.join(str(exc).split())}", err=True)
            raise typer.Exit(1) from None
        except OSError as exc:  # an output path that could not be written after all (disk full, removed folder)
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            _fail(f"cannot write{where}: {exc.strerror or exc}")

    return command


class _App(typer.Typer):
    """A Typer app whose every command runs under :func:`_clean_errors`."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)
        return lambda fn: register(_clean_errors(fn))


app = _App(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Exact transformer constructions of published theorems, and a verifier that checks them.",
)
console = Console()

def _backend(name: str) -> str:
    if name not in BACKENDS:
        _fail(f"--backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    return name


def _writable(path: Optional[Path], option: str) -> None:
    """Refuse, before any work, an output path that cannot be written: a folder, a missing or read-only folder."""
    if path is None:
        return
    if path.is_dir():
        _fail(f"{option} {path} is a folder; give a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        _fail(f"{option} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        _fail(f"{option} {path}: not writable (permission denied)")


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write of ``path`` (safetensors reports its I/O errors as its own exception) into one line."""
    from safetensors import SafetensorError

    try:
        yield
    except (OSError, SafetensorError) as exc:
        _fail(f"cannot write {path}: {exc}")


def _at_least(value: int, minimum: int, option: str) -> int:
    if value < minimum:
        _fail(f"{option} must be at least {minimum}, got {value}")
    return value

_DTYPES = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float32", "float64": "float64"}


def _parse_options(options: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: literal(v)}`` (numbers, tuples, booleans; anything else stays a string)."""
    out: dict[str, Any] = {}
    for item in options:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            _fail(f"--option {item!r} must look like key=value")
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def _build(name: str, options: list[str]):
    try:
        return constructions.build(name, **_parse_options(options))
    except (KeyError, TypeError, ValueError) as exc:
        message = str(exc).strip("'\"")
        _fail(message if name in message else f"{name}: {message}")


def _torch_dtype(name: str, option: str = "--dtype"):
    import torch

    if name not in _DTYPES:
        _fail(f"{option} must be one of {', '.join(_DTYPES)}, got {name!r}")
    return getattr(torch, name)


@app.command()
def tour(name: str = typer.Argument("parity", help="Registered construction name.")) -> None:
    """Verify a published construction against its independent reference, and say where to read on."""
    from .cli_tour import tour as show

    raise typer.Exit(0 if show(console, name, _build(name, [])) else 1)


@app.command("list")
def list_constructions() -> None:
    """List the registered constructions with their citations and the resources their theorems claim."""
    table = Table(title="exactformer constructions")
    table.add_column("name", style="bold")
    table.add_column("what it does")
    table.add_column("citation")
    table.add_column("claims")
    for name in constructions.names():
        entry = constructions.get(name)
        try:
            built = constructions.build(name)
            citation, claims = str(built.citation), built.claims.describe(precision=False)
        except Exception as exc:  # a builder that needs arguments still gets listed
            citation, claims = f"(needs options: {exc})", "-"
        table.add_row(name, entry.summary, citation, claims)
    console.print(table)


@app.command()
def build(
    name: str = typer.Argument(..., help="Registered construction name (see `exactformer list`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the model (.safetensors)."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
) -> None:
    """Build a construction and save its exact weights and architecture as safetensors."""
    _writable(out, "--out")
    construction = _build(name, option)
    with _writing(out):
        path = save_model(
            construction.model,
            out,
            extra_metadata={"construction": name, "citation": str(construction.citation),
                            "options": json.dumps(_parse_options(option), default=str)},
        )
    console.print(f"wrote {path} ({construction.model.d_model} coordinates, {len(construction.weights())} tensors)")


#: --accumulate, for the commands that run torch (TorchArithmetic's ``accumulate``)
_ACCUMULATE = typer.Option("dtype", help="Torch: 'dtype' (PyTorch's arithmetic) or 'float64' (equal-score "
                           "attention sums its values in float64).")


@app.command()
def trace(
    name: str = typer.Argument(..., help="Registered construction name."),
    input: Optional[str] = typer.Argument(None, help="The input (a word); defaults to the construction's example."),
    backend: str = typer.Option("exact", help="exact, certified or torch."),
    dtype: str = typer.Option("float64", help="Torch dtype when --backend torch."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
    all_coordinates: bool = typer.Option(False, "--all", help="Show coordinates that are zero everywhere too."),
    accumulate: str = _ACCUMULATE,
) -> None:
    """Print the residual stream after every sublayer, one row per named coordinate, one column per position."""
    _backend(backend)
    construction = _build(name, option)
    x = input if input is not None else constructions.get(name).example
    kwargs: dict[str, Any] = {"backend": backend}
    if backend == "torch":
        kwargs.update(dtype=_torch_dtype(dtype), accumulate=accumulate)
    result = construction.run(x, **kwargs)
    print_residual_tables(console, name, construction, result, construction.encode(x), all_coordinates)
    status = "certified" if result.certified else "not certified"
    console.print(f"answer: {result.answer!r}  (label {result.label!r}, margin {result.margin:.6g}, {status})",
                  markup=False, emoji=False, highlight=False)


_LENGTH_PART = re.compile(r"(\d+)(?:-(\d+)(?::(\d+))?)?")


def _lengths(spec: Optional[str], default: tuple[int, ...]) -> list[int]:
    """``"0-16"``, ``"1,2,8"`` or ``"4-64:4"`` (a step) -> a list of sizes.

    Sizes are integers >= 0; a range ``lo-hi`` needs ``lo <= hi`` and a step >= 1. Anything else (``abc``, ``-3``,
    ``1-4:0``, ``5-1``, an empty part) is a usage error naming the part: a check over no sizes tests nothing.
    """
    if spec is None:
        return list(default)
    out: list[int] = []
    for part in spec.split(","):
        m = _LENGTH_PART.fullmatch(part.strip())
        if m is None:
            _fail(f"--lengths {spec!r}: cannot read {part.strip()!r}; write sizes >= 0 as '0-16', '1,2,8' or '4-64:4'")
        lo, hi, step = m.groups()
        if hi is None:
            out.append(int(lo))
            continue
        if step is not None and int(step) < 1:
            _fail(f"--lengths {spec!r}: the step of {part.strip()!r} must be at least 1")
        if int(lo) > int(hi):
            _fail(f"--lengths {spec!r}: the range {part.strip()!r} is empty ({lo} > {hi}); write it as {hi}-{lo}")
        out += list(range(int(lo), int(hi) + 1, int(step or 1)))
    return out


def _subject(name: str, options: list[str], lengths: Optional[str]) -> tuple[Any, Any, list[int]]:
    """The construction ``name`` built with ``options``, its registered reference, and the sizes to check (``lengths``
    or the registry's default)."""
    construction = _build(name, options)
    entry = constructions.get(name)
    if entry.reference is None:
        _fail(f"{name} has no registered reference to verify against")
    return construction, entry.reference(construction), _lengths(lengths, entry.default_lengths(construction))


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
    accumulate: str = _ACCUMULATE,
) -> None:
    """Check a construction against its independent reference over many sizes; exit 1 if anything fails."""
    from .verify import check

    _backend(backend)
    _at_least(samples, 1, "--samples")
    _at_least(exhaustive_up_to, 0, "--exhaustive-up-to")
    for path, flag in ((json_out, "--json"), (markdown_out, "--markdown"), (plot, "--plot")):
        _writable(path, flag)
    if backend == "torch":
        _torch_dtype(dtype)
    construction, reference, sizes = _subject(name, option, lengths)
    report = check(construction, reference, lengths=sizes, samples_per_length=samples,
                   exhaustive_up_to=exhaustive_up_to, backend=backend,
                   dtype=_torch_dtype(dtype) if backend == "torch" else None, seed=seed, progress=console.is_terminal,
                   accumulate=accumulate)
    _show_and_write(report, json_out, markdown_out)
    if plot:
        report.plot_margins(plot)
    raise typer.Exit(0 if report.passed else 1)


def _show_and_write(report: Any, json_out: Optional[Path], markdown_out: Optional[Path]) -> None:
    """Print a report (a verify or mutation report) and write it as JSON and markdown where asked."""
    console.print(report.render())
    if json_out:
        json_out.write_text(report.to_json())
    if markdown_out:
        markdown_out.write_text(report.to_markdown())


@app.command()
def frontier(
    name: str = typer.Argument(..., help="Registered construction name."),
    lengths: Optional[str] = typer.Option(None, help="Sizes to try in increasing order, e.g. '1-64:8'."),
    samples: int = typer.Option(100, help="Inputs per size when not exhaustive."),
    dtypes: str = typer.Option("float16,bfloat16,float32,float64", help="Comma-separated torch dtypes."),
    seed: int = typer.Option(0, help="Random seed."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
    plot: Optional[Path] = typer.Option(None, help="Also plot pass/fail per size and dtype to this PNG."),
    accumulate: str = _ACCUMULATE,
) -> None:
    """Print the precision frontier: per dtype, the largest n that still agrees with the reference."""
    from .verify import frontier as measure

    _at_least(samples, 1, "--samples")
    _writable(plot, "--plot")
    torch_dtypes = [_torch_dtype(d.strip(), "each of --dtypes") for d in dtypes.split(",")]
    construction, reference, sizes = _subject(name, option, lengths)
    result = measure(construction, reference, lengths=sizes, dtypes=torch_dtypes, samples_per_length=samples,
                     seed=seed, accumulate=accumulate)
    console.print(result.to_markdown())
    if plot:
        result.plot(plot)


@app.command()
def export(
    name: str = typer.Argument(..., help="Registered construction name."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the export."),
    to: str = typer.Option("safetensors", "--to", help="Target format: safetensors (float tensors by "
                           "TransformerLens-style name) or transformer-lens (a HookedTransformer state dict "
                           "for one input size, with its config, dtype and needed hooks in the metadata)."),
    dtype: str = typer.Option("float32", help="Torch dtype of the exported tensors."),
    n: Optional[int] = typer.Option(None, help="Input size n (both targets): the export is for tokens_for(n) "
                                    "tokens, loops unrolled and W_pos materialised for them."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
) -> None:
    """Export a construction's weights as float tensors named like TransformerLens parameters."""
    from safetensors.torch import save_file

    if to not in ("safetensors", "transformer-lens"):
        _fail(f"unknown export target --to {to!r}; available: safetensors, transformer-lens")
    if n is not None:
        _at_least(n, 0, "--n")
    _writable(out, "--out")
    torch_dtype = _torch_dtype(dtype)
    construction = _build(name, option)
    if to == "transformer-lens":
        from .export.transformer_lens import to_transformer_lens

        if n is None:
            _fail("--to transformer-lens needs --n (the input size; the export runs on tokens_for(n) tokens)")
        exported = to_transformer_lens(construction, n=n, dtype=torch_dtype)
        with _writing(out):
            exported.save(str(out), n=n, name=name)
        hooks = f", {len(exported.hook_notes)} hooks needed (kept in the file)" if exported.hook_notes else ""
        console.print(f"wrote {out}: HookedTransformer in {dtype} for n={n} ({exported.length} tokens){hooks}; "
                      "load it with exactformer.export.load_hooked_transformer")
        return
    from .export.spec_metadata import spec_metadata

    tensors = {k: v.contiguous() for k, v in construction.state_dict(torch_dtype, n=n).items()}
    with _writing(out):
        save_file(tensors, str(out), metadata=spec_metadata(construction, name, n, constructions.get(name).example))
    console.print(f"wrote {out}: {len(tensors)} tensors in {dtype}")


@app.command()
def table(
    write: Optional[Path] = typer.Option(None, "--write", help="Rewrite the table between the markers of this file "
                                         "(the README)."),
    verify_: bool = typer.Option(True, "--verify/--no-verify", help="Run each entry's quick verification."),
) -> None:
    """The table of constructions: theorem, measured resources, verification status (generated, never typed)."""
    from .catalog import construction_table, write_readme_table

    text = construction_table(verify=verify_)
    if write is not None:
        changed = write_readme_table(write, text)
        console.print(f"{write}: {'updated' if changed else 'already up to date'}")
    else:
        console.print(text, markup=False, highlight=False)


@app.command()
def mutate(
    name: str = typer.Argument(..., help="Registered construction name."),
    samples: int = typer.Option(40, help="How many single-weight mutants to sample."),
    seed: int = typer.Option(0, help="Seeds the choice of mutants."),
    lengths: Optional[str] = typer.Option(None, help="Sizes of the check and the oracle (default: the "
                                          "construction's verify sizes), e.g. '0-8'."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
    check_equivalent: bool = typer.Option(False, help="Also check mutants the oracle finds no behaviour change in."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the mutation report as JSON here."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Also write it as markdown here."),
) -> None:
    """Mutation-test the verifier: break one exact weight at a time and see whether `verify` notices.

    Each mutant is classified by an oracle (the reference on other inputs) as behaviour-changing or not, and each
    behaviour-changing one as caught, caught only by invariants, or missed by the default check. Exits 1 if any
    behaviour-changing mutant is missed.
    """
    from .verify.mutate import mutate as run_mutations

    _at_least(samples, 1, "--samples")
    for path, flag in ((json_out, "--json"), (markdown_out, "--markdown")):
        _writable(path, flag)
    construction, reference, sizes = _subject(name, option, lengths)

    def show(done: int, total: int, outcome: Any) -> None:
        if console.is_terminal:
            console.print(f"[{done}/{total}] {outcome.mutation}: {outcome.verdict}", markup=False, highlight=False)

    report = run_mutations(construction, reference, lengths=sizes, samples=samples, seed=seed,
                           check_equivalent=check_equivalent, progress=show, name=name)
    _show_and_write(report, json_out, markdown_out)
    raise typer.Exit(0 if report.passed else 1)


@app.command()
def prove(
    name: str = typer.Argument(..., help="Registered construction name."),
    option: list[str] = typer.Option([], "--option", help="Builder option as key=value (repeatable)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the certificate as JSON here."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Also write it as markdown here."),
) -> None:
    """Prove a construction for every n from its weights: each lemma checked exhaustively or symbolically in n.

    Prints the certificate (lemma, method, cases, scope, status). Exits 1 if a lemma fails; a certificate that
    rests on tested lemmas says so in its status and exits 0.
    """
    from .verify.certificate import prove as prove_construction

    for path, flag in ((json_out, "--json"), (markdown_out, "--markdown")):
        _writable(path, flag)
    certificate = prove_construction(_build(name, option))
    _show_and_write(certificate, json_out, markdown_out)
    raise typer.Exit(0 if certificate.holds else 1)


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="The sweep configuration (TOML; docs/sweep.md)."),
    store: Optional[Path] = typer.Option(None, help="SQLite results store (default: CONFIG with .sqlite)."),
    scheduler: Optional[str] = typer.Option(None, help="tcp://HOST:PORT of a running Dask scheduler."),
    workers: Optional[int] = typer.Option(None, help="Worker processes of the local cluster (default: the cores)."),
    render: Optional[Path] = typer.Option(None, help="Write the table rendered from the store here ('-': print)."),
    plot: Optional[Path] = typer.Option(None, help="Draw --y against --x from the store here (.png, .svg, .pdf)."),
    x: Optional[str] = typer.Option(None, help="The plot's x: a cell parameter or figure."),
    y: Optional[str] = typer.Option(None, help="The plot's y: a cell parameter or figure."),
    group: Optional[str] = typer.Option(None, help="One plot line per value of this parameter."),
    run: bool = typer.Option(True, "--run/--no-run", help="--no-run: render or plot the store, running no cell."),
) -> None:
    """Run a campaign of cells on Dask; completed cells are stored and skipped by a rerun. Exits 1 if a cell failed."""
    from .cli_sweep import run_sweep_command

    raise typer.Exit(run_sweep_command(config, store, scheduler, workers, render, progress=console.is_terminal,
                                       plot=plot, axes=(x, y, group), run=run))


def main() -> None:
    """Entry point of the ``exactformer`` console script.

    Every command prints its errors as one line (see :func:`_clean_errors`: exit 2 for a usage error, 1 for other
    library errors); a library error raised outside a command prints one line too and exits 1.
    """
    try:
        app()
    except ExactformerError as exc:
        typer.echo(f"error: {type(exc).__name__}: {' '.join(str(exc).split())}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":  # pragma: no cover
    main()
