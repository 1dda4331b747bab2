"""The memory budget: a request that would allocate more than it is refused up front, saying what it would need.

Exact weights and float renderings grow with the input size (``W_pos`` has one row per token, a looped model
unrolls one layer per iteration, a forward pass holds a residual per sublayer and a block of attention scores), so
an innocent-looking ``weights(n=10**9)`` would ask for tens of GiB and fail deep inside numpy or take the machine
down. Every such request first estimates a lower bound of its allocation (the dense arrays it must hold, at 8 bytes
per exact entry, a pointer, and the dtype's size per float entry) and raises :class:`MemoryBudgetError` when that
exceeds :data:`MEMORY_BUDGET`.

The budget is 4 GiB by default. Override it for the process with the ``EXACTFORMER_MEMORY_BUDGET`` environment
variable (bytes, or a number with a unit: ``"16GiB"``, ``"500MB"``), by assigning
``exactformer.core.budget.MEMORY_BUDGET``, or for a block of code with :func:`memory_budget`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

from .errors import MemoryBudgetError

__all__ = ["MEMORY_BUDGET", "DEFAULT_MEMORY_BUDGET", "memory_budget", "require_memory", "format_bytes",
           "parse_bytes"]

#: The default budget: 4 GiB.
DEFAULT_MEMORY_BUDGET: int = 4 * 2**30

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """``"4GiB"`` -> ``4294967296``; a plain integer is bytes. Units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([a-zA-Z]*)\s*", text)
    if m is None or m.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read {text!r} as a number of bytes (e.g. 4294967296, '4GiB', '500MB')")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _from_environment() -> int:
    raw = os.environ.get("EXACTFORMER_MEMORY_BUDGET")
    if not raw:
        return DEFAULT_MEMORY_BUDGET
    try:
        return parse_bytes(raw)
    except ValueError as exc:
        raise ValueError(f"EXACTFORMER_MEMORY_BUDGET: {exc}") from None


#: The most bytes one request may allocate (see the module docstring for how to change it).
MEMORY_BUDGET: int = _from_environment()


def format_bytes(n: int | float) -> str:
    """``48000000000`` -> ``"44.7 GiB"`` (binary units)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def require_memory(nbytes: int, what: str) -> None:
    """Raise :class:`MemoryBudgetError` if ``what`` needs more than :data:`MEMORY_BUDGET` bytes.

    The message names the request, the bytes it needs (a lower bound) and the budget, and how to raise it.
    """
    budget = MEMORY_BUDGET
    if nbytes > budget:
        raise MemoryBudgetError(
            f"{what} would allocate at least {format_bytes(nbytes)} ({nbytes:,} bytes), over the memory budget of "
            f"{format_bytes(budget)}; raise exactformer.core.budget.MEMORY_BUDGET (or set "
            f"EXACTFORMER_MEMORY_BUDGET, e.g. '64GiB') if the machine has the memory"
        )


@contextlib.contextmanager
def memory_budget(nbytes: int | str) -> Iterator[int]:
    """Use a budget of ``nbytes`` (an int or a string such as ``"16GiB"``) inside a ``with`` block."""
    global MEMORY_BUDGET
    value = parse_bytes(nbytes) if isinstance(nbytes, str) else int(nbytes)
    if value < 0:
        raise ValueError(f"a memory budget is >= 0 bytes, got {value}")
    previous, MEMORY_BUDGET = MEMORY_BUDGET, value
    try:
        yield value
    finally:
        MEMORY_BUDGET = previous
