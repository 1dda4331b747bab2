"""Cross-entropy and accuracy of a sign-readout construction over a set of words, against labels from a reference.

Hahn (2020) predicts that a soft-attention encoder's confidence on a language like PARITY tends to 1/2, so its
cross-entropy tends to 1 bit per string even at perfect accuracy; Chiang & Cholak's layer-norm models escape it. The
model's ``P(accept) = sigmoid(z)``, so a string costs ``-log2 sigmoid(+-z)`` bits and is correct iff the sign of z
matches its label (z = 0 rejects).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from ..core.architecture import Attention
from ..core.construction import Construction, RunResult

__all__ = ["CrossEntropy", "cross_entropy_bits", "string_cross_entropy_bits", "logit"]


@dataclass(frozen=True)
class CrossEntropy:
    """Mean cross-entropy in bits per string, accuracy, the number of strings and the smallest ``|z|``."""

    bits: float
    accuracy: float
    count: int
    min_margin: float


def logit(result: RunResult) -> float:
    """The sign readout's logit ``z`` of a run (an interval's midpoint for the certified backend)."""
    value = result.logits[0]
    return float(value.mid) if hasattr(value, "mid") else float(value)


def string_cross_entropy_bits(z: float, label: bool) -> float:
    """``-log2 sigmoid(t)`` with ``t = z`` for a member and ``-z`` otherwise, computed without overflow."""
    t = z if label else -z
    return (max(-t, 0.0) + math.log1p(math.exp(-abs(t)))) / math.log(2)


def _batch_for(construction: Construction, n_tokens: int, budget_bytes: int = 1 << 28) -> int:
    heads = max((l.attention.block.n_heads for _, l in construction.model.named_layers(n_tokens)
                 if l.attention and isinstance(l.attention.block, Attention)), default=1)
    per_string = 8 * heads * min(n_tokens, 1024) * n_tokens + 64 * n_tokens * construction.model.d_model
    return max(1, min(512, budget_bytes // max(per_string, 1)))


def cross_entropy_bits(
    construction: Construction,
    words: Iterable[Any],
    labels: Callable[[Any], bool],
    backend: str = "torch",
    dtype: torch.dtype | None = torch.float64,
    *,
    batch_size: int | None = None,
) -> CrossEntropy:
    """Cross-entropy (bits per string) and accuracy of a sign-readout construction over ``words``.

    The label of a word is ``labels(word)``, from an independent reference (e.g.
    ``exactformer.languages.parity().accepts``). Words are grouped by length and run in batches (``batch_size``
    defaults to what fits in ~256 MB of attention scores).
    """
    groups: dict[int, list[Any]] = {}
    for w in words:
        groups.setdefault(len(construction.encode(w)), []).append(w)
    total_bits, correct, count, min_margin = 0.0, 0, 0, math.inf
    for n_tokens, group in sorted(groups.items()):
        size = batch_size or _batch_for(construction, n_tokens)
        for start in range(0, len(group), size):
            batch = group[start : start + size]
            for w, r in zip(batch, construction.run_batch(batch, backend=backend, dtype=dtype)):
                z, label = logit(r), bool(labels(w))
                total_bits += string_cross_entropy_bits(z, label)
                correct += int(bool(r.answer) == label)
                count += 1
                min_margin = min(min_margin, abs(z))
    if count == 0:
        raise ValueError("no words given")
    return CrossEntropy(total_bits / count, correct / count, count, min_margin)
