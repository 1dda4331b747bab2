"""The precision frontier of Chiang & Cholak's PARITY / FIRST transformers as a sweep task
(``configs/parity_first_frontier.toml``): one cell per (variant, dtype), the search over lengths inside the cell.

A cell tests the lengths (default: n = 1..8, a sqrt(2)-geometric grid up to 1024, then doubling up to ``max_n``) in
increasing order, each on at most ``samples`` words (the extremes ``1^n``, ``0^n``, ``1 0^(n-1)``, ``0 1^(n-1)``,
then alternately uniform words and words whose number of 1s is uniform on 0..n, so that large counts k are
reached; every word when ``2^n`` is small) and within ``length_cpu_seconds`` of CPU time (:func:`time.process_time`
of the worker, so the row does not depend on the machine's load; at least :data:`MIN_WORDS` words). At the first
length with a wrong answer or a non-finite value, the gap to the last passing length is bisected. The frontier is
the largest tested n below the first failure; the failing word is diagnosed against the float64 run of the same
word (:func:`~exactformer.sweep.tasks.parity_first_diagnosis.explain`). Where nothing fails, the measured quantity
is the largest relative error of z against the note's closed form at the largest n: a decision can flip only once
it reaches 1.

The renderer writes ``scripts/results/parity_first_frontier.txt``'s format: a row per (variant, dtype), the float64
rows taken from the store's ``parity_first_sweep`` cells (the sampled float64 verification, 1,000 words per length),
as the script that preceded this task read them from that sweep's results file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from . import Task, require_one_of
from .parity_first_diagnosis import describe_word, explain
from .parity_first_variants import DTYPES, VARIANTS, Tally, fmt, words_for, z_of

COLUMNS = [
    "variant",
    "dtype",
    "largest n passing (words)",
    "first failing n",
    "first failing input",
    "max rel dev of z at largest n",
    "why",
]
CELL_COLUMNS = ["variant", "dtype", "n", "words", "wrong", "error", "min abs z", "max rel dev from closed form",
                "seconds"]
MIN_WORDS = 3  # a CPU-capped length still runs 1^n, 0^n, 10^(n-1): both labels, PARITY's largest k
ACCUMULATE = ("dtype", "float64")


def default_lengths(max_n: int) -> list[int]:
    """1..8, a sqrt(2)-geometric grid up to 1024, then 2048, 4096, ... and ``max_n`` itself."""
    grid, x = list(range(1, 9)), 8.0
    while round(x * math.sqrt(2)) <= 1024:
        x *= math.sqrt(2)
        grid.append(round(x))
    while grid[-1] * 2 < max_n:
        grid.append(grid[-1] * 2)
    return sorted({n for n in grid if n <= max_n} | {max_n})


def check_length(name: str, n: int, dtype: Any, samples: int, seed: int, cpu_seconds: float | None, device: str,
                 accumulate: str = "dtype") -> dict[str, Any]:
    """One length: every word answered right and finite? Stops at the first wrong batch, or once ``cpu_seconds``
    of this process's CPU time are spent (after at least :data:`MIN_WORDS` words). Returns the length's cell, with
    the failing word (``_failing``) and the exception (``_exc``), if any."""
    from ...core.errors import ExactformerError

    variant = VARIANTS[name]
    c = variant.build()
    words, _ = words_for(n, samples, seed, uniform_k=True)
    tally, error, culprit = Tally(), None, None
    start = time.process_time()
    size = max(1, min(256, int(2.5e8 / (8 * 2 * min(n + 1, 1024) * (n + 1)))))
    for s in range(0, len(words), size):
        chunk = words[s : s + size]
        try:
            results = c.run_batch(chunk, dtype=dtype, device=device, accumulate=accumulate)
        except ExactformerError as exc:  # find the word that raises
            error = exc
            for w in chunk:
                try:
                    c.run(w, dtype=dtype, device=device, accumulate=accumulate)
                except ExactformerError as exc_w:
                    culprit, error = w, exc_w
                    break
            break
        for w, r in zip(chunk, results):
            tally.add(variant, w, z_of(r), bool(r.answer))
        capped = cpu_seconds and time.process_time() - start > cpu_seconds and tally.strings >= MIN_WORDS
        if tally.wrong or capped:
            break
    return {
        "variant": name,
        "dtype": str(dtype).replace("torch.", ""),
        "n": n,
        "words": tally.strings,
        "wrong": tally.wrong,
        "error": type(error).__name__ if error else "-",
        "min abs z": fmt(tally.min_abs_z, 3),
        "max rel dev from closed form": fmt(tally.max_rel_dev, 2),
        "seconds": f"{time.process_time() - start:.1f}",
        "_failing": culprit or tally.first_wrong,
        "_exc": error,
    }


def _passes(cell: dict[str, Any]) -> bool:
    return cell["_failing"] is None and cell["error"] == "-"


def frontier_row(name: str, dtype_name: str, lengths: Sequence[int], *, samples: int, seed: int,
                 cpu_seconds: float | None, bisect_steps: int, device: str,
                 accumulate: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The (variant, dtype) row: the lengths in increasing order, then the bisection after the first failure.
    Returns the row and every tested length's cell (without the failing word and exception)."""
    dtype = DTYPES[dtype_name]
    passed: dict[int, dict[str, Any]] = {}
    failed: dict[str, Any] | None = None
    cells: list[dict[str, Any]] = []

    def probe(n: int) -> dict[str, Any]:
        cell = check_length(name, n, dtype, samples, seed, cpu_seconds, device, accumulate)
        cells.append(cell)
        return cell

    for n in lengths:
        cell = probe(n)
        if _passes(cell):
            passed[n] = cell
            continue
        failed = cell
        break
    if failed is not None:  # bisect between the last passing and the first failing length
        lo, hi = max(passed, default=0), failed["n"]
        for _ in range(bisect_steps):
            if hi - lo <= 1:
                break
            mid = (lo + hi) // 2
            cell = probe(mid)
            if _passes(cell):
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
            f"relative error against the closed form is {top['max rel dev from closed form']} (a flip needs 1)"
        )
    else:
        word = failed["_failing"]
        row["first failing n"] = str(failed["n"])
        row["first failing input"] = describe_word(word)
        wrong = f"{failed['wrong']} of {failed['words']} words wrong; " if failed["wrong"] else ""
        row["why"] = wrong + explain(VARIANTS[name].build(), word, dtype, failed["_exc"], accumulate)
    return row, [{k: v for k, v in c.items() if not k.startswith("_")} for c in sorted(cells, key=lambda c: c["n"])]


