"""The constant-precision figure of docs/post_machine.md (Li & Wang 2025), and its table.

Two measurements on the one-layer Post-machine decoder (:func:`exactformer.constructions.post_machine`):

1. **Hard attention, the same weights for every window L** (only the relative bias at offset L - 1 moves). The
   workload is a rotating machine (``ROTATE``): the queue is L - 1 alternating
   ``0``/``1`` then a ``2``; each symbol comes out flipped and the ``2`` halts the machine, so a *whole round* is
   exactly L tokens and every one of them reads the queue front at offset L - 1. For every L and every arithmetic
   (float16, bfloat16, signed fixed point with 3 bits = sign + 2 integer bits, and 2 bits as a control), a run is
   *exact* when every generated token equals the reference Post machine's step (``PostMachine.run``, not the
   construction) and every readout margin is exactly 1 (logit 2 for the right pair, at most 1 elsewhere). Windows up
   to ``--full-round-max`` run the whole round; longer windows (the decoder costs O(L) per token, so a whole round
   is O(L^2)) run the first ``--prefix`` tokens, each still reading the front at offset L - 1.
2. **Softmax attention with bias beta at the front** (float64): the smallest beta, found by bisection to
   ``--resolution``, for which the run stays exact, beside the note's prediction ln(2(L - 1)) and the argmax
   threshold ln(L - 1). Two workloads: the *worst single read* (queue ``2`` then L - 1 zeros: the front is the only
   ``2`` and every other token in the window is the competing symbol ``0``; the first token decides) for every L,
   and the *whole round* of the rotating machine (every token of the run must match) for L up to
   ``--softmax-round-max``.

Writes scripts/results/post_machine_precision_figure.txt and docs/figures/post_machine_precision.png.

Run: python scripts/post_machine_precision_figure.py [--quick] [--no-plot] [--out FILE] [--figure FILE]
(--quick: L <= 1000, a few seconds; the full run takes about 10 minutes on one loaded CPU core.)
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import torch

from exactformer.constructions.post_machine import post_machine, token_name
from exactformer.core import TorchArithmetic
from exactformer.core.arith import Arithmetic
from exactformer.core.construction import Construction
from exactformer.core.errors import ReadoutTieError
from exactformer.core.fixed_point import FixedPointArithmetic
from exactformer.core.runners import decode
from exactformer.languages.post import PostMachine

ROOT = Path(__file__).resolve().parents[1]
ROTATE = PostMachine(
    symbols="012",
    states=["run", "stop"],
    start="run",
    halting=["stop"],
    transitions={("run", "0"): ("1", "run"), ("run", "1"): ("0", "run"), ("run", "2"): ("2", "stop")},
)
WINDOWS = [10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000]
QUICK_WINDOWS = [10, 30, 100, 300, 1000]


def arithmetics() -> dict[str, Callable[[], Arithmetic]]:
    """The arithmetics of the hard-attention table, by column name."""
    return {
        "float16": lambda: TorchArithmetic(torch.float16),
        "bfloat16": lambda: TorchArithmetic(torch.bfloat16),
        "fixed 3-bit": lambda: FixedPointArithmetic(int_bits=2, frac_bits=0),
        "fixed 2-bit": lambda: FixedPointArithmetic(int_bits=1, frac_bits=0),
    }


def rotation_queue(L: int) -> list[str]:
    """L - 1 alternating symbols, then the halting ``2``."""
    return [str(k % 2) for k in range(L - 1)] + ["2"]


def worst_queue(L: int) -> list[str]:
    """The front ``2`` alone against L - 1 copies of the competing symbol ``0``."""
    return ["2"] + ["0"] * (L - 1)


def reference_tokens(queue: Sequence[str], max_steps: int) -> list[str]:
    """The reference Post machine's steps as vocabulary tokens (independent of the construction)."""
    trace = ROTATE.run(queue, max_steps, trace=True).trace
    assert trace is not None
    return [token_name(b, p) for b, p in trace]


