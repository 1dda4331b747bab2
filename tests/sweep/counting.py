"""A sweep task for the runner's tests: it records every execution in a side file (one line per run of a cell, so
the tests can count how often each cell was computed), can sleep, and can kill its own worker process once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def count(x: int, ledger: str, seconds: float = 0.0, kill_worker_at: int = -1) -> dict:
    """``x**2``, after appending ``x`` to ``ledger``; when ``x == kill_worker_at`` the first time (no marker file
    yet), the worker process SIGKILLs itself mid-cell, after recording the attempt."""
    with open(ledger, "a") as f:  # one short append per execution: atomic on a local file system
        f.write(f"{x} {os.getpid()}\n")
    marker = Path(ledger + f".killed-{x}")
    if x == kill_worker_at and not marker.exists():
        marker.write_text("killed once\n")
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(seconds)
    return {"x": x, "square": x * x, "figures": {"square": x * x}}


def executions(ledger: str | Path) -> dict[int, int]:
    """How many times each cell (by its x) was executed, from the ledger."""
    out: dict[int, int] = {}
    path = Path(ledger)
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        x = int(line.split()[0])
        out[x] = out.get(x, 0) + 1
    return out
