"""The precision frontier of Chiang & Cholak's PARITY / FIRST transformers per dtype, and why each one breaks.

Usage::

    python scripts/parity_first_frontier.py                     # float16, bfloat16, float32 (float64 from the sweep)
    python scripts/parity_first_frontier.py --dtypes float16 --variants parity-ln --max-n 512
    python scripts/parity_first_frontier.py --dtypes float64    # float64 computed here instead of read
    python scripts/parity_first_frontier.py --update-docs       # regenerate the docs table from the results file

For each variant and dtype, lengths n = 1..8 and then a sqrt(2)-geometric grid up to 10,000 are tested in increasing
order (words: the extremes ``1^n``, ``0^n``, ``1 0^(n-1)``, ``0 1^(n-1)``, then alternately uniform words and words
whose number of 1s is uniform on 0..n, so that large counts k are reached; every word when ``2^n`` is small). At the
first length with a wrong answer or a non-finite value, the gap to the last passing length is bisected. The
frontier is the largest tested n below the first failure; the failing word is then diagnosed against the float64
run of the same word: the decision z in both, the proof's quantities read back from the low-precision stream
(PARITY: k and i as ``count:k/N / count:1/N`` and ``pos:i/N / count:1/N``, the hat ``[i = k]``; FIRST: the gate),
the answer coordinate entering the last sublayer, and the first sublayer whose output leaves the float64 one. For a
non-finite value, the mean square of the CLS vector entering the final LayerNorm (``2 u^2 / D``) is compared with the
dtype's smallest subnormal. Where nothing fails, the measured quantity is the largest relative error of z against the
note's closed form at the largest n: a decision can flip only once it reaches 1.

Writes ``scripts/results/parity_first_frontier.txt`` (one row per variant and dtype) and
``scripts/results/parity_first_frontier_cells.txt`` (every tested length).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
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

from exactformer.core.arith import TorchArithmetic  # noqa: E402
from exactformer.core.construction import Construction  # noqa: E402
from exactformer.core.errors import ExactformerError  # noqa: E402
from exactformer.core.forward import forward  # noqa: E402
from exactformer.verify.relations import negation_residue  # noqa: E402

#: Where all-equal-score attention sums its values (``--accumulate``): "dtype" (PyTorch's float arithmetic, the
#: default) or "float64" (summed in float64, rounded once; see exactformer.core.arith.TorchArithmetic).
ACCUMULATE = ["dtype"]

OUT = RESULTS / "parity_first_frontier.txt"
CELLS = RESULTS / "parity_first_frontier_cells.txt"
SWEEP = RESULTS / "parity_first_sweep.txt"
COLUMNS = [
    "variant",
    "dtype",
    "largest n passing (words)",
    "first failing n",
    "first failing input",
    "max rel dev of z at largest n",
    "why",
]
CELL_COLUMNS = [
    "variant",
    "dtype",
    "n",
    "words",
    "wrong",
    "error",
    "min abs z",
    "max rel dev from closed form",
    "seconds",
]
MIN_WORDS = 3  # a time-capped length still runs 1^n, 0^n, 10^(n-1): both labels, PARITY's largest k


def default_lengths(max_n: int) -> list[int]:
    """1..8, a sqrt(2)-geometric grid up to 1024, then 2048, 4096, ... and ``max_n`` itself."""
    grid, x = list(range(1, 9)), 8.0
    while round(x * math.sqrt(2)) <= 1024:
        x *= math.sqrt(2)
        grid.append(round(x))
    while grid[-1] * 2 < max_n:
        grid.append(grid[-1] * 2)
    return sorted({n for n in grid if n <= max_n} | {max_n})


def describe_word(word: str) -> str:
    k = word.count("1")
    text = word if len(word) <= 16 else f"{word[:6]}...{word[-4:]}"
    return f"{text} (n={len(word)}, k={k}, w_1={word[0]})"


def _rows(result: Any, site: str) -> np.ndarray:
    return result.output.trace[site][result.batch_index].detach().to(torch.float64).cpu().numpy()


def proof_quantities(c: Construction, result: Any, word: str) -> list[str]:
    """The proof's quantities read back scale-invariantly (ratios within a position survive layer norm)."""
    s = c.model.space.index
    k = word.count("1")
    if c.name.startswith("parity"):
        att, ffn = _rows(result, "L0.attn"), _rows(result, "L0.mlp")
        one = att[:, s("count:1/N")]
        i = np.arange(len(one))
        k_err = np.abs(att[:, s("count:k/N")] / one - k).max()
        i_err = np.abs(att[:, s("pos:i/N")] / one - i).max()
        hat = ffn[:, s("hat:[i=k]/N")] / ffn[:, s("count:1/N")]
        bad = np.abs(hat - (i == k))
        return [
            f"k/N and i/N read back as counts are off by up to {k_err:.2g} and {i_err:.2g} (the hat needs the "
            f"difference k - i to within 1/2)",
            f"hat [i=k] off by {bad.max():.2g} at i = {int(bad.argmax())} (k = {k})",
        ]
    ffn = _rows(result, "L0.mlp")
    gate = ffn[1, s("gate:[i=1,w_i=1]")] / ffn[1, s("pos:[i=1]")]
    return [f"gate [w_1=1] read back as {gate:.3g} (want {int(word[0] == '1')})"]


