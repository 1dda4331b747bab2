"""The tensor path of ``exactformer.verify.check`` (issue 22): words per second, and its time against the reference
DFA's alone, side by side with another checkout's ``check`` in the same run.

1. **Sweeps.** All 2^20 words of length 20 through ``check(parity(), named.parity(), lengths=[20],
   exhaustive_up_to=2**20, path="tensor")`` and the same for FIRST: every answer is compared with the DFA's (the
   report's ``passed`` count), and the DFA's answers over the 2^20 words are compared with independent labels (the
   bit count's parity; the top bit). Torch float64, ``--threads`` threads (2: the 2 CPU cores).
2. **Against the reference alone.** The same run times the reference DFA by itself over the same words (a numpy
   table gather per symbol, :class:`~exactformer.verify.tensor_inputs.TransitionTable`) and prints check / DFA.
   The DFA recognizers are measured the same way at ``--recognizer-n`` (200 uniform accepted/rejected words).
3. **Side by side.** With ``--base CHECKOUT``, that checkout's ``check`` (the general path of today's code) runs in a
   subprocess on words of the same size: ``--base-words`` sampled words of length 20 for PARITY / FIRST (the full
   2^20 would take tens of minutes there), the same recognizer sizes; its words per second and its ratio to the
   DFA's time over as many words are printed beside ours.

Usage::

    git -C /work/main worktree add /tmp/base-tensor b6a1b6b
    python benchmarks/tensor_check.py --base /tmp/base-tensor --out benchmarks/results/tensor_check.txt
    python benchmarks/tensor_check.py --quick        # 2^12 words, recognizers at n = 4, no base
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exactformer.constructions import registry  # noqa: E402
from exactformer.verify import check  # noqa: E402
from exactformer.verify.reference import as_reference  # noqa: E402
from exactformer.verify.tensor_inputs import exhaustive_words  # noqa: E402

RECOGNIZERS = ("log-depth-parity", "log-depth-a5", "log-depth-paper-parity", "pointer-jumping-parity",
               "pointer-jumping-a5")

BASE_CHILD = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[4]))
from exactformer.constructions import registry
from exactformer.verify import check
name, n, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
entry = registry.get(name)
c = registry.build(name)
ref = entry.reference(c)
check(c, ref, lengths=[2], samples_per_length=4)  # warm-up: imports, first renders
start, cpu = time.perf_counter(), time.process_time()
report = check(c, ref, lengths=[n], samples_per_length=count, exhaustive_up_to=0)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "tested": report.tested,
                  "passed": bool(report.passed)}))
"""


def independent_labels(name: str, words: np.ndarray) -> np.ndarray:
    """PARITY: an odd number of 1s; FIRST: the first bit is 1 (from the bits alone, not from a DFA)."""
    return words.sum(axis=1) % 2 == 1 if name == "parity" else words[:, 0] == 1


