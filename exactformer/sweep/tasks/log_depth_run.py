"""One row of the log-depth verification matrix (:mod:`~exactformer.sweep.tasks.log_depth_verification`): a
recognizer run on the words its language's reference picks at each length, answers against ``DFA.accepts``, declared
invariants by the verifier's own test, within a budget of CPU seconds.

The recognizer and the language come in as objects (the matrix module builds them), so this module needs the core and
the verifier only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ...core.arith import arithmetic_for
from ...core.construction import Construction
from ...verify.check import invariant_holds
from ...verify.reference import LanguageReference


@dataclass
class MatrixRow:
    """Tallies of one (language, recognizer, evaluator, lengths) cell: a row of the matrix."""

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
    cell: MatrixRow,
    c: Construction,
    dfa: Any,
    lengths: Sequence[int],
    per_length: int,
    *,
    exact: bool,
    dtype: torch.dtype,
    invariant_words: int,
    budget: float,
    seed: int,
    exhaustive_limit: int,
) -> MatrixRow:
    """Run ``c`` on the words the reference picks at each length until the lengths or the budget (CPU seconds of
    this process) run out."""
    ref = LanguageReference(dfa)
    arith = arithmetic_for("exact") if exact else arithmetic_for("torch", dtype=dtype)
    start = time.process_time()
    for n in lengths:
        if time.process_time() - start > budget:
            cell.note = f"CPU-time budget {budget:.0f}s: stopped before n = {n}"
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
    cell.seconds = time.process_time() - start
    return cell
