"""What mutation testing found: one :class:`MutantOutcome` per mutant and the :class:`MutationReport` that tallies
them (as text, JSON, Markdown or a rich table)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .mutants import Mutation

__all__ = ["Verdict", "MutantOutcome", "MutationReport"]

Verdict = Literal["caught", "caught only by invariants", "missed", "equivalent", "flagged"]


@dataclass
class MutantOutcome:
    """What happened to one mutant."""

    mutation: Mutation
    verdict: Verdict
    witness: str | None = None
    caught_by: str | None = None

    @property
    def behaviour_changing(self) -> bool:
        return self.verdict in ("caught", "caught only by invariants", "missed")

    def as_dict(self) -> dict[str, Any]:
        m = self.mutation
        return {"site": m.site, "index": list(m.index), "operator": m.operator, "before": str(m.before),
                "after": str(m.after), "verdict": self.verdict, "witness": self.witness, "caught_by": self.caught_by}


@dataclass
class MutationReport:
    """The outcome of :func:`mutate`: one :class:`MutantOutcome` per mutant, and the tallies."""

    construction: str
    entries: int
    nonzero_entries: int
    outcomes: list[MutantOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def _count(self, *verdicts: str) -> int:
        return sum(1 for o in self.outcomes if o.verdict in verdicts)

    @property
    def mutants(self) -> int:
        return len(self.outcomes)

    @property
    def behaviour_changing(self) -> int:
        return self._count("caught", "caught only by invariants", "missed")

    @property
    def caught(self) -> int:
        """Behaviour-changing mutants the check failed (by an answer, an error or a tie, or by an invariant)."""
        return self._count("caught", "caught only by invariants")

    @property
    def caught_only_by_invariants(self) -> int:
        return self._count("caught only by invariants")

    @property
    def missed(self) -> list[MutantOutcome]:
        """The behaviour-changing mutants the check passed: each a hole in the verifier."""
        return [o for o in self.outcomes if o.verdict == "missed"]

    @property
    def caught_fraction(self) -> float:
        return self.caught / self.behaviour_changing if self.behaviour_changing else 1.0

    @property
    def passed(self) -> bool:
        """Whether every behaviour-changing mutant was caught."""
        return not self.missed

    def summary(self) -> str:
        return (f"{self.construction}: {self.mutants} mutants of {self.entries} entries, {self.behaviour_changing} "
                f"behaviour-changing, {self.caught} caught ({self.caught_only_by_invariants} only by invariants), "
                f"{len(self.missed)} missed ({100 * self.caught_fraction:.0f}% caught) in {self.seconds:.1f} s")

    def as_dict(self) -> dict[str, Any]:
        return {"construction": self.construction, "entries": self.entries, "nonzero_entries": self.nonzero_entries,
                "mutants": self.mutants, "behaviour_changing": self.behaviour_changing, "caught": self.caught,
                "caught_only_by_invariants": self.caught_only_by_invariants, "missed": len(self.missed),
                "seconds": round(self.seconds, 2), "outcomes": [o.as_dict() for o in self.outcomes]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent)

    def to_markdown(self) -> str:
        lines = [f"**{self.summary()}**", "", "| mutation | verdict | witness | caught by |", "|---|---|---|---|"]
        for o in self.outcomes:
            lines.append(f"| `{o.mutation}` | {o.verdict} | {o.witness or '-'} | {o.caught_by or '-'} |")
        return "\n".join(lines)

    def render(self) -> Any:
        """A rich renderable: the tallies, then one row per mutant (missed ones in red)."""
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(self.summary()), title_justify="left")
        for h in ("mutation", "verdict", "witness", "caught by"):
            table.add_column(h)
        for o in self.outcomes:  # Text cells: names and witnesses print verbatim, never as rich markup
            style = "red" if o.verdict == "missed" else ("dim" if o.verdict == "equivalent" else None)
            cells = (str(o.mutation), o.verdict, o.witness or "-", o.caught_by or "-")
            table.add_row(*(Text(c) for c in cells), style=style)
        return table

    def __repr__(self) -> str:
        return f"<MutationReport {self.summary()}>"