def exact_run(
    c: Construction, queue: Sequence[str], expected: Sequence[str], arith: Arithmetic, check_margins: bool = True
) -> bool:
    """Decode ``len(expected)`` tokens (stopping early at the first wrong one); exact when every token is the
    reference step and, if asked, every margin is exactly 1."""
    position = [0]

    def stop(token: str) -> bool:  # called once per generated token of the (single) sequence
        i = position[0]
        position[0] += 1
        return token != expected[i] or i + 1 == len(expected)

    try:
        out = decode(c.model, [c.encode(list(queue))], arith, max_new_tokens=len(expected), stop=stop)
    except ReadoutTieError:  # too few bits to tell the right pair from the others: wrong, not an answer
        return False
    ok = out.tokens[0] == list(expected)
    return ok and (not check_margins or all(m == 1.0 for m in out.margins[0]))


def hard_table(windows: Sequence[int], full_round_max: int, prefix: int) -> list[dict]:
    rows = []
    for L in windows:
        c = post_machine(ROTATE, queue_length=L)
        queue = rotation_queue(L)
        n = L if L <= full_round_max else prefix
        expected = reference_tokens(queue, n)
        assert len(expected) == n
        row: dict = {"L": L, "tokens": n, "whole_round": n == L}
        for name, make in arithmetics().items():
            t0 = time.perf_counter()
            row[name] = exact_run(c, queue, expected, make())
            row[name + " s"] = time.perf_counter() - t0
        rows.append(row)
        print(f"hard L={L}: " + ", ".join(f"{k}={row[k]}" for k in arithmetics()), flush=True)
    return rows


def smallest_beta(L: int, queue: Sequence[str], n_tokens: int, resolution: float) -> float:
    """Bisection for the smallest beta (to ``resolution``) whose softmax run of ``n_tokens`` is exact (float64;
    tokens only: softmax margins are not 1)."""
    expected = reference_tokens(queue, n_tokens)

    def ok(beta: float) -> bool:
        c = post_machine(ROTATE, queue_length=L, attention="softmax", beta=Fraction(beta).limit_denominator(10_000))
        return exact_run(c, queue, expected, TorchArithmetic(torch.float64), check_margins=False)

    lo, hi = 0.0, math.log(2 * (L - 1)) + 4
    if not ok(hi):
        raise AssertionError(f"beta = {hi} is not enough at L = {L}")
    if ok(lo):
        return lo
    while hi - lo > resolution:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def softmax_table(windows: Sequence[int], round_max: int, resolution: float) -> list[dict]:
    rows = []
    for L in windows:
        row: dict = {"L": L, "ln(L-1)": math.log(L - 1), "ln(2(L-1))": math.log(2 * (L - 1))}
        row["worst read"] = smallest_beta(L, worst_queue(L), 1, resolution)
        row["whole round"] = smallest_beta(L, rotation_queue(L), L, resolution) if L <= round_max else None
        rows.append(row)
        print(
            f"softmax L={L}: worst read {row['worst read']:.3f}, whole round {row['whole round']}, "
            f"ln(L-1) {row['ln(L-1)']:.3f}, ln(2(L-1)) {row['ln(2(L-1))']:.3f}",
            flush=True,
        )
    return rows


