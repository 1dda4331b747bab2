"""The largest input size each registered construction is checked at *exactly* within 60 s (issue 22, item 3).

As ``largest_n_in_60s.py`` (whose doubling and sizing it reuses: sizes 1, 2, 4, ..., each in its own subprocess,
stopping at the first size that fails, raises or runs out of time; the constructions sized by a builder option as
there), but with ``backend="exact"`` (rational arithmetic, every invariant compared exactly), the default 200
samples per size and every input when there are at most 4096. The limit is in CPU seconds of the child (its
process time from the start of the check, one torch thread; a ``SIGPROF`` timer stops it there), so a loaded
machine slows the run but does not change the figures much; the wall clock only guards against a hang. With
``--base`` the same doubling runs on a checkout of the older code too (each size alternating between the two), and
the table gives both; ``--jobs`` runs that many constructions at once (each child is one process).

A construction with an irrational operation (softmax, a norm, sinusoidal positions) is refused by the exact
evaluator at its first size: the row says so, with the evaluator's message.

Usage::

    python benchmarks/exact_largest_n.py --base /tmp/base-flint --out benchmarks/results/exact_largest_n.txt
    python benchmarks/exact_largest_n.py --only connectivity log-depth-a5 --limit 60
    python benchmarks/exact_largest_n.py --quick          # connectivity, 10 s per size, sizes to 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

from largest_n_in_60s import first_size, options_for

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, os, signal, sys, time
import torch
torch.set_num_threads(1)
from exactformer.constructions import registry
from exactformer.verify import check
name, n, options, limit = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])
construction = registry.build(name, **options)
reference = registry.get(name).reference(construction)
start = time.process_time()

def out_of_time(*_):
    print(json.dumps({"passed": False, "timeout": True, "seconds": time.process_time() - start}), flush=True)
    os._exit(0)

signal.signal(signal.SIGPROF, out_of_time)
signal.setitimer(signal.ITIMER_PROF, limit)
report = check(construction, reference, lengths=[n], backend="exact")
signal.setitimer(signal.ITIMER_PROF, 0)
print(json.dumps({"passed": bool(report.passed), "seconds": time.process_time() - start}))
"""


def one_size(checkout: Path, name: str, n: int, limit: float) -> tuple[str, float]:
    """``("passed" | "failed" | "timeout" | "irrational: ..." | "error: ...", CPU seconds of the check)`` for one
    size, in a subprocess importing ``checkout``'s package (the limit applies to the CPU time of the check; the
    wall clock allows ten times it, and ten minutes more for the import and the build, before the child is
    stopped as hung)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, name, str(n), json.dumps(options_for(name, n)),
                               str(limit)], capture_output=True, text=True, timeout=10 * limit + 600, cwd=checkout,
                              env=env)
    except subprocess.TimeoutExpired:
        return "timeout (wall clock)", float("nan")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        if "IrrationalOperation" in last:
            return "irrational: " + last.partition("IrrationalOperation: ")[2].replace("|", "/"), float("nan")
        return f"error: {last[:80]}", float("nan")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("timeout") or result["seconds"] > limit:
        return "timeout", result["seconds"]
    return ("passed" if result["passed"] else "failed"), result["seconds"]


def largest(checkouts: list[Path], name: str, limit: float, max_n: int) -> list[tuple[int | None, float, str]]:
    """Per checkout, the largest passing size within ``limit``, its seconds and why the doubling stopped; the
    checkouts take turns at each size (same load), and one that has stopped is not run again."""
    best: list[tuple[int | None, float, str | None]] = [(None, float("nan"), None) for _ in checkouts]
    n = first_size(name)
    while n <= max_n and any(why is None for _, _, why in best):
        for k, checkout in enumerate(checkouts):
            if best[k][2] is not None:
                continue
            status, seconds = one_size(checkout, name, n, limit)
            best[k] = (n, seconds, None) if status == "passed" else (best[k][0], best[k][1], f"n={n}: {status}")
        n *= 2
    return [(m, s, why or f"stopped at the cap n={max_n}") for m, s, why in best]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, default=None, help="checkout of the older code, run alongside")
    p.add_argument("--limit", type=float, default=60.0, help="CPU seconds per check (default 60)")
    p.add_argument("--max-n", type=int, default=1 << 12, help="largest size tried (default 4096)")
    p.add_argument("--only", nargs="*", default=None, help="construction names (default: every registered one)")
    p.add_argument("--jobs", type=int, default=1, help="constructions run at once (default 1)")
    p.add_argument("--quick", action="store_true", help="connectivity, 10 s per size, sizes up to 4")
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)
    if args.quick:
        args.only, args.limit, args.max_n = args.only or ["connectivity"], 10.0, 4
    sys.path.insert(0, str(ROOT))
    from exactformer.constructions import registry

    names = args.only or registry.names()
    checkouts = ([args.base] if args.base is not None else []) + [ROOT]
    heads = " | ".join(f"{who}: largest n | s | why it stopped" for who in (["base"] if args.base else []) + ["this"])
    lines = [
        f"# largest size checked exactly within {args.limit:.0f} CPU s per size (process time of the child; "
        "verify.check, backend='exact', 200 samples per size, exhaustive up to 4096 inputs, one process per size)",
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start; {args.jobs} construction(s) at once; base: "
        f"{args.base or '-'}",
        f"| construction | {heads} |",
        "|---|" + "---|---|---|" * len(checkouts),
    ]
    print("\n".join(lines), flush=True)

    def row(name: str) -> str:
        if registry.get(name).reference is None:
            return f"| {name} |" + " - | - | no registered reference |" * len(checkouts)
        cells = [f" {n if n is not None else 'none'} | {s:.1f} | {why} |"
                 for n, s, why in largest(checkouts, name, args.limit, args.max_n)]
        return f"| {name} |" + "".join(cells)

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        futures = {name: pool.submit(row, name) for name in names}
        for future in as_completed(futures.values()):
            print(future.result(), flush=True)  # in the order they finish; the file keeps the registry's order
    lines += [futures[name].result() for name in names]
    lines.append(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: done, load average {os.getloadavg()[0]:.1f} "
                 "at the end")
    print(lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
