"""The PARITY / FIRST variants the sweep tasks run (``parity_first_sweep``, ``parity_first_frontier``): builders,
languages, the notes' closed forms of the decision z, the words of a length, and the per-string tally.

The closed forms are the notes' (docs/notes/parity_first.md, Sections 5, 6, 7.3 and 8.2), evaluated in mpmath
from the formulas alone, never from the model:

* PARITY, no LN: ``z = (e^{-b}/Z2 - e^{b}/Z1)/N`` (k even) or ``(e^{b}/Z2 - e^{-b}/Z1)/N`` (k odd), with
  ``E = ceil(N/2)``, ``O = floor(N/2)``, ``Z1 = E e^b + O e^-b``, ``Z2 = E e^-b + O e^b`` and ``b = 1/sqrt(5)``;
* FIRST, no LN: ``z = +-a_1/2`` with ``a_1 = e^b/(e^b + n)``, ``b = 1/sqrt(6)`` (scaled: ``a_1 = N^b/(N^b + n)``);
* LN with eps = 0: ``z = +-sqrt(10)`` (PARITY) and ``+-sqrt(6)`` (FIRST) for every n.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import torch

from ...constructions.parity_first import first, parity
from ...core.construction import Construction
from ...verify.cross_entropy import logit, string_cross_entropy_bits

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


def fmt(x: float | None, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits; ``-`` for None or NaN, ``inf`` for infinity."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == math.inf:
        return "inf"
    return f"{x:.{digits}g}"