def _validate(variant: str = "parity", dtype: str = "float16", lengths: list[int] | None = None, max_n: int = 10_000,
              accumulate: str = "dtype", **_: Any) -> None:
    require_one_of("variant", variant, VARIANTS)
    require_one_of("dtype", dtype, DTYPES)
    require_one_of("accumulate", accumulate, ACCUMULATE)
    if lengths is not None and not (isinstance(lengths, list) and lengths and all(
            isinstance(n, int) and n >= 1 for n in lengths)):
        raise ValueError(f"lengths must be a non-empty list of lengths >= 1, not {lengths!r}")
    if not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a length >= 1, not {max_n!r}")


def frontier_cell(variant: str, dtype: str, max_n: int = 10_000, lengths: list[int] | None = None, samples: int = 200,
                  seed: int = 0, length_cpu_seconds: float | None = 10.0, bisect_steps: int = 8, device: str = "cpu",
                  accumulate: str = "dtype") -> dict[str, Any]:
    """A sweep cell: the (variant, dtype) frontier row on one torch thread, every tested length, and its figures."""
    import torch

    _validate(variant, dtype, lengths, max_n, accumulate)
    torch.set_num_threads(1)
    tested = sorted(lengths) if lengths else default_lengths(max_n)
    row, cells = frontier_row(variant, dtype, tested, samples=samples, seed=seed, cpu_seconds=length_cpu_seconds,
                              bisect_steps=bisect_steps, device=device, accumulate=accumulate)
    first = row["first failing n"]
    figures = {"largest passing": None if row["largest n passing (words)"] == "-"
               else int(row["largest n passing (words)"].split()[0]),
               "first failing": None if first == "-" else int(first), "lengths tested": len(cells)}
    return {"row": row, "lengths": cells, "figures": figures}


# ---------------------------------------------------------------------------------------------------------------
# Rendering: scripts/results/parity_first_frontier.txt and parity_first_frontier_cells.txt
# ---------------------------------------------------------------------------------------------------------------


