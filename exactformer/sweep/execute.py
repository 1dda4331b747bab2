"""What a Dask worker runs for one cell, and the provenance it records (code version, machine, times)."""

from __future__ import annotations

import datetime
import functools
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .config import Cell
from .tasks import resolve_task

LOG = logging.getLogger("exactformer.sweep")
PACKAGE = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def code_version() -> tuple[str, bool]:
    """``git describe --always --dirty`` of the checkout this package is imported from, and whether it is dirty;
    the package version (and False) outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=PACKAGE, capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
        return out, out.endswith("-dirty")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"exactformer {version('exactformer')}", False
        except PackageNotFoundError:
            return "exactformer (unknown version)", False


@functools.lru_cache(maxsize=1)
def machine() -> str:
    """Host name, architecture, cores, Python and torch versions (torch only when this process imported it)."""
    torch = sys.modules.get("torch")
    torch_text = f", torch {torch.__version__}" if torch is not None else ""
    return (f"{platform.node()}, {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}{torch_text}")


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"local process {os.getpid()}"


def execute_cell(cell: Cell) -> dict[str, Any]:
    """Run ``cell``'s task and return its result with the provenance the store records.

    Raises
    ------
    TypeError
        When the task's result is not a dict that :func:`json.dumps` accepts (the message names the cell).
    """
    task = resolve_task(cell.task)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    wall, cpu = time.perf_counter(), time.process_time()
    LOG.info("start %s %s (%s)", cell.key, cell.task, cell.label(200))
    result = task.run(**cell.kwargs)
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    if not isinstance(result, dict):
        raise TypeError(f"cell {cell.label()}: task {cell.task!r} returned a {type(result).__name__}, not a dict")
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cell {cell.label()}: task {cell.task!r} returned a result JSON cannot hold: {e}") from e
    version, dirty = code_version()
    LOG.info("done %s in %.2f s (%.2f CPU s)", cell.key, seconds, cpu_seconds)
    return {
        "result": result,
        "code_version": version,
        "dirty": dirty,
        "machine": machine(),
        "worker": _worker_address(),
        "started": started,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }
