"""A DFA reference as arrays: its transition table, whole batches of words as symbol indices, and the answers.

The verifier's tensor path (:mod:`exactformer.verify.tensor_check`) never builds a word as a string unless it fails.
For a language given by a DFA this module supplies, per length, the words to test as one ``[batch, n]`` array of
indices into the reference's alphabet, and the DFA's answers by a batched table gather:

* every word of the length (the rows of ``itertools.product`` over the alphabet, in that order) when there are at
  most ``exhaustive_limit``;
* otherwise, as many uniformly random accepted words as rejected ones (:func:`sample_words`), **exactly** uniform:
  uniformly random words (one ``numpy`` draw per batch) are run through the table and kept when they are of the
  kind wanted (rejection sampling: a uniform word conditioned on acceptance is a uniform accepted word). When one
  kind is rare (fewer than 1 word in 4096), its words are drawn by the DFA's own sampler instead, symbol by symbol
  from exact path counts (:meth:`~exactformer.languages.DFA.sample`), also exactly uniform.

:class:`~exactformer.verify.reference.LanguageReference` draws its inputs here too, so the general path and the
tensor path test the same words.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["TransitionTable", "exhaustive_words", "sample_words", "word_counts", "render_words", "word_dtype", "RARE"]

#: Below this probability a kind of word is drawn by the exact path-count sampler instead of by rejection.
RARE = 1.0 / 4096

#: Largest block of random symbols one rejection round draws (bytes of the ``[rows, n]`` index array).
_ROUND_BYTES = 1 << 26


def word_dtype(symbols: int) -> np.dtype:
    """The integer dtype that holds the words over ``symbols`` symbols: ``uint8`` for at most 256 (a byte a symbol:
    all 2^20 binary words of length 20 are 21 MB instead of 168 MB as ``int64``), else ``int64``.

    Arithmetic on ``uint8`` wraps, so a consumer that computes with the indices (rather than gathers by them)
    converts a batch to ``int64`` first, as the tensor path does."""
    return np.dtype(np.uint8) if symbols <= 256 else np.dtype(np.int64)


@dataclass(frozen=True)
class TransitionTable:
    """A complete DFA over the symbol indices ``0 .. k - 1``: ``table[q, a]`` is the next state (a partial DFA's
    missing transitions go to an added sink, the last state, which rejects), ``accepting[q]`` whether ``q``
    accepts, ``start`` the start state."""

    table: np.ndarray
    accepting: np.ndarray
    start: int

    @classmethod
    def from_dfa(cls, dfa: Any, alphabet: Sequence[Hashable]) -> TransitionTable:
        """The table of ``dfa`` (states in ``dfa.ordered_states`` order, then the sink) over ``alphabet``'s order,
        read from its public ``transitions``, ``start`` and ``accepting``."""
        states = list(dfa.ordered_states)
        index = {q: i for i, q in enumerate(states)}
        sink = len(states)
        table = np.full((sink + 1, len(alphabet)), sink, dtype=np.int64)
        for i, q in enumerate(states):
            for j, a in enumerate(alphabet):
                nxt = dfa.transitions.get((q, a))
                if nxt is not None:
                    table[i, j] = index[nxt]
        accepting = np.array([q in dfa.accepting for q in states] + [False], dtype=bool)
        return cls(table=table, accepting=accepting, start=index[dfa.start])

    @property
    def symbols(self) -> int:
        return int(self.table.shape[1])

    def final_states(self, words: Any) -> Any:
        """The state each word of ``words`` (``[batch, n]`` symbol indices, a numpy array or a torch tensor on any
        device) ends in: ``n`` table gathers over the whole batch."""
        if isinstance(words, torch.Tensor):  # a column at a time as int64 (torch reads a uint8 index as a mask)
            table = torch.from_numpy(self.table).to(words.device)
            q = torch.full((words.shape[0],), self.start, dtype=torch.int64, device=words.device)
            for j in range(words.shape[1]):
                q = table[q, words[:, j].to(torch.int64)]
            return q
        state = np.full(words.shape[0], self.start, dtype=np.int64)
        for j in range(words.shape[1]):
            state = self.table[state, words[:, j]]
        return state

    def accepts(self, words: Any) -> Any:
        """Whether the DFA accepts each word (a bool array, or a bool tensor on the words' device)."""
        q = self.final_states(words)
        if isinstance(q, torch.Tensor):
            return torch.from_numpy(self.accepting).to(q.device)[q]
        return self.accepting[q]


def exhaustive_words(symbols: int, n: int) -> np.ndarray:
    """Every word of ``n`` symbols over ``0 .. symbols - 1``, ``[symbols ** n, n]`` of :func:`word_dtype`, in
    lexicographic order (the order of ``itertools.product(range(symbols), repeat=n)``)."""
    count = symbols**n
    dtype = word_dtype(symbols)
    out = np.empty((count, n), dtype=dtype)
    # column j runs through 0 .. symbols - 1, each symbol held for symbols ** (n - 1 - j) consecutive words
    for j in range(n if count else 0):
        run = symbols ** (n - 1 - j)
        out.reshape(count // (symbols * run), symbols, run, n)[:, :, :, j] = np.arange(symbols, dtype=dtype)[
            None, :, None]
    return out


def word_counts(t: TransitionTable, n: int) -> tuple[int, int]:
    """The exact numbers of accepted and rejected words of ``n`` symbols (Python integers, one level of the path
    count at a time, so memory stays O(states * n bits))."""
    counts = [int(a) for a in t.accepting]
    rows = [[int(q2) for q2 in row] for row in t.table]
    for _ in range(n):
        counts = [sum(counts[q2] for q2 in row) for row in rows]
    accepted = counts[t.start]
    return accepted, t.symbols**n - accepted


def _draw(t: TransitionTable, n: int, need: dict[bool, int], gen: np.random.Generator) -> dict[bool, list[Any]]:
    """Rejection rounds: uniform words until ``need[kind]`` words of each kind are found, in draw order."""
    found: dict[bool, list[Any]] = {kind: [] for kind in need}
    have = dict.fromkeys(need, 0)
    accepted, rejected = word_counts(t, n)
    total = t.symbols**n
    probability = {True: accepted / total, False: rejected / total}
    # the draw's dtype fixes the generator's stream (int8 and uint8 draw alike; a wider type draws otherwise)
    draw = np.int8 if t.symbols <= 127 else np.int64
    dtype = word_dtype(t.symbols)
    while any(have[k] < need[k] for k in need):
        short = [k for k in need if have[k] < need[k]]
        rows = max(math.ceil(1.25 * (need[k] - have[k]) / probability[k]) for k in short) + 16
        rows = max(1, min(rows, _ROUND_BYTES // max(1, n * np.dtype(draw).itemsize)))
        words = gen.integers(0, t.symbols, size=(rows, n), dtype=draw).astype(dtype, copy=False)
        kinds = t.accepts(words)
        for k in short:
            picked = words[kinds == k][: need[k] - have[k]]
            found[k].append(picked)
            have[k] += len(picked)
    return found


def sample_words(t: TransitionTable, dfa: Any, alphabet: Sequence[Hashable], n: int, count: int,
                 rng: random.Random) -> np.ndarray:
    """``count`` words of ``n`` symbols, half accepted and half rejected (fewer of a kind that has fewer words),
    accepted first, each exactly uniform within its kind; ``[rows, n]`` indices into ``alphabet``, of
    :func:`word_dtype`.

    The split is the verifier's: ``min(accepted, count // 2)`` accepted words (all ``count`` when no word is
    rejected), then ``min(rejected, count - that)`` rejected ones. Each kind at least :data:`RARE` likely is drawn
    by rejection from uniform words (a ``numpy`` generator seeded from ``rng``); a rarer kind by ``dfa.sample``
    with ``rng``.
    """
    accepted, rejected = word_counts(t, n)
    half = count // 2
    n_acc = min(accepted, half if rejected else count)
    n_rej = min(rejected, count - n_acc)
    total = t.symbols**n
    need = {k: m for k, m in ((True, n_acc), (False, n_rej)) if m and (accepted if k else rejected) / total >= RARE}
    gen = np.random.default_rng(rng.getrandbits(64))
    drawn = _draw(t, n, need, gen) if need else {}
    column = {a: j for j, a in enumerate(alphabet)}
    parts = []
    for kind, m in ((True, n_acc), (False, n_rej)):
        if kind in drawn:
            parts.extend(drawn[kind])
        elif m:
            words = [dfa.sample(n, accepted=kind, rng=rng) for _ in range(m)]
            parts.append(np.array([[column[a] for a in w] for w in words], dtype=np.int64).reshape(m, n))
    dtype = word_dtype(t.symbols)
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros((0, n), dtype=dtype)


def render_words(words: np.ndarray, alphabet: Sequence[Hashable]) -> list[Any]:
    """The words of ``words`` (``[batch, n]`` indices into ``alphabet``) as Python objects: a ``str`` when every
    symbol is a one-character string, else a tuple of symbols."""
    words = np.asarray(words)
    letters = [a for a in alphabet if isinstance(a, str) and len(a) == 1]
    if len(letters) == len(alphabet):
        if all(ord(a) < 128 for a in letters):  # ASCII: one byte per symbol, one decode per word
            lut = np.frombuffer("".join(letters).encode("ascii"), dtype=np.uint8)
            return [row.tobytes().decode("ascii") for row in lut[words]]
        return ["".join(letters[j] for j in row) for row in words.tolist()]
    return [tuple(alphabet[j] for j in row) for row in words.tolist()]
