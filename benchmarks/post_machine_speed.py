"""Generated tokens per second of the Post-machine decoder (KV-cached, windowed), single and batched, beside the
reference Post simulator (exactformer.languages.PostMachine.run).

Workloads: BB(4) compiled on T = 14 cells (803 tokens per run) and a rotating Post machine with a window of
L = 10^5 (a fixed number of generated tokens). "Batched" decodes B copies of the same prompt in one batch.

Run: python benchmarks/post_machine_speed.py [--quick] [--out FILE]   (--quick: < 30 s, smaller L and fewer tokens)
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from exactformer.constructions import post_machine, turing_machine
from exactformer.languages.post import PostMachine

ROTATE = PostMachine(
    symbols="012",
    states=["run", "stop"],
    start="run",
    halting=["stop"],
    transitions={("run", "0"): ("1", "run"), ("run", "1"): ("0", "run"), ("run", "2"): ("2", "stop")},
)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def bench_bb4(batch: int, max_tokens: int) -> list[str]:
    c = turing_machine("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", 14)
    q = list(c.parameters.queue)
    pm = c.parameters.compiled.machine
    lines = []
    ref, dt = timed(lambda: pm.run(q, max_tokens))
    lines.append(f"BB(4) T=14  reference PostMachine.run     tokens={ref.steps:>7}  {ref.steps / dt:12.0f} tok/s")
    run, dt = timed(lambda: c.simulate(q, max_tokens=max_tokens))
    assert run.steps == ref.steps
    lines.append(f"BB(4) T=14  transformer single (f64)     tokens={run.steps:>7}  {run.steps / dt:12.1f} tok/s")
    runs, dt = timed(lambda: c.simulate(queues=[q] * batch, max_tokens=max_tokens))
    total = sum(r.steps for r in runs)
    lines.append(f"BB(4) T=14  transformer batch={batch:<3} (f64) tokens={total:>7}  {total / dt:12.1f} tok/s")
    return lines


def bench_window(L: int, tokens: int, batch: int) -> list[str]:
    q = ["0"] * L  # never reaches a 2: rotates forever
    c = post_machine(ROTATE, queue_length=L)
    lines = []
    ref, dt = timed(lambda: ROTATE.run(q, tokens))
    lines.append(f"window L={L}  reference PostMachine.run  tokens={ref.steps:>7}  {ref.steps / dt:12.0f} tok/s")
    run, dt = timed(lambda: c.simulate(q, max_tokens=tokens, dtype=torch.float32))
    lines.append(
        f"window L={L}  transformer single (f32)  tokens={run.steps:>7}  {run.steps / dt:12.1f} tok/s "
        "(includes the prompt pass)"
    )
    runs, dt = timed(lambda: c.simulate(queues=[q] * batch, max_tokens=tokens, dtype=torch.float32))
    total = sum(r.steps for r in runs)
    lines.append(f"window L={L}  transformer batch={batch:<3} (f32) tokens={total:>7}  {total / dt:12.1f} tok/s")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    lines = [
        f"# post_machine_speed {'--quick' if args.quick else ''} on {platform.processor() or platform.machine()},"
        f" torch {torch.__version__}, 1 thread, CPU"
    ]
    if args.quick:
        lines += bench_bb4(batch=4, max_tokens=1000)
        lines += bench_window(L=10_000, tokens=20, batch=2)
    else:
        lines += bench_bb4(batch=16, max_tokens=1000)
        lines += bench_window(L=100_000, tokens=50, batch=2)
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
