"""CPU seconds of ``exactformer.verify.check`` on the Post and Turing machines (issue 22, [T2-3] item 2: the KV cache),
or on any registered construction named with ``--only``.

Each machine check decodes the reference's whole corpus with the KV-cached decoder (torch float64, one thread), so
its time is mostly decoding steps over a window of ``n`` tokens. Sizes as in ``largest_n_in_60s.py``: post-machine
``ring_length = n``, turing-machine ``tape_length = n + 1``, any other construction its default build checked at
length ``n`` (200 samples). Each check runs in its own process (fresh caches), and prints wall and CPU seconds; on
a shared machine read the CPU seconds. ``side_by_side.py`` runs this script in two checkouts.

Usage::

    python benchmarks/machine_check.py                 # n = 128 and 512
    python benchmarks/machine_check.py --sizes 1024
    python benchmarks/machine_check.py --checkout /tmp/base   # the same checks of another checkout's code
    python benchmarks/machine_check.py --only log-depth-a5 --sizes 512 1024
    python benchmarks/machine_check.py --quick         # n = 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time, torch
torch.set_num_threads(1)
from exactformer.constructions import registry
from exactformer.verify import check
name, n = sys.argv[1], int(sys.argv[2])
options = {"post-machine": {"ring_length": n}, "turing-machine": {"tape_length": n + 1}}.get(name, {})
entry = registry.get(name)
c = entry.builder(**{**entry.options, **options})
ref = entry.reference(c)
start, cpu = time.perf_counter(), time.process_time()
report = check(c, ref, lengths=[n], dtype=torch.float64)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "tested": report.tested, "passed": bool(report.passed)}))
"""


def run(name: str, n: int, checkout: Path = ROOT) -> dict:
    """One check in a fresh process importing ``checkout``'s package."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", CHILD, name, str(n)], capture_output=True, text=True, env=env,
                          cwd=checkout, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{name} at n = {n} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    p.add_argument("--only", nargs="+", default=["post-machine", "turing-machine"])
    p.add_argument("--checkout", type=Path, default=ROOT,
                   help="the checkout whose package the checks import (default: this one; e.g. a worktree of main)")
    p.add_argument("--quick", action="store_true", help="n = 8 only")
    args = p.parse_args(argv)
    sizes = [8] if args.quick else args.sizes
    print(f"# check() of {', '.join(args.only)}, torch float64, one thread; load average {os.getloadavg()[0]:.1f} at "
          "the start")
    print("| construction | n | inputs | passed | wall s | CPU s |")
    print("|---|---|---|---|---|---|")
    for name in args.only:
        for n in sizes:
            r = run(name, n, args.checkout)
            print(f"| {name} | {n} | {r['tested']} | {r['passed']} | {r['seconds']:.2f} | {r['cpu']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
