"""Exact verification, FLINT against the Fraction evaluator it replaced, side by side in one run (issue 22, item 3).

For each case, ``exactformer.verify.check(..., backend="exact")`` runs in a fresh subprocess from this checkout and
from ``--base`` (a checkout of the code before, e.g. ``git worktree add /tmp/base-flint b6a1b6b``), alternating, each
importing its own package; the table gives the CPU seconds of the check itself (``time.process_time`` of the child,
one torch thread; not the import or the build, so the load of the machine changes them less than wall time), whether
it passed, and the ratio base / this. Both must pass: the exact results are the same rationals (the tests compare
them entry by entry), so only the time differs.

Usage::

    python benchmarks/exact_speed.py --base /tmp/base-flint --out benchmarks/results/exact_speed.txt
    python benchmarks/exact_speed.py --quick          # small cases, this checkout only (the test)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (construction, size, builder options, inputs per size, exhaustive up to): small enough for the Fraction evaluator
# (log-depth-a5 through its dense 253 x 7,388 composition MLP: about a minute per input of length 1 on it)
CASES = [
    ("log-depth-a5", 1, {}, 2, 0),
    ("connectivity", 4, {}, 4, 0),
    ("connectivity", 8, {}, 2, 0),
    ("pointer-jumping-a5", 2, {}, 4, 0),
    ("log-depth-parity", 16, {}, 4, 0),
    # sinusoidal positions and an L2 norm: the exact evaluator refuses it (IrrationalOperation), before and after
    ("superposition", 4, {"max_nodes": 4, "max_edges": 12}, 2, 0),
]
QUICK = [
    ("connectivity", 2, {}, 2, 0),
    ("log-depth-parity", 4, {}, 2, 0),
]

CHILD = """
import json, sys, time
import torch
torch.set_num_threads(1)
from exactformer.constructions import registry
from exactformer.verify import check
name, n, options, samples, exhaustive = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5])
construction = registry.build(name, **options)
reference = registry.get(name).reference(construction)
start, wall = time.process_time(), time.perf_counter()
report = check(construction, reference, lengths=[n], backend="exact", samples_per_length=samples,
               exhaustive_up_to=exhaustive)
print(json.dumps({"passed": bool(report.passed), "seconds": time.process_time() - start,
                  "wall": time.perf_counter() - wall}))
"""


def run_case(checkout: Path, case: tuple, timeout: float) -> tuple[str, float]:
    """``(status, CPU seconds of the check)`` of one case in a fresh process importing ``checkout``'s package."""
    name, n, options, samples, exhaustive = case
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, name, str(n), json.dumps(options), str(samples),
                               str(exhaustive)], cwd=checkout, capture_output=True, text=True, timeout=timeout,
                              env=env)
    except subprocess.TimeoutExpired:
        return "timeout", float("nan")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return ("irrational: refused" if "IrrationalOperation" in last else "error: " + last[:60]), float("nan")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return ("passed" if result["passed"] else "FAILED"), result["seconds"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, default=None, help="checkout of the code to compare with")
    p.add_argument("--repeat", type=int, default=1, help="runs per case and checkout (median reported)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per run before it counts as a timeout")
    p.add_argument("--only", nargs="*", default=None, help="construction names, or NAME:n for one size")
    p.add_argument("--quick", action="store_true", help="two small cases, this checkout only unless --base")
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)
    cases = QUICK if args.quick else CASES
    if args.only:
        cases = [c for c in cases if c[0] in args.only or f"{c[0]}:{c[1]}" in args.only]
    lines = [
        "# exact check (exactformer.verify.check, backend='exact'): CPU seconds of the check (process time of the "
        "child), median of "
        f"{args.repeat} run(s) per checkout, alternating",
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start; base: {args.base or '-'}",
        "| construction | n | inputs | base s | this s | base / this | status (base, this) |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for case in cases:
        base_runs: list[tuple[str, float]] = []
        head_runs: list[tuple[str, float]] = []
        for _ in range(args.repeat):
            if args.base is not None:
                base_runs.append(run_case(args.base, case, args.timeout))
            head_runs.append(run_case(ROOT, case, args.timeout))
        head = statistics.median(s for _, s in head_runs)
        base = statistics.median(s for _, s in base_runs) if base_runs else float("nan")
        ratio = f"{base / head:.1f}x" if base_runs and head == head else "-"
        status = f"{base_runs[0][0] if base_runs else '-'}, {head_runs[0][0]}"
        row = f"| {case[0]} | {case[1]} | {case[3]} | {base:.2f} | {head:.2f} | {ratio} | {status} |"
        print(row, flush=True)
        lines.append(row)
    end = f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: done, load average {os.getloadavg()[0]:.1f} at the end"
    print(end)
    lines.append(end)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