def float64_row(name: str, sweep_rows: Iterable[dict[str, Any]]) -> dict[str, str] | None:
    """The float64 row of ``name`` from the sampled-verification sweep's rows (``parity_first_sweep`` cells):
    the largest length before the first wrong answer, its words, and the margin and deviation at the largest n."""
    cells = sorted((int(r["n"]), r) for r in sweep_rows if r["variant"] == name and r["dtype"] == "float64")
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
        "max rel dev of z at largest n": "-" if largest is None else str(largest[1]["max rel dev from closed form"]),
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


def _order(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (list(VARIANTS).index(r["variant"]), list(DTYPES).index(r["dtype"]),
                                       int(r.get("n", 0))))


def _lines(comments: Sequence[str], columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    lines = [*comments, "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        bad = [c for c in columns if "|" in str(row.get(c, ""))]
        if bad:
            raise ValueError(f"a '|' in the cells {bad} would break the table: {row}")
        lines.append("| " + " | ".join(str(row.get(c, "-")) for c in columns) + " |")
    return "\n".join(lines)


def _values(cells: list[Any], name: str, default: Any) -> str:
    values = sorted({str(c.params.get(name, default)) for c in cells})
    return "/".join(values) if values else str(default)


def header(cells: list[Any], float64_source: str) -> list[str]:
    """The results file's comment lines, from the stored cells' parameters and provenance."""
    lengths = {str(c.params.get("lengths")) for c in cells if c.params.get("lengths")}
    grid = (f"lengths {' '.join(sorted(lengths))}" if lengths
            else f"lengths 1..8, a sqrt(2) grid to 1024, then doubling to {_values(cells, 'max_n', 10_000)}")
    finished = max((c.finished for c in cells), default="-")
    machines = sorted({c.machine for c in cells}) or ["-"]
    return [
        "# Chiang & Cholak PARITY / FIRST: precision frontier per dtype (configs/parity_first_frontier.toml, task "
        "parity_first_frontier, rendered from the sweep store)",
        f"# {grid}, bisected after the first failure; <= {_values(cells, 'samples', 200)} words per length "
        "(extremes, uniform words, uniform-k words), "
        f"<= {_values(cells, 'length_cpu_seconds', 10.0)} CPU s per length (time.process_time of the worker, "
        f"but at least {MIN_WORDS} words)",
        f"# float64 rows: {float64_source}",
        f"# last cell finished {finished}; {'; '.join(machines)}; 1 torch thread per worker, seed "
        f"{_values(cells, 'seed', 0)}, accumulate={_values(cells, 'accumulate', 'dtype')}",
    ]


def sweep_rows(store: Any) -> list[dict[str, Any]]:
    """The rows of the store's ``parity_first_sweep`` cells (the float64 rows' source)."""
    return [c.result["row"] for c in store.cells() if c.task == "parity_first_sweep"]


def render_table(cells: list[Any], float64_rows: Iterable[dict[str, Any]], float64_source: str) -> str:
    """``parity_first_frontier.txt``: the stored (variant, dtype) rows and the float64 rows of their variants."""
    rows = {(c.result["row"]["variant"], c.result["row"]["dtype"]): c.result["row"] for c in cells}
    extra = list(float64_rows)
    for name in dict.fromkeys(v for v, _ in rows):
        row = float64_row(name, extra)
        if row is not None and (name, "float64") not in rows:
            rows[(name, "float64")] = row
    return _lines(header(cells, float64_source), COLUMNS, _order(rows.values()))


def render_lengths(cells: list[Any]) -> str:
    """``parity_first_frontier_cells.txt``: every tested length of the stored cells."""
    comments = header(cells, "")
    comments = [*comments[:2], *comments[3:], "# seconds: the length's CPU seconds (time.process_time of the worker)"]
    return _lines(comments, CELL_COLUMNS, _order(x for c in cells for x in c.result["lengths"]))


def render(cells: list[Any], store: Any = None) -> str:
    """The frontier table from the stored cells, its float64 rows from the same store's ``parity_first_sweep``
    cells (``configs/parity_first_sweep.toml`` run into it)."""
    rows = sweep_rows(store) if store is not None else []
    source = ("the store's parity_first_sweep cells (configs/parity_first_sweep.toml, 1000 words per length)" if rows
              else "none: the store holds no parity_first_sweep cell (run configs/parity_first_sweep.toml into it)")
    return render_table(cells, rows, source)


TASK = Task(run=frontier_cell, validate=_validate, render=render, reads_store=True, name="parity_first_frontier",
            params=frozenset({"variant", "dtype", "max_n", "lengths", "samples", "seed", "length_cpu_seconds",
                              "bisect_steps", "device", "accumulate"}))
