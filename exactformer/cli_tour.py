"""``exactformer tour``: the library's point in one command, under a minute.

One published construction (Chiang & Cholak's exact PARITY transformer by default) is built from its exact weights,
run once with certified interval arithmetic, and verified against its independent reference (a DFA written apart
from the construction) at every registered size; the report says what was checked, and where the precision frontier,
the deviations from the paper and the proof live.
"""

from __future__ import annotations

from pathlib import Path

import torch
from rich.console import Console

from . import constructions
from .core.construction import Construction
from .verify import check

#: The repository checkout the package runs from (results files and docs live there, not in an installed wheel).
ROOT = Path(__file__).resolve().parents[1]
FRONTIER = ROOT / "scripts" / "results" / "parity_first_frontier.txt"
#: The docs page of each family the tour knows (the others point to ``docs/`` in general).
PAGES = {"parity": "docs/parity_first.md", "parity-ln": "docs/parity_first.md", "first": "docs/parity_first.md",
         "first-ln": "docs/parity_first.md", "first-scaled": "docs/parity_first.md"}


def _frontier_rows(name: str) -> list[str]:
    """This checkout's measured precision frontier of ``name`` below float64, one line per dtype (none when the
    results file is absent or has no row for it)."""
    if not FRONTIER.exists():
        return []
    lines = []
    for line in FRONTIER.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] == name and cells[1] in ("float16", "bfloat16", "float32"):
            largest = cells[2].split()[0]
            lines.append(f"{cells[1]}: right up to n = {largest}, first fails at n = {cells[3]}" if cells[3] != "-"
                         else f"{cells[1]}: no failure found up to n = {largest}")
    return lines


def tour(console: Console, name: str, construction: Construction) -> bool:
    """Print the tour of the registered construction ``name`` (built with its default options as
    ``construction``); ``True`` if the verification passed."""
    entry = constructions.get(name)
    reference = entry.reference(construction) if entry.reference is not None else None
    lengths = list(entry.default_lengths(construction))
    n = max(lengths)
    r = construction.resources(n)
    say = lambda text="": console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)  # noqa: E731
    say(f"{name}: {construction.citation}")
    say(f"  {r.layers} layers, {r.heads} heads, d_model {r.d_model}, {', '.join(r.attention_kinds)} attention at "
        f"n = {n}; weights are exact rationals (exactformer build {name} --out model.safetensors saves them)")
    example = entry.example
    run = construction.run(example, backend="certified")
    status = "certified by interval arithmetic" if run.certified else "NOT certified"
    say(f"  on {example!r}: answer {run.answer!r}, margin {run.margin:.3g}, {status}")
    if reference is None:
        say(f"  {name} has no registered reference to verify against")
        return False
    say()
    say(f"Verifying against the independent reference, {reference!r} (exactformer.languages, written apart from "
        f"the construction), at n = {min(lengths)}..{n} in float64 ...")
    report = check(construction, reference, lengths=lengths, backend="torch", dtype=torch.float64)
    say(f"  {report.summary()}")
    exhaustive = [x.size for x in report.lengths if x.mode == "exhaustive"]
    if len(exhaustive) == len(report.lengths):
        say("  every input of every size tested")
    elif exhaustive:
        say(f"  every input tested at n = {min(exhaustive)}..{max(exhaustive)}; larger sizes sampled")
    margin = min(x.min_margin for x in report.lengths if x.tested)
    say(f"  smallest decision margin {margin:.3g}")
    for invariant in sorted({k for x in report.lengths for k in x.invariants}):
        held = sum(x.invariants[invariant].held for x in report.lengths if invariant in x.invariants)
        checked = sum(x.invariants[invariant].checked for x in report.lengths if invariant in x.invariants)
        say(f"  proof statement {invariant!r}: held {held}/{checked}")
    claims = sorted({c.claim for x in report.lengths for c in x.claims})
    broken = [c for x in report.lengths for c in x.claims if not c.holds]
    if claims:
        say(f"  theorem's resource claims ({'; '.join(claims)}): {'all hold' if not broken else 'BROKEN'}")
    say()
    say("Where to read on")
    frontier = _frontier_rows(name)
    if frontier:
        say(f"  precision frontier below float64 ({FRONTIER.relative_to(ROOT)}, PyTorch's arithmetic):")
        for line in frontier:
            say(f"    {line}")
    if name in PAGES:
        say(f"  why each dtype breaks, and the deviations from the authors' code: {PAGES[name]}")
    for deviation in construction.deviations:
        say(f"  deviation: {deviation}")
    say(f"  exactformer prove {name}       the proof for every n, lemma by lemma")
    say(f"  exactformer frontier {name}    the precision frontier per dtype, measured now")
    say(f"  exactformer mutate {name}      how many broken weights this check catches")
    say("  exactformer list              every construction and its theorem")
    return report.passed
