"""A sweep's configuration: a TOML grid parsed into validated, frozen :class:`Cell` objects.

A configuration names a task and the parameters of its cells::

    name = "parity-first"            # names the campaign in the store
    task = "parity_first"            # a built-in task (exactformer.sweep.tasks.TASKS) or "package.module:function"
    resources = {}                   # Dask resources each cell needs, e.g. {GPU = 1}

    [params]                         # the same in every cell ("a..b" in a list expands here too)
    samples = 1000
    seed = 0

    [grid]                           # one cell per combination of these lists (their product, in this order)
    variant = ["parity", "first"]
    n = ["1..64", 100, 1000]         # "a..b" is every integer from a to b

    # or several grids, [[grid]] tables, whose cells follow one another (a parameter may differ between them):
    # [[grid]]
    # variant = ["parity"]
    # n = ["1..64"]
    # [[grid]]
    # variant = ["parity-ln-eps1e-5"]
    # n = [2, 4, 10]

    [corpus]                         # or: a corpus task's entries, ``chunk`` entries a cell
    chunk = 10                       # (and the task's selection of entries, e.g. match = "04.", every = 40:
                                     # not cell parameters, so a subset's cells are cells of the whole corpus)

A cell is the task's name and its parameters (JSON scalars or lists of them); its :attr:`Cell.key` is a hash of
both, so the same cell has the same key in every run, on every machine, whatever the order of the file.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tasks import Task, resolve_task
from .tasks.errors import SweepConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 has no tomllib; tomli is the same parser
    import tomli as tomllib

_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
_KEYS = {"name", "task", "resources", "params", "grid", "corpus", "description"}


def _canonical(value: Any, where: str) -> str:
    """``value`` as canonical JSON (sorted keys, no spaces); a value JSON cannot hold is refused, naming ``where``."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise SweepConfigError(f"{where}: {value!r} is not a JSON value ({e}); a cell's parameters must be") from e


@dataclass(frozen=True)
class Cell:
    """One task run: the task's name, its parameters (sorted by name) and the Dask resources it needs."""

    task: str
    params: tuple[tuple[str, str], ...]  # (name, the value's canonical JSON), sorted by name
    resources: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, task: str, params: Mapping[str, Any], resources: Mapping[str, float] | None = None) -> Cell:
        frozen = tuple(sorted((str(k), _canonical(v, str(k))) for k, v in params.items()))
        return cls(task, frozen, tuple(sorted((resources or {}).items())))

    @property
    def kwargs(self) -> dict[str, Any]:
        """The parameters as the task function receives them."""
        return {k: json.loads(v) for k, v in self.params}

    @property
    def params_json(self) -> str:
        """The canonical JSON of the parameters (sorted keys, no spaces): what :attr:`key` hashes."""
        return _canonical(self.kwargs, "params")

    @property
    def key(self) -> str:
        """A stable identifier: the first 20 hex digits of the SHA-256 of the task name and the parameters."""
        digest = hashlib.sha256(f"{self.task}\n{self.params_json}".encode()).hexdigest()
        return digest[:20]

    def label(self, width: int = 60) -> str:
        """A short readable description (for logs and the progress bar)."""
        text = ", ".join(f"{k}={_short(json.loads(v))}" for k, v in self.params)
        return text if len(text) <= width else text[: width - 3] + "..."


def _short(value: Any) -> str:
    if isinstance(value, list) and len(value) > 3:
        return f"[{value[0]}..{value[-1]}] ({len(value)})"
    return str(value)


@dataclass(frozen=True)
class SweepConfig:
    """A parsed configuration: its name, task, and the cells of its grid (or corpus), in order."""

    name: str
    task: str
    cells: tuple[Cell, ...]
    source: str = ""
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _expand(name: str, values: Any) -> list[Any]:
    """A grid axis: a list whose ``"a..b"`` strings stand for every integer from a to b; a scalar is one value."""
    if not isinstance(values, list):
        values = [values]
    out: list[Any] = []
    for v in values:
        m = _RANGE.match(v) if isinstance(v, str) else None
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise SweepConfigError(f"{name}: the range {v!r} is empty ({hi} < {lo})")
            out.extend(range(lo, hi + 1))
        else:
            out.append(v)
    if not out:
        raise SweepConfigError(f"{name} is an empty list: a grid axis needs at least one value")
    return out


def _check_params(task: Task, task_name: str, names: Sequence[str]) -> None:
    unknown = sorted(set(names) - set(task.params))
    if unknown:
        raise SweepConfigError(
            f"task {task_name!r} has no parameter {', '.join(map(repr, unknown))}; its parameters are "
            f"{', '.join(sorted(task.params))}"
        )


