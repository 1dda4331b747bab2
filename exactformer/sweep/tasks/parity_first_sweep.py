"""The PARITY / FIRST sampled verification as a sweep task (``configs/parity_first_sweep.toml``): one cell per
(variant, n) runs the model (batched torch backend, float64 by default) on the words of
:func:`~exactformer.sweep.tasks.parity_first_variants.words_for` (every word when ``2^n <= samples``; else ``0^n``,
``1 0^(n-1)``, ``1^n``, ``0 1^(n-1)`` and uniform random words) and records how many words, how many wrong answers
(against the language, computed by counting), the smallest ``|z|``, the largest relative deviation of z from the
note's closed form, and the cross-entropy in bits per string (stratified by label: exactly half of all words are
members) with its standard error. The renderer writes ``scripts/results/parity_first_sweep.txt``'s format.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from . import Task, provenance, require_one_of
from .parity_first_variants import DTYPES, VARIANTS, Tally, fmt, words_for, z_of

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
HEADER = [
    "# Chiang & Cholak PARITY / FIRST: sampled verification (scripts/parity_first_sweep.py)",
    "# words: every word when 2^n <= the sample size, else 1^n, 0^n, 10^(n-1), 01^(n-1) and uniform random words",
    "# wrong: answers that differ from the language (odd count of 1s / first bit 1, computed by counting)",
    "# min abs z: the smallest margin; max rel dev: max |z - z_closed| / |z_closed| with the note's closed forms",
    "# (Sections 5, 6, 7.3, 8.2; '-' where the note has none: eps > 0); CE: bits per string, expectation over",
    "# uniform words estimated per label class (half of all words are members) with its standard error",
]


def batch_size(n: int, heads: int = 2, budget: float = 2.5e8) -> int:
    """Words per forward pass: ~``budget`` bytes of float64 attention scores (chunks of 1024 queries)."""
    return max(1, min(512, int(budget / (8 * heads * min(n + 1, 1024) * (n + 1)))))


def run_cell(name: str, n: int, samples: int, seed: int, dtype: Any, device: str) -> dict[str, Any]:
    """One (variant, n) cell: every word of :func:`words_for`, in batches (``dtype`` a torch dtype)."""
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


def _validate(variant: str = "parity", dtype: str = "float64", **_: Any) -> None:
    require_one_of("variant", variant, VARIANTS)
    require_one_of("dtype", dtype, DTYPES)


def sweep_cell(variant: str, n: int, samples: int = 1000, seed: int = 0, dtype: str = "float64",
               device: str = "cpu") -> dict[str, Any]:
    """A sweep cell: :func:`run_cell` on one torch thread, its row and its headline figures."""
    import torch

    _validate(variant, dtype)
    torch.set_num_threads(1)
    row = run_cell(variant, n, samples, seed, DTYPES[dtype], device)
    return {"row": row, "figures": {"words": row["words"], "wrong": row["wrong"]}}


def table_text(comments: Iterable[str], rows: Iterable[dict[str, Any]]) -> str:
    """The results file: the header comments, then the rows in file order (variant, dtype, n)."""
    ordered = sorted(rows, key=lambda r: (list(VARIANTS).index(r["variant"]), r["dtype"], int(r["n"])))
    lines = list(comments) + ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r.get(c, "-")) for c in COLUMNS) + " |" for r in ordered]
    return "\n".join(lines)


def render_cells(cells: list[Any]) -> str:
    """The stored cells' rows as ``scripts/results/parity_first_sweep.txt`` (header comments, the store's provenance:
    the last cell's finishing time, the code versions and the machines; then the rows). ``seconds``: wall seconds."""
    return table_text([*HEADER, provenance(cells, "configs/parity_first_sweep.toml")], [c.result["row"] for c in cells])


TASK = Task(run=sweep_cell, validate=_validate, render=render_cells, name="parity_first_sweep",
            params=frozenset({"variant", "n", "samples", "seed", "dtype", "device"}))
