"""Constant bit-size, measured: the Post-machine decoder in float16, bfloat16 and 3-bit fixed point at growing
windows, and the smallest softmax bias beta that keeps the softmax variant exact, beside ln(2(L-1)).

Run: python benchmarks/post_machine_precision.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from exactformer.constructions.post_machine import post_machine
from exactformer.core import TorchArithmetic
from exactformer.core.errors import ReadoutTieError
from exactformer.core.fixed_point import FixedPointArithmetic
from exactformer.core.runners import decode

ROTATE_THEN_HALT = {
    "states": ["run", "stop"],
    "symbols": ["0", "1", "2"],
    "delta": {("run", "0"): ("1", "run"), ("run", "1"): ("0", "run"), ("run", "2"): ("2", "stop")},
    "start": "run",
    "halting": {"stop"},
}
STOP = {"0|stop", "1|stop", "2|stop"}


def queue_of(L: int) -> list[str]:
    return [str(k % 2) for k in range(L - 1)] + ["2"]


def reference(L: int) -> list[str]:
    """Each symbol comes out flipped (0 <-> 1), then the 2 halts the machine: L tokens."""
    q = queue_of(L)
    return [f"{'1' if s == '0' else '0'}|run" for s in q[:-1]] + ["2|stop"]


def exact_run(c, L: int, arith) -> bool:
    """Whether the decode reproduces the reference's tokens; a readout tie (too few bits to tell the right pair from
    the others, as 2-bit fixed point gives) is a failure, not an answer."""
    try:
        out = decode(c.model, [c.encode(queue_of(L))], arith, max_new_tokens=L + 1, stop=STOP)
    except ReadoutTieError:
        return False
    return out.tokens[0] == reference(L)


def smallest_beta(L: int, resolution: float = 0.01) -> float:
    lo, hi = 0.0, 2 * math.log(2 * max(L - 1, 1)) + 8
    from fractions import Fraction

    def ok(beta: float) -> bool:
        c = post_machine(
            ROTATE_THEN_HALT, queue_length=L, attention="softmax", beta=Fraction(beta).limit_denominator(1000)
        )
        return exact_run(c, L, TorchArithmetic(torch.float64))

    assert ok(hi), f"beta={hi} does not suffice at L={L}"
    while hi - lo > resolution:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="windows up to 256 and beta at L = 2, 4 (under a minute)")
    args = parser.parse_args()
    hard_windows = [2, 16, 256] if args.quick else [2, 16, 256, 4096, 32768, 100_000]
    print("hard attention, the same weights for every L (only the relative bias moves):")
    print(f"{'L':>8} {'float16':>8} {'bfloat16':>9} {'fixed 3-bit':>12} {'fixed 2-bit':>12} {'tokens/s (fp16)':>16}")
    for L in hard_windows:
        c = post_machine(ROTATE_THEN_HALT, queue_length=L)
        t0 = time.perf_counter()
        f16 = exact_run(c, L, TorchArithmetic(torch.float16))
        rate = (L + 1) / (time.perf_counter() - t0)
        bf16 = exact_run(c, L, TorchArithmetic(torch.bfloat16))
        fx3 = exact_run(c, L, FixedPointArithmetic(int_bits=2, frac_bits=0))
        fx2 = exact_run(c, L, FixedPointArithmetic(int_bits=1, frac_bits=0))
        print(f"{L:>8} {str(f16):>8} {str(bf16):>9} {str(fx3):>12} {str(fx2):>12} {rate:>16.0f}")
    print()
    print("softmax attention with bias beta at the queue front (float64): smallest beta that stays exact")
    print(f"{'L':>8} {'beta*':>8} {'ln(2(L-1))':>11}")
    for L in [2, 4] if args.quick else [2, 4, 16, 64, 256, 1024]:
        print(f"{L:>8} {smallest_beta(L):>8.2f} {math.log(2 * max(L - 1, 1)):>11.2f}")


if __name__ == "__main__":
    main()
