"""The precision frontier: per dtype (and per variant, e.g. per softmax scale), how far a construction holds.

For each variant and dtype the sizes are tested in increasing order; the frontier is the largest size up to which
every tested size passed, and the first failing input is kept with its diagnosis (why it fails: precision, or a
construction error that shows in every dtype).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..core.construction import Construction
from ..core.errors import InputError
from .arguments import validated_count, validated_dtypes, validated_sizes
from .check import check

__all__ = ["FrontierRow", "Frontier", "frontier", "DTYPES"]

DTYPES: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass
class FrontierRow:
    """One (variant, dtype): the sizes tested, which passed, the frontier and the first failure."""

    variant: str
    dtype: str
    tested: list[int] = field(default_factory=list)
    passed: list[bool] = field(default_factory=list)
    first_failure: Any = None

    @property
    def frontier(self) -> int | None:
        """The largest size up to which every tested size passed (``None`` if the smallest failed)."""
        last = None
        for size, ok in zip(self.tested, self.passed):
            if not ok:
                break
            last = size
        return last

    @property
    def first_failing_size(self) -> int | None:
        for size, ok in zip(self.tested, self.passed):
            if not ok:
                return size
        return None


@dataclass
class Frontier:
    """All rows, with rendering and a plot."""

    construction: str
    rows: list[FrontierRow]
    prediction: str = ""

    def to_markdown(self) -> str:
        lines = [f"**Precision frontier of {self.construction}**", ""]
        if self.prediction:
            lines += [f"Theory: {self.prediction}", ""]
        lines += ["| variant | dtype | largest n passing | first failing n | first failing input | why |",
                  "|---|---|---|---|---|---|"]
        for r in self.rows:
            f = r.first_failure
            lines.append(
                f"| {r.variant} | {r.dtype} | {_fmt(r.frontier)} | {_fmt(r.first_failing_size)} | "
                f"{_short(f.minimal_input) if f else '-'} | {f.reason if f else f'none up to {max(r.tested)}'} |"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def plot(self, path: str | Path | None = None) -> Any:
        """Pass (o) / fail (x) per tested size, one row per (variant, dtype)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 0.5 * len(self.rows) + 1.5))
        for y, r in enumerate(self.rows):
            ok = [s for s, p in zip(r.tested, r.passed) if p]
            bad = [s for s, p in zip(r.tested, r.passed) if not p]
            ax.scatter(ok, [y] * len(ok), marker="o", color="tab:green")
            ax.scatter(bad, [y] * len(bad), marker="x", color="tab:red")
        ax.set_yticks(range(len(self.rows)), [f"{r.variant} / {r.dtype}" for r in self.rows])
        ax.set_xscale("log")
        ax.set_xlabel("n")
        ax.set_title(f"precision frontier: {self.construction}")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def frontier(
    construction: Construction | Mapping[str, Construction],
    reference: Any,
    *,
    lengths: Iterable[int],
    dtypes: Sequence[torch.dtype] = DTYPES,
    samples_per_length: int = 100,
    exhaustive_up_to: int = 256,
    seed: int = 0,
    check_invariants: bool = False,
    stop_at_first_failure: bool = True,
    device: str | torch.device | None = None,
    accumulate: str = "dtype",
) -> Frontier:
    """Measure the precision frontier of one construction or of several variants (``{label: construction}``).

    Every size in ``lengths`` is checked in increasing order with :func:`~exactformer.verify.check` in each dtype;
    with ``stop_at_first_failure`` a (variant, dtype) stops at its first failing size. ``accumulate`` is
    :func:`~exactformer.verify.check`'s: ``"dtype"`` (the default) measures PyTorch's arithmetic in each dtype,
    ``"float64"`` the frontier with all-equal-score attention summed in float64.

    Raises
    ------
    TypeError, InputError
        Before anything runs, as :func:`~exactformer.verify.check` does: ``lengths`` or ``dtypes`` empty, a
        negative size, ``samples_per_length < 1``, a non-float dtype, no variant.
    """
    variants = dict(construction) if isinstance(construction, Mapping) else {construction.name: construction}
    if not variants:
        raise InputError("no construction to measure: the mapping of variants is empty")
    sizes = sorted(set(validated_sizes(lengths)))
    dtypes = validated_dtypes(dtypes)
    samples_per_length = validated_count(samples_per_length, "samples_per_length")
    exhaustive_up_to = validated_count(exhaustive_up_to, "exhaustive_up_to", minimum=0)
    rows = []
    for label, c in variants.items():
        for dtype in dtypes:
            row = FrontierRow(variant=label, dtype=str(dtype).replace("torch.", ""))
            for size in sizes:
                report = check(c, reference, lengths=[size], samples_per_length=samples_per_length,
                               exhaustive_up_to=exhaustive_up_to, backend="torch", dtype=dtype, device=device,
                               seed=seed, check_invariants=check_invariants, shrink=False, accumulate=accumulate)
                row.tested.append(size)
                row.passed.append(report.passed)
                if not report.passed and row.first_failure is None and report.failures:
                    row.first_failure = report.failures[0]
                if not report.passed and stop_at_first_failure:
                    break
            rows.append(row)
    first = next(iter(variants.values()))
    return Frontier(construction=first.name, rows=rows, prediction=first.claims.precision or "")


def _fmt(v: Any) -> str:
    return "-" if v is None else str(v)


def _short(v: Any, limit: int = 40) -> str:
    text = str(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."