def explain(c: Construction, word: str, dtype: torch.dtype, error: Exception | None = None) -> str:
    """Why ``word`` fails in ``dtype``, measured against the float64 run of the same word."""
    ref = c.run(word, dtype=torch.float64)
    pos = c.model.readout.position
    ln = c.parameters.layer_norm
    answer = abs(ref.residual("L1.attn", pos)["answer"])  # the answer entering the last sublayer, float64
    if error is not None:
        parts = [f"{type(error).__name__}: {str(error).split(' (first')[0]}"]
        arith = TorchArithmetic(dtype, accumulate=ACCUMULATE[0])  # rerun, keeping the trace up to the failing sublayer
        try:
            forward(c.model, [c.encode(word)], arith)
        except ExactformerError:
            pass
        where = re.search(r"position (\d+)", str(error))
        if ln and "L1.attn" in arith.trace.labels and where:
            at = int(where.group(1))
            x = arith.trace["L1.attn"]
            pre = (x + arith.mlp(x, c.model.layers[1].mlp.block, "L1.mlp"))[0, at]
            u = abs(float(pre[c.model.space.index("answer")]))
            exact = float((pre.to(torch.float64) ** 2).mean())  # the mean square, computed without rounding
            centred = pre - pre.mean()
            in_dtype = float((centred * centred).mean())  # as the LayerNorm computes it, in the dtype
            smallest = torch.finfo(dtype).tiny * torch.finfo(dtype).eps
            fate = (
                f"{exact:.2g}, but computed in the dtype it rounds to 0 (the smallest subnormal is {smallest:.2g}), "
                "so the eps = 0 LayerNorm divides by 0"
                if in_dtype == 0
                else f"{exact:.2g} ({in_dtype:.2g} in the dtype)"
            )
            cls = pos % len(c.encode(word))
            site = "CLS" if at == cls else f"bit position {at}"
            u64 = abs(ref.residual("L1.attn", at)["answer"])
            parts.append(
                f"at {site} the eraser leaves [u, -u] with abs(u) = {u:.2g} (float64: {u64:.2g}); the mean square "
                f"of the vector entering the final LayerNorm is {fate}"
            )
        return "; ".join(parts)
    low = c.run(word, dtype=dtype, accumulate=ACCUMULATE[0])
    name = str(dtype).replace("torch.", "")
    parts = [f"z = {z_of(low):.3g} in {name} vs {z_of(ref):.3g} in float64"]
    parts += proof_quantities(c, low, word)
    parts.append(
        f"answer entering the last sublayer {abs(low.residual('L1.attn', pos)['answer']):.2g} (float64 {answer:.2g})"
    )
    if ln:
        parts.append(
            f"[u,-u] residue at CLS after the final LN {negation_residue(c, low)[pos]:.2g} "
            f"(float64 {negation_residue(c, ref)[pos]:.2g})"
        )
    tol = 8 * torch.finfo(dtype).eps * math.ceil(math.log2(len(word) + 2))
    for site in low.output.trace.labels:
        a, b = _rows(low, site), _rows(ref, site)
        gap = np.abs(a - b) / (1 + np.abs(b))
        if gap.max() > tol:
            p, j = np.unravel_index(int(gap.argmax()), gap.shape)
            parts.append(
                f"first leaves float64 after {site} ({c.model.space.names[j]} at position {p}: "
                f"{a[p, j]:.3g} vs {b[p, j]:.3g})"
            )
            break
    return "; ".join(parts)


