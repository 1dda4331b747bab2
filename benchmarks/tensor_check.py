"""The tensor path of ``exactformer.verify.check`` (issue 22): words per second, and its time against the reference
DFA's alone, side by side with another checkout's ``check`` in the same run.

1. **Sweeps.** All 2^20 words of length 20 through ``check(parity(), named.parity(), lengths=[20],
   exhaustive_up_to=2**20, path="tensor")`` and the same for FIRST: every answer is compared with the DFA's (the
   report's ``passed`` count), and the DFA's answers over the 2^20 words are compared with independent labels (the
   bit count's parity; the top bit). Torch float64, ``--threads`` threads (2: the 2 CPU cores).
2. **Against the reference alone.** The same run times the reference DFA by itself over the same words (a numpy
   table gather per symbol, :class:`~exactformer.verify.tensor_inputs.TransitionTable`) and prints check / DFA.
   The words are a byte a symbol, as ``check`` holds them; the same gathers over the words as int64 (the tables
   before 2026-12-07 held them so, and the DFA alone took ~3x as long) are timed beside them.
   The DFA recognizers are measured the same way at ``--recognizer-n`` (200 uniform accepted/rejected words).
3. **Side by side.** With ``--base CHECKOUT``, that checkout's ``check`` (the general path of today's code) runs in a
   subprocess on words of the same size: ``--base-words`` sampled words of length 20 for PARITY / FIRST (the full
   2^20 would take tens of minutes there), the same recognizer sizes; its words per second and its ratio to the
   DFA's time over as many words are printed beside ours.

4. **On a device, against its bounds** (item 4, when a GPU is lent): ``--device cuda`` runs every check there (the
   DFA alone stays numpy on the CPU, the baseline the ratio names), and ``--peak-tflops`` / ``--bandwidth-tbs`` (the
   device's float64 matmul peak and memory bandwidth) add a table that gives each row's work as a fraction of those
   bounds: the dense flops of the forward pass (:func:`forward_flops`: every projection, score and weighted sum as
   a dense product, what the model asks of the device whatever this library skips) and the bytes of the residual
   stream each sublayer reads and writes (:func:`stream_bytes`), per second, over the peak (a fraction over 100% is
   work the sparse and gather paths skip). ``--measure-bounds`` measures the two bounds on the device instead (a
   square matmul in the dtype and a large copy, best of 3: :func:`measured_bounds`). ``benchmarks/device_run.sh``
   is the prepared device script.

Usage::

    git -C /work/main worktree add /tmp/base-tensor b6a1b6b
    python benchmarks/tensor_check.py --base /tmp/base-tensor --out benchmarks/results/tensor_check.txt
    python benchmarks/tensor_check.py --quick        # 2^12 words, recognizers at n = 4, no base
    python benchmarks/tensor_check.py --device cuda --threads 16 --peak-tflops 57 --bandwidth-tbs 4.3
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
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exactformer.constructions import registry  # noqa: E402
from exactformer.core.batch_encoding import batch_of  # noqa: E402
from exactformer.core.weights import forward_bytes  # noqa: E402
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


def forward_flops(construction, n_tokens: int) -> int:  # noqa: ANN001
    """Dense flops of one forward pass over ``n_tokens`` tokens: per attention sublayer the query, key and value
    projections, the ``n^2`` scores and weighted sums of every head and the output projection; per MLP its two
    products (2 flops a multiply-add; norms, softmax and biases left out)."""
    total = 0
    for _, layer in construction.model.named_layers(n_tokens):
        for _, sub in layer.sublayers():
            block = sub.block
            if hasattr(block, "W_Q"):
                heads, d, d_head = np.shape(block.W_Q)
                d_value = np.shape(block.W_V)[2]
                total += 2 * n_tokens * d * heads * (2 * d_head + d_value)  # q, k, v
                total += 2 * heads * n_tokens * n_tokens * (d_head + d_value)  # scores, weights @ values
                total += 2 * n_tokens * heads * d_value * d  # W_O
            else:
                d, d_mlp = np.shape(block.W_in)
                total += 2 * 2 * n_tokens * d * d_mlp
    return total


def measured_bounds(device: str, dtype: torch.dtype, size: int = 8192, copy_bytes: int = 1 << 30,
                    ) -> tuple[float, float]:
    """(TFLOP/s of a ``size x size`` matmul in ``dtype``, TB/s of copying ``copy_bytes``: read and write) on
    ``device``, the best of 3 runs after a warm-up."""
    def best(fn) -> float:  # noqa: ANN001
        fn()
        times = []
        for _ in range(3):
            if str(device).startswith("cuda"):
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if str(device).startswith("cuda"):
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
        return min(times)

    a = torch.rand((size, size), dtype=dtype, device=device)
    b = torch.rand((size, size), dtype=dtype, device=device)
    tflops = 2 * size**3 / best(lambda: a @ b) / 1e12
    src = torch.empty(copy_bytes // 8, dtype=torch.float64, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    tbs = 2 * copy_bytes / best(lambda: dst.copy_(src)) / 1e12
    return tflops, tbs


def stream_bytes(construction, n_tokens: int, itemsize: int) -> int:  # noqa: ANN001
    """Bytes of the residual stream one forward pass moves: each stream it writes (the embedding's and every
    sublayer's, :func:`~exactformer.core.weights.forward_bytes`) is also read once, by the next sublayer or the
    readout (the least a pass that keeps no sublayer in registers moves)."""
    return 2 * forward_bytes(construction.model, 1, n_tokens, itemsize)


def independent_labels(name: str, words: np.ndarray) -> np.ndarray:
    """PARITY: an odd number of 1s; FIRST: the first bit is 1 (from the bits alone, not from a DFA)."""
    return words.sum(axis=1) % 2 == 1 if name == "parity" else words[:, 0] == 1


def dfa_seconds(ref, words: np.ndarray, repeat: int = 3) -> tuple[float, float, float]:
    """The best of ``repeat`` timings (wall s, CPU s) of the reference DFA alone over ``words`` (numpy table
    gathers, over the words as ``check`` holds them: a byte a symbol), and the best wall s over the same words as
    int64 (the representation of the tables before 2026-12-07, whose gathers read 8 times the bytes)."""
    best, best_cpu, best_wide = float("inf"), float("inf"), float("inf")
    wide = words.astype(np.int64)
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        ref.table.accepts(words)
        best, best_cpu = min(best, time.perf_counter() - start), min(best_cpu, time.process_time() - cpu)
        start = time.perf_counter()
        ref.table.accepts(wide)
        best_wide = min(best_wide, time.perf_counter() - start)
    return best, best_cpu, best_wide


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


def sweep(name: str, n: int, batch: int, device: str = "cpu", dtype: torch.dtype = torch.float64,
          ) -> tuple[float, float, int, int, tuple[float, float, float], Any]:
    """(check wall s, check CPU s, words tested, words passed, :func:`dfa_seconds`, the construction) of all 2^n
    words through the tensor path."""
    entry = registry.get(name)
    c = registry.build(name)
    ref = as_reference(entry.reference(c))
    check(c, ref, lengths=[2], path="tensor", device=device, dtype=dtype)  # warm-up
    words = exhaustive_words(2, n)
    labels = independent_labels(name, words)
    if not np.array_equal(ref.table.accepts(words), labels):
        raise SystemExit(f"the DFA disagrees with the independent {name} labels")
    report, seconds, cpu = timed(lambda: check(c, ref, lengths=[n], exhaustive_up_to=1 << n, batch_size=batch,
                                                path="tensor", device=device, dtype=dtype))
    lr = report.lengths[0]
    return seconds, cpu, lr.tested, lr.passed, dfa_seconds(ref, words), c


def recognizer(name: str, n: int, samples: int, device: str = "cpu", dtype: torch.dtype = torch.float64,
               ) -> tuple[float, float, int, bool, tuple[float, float, float], Any]:
    """(check wall s, check CPU s, words, passed, :func:`dfa_seconds` over the same words, the construction) at
    size n, tensor path."""
    entry = registry.get(name)
    c = registry.build(name)
    ref = as_reference(entry.reference(c))
    check(c, ref, lengths=[2], samples_per_length=4, path="tensor", device=device, dtype=dtype)  # warm-up
    words, _ = ref.word_indices(n, count=samples, exhaustive_limit=4096, rng=random.Random(f"0:{n}"))
    report, seconds, cpu = timed(lambda: check(c, ref, lengths=[n], samples_per_length=samples, path="tensor",
                                                device=device, dtype=dtype))
    return seconds, cpu, report.tested, report.passed, dfa_seconds(ref, words), c


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
    p.add_argument("--device", default="cpu", help="where the checks run (cuda: a GPU); the DFA alone stays numpy")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="the device's matmul peak in the dtype (TFLOP/s): adds the table of fractions of the bounds")
    p.add_argument("--bandwidth-tbs", type=float, default=None, help="the device's memory bandwidth (TB/s)")
    p.add_argument("--measure-bounds", action="store_true",
                   help="measure the peak and the bandwidth on the device (a matmul and a copy) and add the table")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.recognizer_n, args.base = 12, 4, None
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    device_name = torch.cuda.get_device_name(args.device) if str(args.device).startswith("cuda") else "CPU"
    lines = [
        f"# check's tensor path against the reference DFA alone, torch {args.dtype} on {args.device} ({device_name}), "
        f"{args.threads} thread(s)",
        f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, torch {torch.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start"
        + (f"; base: {args.base}" if args.base else ""),
        "| check | words | passed | tensor path s (CPU s) | words/s (per CPU s) | DFA alone s (CPU s) | check / DFA "
        "(CPU) | DFA over int64 words s | check / it | base words | base s (CPU s) | base words/s (per CPU s) | "
        "base check / DFA (CPU) | speed-up (CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    rows = []
    built = {}
    for name in ("parity", "first"):
        seconds, cpu, tested, passed, dfa, built[name] = sweep(name, args.n, args.batch, args.device, dtype)
        rows.append((f"{name}, all 2^{args.n}", name, args.n, tested, passed, seconds, cpu, dfa, args.base_words))
    for name in RECOGNIZERS if args.recognizer_n > 0 else ():
        seconds, cpu, tested, passed, dfa, built[name] = recognizer(name, args.recognizer_n, 200, args.device, dtype)
        rows.append((f"{name}, n = {args.recognizer_n}", name, args.recognizer_n, tested, tested if passed else 0,
                     seconds, cpu, dfa, 200))
    for label, name, n, tested, passed, seconds, cpu, (dfa, dfa_cpu, dfa_wide), base_words in rows:
        rate, cpu_rate = tested / seconds, tested / cpu
        dfa_cpu = max(dfa_cpu, 1e-6)  # the CPU clock's resolution
        row = (f"| {label} | {tested:,} | {passed:,} | {seconds:.3f} ({cpu:.3f}) | {rate:,.0f} ({cpu_rate:,.0f}) | "
               f"{dfa:.4f} ({dfa_cpu:.4f}) | {seconds / dfa:,.1f}x ({cpu / dfa_cpu:,.1f}x) | {dfa_wide:.4f} | "
               f"{seconds / dfa_wide:,.1f}x |")
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
    if args.measure_bounds:
        size, copied = (8192, 1 << 30) if str(args.device).startswith("cuda") else (1024, 1 << 26)
        args.peak_tflops, args.bandwidth_tbs = measured_bounds(args.device, dtype, size, copied)
        device_name += f", bounds measured here: {size}^2 matmul, {copied >> 20} MiB copy"
    if args.peak_tflops is not None and args.bandwidth_tbs is not None:
        lines += bounds_table(rows, built, dtype, args.peak_tflops, args.bandwidth_tbs, device_name)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


def bounds_table(rows: list, built: dict, dtype: torch.dtype, peak_tflops: float, bandwidth_tbs: float,
                 device_name: str) -> list[str]:
    """Each row's dense flops and residual-stream bytes per second as fractions of the device's peak and bandwidth
    (the larger fraction names the bound nearer to limiting it); printed and returned."""
    itemsize = torch.finfo(dtype).bits // 8
    out = [
        "",
        f"# against the bounds of {device_name}: {peak_tflops:g} TFLOP/s ({dtype}), {bandwidth_tbs:g} TB/s; dense "
        "flops and residual-stream bytes of the forward passes (benchmarks/tensor_check.py forward_flops, "
        "stream_bytes)",
        "| check | words/s | GFLOP per word | TFLOP/s | of peak | MB per word | TB/s | of bandwidth | nearer bound |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, name, n, tested, _, seconds, *_ in rows:
        c = built[name]
        n_tokens = batch_of(c.encode).tokens_for(n)
        flops, moved = forward_flops(c, n_tokens), stream_bytes(c, n_tokens, itemsize)
        rate = tested / seconds
        tflops, tbs = rate * flops / 1e12, rate * moved / 1e12
        of_peak, of_bandwidth = tflops / peak_tflops, tbs / bandwidth_tbs
        out.append(f"| {label} | {rate:,.0f} | {flops / 1e9:.4g} | {tflops:.4g} | {of_peak:.2%} | {moved / 1e6:.4g} | "
                   f"{tbs:.4g} | {of_bandwidth:.2%} | {'flops' if of_peak >= of_bandwidth else 'memory'} |")
    print("\n".join(out), flush=True)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