def format_tables(hard: list[dict], soft: list[dict], header: str) -> str:
    names = list(arithmetics())
    lines = [
        header,
        "",
        "Hard attention (the same weights for every L; exact = every token is the reference Post step and every",
        "margin is 1). tokens = generated tokens checked (L = the whole round, each symbol through the window",
        "once, the last halting).",
        "",
        "| L | tokens checked | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for r in hard:
        cells = " | ".join("exact" if r[k] else "WRONG" for k in names)
        lines.append(f"| {r['L']:,} | {r['tokens']:,}{' (whole round)' if r['whole_round'] else ''} | {cells} |")
    lines += [
        "",
        "Seconds per run (decoding, under load): "
        + "; ".join(f"L={r['L']:,}: " + ", ".join(f"{k} {r[k + ' s']:.1f}" for k in names) for r in hard),
        "",
        "Softmax attention, bias beta at the front (float64): the smallest beta that keeps the run exact "
        f"(bisection, resolution {RESOLUTION[0]}).",
        "worst read = queue '2' + (L-1) x '0', one token; whole round = the rotating machine's L tokens.",
        "",
        "| L | beta* worst read | beta* whole round | ln(L-1) | ln(2(L-1)) (note) |",
        "|---|---|---|---|---|",
    ]
    for r in soft:
        whole = "-" if r["whole round"] is None else f"{r['whole round']:.2f}"
        lines.append(f"| {r['L']:,} | {r['worst read']:.2f} | {whole} | {r['ln(L-1)']:.2f} | {r['ln(2(L-1))']:.2f} |")
    return "\n".join(lines)


RESOLUTION = [0.01]


def plot(hard: list[dict], soft: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(arithmetics())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, name in enumerate(names):
        for r in hard:
            ok = r[name]
            ax1.scatter(
                r["L"],
                i,
                marker="o" if ok else "x",
                s=70 if ok else 60,
                facecolors=("#2a7" if r["whole_round"] else "white") if ok else None,
                edgecolors="#2a7" if ok else None,
                color=None if ok else "#c33",
                linewidths=1.5,
            )
    ax1.set_xscale("log")
    ax1.set_yticks(range(len(names)), names)
    ax1.set_ylim(-0.6, len(names) - 0.4)
    ax1.invert_yaxis()
    ax1.set_xlabel("window L (= queue length)")
    ax1.set_title(
        "hard attention, the same weights for every L\nfilled: whole round exact; hollow: prefix exact; x: wrong",
        fontsize=9,
    )
    Ls = [r["L"] for r in soft]
    grid = [10 ** (k / 20) for k in range(20, 101)]
    ax2.plot(grid, [math.log(2 * (x - 1)) for x in grid], "--", color="#888", label="ln(2(L-1)) (note)")
    ax2.plot(grid, [math.log(x - 1) for x in grid], ":", color="#444", label="ln(L-1) (argmax threshold)")
    ax2.plot(Ls, [r["worst read"] for r in soft], "o", color="#c33", label="smallest beta, worst read")
    whole = [(r["L"], r["whole round"]) for r in soft if r["whole round"] is not None]
    if whole:
        ax2.plot(*zip(*whole), "s", mfc="none", color="#26a", label="smallest beta, whole round")
    ax2.set_xscale("log")
    ax2.set_xlabel("window L")
    ax2.set_ylabel("beta (bias at the queue front)")
    ax2.set_title("softmax attention needs beta ~ ln L (float64)", fontsize=9)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="windows up to 1000 only")
    ap.add_argument("--full-round-max", type=int, default=10_000, help="largest L run for its whole round")
    ap.add_argument("--prefix", type=int, default=256, help="tokens checked beyond --full-round-max")
    ap.add_argument("--softmax-round-max", type=int, default=1000, help="largest L of the whole-round beta search")
    ap.add_argument("--resolution", type=float, default=0.01)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "scripts" / "results" / "post_machine_precision_figure.txt"))
    ap.add_argument("--figure", default=str(ROOT / "docs" / "figures" / "post_machine_precision.png"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    RESOLUTION[0] = args.resolution
    windows = QUICK_WINDOWS if args.quick else WINDOWS
    t0 = time.perf_counter()
    hard = hard_table(windows, args.full_round_max, args.prefix)
    soft = softmax_table(windows, args.softmax_round_max, args.resolution)
    header = (
        f"# python scripts/post_machine_precision_figure.py{' --quick' if args.quick else ''} "
        f"(full round up to L = {args.full_round_max:,}, then the first {args.prefix} tokens); "
        f"torch {torch.__version__}, 1 thread, {platform.machine()} CPU, {time.perf_counter() - t0:.0f} s "
        "in all, on a shared, loaded machine"
    )
    text = format_tables(hard, soft, header)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    if not args.no_plot:
        plot(hard, soft, Path(args.figure))
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