def check_length(
    name: str, n: int, dtype: torch.dtype, samples: int, seed: int, cell_seconds: float | None, device: str
) -> dict[str, Any]:
    """One length: every word answered right and finite? Returns the cell with the first failure, if any."""
    variant = VARIANTS[name]
    c = variant.build()
    words, _ = words_for(n, samples, seed, uniform_k=True)
    tally, error, culprit = Tally(), None, None
    start = time.perf_counter()
    size = max(1, min(256, int(2.5e8 / (8 * 2 * min(n + 1, 1024) * (n + 1)))))
    for s in range(0, len(words), size):
        chunk = words[s : s + size]
        try:
            results = c.run_batch(chunk, dtype=dtype, device=device, accumulate=ACCUMULATE[0])
        except ExactformerError as exc:  # find the word that raises
            error = exc
            for w in chunk:
                try:
                    c.run(w, dtype=dtype, device=device, accumulate=ACCUMULATE[0])
                except ExactformerError as exc_w:
                    culprit, error = w, exc_w
                    break
            break
        for w, r in zip(chunk, results):
            tally.add(variant, w, z_of(r), bool(r.answer))
        capped = cell_seconds and time.perf_counter() - start > cell_seconds and tally.strings >= MIN_WORDS
        if tally.wrong or capped:
            break
    failing = culprit or tally.first_wrong
    return {
        "variant": name,
        "dtype": str(dtype).replace("torch.", ""),
        "n": n,
        "words": tally.strings,
        "wrong": tally.wrong,
        "error": type(error).__name__ if error else "-",
        "min abs z": fmt(tally.min_abs_z, 3),
        "max rel dev from closed form": fmt(tally.max_rel_dev, 2),
        "seconds": f"{time.perf_counter() - start:.1f}",
        "_failing": failing,
        "_exc": error,
    }


