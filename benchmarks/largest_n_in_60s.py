"""The largest input size each registered construction is verified at within 60 s (issue 9, closing note).

For every construction in ``exactformer list`` that has a registered reference, ``exactformer.verify.check`` runs
at one size at a time (torch float64, the default 200 samples per size, every input when there are at most 4096),
for sizes 1, 2, 4, 8, ... Each size runs in its own subprocess under a wall-clock limit (with ``--clock cpu``, a
limit on the check's CPU seconds, which the kernel enforces: ``RLIMIT_CPU``); the doubling stops at the first size
whose check fails, raises, or does not finish within the limit (it is not extrapolated: the work per size is not
monotone). The table gives, per construction, the largest size whose check passed within the limit, and
that check's seconds.

Four constructions are sized by a builder option rather than by the input alone (``SIZED_BY_OPTION``): the Post
machine's ring length and the Turing machine's tape length fix the prompt's length (the queue the window holds), the
superposition construction's node budget fixes the largest graph, and connectivity's ``num_vertices`` the largest
graph it takes (its default, 8, refuses the graphs of 16 vertices). For them size n means the prompt of n
symbols (ring length n; tape length n + 1, whose queue holds n cells) and graphs of n nodes (``max_nodes = n``,
``max_edges = n (n - 1)``, so every random graph of the reference fits), and the doubling starts at the smallest size
the builder accepts.

Usage::

    python benchmarks/largest_n_in_60s.py                      # every construction, 60 s per size
    python benchmarks/largest_n_in_60s.py --quick              # three small constructions, 10 s per size
    python benchmarks/largest_n_in_60s.py --only parity first --limit 60 --out benchmarks/results/largest_n.txt
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exactformer.constructions import registry  # noqa: E402

# name -> (first size, builder options for size n): the constructions whose size is a builder option
SIZED_BY_OPTION: dict[str, tuple[int, Callable[[int], dict[str, Any]]]] = {
    "post-machine": (4, lambda n: {"ring_length": n}),
    "turing-machine": (2, lambda n: {"tape_length": n + 1}),
    "superposition": (4, lambda n: {"max_nodes": n, "max_edges": n * (n - 1)}),
    # the default build takes graphs of at most 8 vertices: beyond that every input would be refused (an error, not
    # a measure of speed), so connectivity is built for graphs of n vertices (ceil(log2 n) squaring levels)
    "connectivity": (1, lambda n: {"num_vertices": n}),
}


def first_size(name: str) -> int:
    """The first size the doubling tries: 1, or the smallest size a construction sized by an option accepts."""
    return SIZED_BY_OPTION[name][0] if name in SIZED_BY_OPTION else 1


def options_for(name: str, n: int) -> dict[str, Any]:
    """The builder options for size ``n`` (none for the constructions whose size is the input's alone)."""
    return SIZED_BY_OPTION[name][1](n) if name in SIZED_BY_OPTION else {}


CHILD = """
import json, resource, sys, time, torch
torch.set_num_threads(1)
from exactformer.constructions import registry
from exactformer.verify import check
name, n, options, cpu_limit = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])
entry = registry.get(name)
construction = registry.build(name, **options)
reference = entry.reference(construction)
start, cpu = time.perf_counter(), time.process_time()
if cpu_limit:  # the kernel stops the check (SIGXCPU) a second past the limit: no waiting for a hopeless size
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu + cpu_limit) + 2, resource.RLIM_INFINITY))
report = check(construction, reference, lengths=[n], dtype=torch.float64)
print(json.dumps({"passed": bool(report.passed), "seconds": time.perf_counter() - start,
                  "cpu": time.process_time() - cpu}))
"""

#: which clock the limit applies to: "wall" (the default) or "cpu" (the check's CPU seconds: on a shared, loaded
#: machine the work itself, as one thread on an idle core would take it)
CLOCK = {"name": "wall"}


def in_process(name: str, n: int, limit: float) -> tuple[str, float]:
    """:func:`one_size` in this process (no import cost, no enforced limit: a slow check is judged afterwards)."""
    from exactformer.verify import check

    entry = registry.get(name)
    construction = registry.build(name, **options_for(name, n))
    start = time.perf_counter()
    try:
        report = check(construction, entry.reference(construction), lengths=[n], dtype=torch.float64)
    except Exception as exc:  # a crash is a result of the benchmark, not of the script
        return f"error: {type(exc).__name__}", float("nan")
    seconds = time.perf_counter() - start
    if seconds > limit:
        return "timeout", seconds
    return ("passed" if report.passed else "failed"), seconds


def one_size(name: str, n: int, limit: float) -> tuple[str, float]:
    """``("passed" | "failed" | "timeout" | "error: ...", seconds of the check)`` for one size in a subprocess.

    The limit applies to the check itself; the subprocess gets extra time for importing and building."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, name, str(n), json.dumps(options_for(name, n)),
             str(limit if CLOCK["name"] == "cpu" else 0)],
            capture_output=True,
            text=True,
            timeout=limit + 60 if CLOCK["name"] == "wall" else 8 * limit + 60,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start
    if done.returncode == -signal.SIGXCPU:  # past the CPU limit (--clock cpu)
        return "timeout", float(limit)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"error: {last[:80]}", float("nan")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = result["seconds"] if CLOCK["name"] == "wall" else result["cpu"]
    if seconds > limit:
        return "timeout", seconds
    return ("passed" if result["passed"] else "failed"), seconds


def largest(name: str, limit: float, max_n: int, run=one_size,  # noqa: ANN001
            start: int | None = None) -> tuple[int | None, float, str]:
    """The largest passing size within ``limit``, its seconds, and why the doubling stopped (from ``start``, or the
    construction's first size)."""
    best, best_seconds = None, float("nan")
    n = start or first_size(name)
    while n <= max_n:
        status, seconds = run(name, n, limit)
        if status != "passed":
            return best, best_seconds, f"n={n}: {status}"
        best, best_seconds = n, seconds
        # no extrapolation from the last doubling: the work per size is not monotone (every input up to 4096,
        # then 200 samples: an A5 recognizer checks 3,600 words at n = 2 and 200 at n = 4), so the next size is
        # always tried, under the same limit
        n = 2 * n
    return best, best_seconds, f"stopped at the cap n={max_n}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=float, default=60.0, help="seconds per check (default 60)")
    p.add_argument("--max-n", type=int, default=1 << 16, help="largest size tried (default 65536)")
    p.add_argument("--only", nargs="*", default=None, help="construction names (default: every registered one)")
    p.add_argument("--quick", action="store_true", help="parity and first in this process, 10 s limit, sizes to 16")
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="the limit is on wall seconds (default) or on the check's CPU seconds (a loaded machine)")
    p.add_argument("--start", type=int, default=None,
                   help="first size tried (default: 1, or the option-sized constructions' first); e.g. the last "
                        "recorded n, to measure only the sizes beyond it")
    args = p.parse_args(argv)
    if args.quick:
        args.only, args.limit, args.max_n = args.only or ["parity", "first"], 10.0, 16
    names = args.only or registry.names()
    CLOCK["name"] = args.clock
    lines = [
        f"# largest size verified within {args.limit:.0f} {args.clock} s per size (exactformer.verify.check, torch "
        "float64, 200 samples per size, exhaustive up to 4096 inputs, one thread per check)",
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, torch {torch.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start",
        "| construction | largest n verified | seconds at that n | why the doubling stopped |",
        "|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for name in names:
        entry = registry.get(name)
        if entry.reference is None:
            row = f"| {name} | - | - | no registered reference |"
        else:
            n, seconds, why = largest(name, args.limit, args.max_n, in_process if args.quick else one_size,
                                      start=args.start)
            row = f"| {name} | {n if n is not None else 'none'} | {seconds:.1f} | {why} |"
        print(row, flush=True)
        lines.append(row)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