def dfa_seconds(ref, words: np.ndarray, repeat: int = 3) -> tuple[float, float]:
    """The best of ``repeat`` timings (wall s, CPU s) of the reference DFA alone over ``words`` (numpy table
    gathers)."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        ref.table.accepts(words)
        best, best_cpu = min(best, time.perf_counter() - start), min(best_cpu, time.process_time() - cpu)
    return best, best_cpu


def timed(fn):  # noqa: ANN001, ANN201
    """``(fn(), wall seconds, CPU seconds)``."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def base_run(base: Path, name: str, n: int, count: int, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(base)}
    done = subprocess.run([sys.executable, "-c", BASE_CHILD, name, str(n), str(count), str(threads)], cwd=base,
                          capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"the base run of {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def sweep(name: str, n: int, batch: int) -> tuple[float, float, int, int, tuple[float, float]]:
    """(check wall s, check CPU s, words tested, words passed, DFA wall and CPU s) of all 2^n words through the
    tensor path."""
    entry = registry.get(name)
    c = registry.build(name)
    ref = as_reference(entry.reference(c))
    check(c, ref, lengths=[2], path="tensor")  # warm-up
    words = exhaustive_words(2, n)
    labels = independent_labels(name, words)
    if not np.array_equal(ref.table.accepts(words), labels):
        raise SystemExit(f"the DFA disagrees with the independent {name} labels")
    report, seconds, cpu = timed(lambda: check(c, ref, lengths=[n], exhaustive_up_to=1 << n, batch_size=batch,
                                                path="tensor"))
    lr = report.lengths[0]
    return seconds, cpu, lr.tested, lr.passed, dfa_seconds(ref, words)


def recognizer(name: str, n: int, samples: int) -> tuple[float, float, int, bool, tuple[float, float]]:
    """(check wall s, check CPU s, words, passed, DFA wall and CPU s over the same words) at size n, tensor path."""
    entry = registry.get(name)
    c = registry.build(name)
    ref = as_reference(entry.reference(c))
    check(c, ref, lengths=[2], samples_per_length=4, path="tensor")  # warm-up
    words, _ = ref.word_indices(n, count=samples, exhaustive_limit=4096, rng=random.Random(f"0:{n}"))
    report, seconds, cpu = timed(lambda: check(c, ref, lengths=[n], samples_per_length=samples, path="tensor"))
    return seconds, cpu, report.tested, report.passed, dfa_seconds(ref, words)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20, help="PARITY / FIRST word length (default 20: 2^20 words)")
    p.add_argument("--batch", type=int, default=1 << 15,
                   help="check's batch_size in the sweeps (its forward passes take at most RESIDUAL_BUDGET bytes)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the 2 CPU cores)")
    p.add_argument("--recognizer-n", type=int, default=16,
                   help="size of the recognizer checks (200 words; 0: the sweeps only)")
    p.add_argument("--base", type=Path, default=None, help="a checkout of the code to compare with")
    p.add_argument("--base-words", type=int, default=8192, help="words of length n the base checks")
    p.add_argument("--quick", action="store_true", help="2^12 words, recognizers at n = 4, no base")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.recognizer_n, args.base = 12, 4, None
    torch.set_num_threads(args.threads)
    lines = [
        f"# check's tensor path against the reference DFA alone, torch float64, {args.threads} thread(s)",
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, torch {torch.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start"
        + (f"; base: {args.base}" if args.base else ""),
        "| check | words | passed | tensor path s (CPU s) | words/s (per CPU s) | DFA alone s (CPU s) | check / DFA "
        "(CPU) | base words | base s (CPU s) | base words/s (per CPU s) | base check / DFA (CPU) | speed-up (CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    rows = []
    for name in ("parity", "first"):
        seconds, cpu, tested, passed, dfa = sweep(name, args.n, args.batch)
        rows.append((f"{name}, all 2^{args.n}", name, args.n, tested, passed, seconds, cpu, dfa, args.base_words))
    for name in RECOGNIZERS if args.recognizer_n > 0 else ():
        seconds, cpu, tested, passed, dfa = recognizer(name, args.recognizer_n, 200)
        rows.append((f"{name}, n = {args.recognizer_n}", name, args.recognizer_n, tested, tested if passed else 0,
                     seconds, cpu, dfa, 200))
    for label, name, n, tested, passed, seconds, cpu, (dfa, dfa_cpu), base_words in rows:
        rate, cpu_rate = tested / seconds, tested / cpu
        dfa_cpu = max(dfa_cpu, 1e-6)  # the CPU clock's resolution
        row = (f"| {label} | {tested:,} | {passed:,} | {seconds:.3f} ({cpu:.3f}) | {rate:,.0f} ({cpu_rate:,.0f}) | "
               f"{dfa:.4f} ({dfa_cpu:.4f}) | {seconds / dfa:,.1f}x ({cpu / dfa_cpu:,.1f}x) |")
        if args.base:
            b = base_run(args.base, name, n, base_words, args.threads)
            base_rate, base_cpu_rate = b["tested"] / b["seconds"], b["tested"] / b["cpu"]
            # the base's time for as many words as ours, over the DFA's
            ratio, cpu_ratio = (tested / base_rate) / dfa, (tested / base_cpu_rate) / dfa_cpu
            row += (f" {b['tested']:,} | {b['seconds']:.2f} ({b['cpu']:.2f}) | {base_rate:,.0f} ({base_cpu_rate:,.0f})"
                    f" | {ratio:,.0f}x ({cpu_ratio:,.0f}x) | {rate / base_rate:,.1f}x "
                    f"({cpu_rate / base_cpu_rate:,.1f}x) |")
        else:
            row += " - | - | - | - | - |"
        print(row, flush=True)
        lines.append(row)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
