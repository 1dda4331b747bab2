"""Shared pieces of the PARITY / FIRST scripts (sweep, frontier, certified table): variants, closed forms, words,
per-string measurements, the results-file format and the generated blocks of docs/parity_first.md.

The closed forms are the notes' (docs/notes/parity_first.md, Sections 5, 6, 7.3 and 8.2), evaluated in mpmath
from the formulas alone, never from the model:

* PARITY, no LN: ``z = (e^{-b}/Z2 - e^{b}/Z1)/N`` (k even) or ``(e^{b}/Z2 - e^{-b}/Z1)/N`` (k odd), with
  ``E = ceil(N/2)``, ``O = floor(N/2)``, ``Z1 = E e^b + O e^-b``, ``Z2 = E e^-b + O e^b`` and ``b = 1/sqrt(5)``;
* FIRST, no LN: ``z = +-a_1/2`` with ``a_1 = e^b/(e^b + n)``, ``b = 1/sqrt(6)`` (scaled: ``a_1 = N^b/(N^b + n)``);
* LN with eps = 0: ``z = +-sqrt(10)`` (PARITY) and ``+-sqrt(6)`` (FIRST) for every n.
"""

from __future__ import annotations

import datetime
import math
import platform
import random
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mpmath
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exactformer.constructions.parity_first import first, parity  # noqa: E402
from exactformer.core.construction import Construction  # noqa: E402
from exactformer.verify.cross_entropy import logit, string_cross_entropy_bits  # noqa: E402

DOCS = ROOT / "docs" / "parity_first.md"
RESULTS = ROOT / "scripts" / "results"

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


def odd_ones(word: str) -> bool:
    """PARITY, by counting: an odd number of 1s."""
    return word.count("1") % 2 == 1


def starts_with_one(word: str) -> bool:
    """FIRST, by looking: the first bit is 1."""
    return word[:1] == "1"


def _parity_z(word: str) -> float:
    N = len(word) + 1
    b = 1 / mpmath.sqrt(5)
    E, O = (N + 1) // 2, N // 2
    Z1 = E * mpmath.e**b + O * mpmath.e ** (-b)
    Z2 = E * mpmath.e ** (-b) + O * mpmath.e**b
    if odd_ones(word):
        return float((mpmath.e**b / Z2 - mpmath.e ** (-b) / Z1) / N)
    return float((mpmath.e ** (-b) / Z2 - mpmath.e**b / Z1) / N)


def _first_z(word: str, scaled: bool = False) -> float:
    n = len(word)
    b = 1 / mpmath.sqrt(6)
    w = mpmath.power(n + 1, b) if scaled else mpmath.e**b
    return float(w / (w + n) / 2) * (1 if starts_with_one(word) else -1)


@dataclass(frozen=True)
class Variant:
    """A construction to sweep: its builder, its language and (when the note gives one) the closed form of z."""

    name: str
    build: Callable[[], Construction]
    language: Callable[[str], bool]
    closed_form: Callable[[str], float] | None


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("parity", lambda: parity(), odd_ones, _parity_z),
        Variant(
            "parity-ln", lambda: parity(layer_norm=True), odd_ones, lambda w: math.sqrt(10) * (1 if odd_ones(w) else -1)
        ),
        Variant("first", lambda: first(), starts_with_one, _first_z),
        Variant(
            "first-ln",
            lambda: first(layer_norm=True),
            starts_with_one,
            lambda w: math.sqrt(6) * (1 if starts_with_one(w) else -1),
        ),
        Variant("first-scaled", lambda: first(scaled=True), starts_with_one, lambda w: _first_z(w, scaled=True)),
        Variant("parity-ln-eps1e-5", lambda: parity(layer_norm=True, eps="1/100000"), odd_ones, None),
        Variant("first-ln-eps1e-5", lambda: first(layer_norm=True, eps="1/100000"), starts_with_one, None),
    )
}
REGISTERED = ("parity", "parity-ln", "first", "first-ln", "first-scaled")


def words_for(n: int, count: int, seed: int, uniform_k: bool = False) -> tuple[list[str], str]:
    """``count`` words of length n: all of them when ``2^n <= count``, else the extremes and random words.

    The extremes ``1^n``, ``0^n``, ``1 0^(n-1)``, ``0 1^(n-1)`` come first: the first three hold both labels of both
    languages and the largest count k (where PARITY's hat sits at the last position, CLS). The rest are uniform
    random words, or with ``uniform_k`` half uniform words and half words whose number of 1s is uniform on 0..n
    (random positions), which reaches the large-k words that uniform sampling (k ~ n/2) almost never draws.
    """
    if n <= 20 and 2**n <= count:
        return [format(v, f"0{n}b") for v in range(2**n)], "exhaustive"
    rng = random.Random(f"{seed}:{n}")
    out = list(dict.fromkeys(["1" * n, "0" * n, "1" + "0" * (n - 1), "0" + "1" * (n - 1)]))[:count]
    while len(out) < count:
        if uniform_k and len(out) % 2:
            k = rng.randint(0, n)
            ones = set(rng.sample(range(n), k))
            out.append("".join("1" if i in ones else "0" for i in range(n)))
        else:
            out.append("".join(rng.choice("01") for _ in range(n)))
    return out, "sampled"


