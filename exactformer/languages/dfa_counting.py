"""Counting, enumerating and exactly uniform sampling of the words of one length that a DFA accepts (or rejects).

:class:`SuffixCounts` holds, for one acceptance kind, ``counts[j][i]``: the number of words of length ``j`` that
lead state ``i`` to acceptance (or to rejection), as Python integers (no overflow). Sampling draws each symbol with
probability proportional to its completions, so every word of the requested kind has the same probability.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import numpy as np

from ._common import randbelow

__all__ = ["SuffixCounts", "check_length"]


def check_length(length: Any) -> None:
    """A word length is a non-negative integer (``ValueError`` naming the value otherwise)."""
    if isinstance(length, (bool, np.bool_)) or not isinstance(length, (int, np.integer)):
        raise ValueError(f"length must be a non-negative integer, got {type(length).__name__} {length!r}")
    if length < 0:
        raise ValueError(f"length must be non-negative, got {length}")


class SuffixCounts:
    """Word counts by length and state for a transition table (``-1`` = missing) and accepting mask.

    Parameters
    ----------
    table
        ``table[i, j]``: the next state of state ``i`` on symbol ``j``, ``-1`` where the transition is missing.
    accept_mask
        Which states accept.
    accepted
        Count the words that end accepted (``True``) or rejected (``False``; falling off counts as rejected).

    Notes
    -----
    Index ``n`` (one past the last state) is the "fell off" state, which rejects everything. The counts grow on
    demand and are kept, so asking for a shorter length later costs nothing.
    """

    def __init__(self, table: np.ndarray, accept_mask: np.ndarray, accepted: bool) -> None:
        n, k = table.shape
        self.next = np.vstack([np.where(table < 0, n, table), np.full((1, k), n, dtype=np.int64)])
        base = np.empty(n + 1, dtype=object)
        base[:] = [int(m) if accepted else int(not m) for m in np.append(accept_mask, False)]
        self.counts: list[np.ndarray] = [base]

    def up_to(self, length: int) -> list[np.ndarray]:
        """``counts[j]`` for every ``j <= length`` (computed on first use)."""
        ext, counts = self.next, self.counts
        while len(counts) <= length:
            prev = counts[-1]
            nxt = prev[ext].sum(axis=1) if ext.shape[1] else np.zeros(len(prev), dtype=object)
            if not ext.shape[1]:
                nxt[:] = 0
            counts.append(nxt)
        return counts

    def count(self, state: int, length: int) -> int:
        """The number of words of ``length`` symbols from ``state``."""
        return int(self.up_to(length)[length][state])

    def sample(self, state: int, length: int, symbols: Sequence[Hashable], rng: Any) -> list[Hashable]:
        """A uniformly random word of ``length`` symbols from ``state`` (there must be one: ``count > 0``)."""
        counts = self.up_to(length)
        q = state
        word = []
        for remaining in range(length, 0, -1):
            r = randbelow(rng, int(counts[remaining][q]))
            row = self.next[q]
            below = counts[remaining - 1]
            for j, a in enumerate(symbols):
                c = int(below[row[j]])
                if r < c:
                    word.append(a)
                    q = int(row[j])
                    break
                r -= c
        return word

    def words(self, state: int, length: int, symbols: Sequence[Hashable]) -> Iterator[list[Hashable]]:
        """Every word of ``length`` symbols from ``state``, in lexicographic order of ``symbols`` (the yielded list
        is reused: copy or render it before the next one)."""
        counts = self.up_to(length)
        ext = self.next

        def walk(q: int, remaining: int, prefix: list[Hashable]) -> Iterator[list[Hashable]]:
            if remaining == 0:
                yield prefix
                return
            below = counts[remaining - 1]
            for j, a in enumerate(symbols):
                q2 = int(ext[q, j])
                if below[q2]:
                    prefix.append(a)
                    yield from walk(q2, remaining - 1, prefix)
                    prefix.pop()

        if counts[length][state]:
            yield from walk(state, length, [])
