"""Run every benchmark in two checkouts, interleaved, and compare: is this change as fast as the code it replaces?

A refactoring must not slow anything down, and on a shared machine the only fair comparison is one run that
alternates the two versions. For each benchmark script (its ``--quick`` mode by default), this runs it ``--repeat``
times in each checkout, alternating base and head, each in a fresh process from that checkout's root (so each
imports its own ``exactformer``), and prints per benchmark the median wall-clock time of each and their ratio, then
every number the benchmark printed whose median over the runs differs between the two (a timing printed by the
benchmark itself, e.g. words per second, with its ratio). A figure that is the same code on both sides (a
reference simulator's speed) shows how much the load moved the comparison.

Usage::

    git worktree add /tmp/base <REV>                                 # the code to compare against
    python benchmarks/side_by_side.py --base /tmp/base               # every benchmark, --quick, 3 runs each
    python benchmarks/side_by_side.py --base /tmp/base --only parity_first_exhaustive,post_machine_speed --full
    python benchmarks/side_by_side.py --quick      # this checkout against itself, one benchmark, once (the test)

Wall time includes starting Python and importing torch (about 2 s here), which dilutes a quick mode's difference;
the per-figure ratios do not.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


def run_once(checkout: Path, script: str, args: list[str], timeout: float) -> tuple[float, str]:
    """Wall seconds and stdout of one run of ``benchmarks/<script>`` from ``checkout``'s root, importing that
    checkout's ``exactformer``."""
    # a script's own folder, not the checkout, heads sys.path: PYTHONPATH makes it import this checkout's package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=checkout, capture_output=True,
                          text=True, timeout=timeout, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed in {checkout}:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def numbers(text: str) -> list[float]:
    return [float(m.group().replace(",", "")) for m in NUMBER.finditer(text)]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def figure_medians(outputs: list[str]) -> dict[tuple[int, str], list[float]]:
    """Per output line (its index and its words, numbers masked), the median of each number over the runs whose
    line has the same words."""
    rows: dict[tuple[int, str], list[list[float]]] = {}
    for text in outputs:
        for k, line in enumerate(text.splitlines()):
            rows.setdefault((k, NUMBER.sub("#", line).strip()), []).append(numbers(line))
    return {key: [median(list(column)) for column in zip(*runs)] for key, runs in rows.items()
            if len({len(r) for r in runs}) == 1}


def differing_figures(base: list[str], head: list[str]) -> list[tuple[str, float, float]]:
    """Lines printed by both sides with the same words, and each number whose median differs between them."""
    b, h = figure_medians(base), figure_medians(head)
    out = []
    for key in sorted(set(b) & set(h)):
        for x, y in zip(b[key], h[key]):
            if x != y:
                out.append((key[1][:70], x, y))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="the checkout to compare against")
    parser.add_argument("--head", type=Path, default=HERE.parent, help="the checkout under test (this one)")
    parser.add_argument("--only", default="", help="comma-separated script names (without .py)")
    parser.add_argument("--skip", default="side_by_side", help="comma-separated script names to leave out")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="run the scripts' full modes instead of --quick")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--quick", action="store_true", help="without --base: this checkout against itself, "
                        "post_machine_speed --quick once (shows the run-to-run noise)")
    args = parser.parse_args()
    if args.base is None:
        if not args.quick:
            parser.error("--base is required (or --quick for a self-comparison)")
        args.base, args.only, args.repeat = args.head, "post_machine_speed", 1
    skip = set(args.skip.split(","))
    only = {s for s in args.only.split(",") if s}
    scripts = [p.name for p in sorted((args.head / "benchmarks").glob("*.py"))
               if p.stem not in skip and (not only or p.stem in only)]
    extra = [] if args.full else ["--quick"]
    print(f"{'benchmark':28} {'base s':>8} {'head s':>8} {'head/base':>9}   (medians)")
    for script in scripts:
        runs: dict[str, list[tuple[float, str]]] = {"base": [], "head": []}
        for _ in range(args.repeat):
            for side, checkout in (("base", args.base), ("head", args.head)):
                runs[side].append(run_once(checkout, script, extra, args.timeout))
        b, h = (median([seconds for seconds, _ in runs[side]]) for side in ("base", "head"))
        print(f"{script[:-3]:28} {b:8.2f} {h:8.2f} {h / b:9.3f}", flush=True)
        outputs = {side: [text for _, text in runs[side]] for side in runs}
        for label, x, y in differing_figures(outputs["base"], outputs["head"]):
            ratio = f"{y / x:.3f}" if x else "-"
            print(f"    {label:70} {x:>12g} -> {y:<12g} ({ratio})")


if __name__ == "__main__":
    main()
