"""Checking a construction's *relations*: proof statements that are not equalities with exact values.

A construction may declare, in its ``relations`` field, statements such as "the answer coordinate is positive
iff the word is in the language" (a sign relation: ``probe`` and ``expected(x, n_tokens)`` giving ``+1`` / ``-1``
per probed entry) or "after this sublayer every position has the form ``[u, -u]``" (a negation relation: ``site``
and the coordinate ``pairs``, optionally ``exact_only``). Chiang & Cholak's PARITY and FIRST transformers declare
both (:mod:`exactformer.constructions.parity_first_layers`). This module reads them by their attributes and never
imports a construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..core.arith import Trace, interval_bounds
from ..core.construction import Construction, RunResult

__all__ = ["applicable_relations", "relation_holds", "check_relations", "negation_residue"]


def _float_tolerance(dtype: torch.dtype, n_tokens: int) -> float:
    return 8.0 * torch.finfo(dtype).eps * math.ceil(math.log2(n_tokens + 1))


def _sign_holds(relation: Any, got: np.ndarray, x: Any, n_tokens: int, backend: str) -> tuple[bool, str]:
    want = np.array(relation.expected(x, n_tokens), dtype=object)
    for index, sign in np.ndenumerate(want):
        v = got[index]
        if backend == "certified":
            lo, hi = interval_bounds(v)
            ok = lo > 0 if sign > 0 else hi < 0
        else:
            ok = bool(v > 0) if sign > 0 else bool(v < 0)
        if not ok:
            coord = relation.probe.coordinates[index[1]]
            return False, f"{coord} at probed row {index[0]}: want sign {sign}, got {v}"
    return True, ""


def applicable_relations(construction: Construction, backend: str) -> list[Any]:
    """The relations of ``construction`` (its ``relations`` field) that are stated for ``backend``: in floats
    (torch) the ``exact_only`` ones are left out."""
    return [r for r in getattr(construction, "relations", ())
            if not (backend == "torch" and getattr(r, "exact_only", False))]


def relation_holds(
    relation: Any,
    trace: Trace,
    batch_index: int,
    x: Any,
    n_tokens: int,
    space_index: Callable[[str], int],
    backend: str,
    dtype: torch.dtype | None = None,
) -> tuple[bool, str]:
    """Whether ``relation`` holds on one input of a run, and why not.

    A sign relation: exact, the sign of the Fraction; certified, the interval lies strictly on that side of 0;
    torch, the float's sign (the decision itself is a float sign, so no tolerance applies). A negation relation
    (one with ``pairs``): exact, ``x_r + x_-r == 0``; certified, 0 lies in the interval ``x_r + x_-r``; torch,
    ``|x_r + x_-r| <= 8 eps(dtype) ceil(log2(N + 1)) (1 + |x_r|)``; an ``exact_only`` one is refused in floats
    (measure :func:`negation_residue` instead).
    """
    got = relation.probe.read(trace, space_index, batch_index)
    if not hasattr(relation, "pairs"):
        return _sign_holds(relation, got, x, n_tokens, backend)
    if relation.exact_only and backend == "torch":
        raise ValueError(f"{relation.name} is stated for exact arithmetic; measure negation_residue() in floats")
    half = len(relation.pairs)
    tol = _float_tolerance(dtype or torch.float64, n_tokens)
    if backend == "torch":  # every pair at once, the same float64 operations as the loop below would make
        floats = np.asarray(got, dtype=np.float64)
        a, b = floats[:, :half], floats[:, half : 2 * half]
        ok_all = np.abs(a + b) <= tol * (1 + np.abs(a))  # a NaN fails: "<=" is false for it
        if ok_all.all():
            return True, ""
        pos, r = (int(k) for k in np.argwhere(~ok_all)[0])  # the first failing pair in the loop's order
        return False, f"{relation.pairs[r][0]} = {got[pos, r]} but {relation.pairs[r][1]} = {got[pos, half + r]} " \
                      f"at position {pos}"
    for pos in range(got.shape[0]):
        for r in range(half):
            a, b = got[pos, r], got[pos, half + r]
            if backend == "exact":
                ok = a + b == 0
            else:  # certified
                lo, hi = interval_bounds(a + b)
                ok = lo <= 0 <= hi
            if not ok:
                return False, f"{relation.pairs[r][0]} = {a} but {relation.pairs[r][1]} = {b} at position {pos}"
    return True, ""


def check_relations(
    construction: Construction, words: Sequence[Any], results: Sequence[RunResult], backend: str,
    dtype: torch.dtype | None = None,
) -> list[tuple[str, Any, str]]:
    """The construction's ``relations`` that fail on a batch run: ``[(relation name, word, why)]``.

    On ``backend="torch"`` the exact-only relations are left out. :func:`~exactformer.verify.check` checks the same
    relations beside the invariants.
    """
    failures = []
    relations = applicable_relations(construction, backend)
    for w, r in zip(words, results):
        n_tokens = len(construction.encode(w))
        for rel in relations:
            ok, why = relation_holds(rel, r.output.trace, r.batch_index, w, n_tokens, construction.model.space.index,
                                     backend, dtype)
            if not ok:
                failures.append((rel.name, w, why))
    return failures


def negation_residue(construction: Construction, result: RunResult, site: str = "L1.mlp") -> np.ndarray:
    """``max_r |x_r + x_-r|`` per position after ``site`` (floats): how far a run is from the ``[u, -u]`` form of a
    doubled stream (coordinates ``c`` then ``-c``)."""
    space = construction.model.space
    half = space.dim // 2
    x = result.output.trace[site][result.batch_index]
    if isinstance(x, torch.Tensor):
        x = x.detach().to(torch.float64).cpu().numpy()
    else:
        x = np.vectorize(lambda v: float(v.mid) if hasattr(v, "mid") else float(v), otypes=[float])(x)
    if space.names[half:] != tuple(f"-{c}" for c in space.names[:half]):
        raise ValueError(f"{construction.name} does not have a doubled [x, -x] stream")
    return np.abs(x[:, :half] + x[:, half:]).max(axis=1)
