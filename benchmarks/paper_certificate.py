"""How long the paper tree's certificate takes (``log-depth-paper-parity``, proven by running every word), per range.

For each range n <= N: CPU seconds of ``ef.verify.prove`` (certified ``arb`` balls, every prefix computed once),
beside the ball pass run one batch per length (no prefix sharing) and the interval evaluator (``mpmath.iv``) on one
word of N letters, all in this process, one after the other (``time.process_time``).

    python benchmarks/paper_certificate.py            # N = 6, 8, 10, 11; per length up to 9; intervals on one word
    python benchmarks/paper_certificate.py --quick    # N = 2, 3
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

import exactformer as ef
from exactformer.core.arith.ball import BallArithmetic
from exactformer.core.forward import forward
from exactformer.languages import named
from exactformer.proofs.log_depth_paper import proof_range


def _seconds(work) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tree = ef.constructions.paper_tree_recognizer(named.parity())
    ranges = [2, 3] if args.quick else [6, 8, 10, 11]
    per_length_up_to = 3 if args.quick else 9
    print("| n <= N | words | prove, prefixes shared (CPU s) | ball pass, one batch per length (CPU s) | "
          "interval evaluator, one word of N letters (CPU s) |")
    print("|---|---|---|---|---|")
    for n in ranges:
        def prove(n: int = n) -> None:
            with proof_range(n):
                assert ef.verify.prove(tree).proven

        def per_length(n: int = n) -> None:
            for m in range(n + 1):
                words = [tree.encode(list(w)) for w in itertools.product("01", repeat=m)]
                forward(tree.model, words, BallArithmetic(128))

        shared = _seconds(prove)
        alone = f"{_seconds(per_length):.1f}" if n <= per_length_up_to else "-"
        interval = _seconds(lambda n=n: tree.run("1" * n, backend="certified", precision=128))
        print(f"| {n} | {2 ** (n + 1) - 1:,} | {shared:.1f} | {alone} | {interval:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
