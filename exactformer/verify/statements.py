"""The proof statements of one input's run: invariants compared with their exact values, and relations.

* invariants exactly (``backend="exact"``), by interval containment (``"certified"``), or within the float
  tolerance :func:`float_tolerance` (``"torch"``);
* relations (:mod:`exactformer.verify.relations`) as they state.

:func:`~exactformer.verify.check` runs these on every input of its general path; its tensor path
(:mod:`exactformer.verify.tensor_check`) makes the same float comparisons on a whole batch at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..core.arith import Trace, interval_bounds
from ..core.construction import Construction, Invariant, RunResult
from .relations import applicable_relations, relation_holds

__all__ = ["float_tolerance", "invariant_holds", "proof_statements"]


def float_tolerance(dtype: torch.dtype, n_tokens: int) -> float:
    """The default tolerance of a float invariant: ``8 * eps(dtype) * ceil(log2(N + 1))``.

    It is applied as ``|got - expected| <= tol * (scale + |expected|)``, ``scale`` the invariant's residual
    magnitude (1 unless it says otherwise). The log factor is the growth of rounding error
    in the blocked sums of a length-N attention average; a construction whose invariant drifts faster than that
    is reported as failing, which is the precision finding the verifier exists to make.
    """
    return 8.0 * torch.finfo(dtype).eps * math.ceil(math.log2(n_tokens + 1))


def invariant_holds(
    invariant: Invariant,
    trace: Trace,
    batch_index: int,
    x: Any,
    n_tokens: int,
    space_index: Any,
    backend: str,
    dtype: torch.dtype | None,
    tolerance: float | None = None,
) -> tuple[bool, str]:
    """Whether ``invariant`` holds on one input of a batch run, and a short explanation when it does not."""
    try:
        got = invariant.probe.read(trace, space_index, batch_index)
    except KeyError as exc:  # the probed sublayer or coordinate is not in the model (e.g. a missing layer)
        return False, f"cannot read the probe: {exc.args[0] if exc.args else exc}"
    raw = invariant.expected(x, n_tokens)
    if backend not in ("exact", "certified"):
        return _floats_hold(invariant, raw, got, n_tokens, dtype, tolerance)
    expected = np.array(raw, dtype=object)
    if expected.shape != got.shape:
        return False, f"probe shape {got.shape} differs from the expected shape {expected.shape}"
    for index, want in np.ndenumerate(expected):
        have = got[index]
        if backend == "exact":
            ok = have == want
        else:
            lo, hi = interval_bounds(have)
            ok = lo <= want <= hi
        if not ok:
            return False, _where(invariant, index, want, have)
    return True, ""


def _floats_hold(invariant: Invariant, raw: Any, got: Any, n_tokens: int, dtype: torch.dtype | None,
                 tolerance: float | None) -> tuple[bool, str]:
    """:func:`invariant_holds` in floats: every entry at once (a NaN fails, as "<=" is false for it). The expected
    values (exact numbers) are read into float64 directly, each ``float(v)`` as an object array's ``astype`` would
    give, without building that array (an int converts at C speed; a word of 32,768 tokens has ~300,000 entries);
    the object array is built only for a message."""
    try:
        want_f = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):  # ragged lists (their shape goes into the message), or not numbers (raised)
        expected = np.array(raw, dtype=object)
        if expected.shape == got.shape:
            want_f = expected.astype(np.float64)  # raises as the object array's conversion does
        shape = expected.shape
    else:
        shape = want_f.shape
    if shape != got.shape:
        return False, f"probe shape {got.shape} differs from the expected shape {shape}"
    tol = tolerance if tolerance is not None else float_tolerance(dtype or torch.float64, n_tokens)
    have_f = np.asarray(got, dtype=np.float64)
    ok = np.abs(have_f - want_f) <= tol * (invariant.scale + np.abs(want_f))
    if ok.all():
        return True, ""
    index = tuple(int(k) for k in np.argwhere(~ok)[0])
    return False, _where(invariant, index, np.array(raw, dtype=object)[index], got[index])


def _where(invariant: Invariant, index: tuple[int, ...], want: Any, have: Any) -> str:
    """``"<coordinate> at position <p>: expected <want>, got <have>"`` for the entry ``index`` of a probe."""
    coord = invariant.probe.coordinates[index[1]] if len(index) > 1 else "?"
    pos = invariant.probe.positions[index[0]] if invariant.probe.positions else index[0]
    return f"{coord} at position {pos}: expected {want}, got {have}"


def proof_statements(construction: Construction, result: RunResult, x: Any, backend: str, dtype: Any,
                      tolerance: float | None) -> Iterator[tuple[str, str, str, bool, str]]:
    """``(kind, name, site, held, detail)`` of every invariant, then of every relation stated for ``backend``
    (:mod:`exactformer.verify.relations`), on one input's run."""
    n_tokens = len(construction.encode(x))
    trace, b, index = result.output.trace, result.batch_index, construction.model.space.index
    for inv in construction.invariants:
        held, detail = invariant_holds(inv, trace, b, x, n_tokens, index, backend, dtype, tolerance)
        yield "invariant", inv.name, inv.probe.site.label, held, detail
    for rel in applicable_relations(construction, backend):
        held, detail = relation_holds(rel, trace, b, x, n_tokens, index, backend, dtype)
        yield "relation", rel.name, rel.probe.site.label, held, detail
