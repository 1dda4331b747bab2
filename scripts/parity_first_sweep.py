"""Sampled verification of Chiang & Cholak's PARITY / FIRST transformers in float64, up to n = 10,000.

Usage::

    python scripts/parity_first_sweep.py                          # 1,000 words per length, n = 1..64 then a
                                                                  # geometric grid up to 10,000 (hours on one core)
    python scripts/parity_first_sweep.py --cell-seconds 60        # at most ~60 s per (variant, n): fewer words at
                                                                  # large n, the count is reported
    python scripts/parity_first_sweep.py --device cuda --cell-seconds 0   # the full 1,000 everywhere, on a GPU
    python scripts/parity_first_sweep.py --variants parity-ln-eps1e-5 first-ln-eps1e-5 \\
        --lengths 2 4 10 20 50 100 200 500 1000 --samples 500       # the note's eps = 1e-5 columns
    python scripts/parity_first_sweep.py --update-docs            # regenerate the docs tables from the file

Every (variant, n) cell runs the model (batched torch backend, float64 by default) on the words of
:func:`parity_first_common.words_for` (every word when ``2^n <= samples``; else ``0^n``, ``1 0^(n-1)``, ``1^n``,
``0 1^(n-1)`` and uniform random words) and records: how many words, how many wrong answers (against the language,
computed by counting), the smallest ``|z|``, the largest relative deviation of z from the note's closed form, and the
cross-entropy in bits per string (stratified by label: exactly half of all words are members), with its standard
error. Cells are written to ``scripts/results/parity_first_sweep.txt`` as they finish (an existing file is
updated, so a long run can be resumed or extended: ``--skip-done`` leaves cells that already have enough words).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import mpmath
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parity_first_common import (  # noqa: E402
    DTYPES,
    REGISTERED,
    RESULTS,
    VARIANTS,
    Tally,
    fmt,
    machine_line,
    read_table,
    update_docs,
    words_for,
    write_table,
    z_of,
)

OUT = RESULTS / "parity_first_sweep.txt"
COLUMNS = [
    "variant",
    "dtype",
    "n",
    "words",
    "mode",
    "wrong",
    "min abs z",
    "max rel dev from closed form",
    "CE bits",
    "CE std err",
    "CE members",
    "CE non-members",
    "seconds",
]
MIN_WORDS = 3  # a time-capped cell still runs 1^n, 0^n, 10^(n-1): both labels, PARITY's largest k
DEFAULT_LENGTHS = list(range(1, 65)) + [100, 200, 500, 1000, 2000, 3000, 5000, 10_000]
HEADER = [
    "# Chiang & Cholak PARITY / FIRST: sampled verification (scripts/parity_first_sweep.py)",
    "# words: every word when 2^n <= the sample size, else 1^n, 0^n, 10^(n-1), 01^(n-1) and uniform random words",
    "# wrong: answers that differ from the language (odd count of 1s / first bit 1, computed by counting)",
    "# min abs z: the smallest margin; max rel dev: max |z - z_closed| / |z_closed| with the note's closed forms",
    "# (Sections 5, 6, 7.3, 8.2; '-' where the note has none: eps > 0); CE: bits per string, expectation over",
    "# uniform words estimated per label class (half of all words are members) with its standard error",
]

# The note's Section 8.1 (the authors' scripts, float32, 500 random words per n) and Section 8.2 (derived).
NOTE_8_1 = {
    "parity": {
        2: "0.93356",
        4: "0.97585",
        10: "0.99500",
        20: "0.99863",
        50: "0.99977",
        100: "0.99994",
        200: "0.999985",
        500: "0.9999976",
        1000: "0.9999994",
        3000: "0.99999992",
        10000: "1.0000000027",
    },
    "parity-ln-eps1e-5": {
        2: "0.05991",
        4: "0.06040",
        10: "0.07249",
        20: "0.20237",
        50: "0.74335",
        100: "0.92887",
        200: "0.98178",
        500: "0.99705",
        1000: "0.99926",
    },
    "parity-ln": {
        2: "0.05981",
        4: "0.05981",
        10: "0.05981",
        20: "0.05981",
        50: "0.05981",
        100: "0.05981",
        200: "0.05981",
        500: "0.05982",
        1000: "0.05983",
        3000: "0.06165",
        10000: "0.14606",
    },
    "first": {
        2: "0.85347",
        4: "0.90480",
        10: "0.95361",
        20: "0.97499",
        50: "0.98951",
        100: "0.99467",
        200: "0.99731",
        500: "0.99892",
        1000: "0.99946",
    },
    "first-ln-eps1e-5": {
        2: "0.11951",
        4: "0.11955",
        10: "0.11974",
        20: "0.12035",
        50: "0.12380",
        100: "0.13673",
        200: "0.17964",
        500: "0.35131",
        1000: "0.56812",
    },
    "first-ln": {
        2: "0.11947",
        4: "0.11947",
        10: "0.11947",
        20: "0.11947",
        50: "0.11947",
        100: "0.11947",
        200: "0.11947",
        500: "0.11947",
        1000: "0.11947",
        3000: "0.11947",
        10000: "0.11948",
    },
    "first-scaled": {10: "0.9262", 100: "0.9779", 1000: "0.9941", 10000: "0.9985"},  # Section 8.2, big = 1
}
CE_TABLE_LENGTHS = [2, 4, 10, 20, 50, 100, 200, 500, 1000, 3000, 10000]


def closed_form_ce(variant: str, n: int) -> float | None:
    """The expected CE over uniform words from the note's closed forms (mpmath), or None (eps > 0)."""
    v = VARIANTS[variant]
    if v.closed_form is None:
        return None
    member, non_member = ("1" + "0" * (n - 1), "0" * n)  # PARITY: k odd / even; FIRST: w_1 = 1 / 0
    total = mpmath.mpf(0)
    for word, label in ((member, True), (non_member, False)):
        z = mpmath.mpf(v.closed_form(word))
        t = z if label else -z
        total += mpmath.log(1 + mpmath.e ** (-t)) / mpmath.log(2)
    return float(total / 2)


