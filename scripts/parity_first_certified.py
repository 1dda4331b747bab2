"""Certified (interval) evaluation of Chiang & Cholak's PARITY / FIRST transformers on every short word, and what the
exact (rational) evaluator says about them.

Usage::

    python scripts/parity_first_certified.py                  # every word of length 1..6, all five variants
    python scripts/parity_first_certified.py --max-n 4 --out /tmp/certified.txt
    python scripts/parity_first_certified.py --update-docs    # regenerate the docs table from the results file

Every variant uses softmax attention (exp of an irrational logit 1/sqrt(d_head) * ...) and the layer-norm variants
also take square roots, so the exact backend refuses all five: its error names the first irrational operation it
meets. The certified backend (``mpmath.iv`` intervals, 128 bits) encloses every value; a decision is *certified*
when the interval of z lies strictly on one side of 0. Per variant and n the script records how many words were
run, how many answers agree with the language, how many decisions are certified, the smallest certified lower bound
of ``abs(z)``, and the widest interval of z. Writes ``scripts/results/parity_first_certified.txt``.
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parity_first_common import (  # noqa: E402
    REGISTERED,
    RESULTS,
    VARIANTS,
    machine_line,
    read_table,
    update_docs,
    words_for,
    write_table,
)

from exactformer.core.arith import interval_bounds  # noqa: E402
from exactformer.core.errors import IrrationalOperation  # noqa: E402

OUT = RESULTS / "parity_first_certified.txt"
COLUMNS = [
    "variant",
    "n",
    "words",
    "correct",
    "certified",
    "min certified abs z",
    "widest z interval",
    "exact backend",
    "seconds",
]


def lower_bound_abs(lo: Fraction, hi: Fraction) -> Fraction:
    """The certified lower bound of ``abs(z)`` for ``z`` in ``[lo, hi]`` (0 when the interval contains 0)."""
    return lo if lo > 0 else (-hi if hi < 0 else Fraction(0))


def exact_refusal(name: str) -> str:
    """The exact backend's answer on ``1011``: its IrrationalOperation message (or 'ran', which would be news)."""
    try:
        VARIANTS[name].build().run("1011", backend="exact")
    except IrrationalOperation as exc:
        return f"refused: {str(exc).split(';')[0]}"
    return "ran"


def certify(name: str, n: int, precision: int, batch: int = 64) -> dict[str, str]:
    variant = VARIANTS[name]
    c = variant.build()
    words, mode = words_for(n, 2**n, seed=0)
    assert mode == "exhaustive"
    start = time.perf_counter()
    correct = certified = 0
    min_bound, widest = None, Fraction(0)
    for s in range(0, len(words), batch):
        chunk = words[s : s + batch]
        for w, r in zip(chunk, c.run_batch(chunk, backend="certified", precision=precision)):
            lo, hi = interval_bounds(r.logits[0])
            correct += int(r.answer == variant.language(w))
            certified += int(r.certified)
            bound = lower_bound_abs(lo, hi)
            min_bound = bound if min_bound is None else min(min_bound, bound)
            widest = max(widest, hi - lo)
    return {
        "variant": name,
        "n": n,
        "words": len(words),
        "correct": correct,
        "certified": certified,
        "min certified abs z": f"{float(min_bound):.6g}",
        "widest z interval": f"{float(widest):.2g}",
        "exact backend": exact_refusal(name),
        "seconds": f"{time.perf_counter() - start:.1f}",
    }


def render(rows: list[dict[str, str]]) -> str:
    lines = [
        "| variant | n | words | correct | certified | min certified abs z | widest z interval |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['n']} | {r['words']} | {r['correct']} | {r['certified']} | "
            f"{r['min certified abs z']} | {r['widest z interval']} |"
        )
    refusals = {r["variant"]: r["exact backend"] for r in rows}
    lines += ["", "Exact (rational) backend on `1011`:", ""]
    lines += [f"* {v}: {text}" for v, text in refusals.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=list(REGISTERED), choices=list(VARIANTS))
    p.add_argument("--max-n", type=int, default=6)
    p.add_argument("--precision", type=int, default=128, help="interval precision in bits")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--update-docs", action="store_true", help="only regenerate the docs table from --out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.update_docs:
        _, rows = read_table(args.out)
        update_docs("scripts/parity_first_certified.py", render(rows))
        print(render(rows))
        return 0
    rows = []
    for name in args.variants:
        for n in range(1, args.max_n + 1):
            rows.append(certify(name, n, args.precision))
            print(" | ".join(str(rows[-1][c]) for c in COLUMNS), flush=True)
    header = [
        "# Chiang & Cholak PARITY / FIRST: certified evaluation of every word (scripts/parity_first_certified.py)",
        f"# mpmath.iv intervals at {args.precision} bits; a decision is certified when the interval of z excludes 0",
        f"# last run: {machine_line(1)}",
    ]
    write_table(args.out, header, COLUMNS, rows)
    print()
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
