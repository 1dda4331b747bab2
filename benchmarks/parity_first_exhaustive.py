"""Exhaustive verification of Chiang & Cholak's PARITY and FIRST transformers at length 20 (issue 9, item 1).

Every one of the 2^20 words of length 20 is run through the construction's own forward pass
(:meth:`Construction.answer_batch`, the readout-only pass of ``run_batch(keep_trace=False)`` without a result object
per word: torch float64, batches of 4096, one arithmetic reused so the weights are rendered once), and every
decision is compared with an independent label (PARITY: ``int.bit_count`` of the word's integer is odd; FIRST: its
top bit is 1; both are cross-checked against ``exactformer.languages.named`` DFAs on a sample). The same check is
timed the way the papers' own scripts run, one string per forward pass, on a spread sample, three ways (``run_batch``
with the full trace, ``run_batch(keep_trace=False)``, ``answer_batch``), and the fastest of the three is the
per-string baseline extrapolated to 2^20. The script prints strings per second and the ratio.

The issue asks for the sweep "on 2 CPU cores": with ``--workers 2`` (the default) the words are split into two
contiguous halves, each swept by its own process with one torch thread (each renders the weights once, before the
clock starts); the sweep's wall time runs from the moment both are ready to the moment the last one is done. The
per-string loop runs in one process, one word per forward pass, as the papers' scripts do. ``--workers 1`` sweeps in
this process alone (batching alone, without the second core).

Usage::

    python benchmarks/parity_first_exhaustive.py            # all 2^20 words, both constructions
    python benchmarks/parity_first_exhaustive.py --quick    # 2^13 words of length 20, 20 timed one by one
    python benchmarks/parity_first_exhaustive.py --workers 1   # the sweep in one process (batching alone)
    python benchmarks/parity_first_exhaustive.py --out benchmarks/results/parity_first_exhaustive.txt
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import queue
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exactformer.constructions.parity_first import first, parity  # noqa: E402
from exactformer.core.arith import TorchArithmetic  # noqa: E402
from exactformer.languages import named  # noqa: E402


def word(value: int, n: int) -> str:
    return format(value, f"0{n}b")


def label(name: str, value: int, n: int) -> bool:
    """The independent label of the word whose bits are ``value`` written in n binary digits."""
    if name == "parity":
        return value.bit_count() % 2 == 1
    return (value >> (n - 1)) & 1 == 1


def batched(c, name: str, n: int, lo: int, hi: int, batch: int, arith: TorchArithmetic) -> tuple[float, float, int]:
    """Wall and CPU seconds to decide the words ``lo .. hi - 1`` of length n in batches of ``batch`` through one
    arithmetic (so the weights are rendered once, by its first use), and the number of wrong decisions."""
    wrong = 0
    start, cpu = time.perf_counter(), time.process_time()
    for low in range(lo, hi, batch):
        values = range(low, min(low + batch, hi))
        answers = c.answer_batch([word(v, n) for v in values], arith=arith)
        wrong += sum(a != label(name, v, n) for v, a in zip(values, answers))
    return time.perf_counter() - start, time.process_time() - cpu, wrong


def _sweep_part(name: str, n: int, lo: int, hi: int, batch: int, ready, results) -> None:  # noqa: ANN001
    """A worker of :func:`parallel`: build the construction, render its weights, wait for the others, then decide
    the words ``lo .. hi - 1`` in batches and put ``(wall s, CPU s, wrong)`` on ``results``."""
    torch.set_num_threads(1)
    c = parity() if name == "parity" else first()
    arith = TorchArithmetic(torch.float64)
    c.answer_batch([word(lo, n)], arith=arith)  # renders the weights before the clock starts
    ready.wait()
    results.put(batched(c, name, n, lo, hi, batch, arith))


def parallel(name: str, n: int, count: int, batch: int, workers: int) -> tuple[float, float, int]:
    """Wall and total CPU seconds to decide ``count`` words of length n split into ``workers`` contiguous parts,
    each in its own process (one torch thread each), and the number of wrong decisions. The wall clock starts when
    every worker has built its model and rendered its weights."""
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Barrier(workers + 1), ctx.Queue()
    bounds = [count * k // workers for k in range(workers + 1)]
    procs = [
        ctx.Process(target=_sweep_part, args=(name, n, bounds[k], bounds[k + 1], batch, ready, results))
        for k in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:  # a worker that dies before the barrier or before its result must not leave the parent waiting forever
        ready.wait(timeout=600)
        start = time.perf_counter()
        parts = [results.get(timeout=3600) for _ in procs]
    except (threading.BrokenBarrierError, queue.Empty):
        for proc in procs:
            proc.terminate()
        raise SystemExit("a sweep worker did not report (see its traceback above)") from None
    seconds = time.perf_counter() - start
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a sweep worker exited with code {proc.exitcode}")
    return seconds, sum(cpu for _, cpu, _ in parts), sum(wrong for _, _, wrong in parts)


def per_string(c, name: str, n: int, sample: int, mode: str) -> tuple[float, float, int]:
    """Wall and CPU seconds per word when each word gets its own forward pass (the authors' scripts), on a spread
    sample, and the number of wrong decisions. ``mode``: ``"trace"`` (``run_batch`` with the full trace), ``"lean"``
    (``run_batch(keep_trace=False)``) or ``"answer"`` (``answer_batch``)."""
    step = max(1, (1 << n) // sample)
    values = list(range(0, 1 << n, step))[:sample]
    wrong = 0
    arith = TorchArithmetic(torch.float64)  # reused, so the weights are rendered once, as a torch module would

    def decide(w: str) -> object:
        if mode == "answer":
            return c.answer_batch([w], arith=arith)[0]
        return c.run_batch([w], arith=arith, keep_trace=mode == "trace")[0].answer

    decide(word(values[0], n))  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    for v in values:
        wrong += decide(word(v, n)) != label(name, v, n)
    return (time.perf_counter() - start) / len(values), (time.process_time() - cpu) / len(values), wrong


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20, help="word length (default 20)")
    p.add_argument("--count", type=int, default=None, help="words to check (default: all 2^n)")
    p.add_argument("--batch", type=int, default=1 << 12, help="words per forward pass (default 4096)")
    p.add_argument("--loop-sample", type=int, default=600, help="words timed one by one, per way")
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (on a shared 2-core machine, more threads thrash)"
    )
    p.add_argument(
        "--workers", type=int, default=2, help="processes sharing the sweep, one thread each (default 2: 2 cores)"
    )
    p.add_argument("--quick", action="store_true", help="2^13 words, 20 timed one by one")
    p.add_argument("--out", type=Path, default=None, help="also write the output here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.count, args.loop_sample = args.count or 1 << 13, 20
    count = args.count or 1 << args.n
    lines = [
        f"# Chiang & Cholak PARITY / FIRST: exhaustive check of words of length {args.n} "
        f"({count} of {1 << args.n} words), torch float64",
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, torch {torch.__version__}, "
        f"{args.workers} sweep process(es) of {torch.get_num_threads()} thread(s), the loop in one process, "
        f"batch {args.batch}, load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs at the start",
        "| construction | words | wrong | batched s (CPU s) | batched words/s | loop s/word (full trace, "
        "no trace, answer only) | loop words/s | loop extrapolated s | ratio (wall) | ratio (CPU time) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for name, c, dfa in (("parity", parity(), named.parity()), ("first", first(), named.first())):
        sample = [v for v in range(0, 1 << args.n, max(1, (1 << args.n) // 512))]
        disagree = [v for v in sample if dfa.accepts(word(v, args.n)) != label(name, v, args.n)]
        if disagree:
            raise SystemExit(f"the bit-count label disagrees with the DFA on {word(disagree[0], args.n)}")
        if args.workers > 1:
            seconds, cpu, wrong = parallel(name, args.n, count, args.batch, args.workers)
        else:
            seconds, cpu, wrong = batched(c, name, args.n, 0, count, args.batch, TorchArithmetic(torch.float64))
        loops = {mode: per_string(c, name, args.n, args.loop_sample, mode) for mode in ("trace", "lean", "answer")}
        loop = min(wall for wall, _, _ in loops.values())  # the fastest loop is the baseline
        loop_cpu = min(cpu_s for _, cpu_s, _ in loops.values())
        wrong += sum(bad for _, _, bad in loops.values())
        rate = count / seconds
        walls = ", ".join(f"{wall:.4f}" for wall, _, _ in loops.values())
        row = (
            f"| {name} | {count} | {wrong} | {seconds:.1f} ({cpu:.1f}) | {rate:,.0f} | "
            f"{walls} | {1 / loop:,.0f} | {loop * count:,.0f} | {rate * loop:,.0f}x | "
            f"{loop_cpu * count / cpu:,.0f}x |"
        )
        lines.append(row)
        print(row, flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
