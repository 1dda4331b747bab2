"""The verifier's report: per input size what was tested, what passed, the margins, the invariants, the failures.

A :class:`Report` renders as a terminal table (:meth:`Report.render`), JSON (:meth:`Report.to_json`) and markdown
(:meth:`Report.to_markdown`), and plots the smallest decision margin against n (:meth:`Report.plot_margins`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Failure", "InvariantTally", "ClaimResult", "LengthReport", "Report"]


@dataclass
class Failure:
    """One disagreement, with where and why.

    Attributes
    ----------
    kind
        ``"answer"`` (the model's answer differs from the reference), ``"invariant"`` (a proof invariant does not
        hold), ``"tie"`` (the model decided nothing: two equal largest readout logits, a sign logit of exactly 0, or
        a hard-attention tie without a tie rule; whatever label came out is not an answer), ``"uncertified"`` (the
        certified backend's intervals do not separate a decision, so the answer is not verified), or ``"error"``
        (the forward pass raised: a NaN or an infinity, an irrational operation...), or ``"resources"`` (the model
        breaks a resource claim of its theorem at this size: ``where`` names the claim, ``reason`` the inequality).
    input, minimal_input
        The failing input as found, and after shrinking (the smallest failing input the shrinker reached);
        ``None`` for a resources failure (it concerns the size, not an input).
    expected, got
        The reference's answer (or invariant value) and the model's.
    where
        The first named invariant that broke on the minimal input, or the first sublayer at which the float run
        leaves the exact one, or the sublayer that raised.
    reason
        ``"construction error"`` (the exact model itself disagrees with the reference), ``"precision"`` (the exact
        model agrees, the float rendering does not), or the error's message.
    """

    kind: str
    input: Any
    minimal_input: Any
    expected: Any
    got: Any
    where: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in asdict(self).items()}


@dataclass
class InvariantTally:
    """How often one invariant was checked and held."""

    name: str
    checked: int = 0
    held: int = 0

    @property
    def ok(self) -> bool:
        return self.checked == self.held


@dataclass(frozen=True)
class ClaimResult:
    """One resource claim set against the model at one size (see :mod:`exactformer.verify.claims`).

    Attributes
    ----------
    claim
        The claim as the paper states it (``"layers <= 8⌈log2 n⌉ + 9"``, ``"attention hard"``).
    source
        ``"theorem"`` or ``"build"`` (the construction's own stated size).
    n, measured, bound
        The size, what the model uses there, and the claim's bound there.
    holds
        Whether the model keeps the claim.
    """

    claim: str
    source: str
    n: int
    measured: str
    bound: str
    holds: bool


@dataclass
class LengthReport:
    """Results for one input size.

    ``passed`` counts the inputs answered as the reference does by a decision that is not a tie (and, with the
    certified backend, is certified); ``ties`` counts the inputs whose readout or hard attention tied (margin 0),
    ``uncertified`` those the certified backend could not verify. Both are failures.
    """

    size: int
    mode: str
    tested: int = 0
    passed: int = 0
    certified: int = 0
    min_margin: float = math.inf
    ties: int = 0
    uncertified: int = 0
    cross_entropy_bits: float | None = None
    invariants: dict[str, InvariantTally] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    claims: list[ClaimResult] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.tested - self.passed

    @property
    def ok(self) -> bool:
        return (self.failed == 0 and all(t.ok for t in self.invariants.values()) and not self.failures
                and all(c.holds for c in self.claims))

    @property
    def accuracy(self) -> float:
        return self.passed / self.tested if self.tested else math.nan


@dataclass
class Report:
    """The outcome of :func:`~exactformer.verify.check`.

    ``black_box`` marks a check of a model known only by its answers (:mod:`exactformer.verify.black_box`): the
    report then holds answers only, no invariants, claims or margins.
    """

    construction: str
    reference: str
    backend: str
    dtype: str
    seed: int
    lengths: list[LengthReport] = field(default_factory=list)
    black_box: bool = False

    @property
    def passed(self) -> bool:
        """Whether every tested input gave the reference's answer and every invariant held."""
        return all(r.ok for r in self.lengths)

    @property
    def failures(self) -> list[Failure]:
        return [f for r in self.lengths for f in r.failures]

    @property
    def tested(self) -> int:
        return sum(r.tested for r in self.lengths)

    def summary(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        ties = sum(r.ties for r in self.lengths)
        uncertified = sum(r.uncertified for r in self.lengths)
        fails = sum(r.failed for r in self.lengths) - ties - uncertified
        undecided = (f", {ties} ties" if ties else "") + (f", {uncertified} not verified (uncertified)"
                                                            if uncertified else "")
        how = "black box: answers only, no invariants" if self.black_box else f"{self.backend}, {self.dtype}"
        return (
            f"{verdict}: {self.construction} vs {self.reference} ({how}, seed {self.seed}): "
            f"{self.tested} inputs over {len(self.lengths)} sizes, {fails} wrong answers{undecided}, "
            f"{len(self.failures)} failure reports"
        )

    # -- rendering -----------------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        return {
            "construction": self.construction,
            "reference": self.reference,
            "backend": self.backend,
            "dtype": self.dtype,
            "seed": self.seed,
            "black_box": self.black_box,
            "passed": self.passed,
            "lengths": [
                {
                    "size": r.size,
                    "mode": r.mode,
                    "tested": r.tested,
                    "passed": r.passed,
                    "failed": r.failed,
                    "certified": r.certified,
                    "ties": r.ties,
                    "uncertified": r.uncertified,
                    "min_margin": _jsonable(r.min_margin),
                    "cross_entropy_bits": _jsonable(r.cross_entropy_bits),
                    "invariants": {k: {"checked": t.checked, "held": t.held} for k, t in r.invariants.items()},
                    "failures": [f.as_dict() for f in r.failures],
                    "claims": [asdict(c) for c in r.claims],
                }
                for r in self.lengths
            ],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent)

    def _rows(self) -> list[list[str]]:
        rows = []
        for r in self.lengths:
            inv = ", ".join(f"{k} {t.held}/{t.checked}" for k, t in r.invariants.items()) or "-"
            ce = "-" if r.cross_entropy_bits is None else f"{r.cross_entropy_bits:.4g}"
            claims = f"{sum(c.holds for c in r.claims)}/{len(r.claims)}" if r.claims else "-"
            margin = "-" if math.isnan(r.min_margin) else f"{r.min_margin:.3g}"  # nan: not measured (black box)
            rows.append([str(r.size), r.mode, str(r.tested), str(r.passed), str(r.failed), margin,
                         ce, claims, inv])
        return rows

    _HEADER = ["n", "inputs", "tested", "passed", "failed", "min margin", "CE (bits)", "claims held",
               "invariants held/checked"]

    def claims_checked(self) -> str:
        """The claims the check set against the model, in one line (``"claims checked: layers <= ... (n = 0..16);
        attention hard (n = 0..16)"``), or ``""`` when the construction states none."""
        sizes: dict[str, list[int]] = {}
        for r in self.lengths:
            for c in r.claims:
                sizes.setdefault(c.claim, []).append(c.n)
        if not sizes:
            return ""
        spans = [f"{claim} (n = {min(ns)}..{max(ns)})" if len(ns) > 1 else f"{claim} (n = {ns[0]})"
                 for claim, ns in sizes.items()]
        return "claims checked: " + "; ".join(spans)

    def to_markdown(self) -> str:
        lines = [f"**{self.summary()}**", "", "| " + " | ".join(self._HEADER) + " |",
                 "|" + "---|" * len(self._HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in self._rows()]
        if self.claims_checked():
            lines += ["", self.claims_checked()]
        if self.failures:
            lines.append("")
        for f in self.failures:
            if f.kind == "resources":
                lines.append(f"- resources failure: {f.reason}")
                continue
            lines.append(
                f"- {f.kind} failure: input `{_short(f.input)}`, minimal `{_short(f.minimal_input)}`: expected "
                f"`{_short(f.expected)}`, got `{_short(f.got)}` — at {f.where} ({f.reason})"
            )
        return "\n".join(lines)

    def render(self) -> Any:
        """A rich renderable (table plus failure lines) for the terminal."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        # every string is a Text: names such as ``connectivity[printed_and]`` or state ``ARR:B:1`` print verbatim,
        # never read as rich markup or emoji codes
        table = Table(title=Text(self.summary()), title_justify="left")
        for h in self._HEADER:
            table.add_column(h, justify="right" if h not in ("inputs", "claims held", "invariants held/checked")
                             else "left")
        for row, r in zip(self._rows(), self.lengths):
            table.add_row(*(Text(cell) for cell in row), style=None if r.ok else "red")
        parts: list[Any] = [table]
        if self.claims_checked():
            parts.append(Text(self.claims_checked()))
        for f in self.failures:
            if f.kind == "resources":
                parts.append(Text(f"resources failure: {f.reason}", style="red"))
                continue
            parts.append(Text(
                f"{f.kind} failure at n={_size_of(f.input)}: minimal input {_short(f.minimal_input)!s}: expected "
                f"{_short(f.expected)}, got {_short(f.got)} — at {f.where} ({f.reason})",
                style="red",
            ))
        return Group(*parts)

    def __str__(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return f"<Report {self.summary()}>"

    def plot_margins(self, path: str | Path | None = None, ax: Any = None) -> Any:
        """Plot the smallest decision margin against n (log scale); save to ``path`` if given."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        sizes = [r.size for r in self.lengths if r.tested and math.isfinite(r.min_margin)]
        margins = [max(r.min_margin, 1e-300) for r in self.lengths if r.tested and math.isfinite(r.min_margin)]
        ax.plot(sizes, margins, marker="o")
        ax.set_yscale("log")
        ax.set_xlabel("n")
        ax.set_ylabel("smallest decision margin")
        ax.set_title(f"{self.construction} ({self.backend}, {self.dtype})")
        if path is not None:
            ax.figure.tight_layout()
            ax.figure.savefig(path, dpi=120)
        return ax


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


def _short(v: Any, limit: int = 80) -> str:
    text = str(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _size_of(v: Any) -> Any:
    try:
        return len(v)
    except TypeError:
        return "?"
