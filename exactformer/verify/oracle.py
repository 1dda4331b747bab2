"""The oracle of mutation testing: whether a mutant's behaviour differs from the reference's, on inputs other than
the ones the check tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..core.construction import Construction
from .check import check
from .report import Report

__all__ = ["Oracle", "CheckOracle", "describe_failure"]



class Oracle(Protocol):
    """Decides whether a mutant's behaviour differs from the reference's: ``witness(mutant)`` returns a
    description of an input where it does, or ``None``."""

    def witness(self, construction: Construction) -> str | None:
        ...


@dataclass
class CheckOracle:
    """The reference asked about inputs other than the check's: :func:`check` with another seed, ``factor`` times
    the samples, exhaustive enumeration up to ``exhaustive_up_to`` inputs per size (twice the check's defaults),
    invariants off, stopping at the first wrong answer (or error, or tie). Machine references contribute their own
    runs from other prompts."""

    reference: Any
    lengths: Sequence[int]
    samples_per_length: int = 400
    exhaustive_up_to: int = 8192
    seed: int = 7919
    backend: str = "torch"
    dtype: Any = None

    def witness(self, construction: Construction) -> str | None:
        report = check(construction, self.reference, lengths=self.lengths, samples_per_length=self.samples_per_length,
                       exhaustive_up_to=self.exhaustive_up_to, seed=self.seed, backend=self.backend,
                       dtype=self.dtype, check_invariants=False, shrink=False, fail_fast=True)
        if report.passed:
            return None
        return describe_failure(report)


def describe_failure(report: Report) -> str:
    if report.failures:
        f = report.failures[0]
        return f"{f.kind} on {_short(f.input)}: expected {_short(f.expected)}, got {_short(f.got)}"
    for r in report.lengths:
        if not r.ok:
            return f"size {r.size}: {r.failed} of {r.tested} wrong"
    return "the check failed"


def _short(v: Any, limit: int = 60) -> str:
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."