def parse_config(data: Mapping[str, Any], *, source: str = "<dict>") -> SweepConfig:
    """Validate a configuration (the TOML file's table) and expand it into its cells.

    Raises
    ------
    SweepConfigError
        An unknown key or task, a parameter the task does not take, an empty axis, a duplicate cell, a value that
        is not JSON, or the task's own validation of a cell (e.g. an unknown construction name).
    """
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise SweepConfigError(f"{source}: unknown key(s) {unknown}; a sweep configuration has {sorted(_KEYS)}")
    for key in ("name", "task"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise SweepConfigError(f"{source}: '{key}' must be a non-empty string")
    task_name = data["task"]
    task = resolve_task(task_name)
    resources = data.get("resources", {})
    if not isinstance(resources, Mapping) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in resources.values()
    ):
        raise SweepConfigError(f"{source}: 'resources' must map names to positive numbers, e.g. {{GPU = 1}}")
    params = data.get("params", {})
    grid = data.get("grid", {})
    grids = list(grid) if isinstance(grid, list) else [grid]
    if not grids or not all(isinstance(g, Mapping) for g in grids) or not isinstance(params, Mapping):
        raise SweepConfigError(f"{source}: 'params' must be a table and 'grid' a table or an array of tables")
    params = {k: _expand(f"params.{k}", v) if isinstance(v, list) and v else v for k, v in params.items()}
    combos: list[dict[str, Any]] = []
    axis_names: dict[str, None] = {}
    for number, one in enumerate(grids):
        where = "grid" if len(grids) == 1 else f"grid[{number}]"
        both = sorted(set(params) & set(one))
        if both:
            raise SweepConfigError(f"{source}: {both} are in both [params] and [{where}]; give each parameter once")
        axes = {k: _expand(f"{where}.{k}", v) for k, v in one.items()}
        axis_names.update(dict.fromkeys(axes))
        combos += [dict(zip(axes, values)) for values in itertools.product(*axes.values())] if axes else [{}]
    corpus = data.get("corpus")
    if corpus is not None:
        if task.entries is None:
            raise SweepConfigError(f"{source}: task {task_name!r} has no corpus; remove [corpus] or use a corpus task")
        chunk = corpus.get("chunk", 1)
        if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
            raise SweepConfigError(f"{source}: corpus.chunk must be a positive integer, not {chunk!r}")
        selection = {k: v for k, v in corpus.items() if k != "chunk"}
        takes = [p.name for p in inspect.signature(task.entries).parameters.values()
                 if p.kind is not inspect.Parameter.VAR_KEYWORD and p.name not in task.params]
        extra = sorted(set(selection) - set(takes))
        if extra:
            raise SweepConfigError(f"{source}: unknown key(s) {extra} in [corpus]; it has 'chunk'"
                                   + "".join(f", '{t}'" for t in takes))
    _check_params(task, task_name, [*params, *axis_names])
    cells: list[Cell] = []
    for combo in combos:
        kwargs = {**params, **combo}
        if corpus is not None:
            try:
                entries = list(task.entries(**kwargs, **selection))
            except (ValueError, KeyError, TypeError) as e:
                raise SweepConfigError(f"{source}: the corpus of {task_name!r}: {e}") from e
            if not entries:
                raise SweepConfigError(f"{source}: the corpus of {task_name!r} with {combo or params} has no entries")
            for start in range(0, len(entries), chunk):
                cells.append(Cell.of(task_name, {**kwargs, "entries": entries[start : start + chunk]}, resources))
        else:
            if task.validate is not None:
                try:
                    task.validate(**kwargs)
                except (ValueError, KeyError, TypeError) as e:
                    raise SweepConfigError(f"{source}: cell {combo or params}: {e}") from e
            cells.append(Cell.of(task_name, kwargs, resources))
    seen: dict[str, Cell] = {}
    for cell in cells:
        if cell.key in seen:
            raise SweepConfigError(f"{source}: the cell {cell.label()} appears twice (a grid axis repeats a value)")
        seen[cell.key] = cell
    return SweepConfig(
        name=data["name"],
        task=task_name,
        cells=tuple(cells),
        source=source,
        description=str(data.get("description", "")),
        raw=dict(data),
    )


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a TOML configuration file."""
    path = Path(path)
    if not path.is_file():
        raise SweepConfigError(f"no sweep configuration at {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SweepConfigError(f"{path}: not valid TOML: {e}") from e
    return parse_config(data, source=str(path))


def as_config(config: SweepConfig | Mapping[str, Any] | str | Path) -> SweepConfig:
    """A :class:`SweepConfig` from itself, a configuration table, or a TOML file's path."""
    if isinstance(config, SweepConfig):
        return config
    if isinstance(config, Mapping):
        return parse_config(config)
    return load_config(config)
