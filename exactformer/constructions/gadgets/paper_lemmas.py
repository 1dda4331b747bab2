"""The lemmas of Merrill & Sabharwal (2025) §3.3 and App. A as printed, at the algorithm level: what each gadget's
heads and FFN output, run with the exact layer-norm hash (:mod:`.layer_norm_hash`).

They demonstrate the printed proof's errata (``docs/notes/log_depth.md`` §3.4, App. B.1): Lemma 1's exact
equality test in floating point (:func:`lemma1_multiple_flags`), the activeness tree's printed partner key,
missing AND and ``ceil(log2 n)`` level count (:func:`activeness_tree`). The weight-level construction with the errata
fixed is :mod:`exactformer.constructions.log_depth_paper`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

from .layer_norm_hash import hash_argmax, layer_norm_hash

__all__ = [
    "lemma7_offset",
    "lemma8_equality_bit",
    "lemma1_division",
    "lemma1_multiple_flags",
    "TreeRun",
    "activeness_tree",
]


def lemma7_offset(i: int, k: int) -> tuple[Fraction, Fraction]:
    """Lemma 7 (offset), positions 0..i with BOS at 0: two uniform causal heads write ``psi((i - k)/(i+1),
    1/(i+1))``, which a masked pre-norm reads as ``phi(i - k)`` (for ``i >= k``).

    Head 1 averages ``1[j = 0]`` over ``j <= i``: ``1/(i+1)``. Head 2 averages ``1[j > k]``: ``(i - k)/(i+1)``.
    Returns the pair (numerator cell, denominator cell).
    """
    if i < k:
        raise ValueError(f"lemma 7 needs i >= k, got i = {i}, k = {k}")
    head1 = Fraction(sum(1 for j in range(i + 1) if j == 0), i + 1)
    head2 = Fraction(sum(1 for j in range(i + 1) if j > k), i + 1)
    return head2, head1


def lemma8_equality_bit(x: Fraction | int, y: Fraction | int) -> int:
    """Lemma 8: from ``sigma = sgn(x - y)`` (a normalised read of the one cell ``x - y``), the FFN writes
    ``1 - ReLU(sigma) - ReLU(-sigma) = 1[x = y]``."""
    d = Fraction(x) - Fraction(y)
    sigma = (d > 0) - (d < 0)
    return 1 - max(sigma, 0) - max(-sigma, 0)


def lemma1_division(a: Sequence[int], m: int) -> list[tuple[int, int]]:
    """Lemma 1 (division), the attention patterns of its 7 layers run at the algorithm level with the exact hash.

    ``a[i]`` (``0 <= a[i] <= i``) is the dividend at position i (BOS = 0, a multiple of every m). Returns
    ``(a_i // m, a_i % m)`` at every position, computed as the layers do:

    1. query ``i/m`` against keys ``j`` (hash argmax): ``e_i = 1`` iff the match equals ``i/m``, i.e. ``m | i``;
    2. the latest ``j <= i`` with ``e_j = 1`` (tie-break toward later j) gives the quotient ``floor(i/m) = j/m``;
    3.-4. ``b^k_i = [q_i = q_{i-k}]`` for k = 1, 2 (Lemma 7 offsets, hash retrieval, Lemma 8; 0 when ``i < k``);
    5. query ``(q_i, 1)``, key ``(q_j, b^1_j)``: the score 2 is reached at ``j = q_i m + 1 .. i``, average-hard of
       ``1 - b^2_j`` is ``1/c'`` with ``c' = i mod m`` (``e_i`` selects 0 when ``m | i``);
    6. retrieve ``(q, r)`` at position ``a_i`` by the hash.
    """
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    n = len(a)
    pos = list(range(n))
    e, q = [], []
    for i in pos:
        matches = hash_argmax(Fraction(i, m), pos[: i + 1])
        e.append(int(len(matches) == 1 and Fraction(matches[0]) == Fraction(i, m)))
    for i in pos:
        j = max(j for j in range(i + 1) if e[j])  # BOS has e = 1
        q.append(j // m)
    b1 = [0 if i < 1 else lemma8_equality_bit(q[i], q[i - 1]) for i in pos]
    b2 = [0 if i < 2 else lemma8_equality_bit(q[i], q[i - 2]) for i in pos]
    r = []
    for i in pos:
        if e[i]:
            r.append(0)
            continue
        scores = [(layer_norm_hash(q[i], q[j]) if q[j] != q[i] else 1.0) + b1[j] for j in range(i + 1)]
        top = [j for j in range(i + 1) if q[j] == q[i] and b1[j] == 1]  # exactly the score-2 set
        assert max(scores) == 2.0 and all(scores[j] == 2.0 for j in top)
        avg = Fraction(sum(1 - b2[j] for j in top), len(top))
        r.append(int(1 / avg))
    out = []
    for i in pos:
        if not 0 <= a[i] <= i:
            raise ValueError(f"lemma 1 needs 0 <= a_i <= i, got a_{i} = {a[i]}")
        (j,) = hash_argmax(a[i], pos[: i + 1])
        out.append((q[j], r[j]))
    return out


def lemma1_multiple_flags(
    n: int, m: int, *, dtype: torch.dtype = torch.float64, storage: str = "ratio"
) -> list[int]:
    """Lemma 1, layer 1, in floating point: the flags ``e_i = 1[head output = phi(i/m)]`` for i = 1..n.

    The layer's query is ``phi(i/m)``, made from the storage of i and m; keys and values are ``phi(j)``, made from
    the storage of j at position j. The hash argmax over ``j <= i`` picks ``j* = i/m`` when ``m | i``, and the FFN
    sets ``e_i`` from the sign of the difference between the first coordinates of the head output ``phi(j*)`` and of
    the query (Lemma 8, a normalised read of one cell: ``sgn(0) = 0`` gives ``e_i = 1``; the first coordinate
    ``z / sqrt(2 (z^2 + 1))`` is injective in z, so one cell suffices). In exact arithmetic ``e_i = [m | i]``.
    Here every read is a LayerNorm (eps = 0) of the 4 stored cells, renormalised to unit length as a masked pre-norm
    read is, in ``dtype``:

    * ``storage="integer"``: the cells hold ``psi(i) = <i, 1, -i, -1>`` and the query cells ``<i, m, -i, -m>``;
    * ``storage="ratio"``: the cells hold what uniform causal attention writes (Lemma 7, ``[CoT]`` Lemma 1):
      ``<i/(i+1), 1/(i+1), ...>`` and ``<i/(i+1), m/(i+1), ...>``, each ratio correctly rounded in ``dtype``. This is
      how Theorem 1's tree obtains its counts (there is no positional encoding beyond BOS).

    The two routes (query at position i, value at position i/m) compute the same real number by different rounded
    operations, so the difference Lemma 8 tests can be a rounding residue instead of 0. Returns the positions i
    (1 <= i <= n) where the computed flag differs from ``[m | i]``; an empty list means the layer is right up to n.
    """
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    if storage not in ("integer", "ratio"):
        raise ValueError(f"storage must be 'integer' or 'ratio', got {storage!r}")
    pos = torch.arange(0, n + 1, dtype=torch.float64)

    def cells(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        if storage == "ratio":
            a = num.to(dtype) / (pos + 1).to(dtype)
            b = den.to(dtype) / (pos + 1).to(dtype)
        else:
            a, b = num.to(dtype), den.to(dtype)
        v = torch.stack([a, b, -a, -b], dim=1)
        v = torch.nn.functional.layer_norm(v, (4,), eps=0.0)
        return v / torch.linalg.vector_norm(v, dim=1, keepdim=True)

    keys = cells(pos, torch.ones_like(pos))  # phi(j) at every position j (value = key)
    queries = cells(pos, torch.full_like(pos, float(m)))  # phi(i/m) at every position i
    wrong = []
    for i in range(1, n + 1):
        scores = keys[: i + 1] @ queries[i]
        best = int(torch.argmax(scores))  # the hash picks j* (ties cannot arise below the hash frontier)
        flag = int(bool(keys[best, 0] == queries[i, 0]))  # Lemma 8: sgn([phi(j*)]_0 - [phi(i/m)]_0) = 0
        if flag != int(i % m == 0):
            wrong.append(i)
    return wrong


@dataclass
class TreeRun:
    """An algorithm-level run of the activeness tree: ``product`` at ``$`` and per-level snapshots."""

    product: Any
    alphas: list[list[int]]
    blocks: list[list[Any]]
    tails: list[Any]


def activeness_tree(letters: Sequence[Any], multiply: Callable[[Any, Any], Any], identity: Any, levels: int, *,
                    partner_key_fix: bool = True, activeness_and_fix: bool = True) -> TreeRun:
    """The tree of §3.3 with the ``$`` accumulator (note App. B.1), at the algorithm level.

    Positions 0 = BOS, 1..n = letters, n + 1 = ``$``. Per level: ``c_i`` = inclusive count of active tokens;
    ``alpha'_i = alpha_i AND c_i even`` (printed: no AND); each token copies its predecessor's ``(alpha, D,
    alpha')``; the partner of i is the latest ``k <= i`` with ``alpha_{k-1} = 1`` (printed key: ``alpha_k``);
    survivors multiply ``D_{k-1} * D_i``, losers clear; ``$`` absorbs ``D_{k-1}`` on the left when ``alpha'_{k-1}
    = 0``.
    """
    n = len(letters)
    none = None
    D: list[Any] = [none] + list(letters) + [none]
    alpha = [0] + [1] * n + [0]
    ds = identity
    alphas, blocks, tails = [list(alpha)], [list(D)], [ds]
    for _ in range(levels):
        c, count = [], 0
        for x in alpha:
            count += x
            c.append(count)
        nxt = [int((alpha[i] or not activeness_and_fix) and c[i] % 2 == 0) for i in range(n + 2)]
        if activeness_and_fix:
            nxt[n + 1] = 0
        prev = [(0, none, 0)] + [(alpha[k - 1], D[k - 1], nxt[k - 1]) for k in range(1, n + 2)]
        new = list(D)
        for i in range(1, n + 2):
            keys = [prev[k][0] if partner_key_fix else alpha[k] for k in range(i + 1)]
            cands = [k for k in range(i + 1) if keys[k] == 1]
            if not cands:
                continue
            k = cands[-1]
            p_alpha, p_d, p_next = prev[k]
            if i == n + 1:
                if p_alpha == 1 and p_next == 0 and p_d is not None:
                    ds = multiply(p_d, ds)
            elif alpha[i] == 1:
                if nxt[i] == 1:
                    new[i] = multiply(p_d, D[i]) if p_d is not None and D[i] is not None else D[i]
                else:
                    new[i] = none
        D, alpha = new, nxt
        alphas.append(list(alpha))
        blocks.append(list(D))
        tails.append(ds)
    return TreeRun(ds, alphas, blocks, tails)