def batch_size(n: int, heads: int = 2, budget: float = 2.5e8) -> int:
    """Words per forward pass: ~``budget`` bytes of float64 attention scores (chunks of 1024 queries)."""
    return max(1, min(512, int(budget / (8 * heads * min(n + 1, 1024) * (n + 1)))))


def run_cell(
    name: str, n: int, samples: int, seed: int, dtype: torch.dtype, device: str, cell_seconds: float | None
) -> dict[str, str]:
    """One (variant, n) cell; stops early (after whole batches) once ``cell_seconds`` have passed."""
    variant = VARIANTS[name]
    c = variant.build()
    words, mode = words_for(n, samples, seed)
    tally = Tally()
    start = time.perf_counter()
    size = batch_size(n)
    for s in range(0, len(words), size):
        chunk = words[s : s + size]
        # the readout-only pass: z and the answer are all a cell needs (tested against the full pass to 1e-12)
        for w, r in zip(chunk, c.run_batch(chunk, dtype=dtype, device=device, keep_trace=False)):
            tally.add(variant, w, z_of(r), bool(r.answer))
        capped = cell_seconds and time.perf_counter() - start > cell_seconds and tally.strings >= MIN_WORDS
        if capped and s + size < len(words):
            mode = f"sampled, time-capped at {cell_seconds:g} s"
            break
    ce, se = tally.cross_entropy()
    return {
        "variant": name,
        "dtype": str(dtype).replace("torch.", ""),
        "n": n,
        "words": tally.strings,
        "mode": mode,
        "wrong": tally.wrong,
        "min abs z": fmt(tally.min_abs_z, 4),
        "max rel dev from closed form": fmt(tally.max_rel_dev, 2),
        "CE bits": fmt(ce, 10),
        "CE std err": fmt(se, 2),
        "CE members": fmt(math.fsum(tally.ce_in) / len(tally.ce_in), 7) if tally.ce_in else "-",
        "CE non-members": fmt(math.fsum(tally.ce_out) / len(tally.ce_out), 7) if tally.ce_out else "-",
        "seconds": f"{time.perf_counter() - start:.1f}",
    }


# ---------------------------------------------------------------------------------------------------------------
# Rendering for the docs
# ---------------------------------------------------------------------------------------------------------------


def _rows_by(rows: list[dict[str, str]], dtype: str = "float64") -> dict[tuple[str, int], dict[str, str]]:
    return {(r["variant"], int(r["n"])): r for r in rows if r["dtype"] == dtype}


