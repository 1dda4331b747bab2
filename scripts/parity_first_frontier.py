"""The precision frontier of Chiang & Cholak's PARITY / FIRST transformers per dtype, and why each one breaks: a
wrapper that runs the sweep ``configs/parity_first_frontier.toml`` and writes its two results files from the store.

Usage::

    python scripts/parity_first_frontier.py                      # the full configuration (about a CPU-hour), resumable
    python scripts/parity_first_frontier.py --config configs/parity_first_frontier_subset.toml --out rows.txt \
        --cells-out cells.txt                                    # four rows, minutes
    python scripts/parity_first_frontier.py --update-docs        # regenerate the docs table from the results files

One cell per (variant, dtype) (the task ``parity_first_frontier``, :mod:`exactformer.sweep.tasks.parity_first_frontier`,
which says how the lengths are searched and bisected and how a failure is diagnosed) runs on a local Dask cluster
(``--workers``) or an existing one (``--scheduler``); every length has a budget of CPU seconds, so the rows do not
depend on the machine's load. The float64 rows come from the store's ``parity_first_sweep`` cells when it holds them,
else from ``scripts/results/parity_first_sweep.txt`` (itself rendered from that sweep's store).

The same campaign without this wrapper: ``exactformer sweep configs/parity_first_frontier.toml --render -``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parity_first_common import RESULTS, ROOT, read_table, update_docs  # noqa: E402

from exactformer.sweep import Store, load_config, sweep  # noqa: E402
from exactformer.sweep.render import stored_cells  # noqa: E402
from exactformer.sweep.tasks.parity_first_frontier import (  # noqa: E402, F401
    CELL_COLUMNS,
    COLUMNS,
    check_length,
    default_lengths,
    describe_word,
    render_lengths,
    render_table,
    sweep_rows,
)
from exactformer.sweep.tasks.parity_first_variants import DTYPES  # noqa: E402, F401

CONFIG = ROOT / "configs" / "parity_first_frontier.toml"
OUT = RESULTS / "parity_first_frontier.txt"
CELLS = RESULTS / "parity_first_frontier_cells.txt"
SWEEP = RESULTS / "parity_first_sweep.txt"


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


def write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, default=CONFIG)
    p.add_argument("--store", type=Path, default=None, help="results store (default: the config's .sqlite)")
    p.add_argument("--workers", type=int, default=None, help="local cluster's worker processes (default: cores)")
    p.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a running Dask scheduler")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--cells-out", type=Path, default=CELLS)
    p.add_argument("--update-docs", action="store_true", help="only regenerate the docs table from --out")
    args = p.parse_args(argv)
    if args.update_docs:
        _, rows = read_table(args.out)
        _, cells = read_table(args.cells_out)
        update_docs("scripts/parity_first_frontier.py", render(rows, cells))
        print(render(rows, cells))
        return 0
    cfg = load_config(args.config)
    store = args.store or args.config.with_suffix(".sqlite")
    summary = sweep(cfg, store=store, workers=args.workers, scheduler=args.scheduler, progress=sys.stderr.isatty())
    print(summary, file=sys.stderr)
    with Store(store) as db:
        cells = stored_cells(db, cfg)
        float64 = sweep_rows(db)
    source = "the store's parity_first_sweep cells (configs/parity_first_sweep.toml, 1000 words per length)"
    if not float64:
        float64 = read_table(SWEEP)[1]
        source = f"read from {SWEEP.relative_to(ROOT)} (rendered from configs/parity_first_sweep.toml's store)"
    write(args.out, render_table(cells, float64, source))
    write(args.cells_out, render_lengths(cells))
    print(Path(args.out).read_text())
    return 0 if summary.complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
