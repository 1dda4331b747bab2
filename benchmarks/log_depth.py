"""Log-depth recognizers: tokens per second and peak memory at n = 256, 1024, 4096 (float64), issue 9 item 2.

Runs the pointer-jumping recognizer (``exactformer.constructions.pointer_jumping``) on PARITY (a 2-element monoid,
d_model 15) and on the A5 word problem (|M| = 60, d_model 247, 3,604 MLP units) in torch float64 with
``torch.set_num_threads(--threads)`` (default 1), and reports the peak resident-memory growth of one forward pass
for two attention chunk sizes of ``TorchArithmetic`` (queries per attention block), to check that attention memory
is O(n * chunk) rather than O(n^2). Every answer is checked against ``DFA.accepts``.

Usage::

    python benchmarks/log_depth.py --quick          # n = 256 on PARITY and on A5
    python benchmarks/log_depth.py                  # n = 256, 1024, 4096 on both; save to benchmarks/results/
"""

from __future__ import annotations

import argparse
import platform
import random
import resource
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
import torch

from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.core.arith import TorchArithmetic
from exactformer.core.runners import classify
from exactformer.languages import named


class PeakRSS:
    """Sample the process's resident memory every 2 ms; ``peak - start`` is the pass's memory growth."""

    def __enter__(self) -> PeakRSS:
        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self.stop = False
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def bench(name: str, dfa, n: int, batch: int, chunk: int, device: str) -> dict:
    c = pointer_jumping_recognizer(dfa)
    rng = random.Random(n)
    words = [dfa.sample(n, accepted=bool(k % 2), rng=rng) for k in range(batch)]
    arith = TorchArithmetic(dtype=torch.float64, device=device, chunk=chunk)
    seqs = [c.encode(w) for w in words]
    classify(c.model, [seqs[0][: min(len(seqs[0]), 17)]], arith)  # warm the weight cache
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = classify(c.model, seqs, arith)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    ok = all(bool(label) == dfa.accepts(w) for label, w in zip(out.labels, words))
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")
    del out
    return {
        "language": name,
        "n": n,
        "batch": batch,
        "chunk": chunk,
        "layers": c.resources(n).layers,
        "d_model": c.model.d_model,
        "d_mlp": c.resources(n).d_mlp,
        "seconds": seconds,
        "tokens_per_s": batch * (n + 1) / seconds,
        "rss_growth_mb": mem.growth_mb,
        "gpu_peak_mb": gpu_mb,
        "correct": ok,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = [("parity", named.parity(), n, 4) for n in (256, 1024, 4096)]
    plan += [("A5", named.word_problem("A5"), n, 1) for n in (256, 1024, 4096)]
    if args.quick:
        plan = [x for x in plan if x[2] == 256]
    chunks = (64, 1024)
    lines = [
        f"# log-depth pointer-jumping benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"# machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {args.threads}, device {args.device}, float64",
        f"{'language':8} {'n':>5} {'batch':>5} {'layers':>6} {'d_model':>7} {'d_mlp':>6} {'chunk':>5} "
        f"{'seconds':>8} {'tokens/s':>10} {'peak RSS +MB':>12} {'GPU peak MB':>11} correct",
    ]
    print("\n".join(lines), flush=True)
    for name, dfa, n, batch in plan:
        for chunk in chunks:
            r = bench(name, dfa, n, batch, chunk, args.device)
            line = (
                f"{name:8} {n:>5} {batch:>5} {r['layers']:>6} {r['d_model']:>7} {r['d_mlp']:>6} {chunk:>5} "
                f"{r['seconds']:>8.2f} {r['tokens_per_s']:>10.0f} {r['rss_growth_mb']:>12.1f} "
                f"{r['gpu_peak_mb']:>11.1f} {r['correct']}"
            )
            print(line, flush=True)
            lines.append(line)
    lines.append(f"# max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(lines[-1])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