def render_summary(rows: list[dict[str, str]]) -> str:
    """Per variant: lengths covered, words per length, wrong answers, smallest margin, largest deviation."""
    by = _rows_by(rows)
    lines = [
        "| variant | lengths | words per length | wrong | min abs z (at n) | max rel dev from closed form |",
        "|---|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        cells = sorted((n, r) for (v, n), r in by.items() if v == name)
        if not cells:
            continue
        ns = [n for n, _ in cells]
        dense = [n for n in ns if n <= 64]
        grid = [n for n in ns if n > 64]
        lengths = f"1..{max(dense)}" if dense == list(range(1, max(dense) + 1)) else ", ".join(map(str, dense))
        lengths += (", " + ", ".join(map(str, grid))) if grid else ""
        words = []
        for n, r in cells:
            if r["mode"] == "exhaustive":
                continue
            words.append((n, int(r["words"])))
        full = [n for n, w in words if w >= 1000]
        short = [f"{w} at n = {n}" for n, w in words if w < 1000]
        exhaustive = [n for n, r in cells if r["mode"] == "exhaustive"]
        text = f"all words for n <= {max(exhaustive)}" if exhaustive else ""
        if full:
            text += ("; " if text else "") + f">= 1000 for n = {min(full)}..{max(full)}"
        if short:
            text += "; " + ", ".join(short)
        wrong = sum(int(r["wrong"]) for _, r in cells)
        margin_n, margin = min(((n, float(r["min abs z"])) for n, r in cells), key=lambda t: t[1])
        devs = [float(r["max rel dev from closed form"]) for _, r in cells if r["max rel dev from closed form"] != "-"]
        lines.append(
            f"| {name} | {lengths} | {text} | {wrong} | {margin:.4g} (n = {margin_n}) | "
            f"{fmt(max(devs), 2) if devs else '- (no closed form)'} |"
        )
    return "\n".join(lines)


def render_cross_entropy(rows: list[dict[str, str]]) -> str:
    """The note's cross-entropy numbers beside the float64 measurement and the closed form."""
    by = _rows_by(rows)
    lines = [
        "| variant | n | words | CE float64 (measured) | std err | members / non-members | closed form (note) "
        "| note's printed run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        for n in CE_TABLE_LENGTHS:
            r = by.get((name, n))
            printed = NOTE_8_1.get(name, {}).get(n)
            if r is None or (printed is None and n not in (2, 10, 100, 1000, 10000)):
                continue
            closed = closed_form_ce(name, n)
            lines.append(
                f"| {name} | {n} | {r['words']} | {float(r['CE bits']):.7f} | {r['CE std err']} | "
                f"{r.get('CE members', '-')} / {r.get('CE non-members', '-')} | "
                f"{'-' if closed is None else f'{closed:.7f}'} | {printed or '-'} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=list(REGISTERED), choices=list(VARIANTS))
    p.add_argument("--lengths", nargs="+", type=int, default=None, help="word lengths (default 1..64, then a grid)")
    p.add_argument("--max-n", type=int, default=10_000)
    p.add_argument("--samples", type=int, default=1000, help="words per length (all words when fewer exist)")
    p.add_argument(
        "--cell-seconds",
        type=float,
        default=None,
        help="stop a (variant, n) cell after this many seconds (whole batches; 0 or absent: no cap)",
    )
    p.add_argument("--dtype", default="float64", choices=list(DTYPES))
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--skip-done", action="store_true", help="keep cells of --out that already have enough words")
    p.add_argument("--update-docs", action="store_true", help="only regenerate the docs tables from --out")
    p.add_argument("--merge", type=Path, default=None, help="only merge the cells of another run's file into --out")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.update_docs:
        _, rows = read_table(args.out)
        update_docs("scripts/parity_first_sweep.py (summary)", render_summary(rows))
        update_docs("scripts/parity_first_sweep.py (cross-entropy)", render_cross_entropy(rows))
        print(render_summary(rows))
        print()
        print(render_cross_entropy(rows))
        return 0
    if args.merge:
        comments, old = read_table(args.out)
        other_comments, other = read_table(args.merge)
        cells = {(r["variant"], r["dtype"], int(r["n"])): r for r in old + other}
        ordered = sorted(cells.values(), key=lambda r: (list(VARIANTS).index(r["variant"]), r["dtype"], int(r["n"])))
        runs = [line for line in other_comments if line.startswith("# last run")]
        merged = [f"# merged: {', '.join(sorted({r['variant'] for r in other}))} from a run of {runs[-1][12:]}"]
        write_table(args.out, comments + merged if runs else comments, COLUMNS, ordered)
        return 0
    lengths = [n for n in (args.lengths or DEFAULT_LENGTHS) if 1 <= n <= args.max_n]
    _, old = read_table(args.out)
    cells = {(r["variant"], r["dtype"], int(r["n"])): r for r in old}
    dtype = DTYPES[args.dtype]
    t0 = time.perf_counter()
    for n in lengths:  # lengths outermost: an interrupted run still covers every variant up to some n
        for name in args.variants:
            key = (name, args.dtype, n)
            if (
                args.skip_done
                and key in cells
                and (cells[key]["mode"] == "exhaustive" or int(cells[key]["words"]) >= args.samples)
            ):
                continue
            row = run_cell(name, n, args.samples, args.seed, dtype, args.device, args.cell_seconds)
            cells[key] = row
            print(" | ".join(str(row[c]) for c in COLUMNS), flush=True)
            ordered = sorted(
                cells.values(), key=lambda r: (list(VARIANTS).index(r["variant"]), r["dtype"], int(r["n"]))
            )
            write_table(
                args.out, HEADER + [f"# last run: {machine_line(args.threads)}, seed {args.seed}"], COLUMNS, ordered
            )
    print(f"(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