def frontier_row(
    name: str, dtype_name: str, lengths: list[int], args: argparse.Namespace, cells: list[dict[str, Any]]
) -> dict[str, str]:
    dtype = DTYPES[dtype_name]
    passed: dict[int, dict[str, Any]] = {}
    failed: dict[str, Any] | None = None
    t0 = time.perf_counter()

    def probe(n: int) -> dict[str, Any]:
        cell = check_length(name, n, dtype, args.samples, args.seed, args.cell_seconds, args.device)
        cells.append(cell)
        print(" | ".join(str(cell[c]) for c in CELL_COLUMNS), flush=True)
        return cell

    for n in lengths:
        cell = probe(n)
        if cell["_failing"] is None and cell["error"] == "-":
            passed[n] = cell
            continue
        failed = cell
        break
    if failed is not None:  # bisect between the last passing and the first failing length
        lo = max(passed, default=0)
        hi = failed["n"]
        for _ in range(args.bisect_steps):
            if hi - lo <= 1:
                break
            mid = (lo + hi) // 2
            cell = probe(mid)
            if cell["_failing"] is None and cell["error"] == "-":
                passed[mid], lo = cell, mid
            else:
                failed, hi = cell, mid
    largest = max((n for n in passed if failed is None or n < failed["n"]), default=None)
    row = {
        "variant": name,
        "dtype": dtype_name,
        "largest n passing (words)": "-" if largest is None else f"{largest} ({passed[largest]['words']})",
        "first failing n": "-",
        "first failing input": "-",
        "max rel dev of z at largest n": "-" if largest is None else passed[largest]["max rel dev from closed form"],
    }
    if failed is None:
        top = passed[max(lengths)]
        row["why"] = (
            f"none up to n = {max(lengths)}; there the smallest abs(z) is {top['min abs z']} and z's "
            f"relative error against the closed form is {top['max rel dev from closed form']} "
            "(a flip needs 1)"
        )
    else:
        word = failed["_failing"]
        row["first failing n"] = str(failed["n"])
        row["first failing input"] = describe_word(word)
        wrong = f"{failed['wrong']} of {failed['words']} words wrong; " if failed["wrong"] else ""
        row["why"] = wrong + explain(VARIANTS[name].build(), word, dtype, failed["_exc"])
    print(
        f"== {name} {dtype_name}: largest passing {row['largest n passing (words)']}, first failing "
        f"{row['first failing n']} ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    return row


def float64_from_sweep(name: str, path: Path) -> dict[str, str] | None:
    """The float64 row, read from the sampled-verification sweep (scripts/parity_first_sweep.py)."""
    _, rows = read_table(path)
    cells = sorted((int(r["n"]), r) for r in rows if r["variant"] == name and r["dtype"] == "float64")
    if not cells:
        return None
    largest, first_bad = None, None
    for n, r in cells:
        if int(r["wrong"]):
            first_bad = (n, r)
            break
        largest = (n, r)
    row = {
        "variant": name,
        "dtype": "float64",
        "first failing input": "-",
        "largest n passing (words)": "-" if largest is None else f"{largest[0]} ({largest[1]['words']})",
        "first failing n": "-" if first_bad is None else str(first_bad[0]),
        "max rel dev of z at largest n": "-" if largest is None else largest[1]["max rel dev from closed form"],
    }
    if first_bad is None:
        n, r = cells[-1]
        row["why"] = (
            f"none up to n = {n} (the float64 sweep, every length 1..64 then a grid); there the smallest "
            f"abs(z) is {r['min abs z']} and z's relative error against the closed form is "
            f"{r['max rel dev from closed form']} (a flip needs 1)"
        )
    else:
        row["why"] = f"{first_bad[1]['wrong']} wrong answers in the sweep at n = {first_bad[0]}"
    return row


DRIFT_LENGTHS = (16, 64, 256, 1024, 4096, 10000)


def render(rows: list[dict[str, str]], cells: list[dict[str, str]] | None = None) -> str:
    """The frontier table, and (given the cells) the largest relative error of z by n for each dtype that holds."""
    lines = [
        "| variant | dtype | largest n passing (words) | first failing n | first failing input | why |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['dtype']} | {r['largest n passing (words)']} | {r['first failing n']} "
            f"| {r['first failing input']} | {r['why']} |"
        )
    if cells:
        by = {(c["variant"], c["dtype"], int(c["n"])): c for c in cells}
        lines += [
            "",
            "Largest relative error of z against the note's closed form, max over the tested words "
            "(blank: not reached):",
            "",
            "| variant | dtype | " + " | ".join(f"n = {n}" for n in DRIFT_LENGTHS) + " |",
            "|---|---|" + "---|" * len(DRIFT_LENGTHS),
        ]
        for r in rows:
            if r["dtype"] == "float64":
                continue
            values = []
            for n in DRIFT_LENGTHS:
                c = by.get((r["variant"], r["dtype"], n))
                ok = c is not None and c["wrong"] == "0" and c["error"] == "-"
                values.append(c["max rel dev from closed form"] if ok else "")
            lines.append(f"| {r['variant']} | {r['dtype']} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def write_results(
    args: argparse.Namespace,
    table: dict[tuple[str, str], dict[str, str]],
    old_cells: list[dict[str, str]],
    cells: list[dict[str, Any]],
) -> list[dict[str, str]]:
    """Write the frontier rows and the tested cells (cells of re-run rows replace their old ones)."""
    order = list(DTYPES)
    rows = sorted(table.values(), key=lambda r: (list(VARIANTS).index(r["variant"]), order.index(r["dtype"])))
    header = [
        "# Chiang & Cholak PARITY / FIRST: precision frontier per dtype (scripts/parity_first_frontier.py)",
        (
            f"# lengths {' '.join(map(str, sorted(args.lengths)))}"
            if args.lengths
            else f"# lengths 1..8, a sqrt(2) grid to 1024, then doubling to {args.max_n}"
        )
        + f", bisected after the first failure; <= {args.samples} words per length (extremes, uniform words, "
        f"uniform-k words), "
        f"<= {args.cell_seconds:g} s per length (but at least {MIN_WORDS} words)",
        "# float64 rows: read from scripts/results/parity_first_sweep.txt (scripts/parity_first_sweep.py)",
        f"# last run: {machine_line(args.threads)}, seed {args.seed}, accumulate={ACCUMULATE[0]}",
    ]
    write_table(args.out, header, COLUMNS, rows)
    done = {(c["variant"], c["dtype"]) for c in cells}
    kept = [c for c in old_cells if (c["variant"], c["dtype"]) not in done]
    all_cells = sorted(
        kept + cells, key=lambda c: (list(VARIANTS).index(c["variant"]), order.index(c["dtype"]), int(c["n"]))
    )
    write_table(args.cells_out, header[:2] + header[3:], CELL_COLUMNS, all_cells)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=list(REGISTERED), choices=list(VARIANTS))
    p.add_argument("--dtypes", nargs="+", default=["float16", "bfloat16", "float32"], choices=list(DTYPES))
    p.add_argument("--max-n", type=int, default=10_000)
    p.add_argument("--lengths", nargs="+", type=int, default=None, help="the lengths to test (default: the grid)")
    p.add_argument("--samples", type=int, default=200, help="words per length")
    p.add_argument("--cell-seconds", type=float, default=30.0, help="stop a length after this many seconds")
    p.add_argument("--bisect-steps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sweep", type=Path, default=SWEEP, help="float64 rows come from this sweep results file")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--cells-out", type=Path, default=CELLS)
    p.add_argument("--update-docs", action="store_true", help="only regenerate the docs table from --out")
    p.add_argument(
        "--re-explain",
        action="store_true",
        help="only re-run the failing length of every row that failed with a non-finite value, and rewrite its why",
    )
    p.add_argument(
        "--merge",
        nargs=2,
        type=Path,
        metavar=("ROWS", "CELLS"),
        help="only merge the rows and cells of another run (e.g. one run in parallel) into --out and --cells-out, "
        "and refresh the float64 rows from --sweep",
    )
    p.add_argument("--accumulate", choices=["dtype", "float64"], default="dtype",
                   help="where all-equal-score attention sums its values: in the dtype as PyTorch does (default), "
                        "or in float64 (TorchArithmetic's accumulate)")
    args = p.parse_args(argv)
    ACCUMULATE[0] = args.accumulate
    torch.set_num_threads(args.threads)
    if args.update_docs:
        _, rows = read_table(args.out)
        _, cells = read_table(args.cells_out)
        update_docs("scripts/parity_first_frontier.py", render(rows, cells))
        print(render(rows, cells))
        return 0
    if args.re_explain:
        comments, rows = read_table(args.out)
        for r in rows:
            if not r["why"].startswith("NonFiniteError"):
                continue
            cell = check_length(
                r["variant"], int(r["first failing n"]), DTYPES[r["dtype"]], args.samples, args.seed, None, args.device
            )
            if cell["_exc"] is None or describe_word(cell["_failing"]) != r["first failing input"]:
                raise SystemExit(f"could not reproduce {r['variant']} {r['dtype']}: {cell}")
            r["why"] = explain(VARIANTS[r["variant"]].build(), cell["_failing"], DTYPES[r["dtype"]], cell["_exc"])
            print(r["variant"], r["dtype"], r["why"], flush=True)
        write_table(args.out, comments, COLUMNS, rows)
        return 0
    if args.merge:
        comments, rows = read_table(args.out)
        _, cells = read_table(args.cells_out)
        other_comments, other_rows = read_table(args.merge[0])
        _, other_cells = read_table(args.merge[1])
        done = {(r["variant"], r["dtype"]) for r in other_rows}
        table = {(r["variant"], r["dtype"]): r for r in rows + other_rows}
        for name in {v for v, _ in table}:
            row = float64_from_sweep(name, args.sweep)
            if row is not None:
                table[(name, "float64")] = row
        cells = [c for c in cells if (c["variant"], c["dtype"]) not in done] + other_cells
        order = list(DTYPES)
        rows = sorted(table.values(), key=lambda r: (list(VARIANTS).index(r["variant"]), order.index(r["dtype"])))
        cells.sort(key=lambda c: (list(VARIANTS).index(c["variant"]), order.index(c["dtype"]), int(c["n"])))
        cap = re.search(r"<= ([0-9.]+) s per length", " ".join(other_comments))
        tested = sorted({int(c["n"]) for c in other_cells})
        merged = [
            f"# merged from a second run: {', '.join(sorted({v for v, _ in done}))}, <= "
            f"{cap.group(1) if cap else '?'} s per length, lengths tested (bisection included): "
            + " ".join(map(str, tested))
        ]
        header = comments[:3] + merged + comments[3:]
        write_table(args.out, header, COLUMNS, rows)
        write_table(args.cells_out, header[:2] + header[3:], CELL_COLUMNS, cells)
        print(render(rows, cells))
        return 0
    lengths = sorted(args.lengths) if args.lengths else default_lengths(args.max_n)
    _, old = read_table(args.out)
    table = {(r["variant"], r["dtype"]): r for r in old}
    _, old_cells = read_table(args.cells_out)
    cells: list[dict[str, Any]] = []
    for name in args.variants:
        for dtype_name in args.dtypes:
            new_cells: list[dict[str, Any]] = []
            table[(name, dtype_name)] = frontier_row(name, dtype_name, lengths, args, new_cells)
            cells += new_cells
            if "float64" not in args.dtypes and args.sweep.exists():
                row = float64_from_sweep(name, args.sweep)
                if row is not None:
                    table[(name, "float64")] = row
            rows = write_results(args, table, old_cells, cells)  # after every row: an interrupted run keeps its rows
    print()
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
