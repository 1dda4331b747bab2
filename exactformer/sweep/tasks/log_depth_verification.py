"""The log-depth verification matrix and the connectivity check as sweep tasks (``configs/log_depth_verification.toml``,
``configs/log_depth_connectivity.toml``; ``docs/log_depth.md``).

For ``log_depth_recognizer`` (Theorem 1's activeness tree), ``pointer_jumping_recognizer`` (the note's Path B) and
the paper-architecture build over parity, Tomita 1-7, modular counters, the A5 and S5 word problems and a few
random DFAs, a ``log_depth_verification`` cell is one (language, recognizer, part) row:

* ``float``: float64, n = 0..64: every word where ``|Σ|^n <= 4096``, otherwise up to ``S/2`` accepted and ``S/2``
  rejected words drawn by the DFA's exact uniform sampler (:class:`~exactformer.verify.reference.LanguageReference`);
* ``long``: float64, n = 128, 256, 512, 1024, a few sampled words per length;
* ``exact``: exact (rational) arithmetic, n = 0..8, where the model is small enough for the exact evaluator.

Answers are compared with ``DFA.accepts``; the construction's declared invariants are checked on the first
``invariant_words`` words of each length by the verifier's own test
(:func:`exactformer.verify.check.invariant_holds`). A ``log_depth_connectivity`` cell runs Theorem 2's model on
every ``(s, t)`` pair of random ``G(n, p)`` digraphs against BFS (``networkx``) in one dtype.

Every cell has a **CPU-time budget** (seconds of :func:`time.process_time` of the worker process, so a row does not
depend on the machine's load): when it runs out the cell stops and its row says at which length; the ``s`` and
``seconds`` columns are the cell's CPU seconds. Each cell runs one shared torch arithmetic on one CPU thread.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ...constructions.log_depth import log_depth_recognizer
from ...constructions.log_depth_connectivity import log_depth_connectivity
from ...constructions.log_depth_paper import paper_tree_recognizer
from ...constructions.pointer_jumping import pointer_jumping_recognizer
from ...core.arith import arithmetic_for
from ...core.construction import Construction
from ...languages import named
from ...languages.dfa import DFA
from . import Task, require_one_of
from .log_depth_run import MatrixRow, run_cell

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


@functools.lru_cache(maxsize=2)
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


def per_length_for(d_mlp: int, base: int, *, shrink: bool = True) -> int:
    """Words per length for the 0..64 sweep: ``base``, or with ``shrink`` ``base`` for narrow MLPs and fewer as the
    width grows (at least 8)."""
    s = base if d_mlp <= 400 or not shrink else int(base * 200 / d_mlp)
    return max(8, s - s % 2)


def connectivity_rows(
    ns: Sequence[int], graphs: int, budget: float, dtypes: Sequence[torch.dtype] = (torch.float64, torch.float32)
) -> list[str]:
    """Theorem 2 against BFS on random digraphs: every (s, t) pair of ``graphs`` G(n, p) digraphs per n (the same
    digraphs for a given n whichever other sizes run), in each of ``dtypes``, each within ``budget`` CPU seconds."""
    import networkx as nx

    rows = ["| n | graphs (p) | queries | dtype | wrong | seconds | note |", "|---|---|---|---|---|---|---|"]
    for n in ns:
        c = log_depth_connectivity(n)
        rng = random.Random(n)
        ps = [0.1, 0.2, 0.35, 0.5][:graphs]
        gs = [nx.gnp_random_graph(n, p, seed=rng.randrange(2**31), directed=True) for p in ps]
        queries = [(g, s, t) for g in gs for s in range(n) for t in range(n)]
        for dtype in dtypes:
            arith = arithmetic_for("torch", dtype=dtype)
            start, done, wrong, note = time.process_time(), 0, 0, "-"
            by_len: dict[int, list[Any]] = {}
            for q in queries:
                by_len.setdefault(len(c.encode(q)), []).append(q)
            for group in by_len.values():
                if time.process_time() - start > budget:
                    note = f"CPU-time budget {budget:.0f}s: {done} of {len(queries)} queries run"
                    break
                for k in range(0, len(group), 32):
                    chunk = group[k : k + 32]
                    for (g, s, t), r in zip(chunk, c.run_batch(chunk, arith=arith, keep_trace=False)):
                        done += 1
                        wrong += int(r.answer != nx.has_path(g, s, t))
            rows.append(
                f"| {n} | {len(gs)} ({', '.join(map(str, ps))}) | {done} | {str(dtype)[6:]} | {wrong} | "
                f"{time.process_time() - start:.0f} | {note} |"
            )
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
    cell = MatrixRow(language, recognizer, evaluator, label, len(dfa.transition_monoid()), d_mlp)
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


def _budgets(cells: list[Any], names: Sequence[str]) -> str:
    """The cells' budgets as ``name value`` (each distinct value when the cells differ)."""
    parts = []
    for name in names:
        values = sorted({float(c.params[name]) for c in cells if name in c.params})
        parts.append(f"{name} " + ("/".join(f"{v:g}" for v in values) if values else "default"))
    return ", ".join(parts)


def budget_line(cells: list[Any], names: Sequence[str], column: str) -> str:
    """The rendered table's statement of its time budgets: CPU seconds, never wall-clock."""
    return (f"# budgets: CPU seconds per cell (time.process_time of the worker process, so a row does not depend on "
            f"the machine's load): {_budgets(cells, names)}; the {column} column is the cell's CPU seconds")


def _rows(cells: list[Any]) -> str:
    return "\n".join(c.result["row"] for c in cells)


def render_matrix(cells: list[Any]) -> str:
    """The matrix rows of the stored cells under their header (the budget line, then the column names)."""
    line = budget_line(cells, ("budget", "long_budget", "exact_budget"), "'s'")
    return "\n".join([line, *TABLE_HEAD, _rows(cells)])


def render_graphs(cells: list[Any]) -> str:
    """The connectivity rows of the stored cells under their header (the budget line, then the column names)."""
    return "\n".join([budget_line(cells, ("budget",), "'seconds'"), *GRAPH_HEAD[3:], _rows(cells)])


def _validate_matrix(language: str = "parity", recognizer: str = "log_depth", part: str = "float",
                     quick: bool = False, **_: Any) -> None:
    require_one_of("language", language, [name for name, _ in languages(quick)])
    require_one_of("recognizer", recognizer, RECOGNIZERS)
    require_one_of("part", part, PARTS)


def _validate_graph(dtype: str = "float64", **_: Any) -> None:
    require_one_of("dtype", dtype, ("float16", "bfloat16", "float32", "float64"))


RECOGNIZER_TASK = Task(run=recognizer_cell, render=render_matrix, validate=_validate_matrix,
                       name="log_depth_verification", params=frozenset(
                           {"language", "recognizer", "part", "quick", "base_words", "invariant_words", "budget",
                            "long_budget", "exact_budget", "exhaustive_limit", "no_shrink"}))
GRAPH_TASK = Task(run=graph_cell, render=render_graphs, validate=_validate_graph, name="log_depth_connectivity",
                  params=frozenset({"n", "dtype", "graphs", "budget"}))
