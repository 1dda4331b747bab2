"""Verification matrix of the log-depth recognizers (Merrill & Sabharwal 2025) and of the connectivity model.

For ``log_depth_recognizer`` (Theorem 1's activeness tree) and ``pointer_jumping_recognizer`` (the note's Path B)
over parity, Tomita 1-7, modular counters, the A5 and S5 word problems and a few random DFAs:

* **float64, n = 0..64**: every word where ``|Σ|^n <= 4096``, otherwise up to ``S/2`` accepted and ``S/2`` rejected
  words drawn by the DFA's exact uniform sampler (``exactformer.verify.reference.LanguageReference``, i.e.
  ``DFA.sample``). ``S`` is 400 for narrow models and shrinks with the model's MLP width (the table says which);
* **float64, n = 128, 256, 512, 1024**: a few sampled words per length;
* **exact (rational) arithmetic, n = 0..8**, where the model is small enough for the exact evaluator.

Answers are compared with ``DFA.accepts``. The construction's declared invariants (tree levels, ``$`` tail, round
segments, prefix states) are checked on the first ``--invariant-words`` words of each length by the verifier's own
test (``exactformer.verify.check.invariant_holds``: exactly, or within its float tolerance). Every cell has a time
budget: when it runs out the cell stops and the table says at which length (nothing is silently dropped).

Connectivity (Theorem 2): random ``G(n, p)`` digraphs, n = 5..12, every ``(s, t)`` pair, against BFS
(``networkx``), in float64 and float32.

Usage::

    nice python scripts/log_depth_verification.py [--quick] [--out scripts/results/log_depth_verification.txt]
        [--workers N | --scheduler tcp://HOST:PORT] [--store FILE]

Every row is a cell of a sweep (``docs/sweep.md``): the (language, recognizer, part) cells of the matrix
(:data:`RECOGNIZER_TASK`) and the (n, dtype) cells of connectivity (:data:`GRAPH_TASK`) run on a local Dask cluster
or an existing one (whose workers need ``scripts/`` on their ``PYTHONPATH``), each stored as it completes in
``--store`` (default: ``--out`` with ``.sqlite``), so rerunning the same command resumes; ``--out`` is rendered from
the store. Each cell runs one shared torch arithmetic (weights rendered once) on one CPU thread.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exactformer.constructions.log_depth import log_depth_recognizer
from exactformer.constructions.log_depth_connectivity import log_depth_connectivity
from exactformer.constructions.log_depth_paper import paper_tree_recognizer
from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.core.arith import arithmetic_for
from exactformer.core.construction import Construction
from exactformer.languages import named
from exactformer.languages.dfa import DFA
from exactformer.sweep import Store, Task, parse_config, sweep
from exactformer.sweep.render import stored_cells
from exactformer.verify.check import invariant_holds
from exactformer.verify.reference import LanguageReference

RECOGNIZERS: dict[str, Callable[[DFA], Construction]] = {
    "log_depth": log_depth_recognizer,
    "pointer_jumping": pointer_jumping_recognizer,
    # the tree invariant declared at every level a word of length <= 1024 runs (0 .. 11), not only 0 .. 3
    "paper": lambda dfa: paper_tree_recognizer(dfa, probe_levels=11),
}
LONG_LENGTHS = (128, 256, 512, 1024)


def random_dfa(seed: int, n_states: int, n_symbols: int) -> DFA:
    """A complete random DFA on ``0..n_states-1`` over ``a, b, ...`` (start 0, each state accepting w.p. 1/2)."""
    rng = random.Random(seed)
    symbols = "abcd"[:n_symbols]
    transitions = {(q, a): rng.randrange(n_states) for q in range(n_states) for a in symbols}
    accepting = {q for q in range(n_states) if rng.random() < 0.5} or {0}
    return DFA(states=range(n_states), alphabet=symbols, transitions=transitions, start=0, accepting=accepting)


def languages(quick: bool) -> list[tuple[str, DFA]]:
    """The languages of the matrix, cheapest first."""
    out = [("parity", named.parity())]
    out += [(f"tomita{k}", named.tomita(k)) for k in range(1, 8)]
    out += [("mod(1,3)", named.modular_count(1, 3)), ("mod(2,5)", named.modular_count(2, 5))]
    if not quick:
        out += [("A5", named.word_problem("A5")), ("S5", named.word_problem("S5"))]
    out += [
        (f"random{k}(|Q|={q},|Σ|={s})", random_dfa(100 + k, q, s)) for k, (q, s) in enumerate([(3, 2), (4, 3), (5, 2)])
    ]
    return out


@dataclass
class Cell:
    """Tallies of one (language, recognizer, evaluator, lengths) cell."""

    language: str
    recognizer: str
    evaluator: str
    lengths: str
    monoid: int
    d_mlp: int
    per_length: str = ""
    words: int = 0
    wrong: int = 0
    inv_words: int = 0
    inv_failures: int = 0
    failed_invariants: set[str] = field(default_factory=set)
    seconds: float = 0.0
    last_length: int | None = None
    note: str = ""
    examples: list[str] = field(default_factory=list)

    def row(self) -> str:
        failed = ", ".join(sorted(self.failed_invariants)) or "-"
        return (
            f"| {self.language} | {self.monoid} | {self.recognizer} | {self.evaluator} | {self.lengths} | "
            f"{self.per_length} | {self.words} | {self.wrong} | {self.inv_words} | {self.inv_failures} ({failed}) "
            f"| {self.seconds:.0f} | {self.note or '-'} |"
        )


def run_cell(
    cell: Cell,
    c: Construction,
    dfa: DFA,
    lengths: Sequence[int],
    per_length: int,
    *,
    exact: bool,
    dtype: torch.dtype,
    invariant_words: int,
    budget: float,
    seed: int,
    exhaustive_limit: int,
) -> Cell:
    """Run ``c`` on the words the reference picks at each length until the lengths or the budget run out."""
    ref = LanguageReference(dfa)
    arith = arithmetic_for("exact") if exact else arithmetic_for("torch", dtype=dtype)
    start = time.time()
    for n in lengths:
        if time.time() - start > budget:
            cell.note = f"time budget {budget:.0f}s: stopped before n = {n}"
            break
        xs, _ = ref.inputs(n, count=per_length, exhaustive_limit=exhaustive_limit, rng=random.Random(f"{seed}:{n}"))
        batch = 1 if exact else max(1, min(256, 40_000 // max(1, c.tokens_for(n))))
        checked_here = 0
        for k in range(0, len(xs), batch):
            chunk = xs[k : k + batch]
            want_trace = checked_here < invariant_words
            results = c.run_batch(chunk, arith=arith, keep_trace=want_trace)
            for b, (x, r) in enumerate(zip(chunk, results)):
                cell.words += 1
                if r.answer != dfa.accepts(x):
                    cell.wrong += 1
                    if len(cell.examples) < 3:
                        cell.examples.append(f"n={n}: {x!r} expected {dfa.accepts(x)}")
                if want_trace and checked_here < invariant_words:
                    checked_here += 1
                    cell.inv_words += 1
                    n_tokens = len(c.encode(x))
                    broken = [
                        inv.name
                        for inv in c.invariants
                        if not invariant_holds(inv, r.output.trace, b, x, n_tokens, c.model.space.index,
                                               "exact" if exact else "torch", dtype)[0]
                    ]
                    if broken:
                        cell.inv_failures += 1
                        cell.failed_invariants.update(broken)
        cell.last_length = n
    cell.seconds = time.time() - start
    return cell


def per_length_for(d_mlp: int, base: int, *, shrink: bool = True) -> int:
    """Words per length for the 0..64 sweep: ``base``, or with ``shrink`` ``base`` for narrow MLPs and fewer as the
    width grows (at least 8)."""
    s = base if d_mlp <= 400 or not shrink else int(base * 200 / d_mlp)
    return max(8, s - s % 2)


def connectivity_rows(
    ns: Sequence[int], graphs: int, budget: float, dtypes: Sequence[torch.dtype] = (torch.float64, torch.float32)
) -> list[str]:
    """Theorem 2 against BFS on random digraphs: every (s, t) pair of ``graphs`` G(n, p) digraphs per n (the same
    digraphs for a given n whichever other sizes run), in each of ``dtypes``."""
    rows = ["| n | graphs (p) | queries | dtype | wrong | seconds | note |", "|---|---|---|---|---|---|---|"]
    for n in ns:
        c = log_depth_connectivity(n)
        rng = random.Random(n)
        ps = [0.1, 0.2, 0.35, 0.5][:graphs]
        gs = [nx.gnp_random_graph(n, p, seed=rng.randrange(2**31), directed=True) for p in ps]
        queries = [(g, s, t) for g in gs for s in range(n) for t in range(n)]
        for dtype in dtypes:
            arith = arithmetic_for("torch", dtype=dtype)
            start, done, wrong, note = time.time(), 0, 0, "-"
            by_len: dict[int, list[Any]] = {}
            for q in queries:
                by_len.setdefault(len(c.encode(q)), []).append(q)
            for group in by_len.values():
                if time.time() - start > budget:
                    note = f"time budget {budget:.0f}s: {done} of {len(queries)} queries run"
                    break
                for k in range(0, len(group), 32):
                    chunk = group[k : k + 32]
                    for (g, s, t), r in zip(chunk, c.run_batch(chunk, arith=arith, keep_trace=False)):
                        done += 1
                        wrong += int(r.answer != nx.has_path(g, s, t))
            rows.append(
                f"| {n} | {len(gs)} ({', '.join(map(str, ps))}) | {done} | {str(dtype)[6:]} | {wrong} | "
                f"{time.time() - start:.0f} | {note} |"
            )
            print(rows[-1], flush=True)
    return rows


PARTS = ("float", "long", "exact")
TABLE_HEAD = [
    "| language | |M| | recognizer | evaluator | lengths | words/length | words checked | wrong | inv. words "
    "| inv. failures | s | note |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
]
GRAPH_HEAD = ["", "## Connectivity (Theorem 2) against BFS (networkx.has_path), every (s, t) pair", "",
              "| n | graphs (p) | queries | dtype | wrong | seconds | note |", "|---|---|---|---|---|---|---|"]


def recognizer_cell(language: str, recognizer: str, part: str, quick: bool = False, base_words: int = 400,
                    invariant_words: int = 20, budget: float = 150.0, long_budget: float = 90.0,
                    exact_budget: float = 45.0, exhaustive_limit: int = 4096, no_shrink: bool = False) -> dict:
    """A sweep cell: one (language, recognizer, part) row of the matrix; ``part`` is ``float`` (n = 0..64, or
    0..16 with ``quick``), ``long`` (n = 128..1024, or 32) or ``exact`` (n = 0..8)."""
    torch.set_num_threads(1)
    dfa = dict(languages(quick))[language]
    c = RECOGNIZERS[recognizer](dfa)
    d_mlp, d_model = c.resources(8).d_mlp, c.resources(8).d_model
    short = range(0, 17) if quick else range(0, 65)
    long_lengths = (32,) if quick else LONG_LENGTHS
    if part == "float":
        s = per_length_for(d_mlp, base_words // (8 if quick else 1), shrink=not no_shrink)
        plan = ("float64", f"0..{short[-1]}", list(short), s, False, budget)
    elif part == "long":
        s = 8 if d_mlp <= 400 else (4 if d_mlp <= 4000 else 2)
        plan = ("float64", ",".join(map(str, long_lengths)), list(long_lengths), s, False, long_budget)
    elif part == "exact":
        plan = ("exact", "0..8", list(range(0, 9)), 4, True, exact_budget)
    else:
        raise ValueError(f"part {part!r}: use one of {', '.join(PARTS)}")
    evaluator, label, lengths, s, exact, cell_budget = plan
    cell = Cell(language, recognizer, evaluator, label, len(dfa.transition_monoid()), d_mlp)
    cell.per_length = f"all<={exhaustive_limit} else {s}" if not exact else "all<=8 else 4"
    if exact and recognizer == "paper":
        cell.note = "LayerNorm reads take square roots: the exact evaluator refuses this model; not run"
    elif exact and d_model * d_mlp > 4000:
        cell.note = f"too slow for the exact evaluator (d_model x d_mlp = {d_model * d_mlp}); not run"
    else:
        run_cell(cell, c, dfa, lengths, s, exact=exact, dtype=torch.float64, invariant_words=invariant_words,
                 budget=cell_budget, seed=0, exhaustive_limit=8 if exact else exhaustive_limit)
        if cell.examples:
            cell.note = (cell.note + "; " if cell.note else "") + "e.g. " + "; ".join(cell.examples)
    return {"row": cell.row(), "figures": {"words": cell.words, "wrong": cell.wrong, "inv_failures": cell.inv_failures}}


def graph_cell(n: int, dtype: str = "float64", graphs: int = 2, budget: float = 60.0) -> dict:
    """A sweep cell: connectivity at ``n`` vertices in ``dtype`` (:func:`connectivity_rows`' row)."""
    torch.set_num_threads(1)
    row = connectivity_rows([n], graphs, budget, [getattr(torch, dtype)])[-1]
    return {"row": row, "figures": {"wrong": int(row.split("|")[5])}}


def _rows(cells) -> str:
    return "\n".join(c.result["row"] for c in cells)


RECOGNIZER_TASK = Task(run=recognizer_cell, render=lambda cells: "\n".join(TABLE_HEAD) + "\n" + _rows(cells),
                       name="log_depth_verification", params=frozenset(
                           {"language", "recognizer", "part", "quick", "base_words", "invariant_words", "budget",
                            "long_budget", "exact_budget", "exhaustive_limit", "no_shrink"}))
GRAPH_TASK = Task(run=graph_cell, render=lambda cells: "\n".join(GRAPH_HEAD[3:]) + "\n" + _rows(cells),
                  name="log_depth_connectivity", params=frozenset({"n", "dtype", "graphs", "budget"}))


def configs(args: argparse.Namespace) -> tuple[dict, dict]:
    """The two sweep configurations (recognizer matrix, connectivity) the options describe."""
    skip = set(filter(None, args.skip.split(",")))
    wanted = set(filter(None, args.languages.split(";")))
    names = [lang for lang, _ in languages(args.quick) if not wanted or lang in wanted]
    params = {"quick": args.quick, "base_words": args.base_words, "invariant_words": args.invariant_words,
              "budget": args.budget, "long_budget": args.long_budget, "exact_budget": args.exact_budget,
              "exhaustive_limit": args.exhaustive_limit, "no_shrink": args.no_shrink}
    matrix = {"name": "log-depth-verification" + ("-quick" if args.quick else ""),
              "task": "log_depth_verification:RECOGNIZER_TASK", "params": params,
              "grid": {"language": names, "recognizer": args.recognizers.split(","),
                       "part": [p for p in PARTS if p not in skip]}}
    sizes = [int(v) for v in args.graph_sizes.split(",") if v] or list(range(2, 5) if args.quick else range(5, 13))
    graph = {"name": "log-depth-connectivity" + ("-quick" if args.quick else ""),
             "task": "log_depth_verification:GRAPH_TASK", "params": {"budget": args.graph_budget, "graphs": 2},
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
    parser.add_argument("--budget", type=float, default=150.0, help="seconds per float64 0..64 cell")
    parser.add_argument("--long-budget", type=float, default=90.0, help="seconds per long-length cell")
    parser.add_argument("--exact-budget", type=float, default=45.0, help="seconds per exact cell")
    parser.add_argument("--graph-budget", type=float, default=60.0, help="seconds per (n, dtype) of connectivity")
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
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, torch {torch.__version__}, "
        f"1 thread per worker (exactformer.sweep, store {store})",
        f"# words: exhaustive where |Σ|^n <= {args.exhaustive_limit}, else S/2 accepted + S/2 rejected words by "
        "DFA.sample (exact uniform); budgets (s per cell): "
        f"float 0..64 {args.budget:.0f}, long {args.long_budget:.0f}, exact {args.exact_budget:.0f}",
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
            rows = _rows(stored_cells(db, cfg)).splitlines()
        text += (TABLE_HEAD if part == "matrix" else GRAPH_HEAD) + rows
    Path(args.out).write_text("\n".join(text) + "\n")
    print("\n".join(text))
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
