"""Verification matrix of the log-depth recognizers (Merrill & Sabharwal 2025) and of the connectivity model: a
wrapper that builds the two sweeps' configurations from options and writes their tables to one file.

The cells are the package's sweep tasks ``log_depth_verification`` (one (language, recognizer, part) row: float64
n = 0..64, float64 n = 128..1024 or exact n = 0..8) and ``log_depth_connectivity`` (one (n, dtype) row), in
:mod:`exactformer.sweep.tasks.log_depth_verification`, which says what each checks. Every cell has a budget in CPU
seconds (``time.process_time`` of the worker), so its row does not depend on the machine's load.

Usage::

    nice python scripts/log_depth_verification.py [--quick] [--out scripts/results/log_depth_verification.txt]
        [--workers N | --scheduler tcp://HOST:PORT] [--store FILE]

The cells run on a local Dask cluster or an existing one, each stored as it completes in ``--store`` (default:
``--out`` with ``.sqlite``), so rerunning the same command resumes; ``--out`` is rendered from the store. The same
campaigns without this wrapper: ``exactformer sweep configs/log_depth_verification.toml`` (and
``configs/log_depth_connectivity.toml``).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exactformer.sweep import Store, parse_config, sweep  # noqa: E402
from exactformer.sweep.render import stored_cells  # noqa: E402
from exactformer.sweep.tasks import provenance  # noqa: E402
from exactformer.sweep.tasks.log_depth_verification import (  # noqa: E402, F401
    GRAPH_HEAD,
    GRAPH_TASK,
    PARTS,
    RECOGNIZER_TASK,
    RECOGNIZERS,
    TABLE_HEAD,
    budget_line,
    connectivity_rows,
    graph_cell,
    languages,
    random_dfa,
    recognizer_cell,
    render_graphs,
    render_matrix,
)


def configs(args: argparse.Namespace) -> tuple[dict, dict]:
    """The two sweep configurations (recognizer matrix, connectivity) the options describe."""
    skip = set(filter(None, args.skip.split(",")))
    wanted = set(filter(None, args.languages.split(";")))
    names = [lang for lang, _ in languages(args.quick) if not wanted or lang in wanted]
    params = {"quick": args.quick, "base_words": args.base_words, "invariant_words": args.invariant_words,
              "budget": args.budget, "long_budget": args.long_budget, "exact_budget": args.exact_budget,
              "exhaustive_limit": args.exhaustive_limit, "no_shrink": args.no_shrink}
    matrix = {"name": "log-depth-verification" + ("-quick" if args.quick else ""),
              "task": "log_depth_verification", "params": params,
              "grid": {"language": names, "recognizer": args.recognizers.split(","),
                       "part": [p for p in PARTS if p not in skip]}}
    sizes = [int(v) for v in args.graph_sizes.split(",") if v] or list(range(2, 5) if args.quick else range(5, 13))
    graph = {"name": "log-depth-connectivity" + ("-quick" if args.quick else ""),
             "task": "log_depth_connectivity", "params": {"budget": args.graph_budget, "graphs": 2},
             "grid": {"n": sizes, "dtype": args.graph_dtypes.split(",")}}
    return matrix, graph


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="no A5/S5, n <= 16, few words, small graphs")
    parser.add_argument("--out", default="scripts/results/log_depth_verification.txt")
    parser.add_argument("--store", default=None, help="results store (default: --out with .sqlite)")
    parser.add_argument("--workers", type=int, default=None, help="local cluster's worker processes (default: cores)")
    parser.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a running Dask scheduler")
    parser.add_argument("--base-words", type=int, default=400, help="words per length for narrow models")
    parser.add_argument("--invariant-words", type=int, default=20, help="words per length whose invariants are checked")
    parser.add_argument("--budget", type=float, default=150.0, help="CPU seconds per float64 0..64 cell")
    parser.add_argument("--long-budget", type=float, default=90.0, help="CPU seconds per long-length cell")
    parser.add_argument("--exact-budget", type=float, default=45.0, help="CPU seconds per exact cell")
    parser.add_argument("--graph-budget", type=float, default=60.0, help="CPU seconds per (n, dtype) of connectivity")
    parser.add_argument(
        "--exhaustive-limit", type=int, default=4096, help="test every word of a length when at most this many"
    )
    parser.add_argument(
        "--no-shrink", action="store_true", help="--base-words per length for every model, however wide its MLP"
    )
    parser.add_argument("--languages", default="", help="semicolon-separated language names to run (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: float,long,exact,graph")
    parser.add_argument("--recognizers", default=",".join(RECOGNIZERS), help="comma-separated recognizers to run")
    parser.add_argument("--graph-sizes", default="", help="comma-separated vertex counts (default 5..12; quick 2..4)")
    parser.add_argument("--graph-dtypes", default="float64,float32", help="comma-separated dtypes of connectivity")
    args = parser.parse_args(argv)
    store = Path(args.store or Path(args.out).with_suffix(".sqlite"))
    header = [
        "# log-depth verification matrix (scripts/log_depth_verification.py" + (" --quick" if args.quick else "") + ")",
        f"# rendered {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({platform.machine()}, torch "
        f"{torch.__version__}) from the store {store}; each part's cells' provenance on the line before its table",
        f"# words: exhaustive where |Σ|^n <= {args.exhaustive_limit}, else S/2 accepted + S/2 rejected words by "
        "DFA.sample (exact uniform)",
        "# wrong = answers differing from DFA.accepts; inv = words whose declared invariants were checked (the first "
        f"{args.invariant_words} per length), failures = words with a broken invariant (names in brackets)",
        "",
    ]
    matrix, graph = configs(args)
    text, complete = list(header), True
    for raw, part in ((matrix, "matrix"), (graph, "graph")):
        if part == "graph" and "graph" in args.skip.split(","):
            continue
        cfg = parse_config(raw, source=f"scripts/log_depth_verification.py ({part})")
        summary = sweep(cfg, store=store, workers=args.workers, scheduler=args.scheduler,
                        progress=sys.stderr.isatty())
        print(summary, file=sys.stderr)
        complete = complete and summary.complete
        with Store(store) as db:
            cells = stored_cells(db, cfg)
        rendered = render_matrix(cells) if part == "matrix" else render_graphs(cells)
        text += ([] if part == "matrix" else GRAPH_HEAD[:3]) + [provenance(cells, cfg.source)] + rendered.splitlines()
    Path(args.out).write_text("\n".join(text) + "\n")
    print("\n".join(text))
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
