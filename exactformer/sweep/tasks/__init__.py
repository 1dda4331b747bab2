"""What a sweep's cell runs: a :class:`Task` is a function of the cell's parameters that returns a JSON-able dict.

The built-in tasks are found by name in :data:`TASKS` (each a ``module:attribute`` path, imported when first used,
so the runner does not import every construction family); a configuration may also name any importable
``package.module:function``. A plain function becomes a task whose parameters are its keyword arguments.

A corpus task also has ``entries(**params)``: the names of its corpus's items (e.g. MLRegTest languages), which the
configuration's ``[corpus] chunk`` splits into cells, each receiving its share as the ``entries`` parameter.

A task's result may hold a ``"figures"`` dict (headline numbers: words checked, wrong answers, ...): the store
keeps it in a column of its own, beside the whole result.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import SweepConfigError

#: built-in task name -> where its :class:`Task` lives
TASKS: dict[str, str] = {
    "check": "exactformer.sweep.tasks.check:CHECK",
    "frontier": "exactformer.sweep.tasks.check:FRONTIER",
    "mlregtest": "exactformer.sweep.tasks.mlregtest:MLREGTEST",
    "busy_beaver": "exactformer.sweep.tasks.busy_beaver:BUSY_BEAVER",
    "readme_table": "exactformer.sweep.tasks.readme:README_TABLE",
    "parity_first_sweep": "exactformer.sweep.tasks.parity_first_sweep:TASK",
    "parity_first_frontier": "exactformer.sweep.tasks.parity_first_frontier:TASK",
    "log_depth_verification": "exactformer.sweep.tasks.log_depth_verification:RECOGNIZER_TASK",
    "log_depth_connectivity": "exactformer.sweep.tasks.log_depth_verification:GRAPH_TASK",
}


@dataclass(frozen=True)
class Task:
    """A cell's work: ``run(**params) -> dict`` and the parameter names it takes.

    Parameters
    ----------
    run
        The function a worker calls with the cell's parameters; it returns a dict that :func:`json.dumps` accepts.
    params
        The parameter names a configuration may give (``[params]`` and ``[grid]`` keys).
    entries
        For a corpus task: the names of the corpus's items for the given parameters (without ``entries``).
    validate
        Called with a cell's parameters when the configuration is read; raises ``ValueError`` naming what is wrong
        (so a typo fails before any cell runs).
    render
        The campaign's table from its stored cells (:class:`~exactformer.sweep.store.StoredCell`, in the
        configuration's order); default: one markdown row per cell, its parameters and figures.
    reads_store
        Whether ``render`` also takes the open :class:`~exactformer.sweep.store.Store` (``render(cells, store=...)``),
        for a table that draws on another campaign's cells in the same store.
    """

    run: Callable[..., dict[str, Any]]
    params: frozenset[str]
    entries: Callable[..., Iterable[Any]] | None = None
    validate: Callable[..., None] | None = None
    render: Callable[..., str] | None = None
    reads_store: bool = False
    name: str = field(default="", compare=False)


def require_one_of(kind: str, value: Any, choices: Iterable[Any]) -> None:
    """Refuse a cell parameter outside its choices: ``ValueError`` naming the parameter, the value and the choices."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}: use one of {', '.join(map(str, choices))}")


def provenance(cells: Sequence[Any], config: str) -> str:
    """A comment line naming where a rendered table came from: the configuration, how many stored cells, when the
    last one finished, the code versions and the machines that ran them."""
    finished = max((c.finished or "-" for c in cells), default="-")
    versions = ", ".join(sorted({c.code_version or "-" for c in cells})) or "-"
    machines = "; ".join(sorted({c.machine or "-" for c in cells})) or "-"
    return (f"# rendered from the store of {config}: {len(cells)} cells, the last finished {finished}; code "
            f"{versions}; {machines}; 1 torch thread per worker")


def _from_function(fn: Callable[..., Any], name: str) -> Task:
    signature = inspect.signature(fn)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return Task(run=fn, params=frozenset(p.name for p in signature.parameters.values() if p.kind in kinds), name=name)


def resolve_task(name: str) -> Task:
    """The task a configuration names: a key of :data:`TASKS`, or ``package.module:attribute``.

    Raises
    ------
    ValueError
        (a :class:`~exactformer.sweep.config.SweepConfigError`) for an unknown name, a module that does not import or
        an attribute that is neither a :class:`Task` nor a function.
    """
    path = TASKS.get(name, name)
    if ":" not in path:
        raise SweepConfigError(
            f"unknown task {name!r}: the built-in tasks are {', '.join(sorted(TASKS))}, or name a function as "
            "'package.module:function'"
        )
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise SweepConfigError(f"task {name!r}: cannot import {module_name!r} ({e})") from e
    target = getattr(module, attribute, None)
    if isinstance(target, Task):
        return target
    if callable(target):
        return _from_function(target, name)
    raise SweepConfigError(f"task {name!r}: {module_name} has no task or function {attribute!r}")