#: the sign readout's logit of a run, and ``-log2 sigmoid(+-z)``: the library's own (exactformer.verify.cross_entropy)
z_of = logit
ce_bits = string_cross_entropy_bits


@dataclass
class Tally:
    """Per (variant, dtype, n): answers, margins, deviation from the closed form, stratified cross-entropy."""

    strings: int = 0
    wrong: int = 0
    min_abs_z: float = math.inf
    max_rel_dev: float | None = None
    first_wrong: str | None = None
    ce_in: list[float] | None = None
    ce_out: list[float] | None = None

    def add(self, variant: Variant, word: str, z: float, answer: bool) -> None:
        label = variant.language(word)
        self.strings += 1
        if answer != label:
            self.wrong += 1
            self.first_wrong = self.first_wrong or word
        self.min_abs_z = min(self.min_abs_z, abs(z))
        if variant.closed_form is not None:
            want = variant.closed_form(word)
            dev = abs(z - want) / abs(want) if math.isfinite(z) else math.inf
            self.max_rel_dev = dev if self.max_rel_dev is None else max(self.max_rel_dev, dev)
        bucket = "ce_in" if label else "ce_out"
        if getattr(self, bucket) is None:
            setattr(self, bucket, [])
        getattr(self, bucket).append(ce_bits(z, label))

    def cross_entropy(self) -> tuple[float, float]:
        """The expected CE over uniform words and its standard error, stratified by label.

        Both languages hold exactly half of the words of every length n >= 1, so the expectation is the mean of the
        members' mean CE and the non-members' mean CE (each class sampled uniformly, or exhaustively).
        """
        if not self.ce_in or not self.ce_out:
            return math.nan, math.nan
        means = [math.fsum(x) / len(x) for x in (self.ce_in, self.ce_out)]
        var = [
            math.fsum((v - m) ** 2 for v in x) / max(len(x) - 1, 1) for x, m in zip((self.ce_in, self.ce_out), means)
        ]
        se = 0.5 * math.sqrt(var[0] / len(self.ce_in) + var[1] / len(self.ce_out))
        return (means[0] + means[1]) / 2, se


# ---------------------------------------------------------------------------------------------------------------
# Results files: '#' header lines, then one markdown table whose rows are keyed by their first columns.
# ---------------------------------------------------------------------------------------------------------------


def machine_line(threads: int | None = None) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}, {platform.machine()}, torch {torch.__version__}, {threads or torch.get_num_threads()} "
        "thread(s), shared 2-core machine under load (timings are indicative only)"
    )


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header comments and the rows (as dicts by column name) of a results file."""
    if not path.exists():
        return [], []
    comments, rows, columns = [], [], None
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            comments.append(line)
        elif line.startswith("|") and columns is None:
            columns = [c.strip() for c in line.strip("|").split("|")]
        elif line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.append(dict(zip(columns, cells)))
    return comments, rows


def write_table(path: Path, comments: Sequence[str], columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    lines = list(comments)
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        bad = [c for c in columns if "|" in str(row.get(c, ""))]
        if bad:
            raise ValueError(f"a '|' in the cells {bad} would break the table: {row}")
        lines.append("| " + " | ".join(str(row.get(c, "-")) for c in columns) + " |")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == math.inf:
        return "inf"
    return f"{x:.{digits}g}"


# ---------------------------------------------------------------------------------------------------------------
# Generated blocks of docs/parity_first.md
# ---------------------------------------------------------------------------------------------------------------


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- generated by {name}: begin -->", f"<!-- generated by {name}: end -->"


def docs_block(name: str, text: str | None = None) -> str:
    """The generated block ``name`` of the docs page (between its markers)."""
    begin, end = _markers(name)
    match = re.search(re.escape(begin) + r"\n(.*?)" + re.escape(end), (text or DOCS.read_text()), re.S)
    if match is None:
        raise KeyError(f"docs/parity_first.md has no block generated by {name}")
    return match.group(1)


def update_docs(name: str, block: str) -> None:
    """Replace the generated block ``name`` of the docs page by ``block``."""
    begin, end = _markers(name)
    text = DOCS.read_text()
    pattern = re.escape(begin) + r"\n.*?" + re.escape(end)
    if not re.search(pattern, text, re.S):
        raise KeyError(f"docs/parity_first.md has no block generated by {name}: add the two marker lines first")
    DOCS.write_text(re.sub(pattern, lambda _: f"{begin}\n{block.rstrip()}\n{end}", text, flags=re.S))
