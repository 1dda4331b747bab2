"""``check``: run a construction against an independent reference over many input sizes, and say where it fails.

For every size, the reference chooses the inputs (all of them when few enough, otherwise uniform samples), the
construction runs them in batches, and every answer and every declared invariant is compared:

* answers with ``==``;
* invariants exactly (``backend="exact"``), by interval containment (``"certified"``), or within the float
  tolerance :func:`float_tolerance` (``"torch"``).

On a failure the input is shrunk to a smaller failing one (deleting and lowering symbols while it still fails), and
the minimal input is diagnosed: the first invariant that breaks, and for a float run whether the exact model agrees
with the reference (then the cause is precision, and the first sublayer where the float residual leaves the exact
one is named) or not (a construction error).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from ..core.construction import Construction, Invariant, RunResult
from ..core.errors import ExactformerError, InputError, IrrationalOperation
from ..core.evaluate import Arithmetic, Trace, arithmetic_for, interval_bounds
from .reference import Reference, as_reference
from .report import Failure, InvariantTally, LengthReport, Report

__all__ = ["check", "float_tolerance", "invariant_holds", "diagnose"]

_MAX_FAILURES_PER_SIZE = 3
_SHRINK_BUDGET = 200


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
    expected = np.array(invariant.expected(x, n_tokens), dtype=object)
    if expected.shape != got.shape:
        return False, f"probe shape {got.shape} differs from the expected shape {expected.shape}"
    if backend in ("exact", "certified"):
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
    # floats: every entry at once (a NaN fails, as "<=" is false for it)
    tol = tolerance if tolerance is not None else float_tolerance(dtype or torch.float64, n_tokens)
    want_f = expected.astype(np.float64)
    have_f = np.asarray(got, dtype=np.float64)
    ok = np.abs(have_f - want_f) <= tol * (invariant.scale + np.abs(want_f))
    if ok.all():
        return True, ""
    index = tuple(int(k) for k in np.argwhere(~ok)[0])
    return False, _where(invariant, index, expected[index], got[index])


def _where(invariant: Invariant, index: tuple[int, ...], want: Any, have: Any) -> str:
    """``"<coordinate> at position <p>: expected <want>, got <have>"`` for the entry ``index`` of a probe."""
    coord = invariant.probe.coordinates[index[1]] if len(index) > 1 else "?"
    pos = invariant.probe.positions[index[0]] if invariant.probe.positions else index[0]
    return f"{coord} at position {pos}: expected {want}, got {have}"


def _cross_entropy_bits(construction: Construction, result: RunResult, expected: Any) -> float | None:
    if construction.model.readout.decision != "sign" or not isinstance(expected, bool):
        return None
    z = float(result.logits[0].mid) if hasattr(result.logits[0], "mid") else float(result.logits[0])
    t = z if expected else -z
    return (max(-t, 0.0) + math.log1p(math.exp(-abs(t)))) / math.log(2)


# One arithmetic per (backend, dtype, device) for the duration of a check() call, so the model's weights are rendered
# once per check rather than once per batch (a 28-million-entry rational model takes a minute to render).
_SHARED_ARITHMETICS: list[dict[tuple[str, str, str], Arithmetic]] = []


def _sharing_arithmetics(fn: Callable[..., Report]) -> Callable[..., Report]:
    """Run ``fn`` with one arithmetic per (backend, dtype, device) shared by every :func:`_run` inside it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Report:
        _SHARED_ARITHMETICS.append({})
        try:
            return fn(*args, **kwargs)
        finally:
            _SHARED_ARITHMETICS.pop()

    return wrapper


def _run(construction: Construction, xs: Sequence[Any], backend: str, dtype: Any, device: Any) -> list[RunResult]:
    arith = None
    if _SHARED_ARITHMETICS:
        shared = _SHARED_ARITHMETICS[-1]
        key = (backend, str(dtype), str(device))
        if key not in shared:
            shared[key] = arithmetic_for(backend, dtype=dtype, device=device)
        arith = shared[key]
    return construction.run_batch(list(xs), backend=backend, dtype=dtype, device=device, arith=arith)


def _fails(construction: Construction, reference: Reference, x: Any, backend: str, dtype: Any, device: Any,
           tolerance: float | None) -> bool:
    try:
        result = _run(construction, [x], backend, dtype, device)[0]
    except InputError:  # outside the construction's domain (e.g. the empty word): not a valid shrink
        return False
    except ExactformerError:
        return True
    except Exception:  # the reference or encoder cannot take this candidate: not a valid shrink
        return False
    try:
        expected = reference.expected(x)
    except Exception:
        return False
    if result.answer != expected:
        return True
    n_tokens = len(construction.encode(x))
    return any(
        not invariant_holds(inv, result.output.trace, 0, x, n_tokens, construction.model.space.index, backend,
                            dtype, tolerance)[0]
        for inv in construction.invariants
    )


def _shrink(construction: Construction, reference: Reference, x: Any, backend: str, dtype: Any, device: Any,
            tolerance: float | None) -> Any:
    current, budget = x, _SHRINK_BUDGET
    progress = True
    while progress and budget > 0:
        progress = False
        for candidate in reference.shrink(current):
            budget -= 1
            if _fails(construction, reference, candidate, backend, dtype, device, tolerance):
                current, progress = candidate, True
                break
            if budget <= 0:
                break
    return current


def _first_divergence(float_trace: Trace, exact_trace: Trace, dtype: torch.dtype, n_tokens: int) -> str | None:
    tol = float_tolerance(dtype, n_tokens)
    for label, f, e in zip(float_trace.labels, float_trace.residuals, exact_trace.residuals):
        fv = f[0].detach().to(torch.float64).cpu().numpy()
        ev = np.vectorize(lambda v: float(v.mid) if hasattr(v, "mid") else float(v), otypes=[float])(e[0])
        gap = np.abs(fv - ev) / (1 + np.abs(ev))
        if gap.max() > tol:
            pos, coord = np.unravel_index(int(gap.argmax()), gap.shape)
            return (f"{label} (position {pos}, coordinate {float_trace.space_names[coord]}: "
                    f"float {fv[pos, coord]:.6g} vs exact {ev[pos, coord]:.6g})")
    return None


def diagnose(construction: Construction, reference: Reference, x: Any, *, backend: str, dtype: Any = None,
             device: Any = None, tolerance: float | None = None) -> tuple[str, str, Any]:
    """Where and why ``x`` fails: ``(where, reason, got)``."""
    try:
        result = _run(construction, [x], backend, dtype, device)[0]
    except ExactformerError as exc:
        return str(exc).split(":")[0], f"{type(exc).__name__}: {exc}", None
    n_tokens = len(construction.encode(x))
    where = "the answer"
    for inv in construction.invariants:
        held, detail = invariant_holds(inv, result.output.trace, 0, x, n_tokens, construction.model.space.index,
                                       backend, dtype, tolerance)
        if not held:
            where = f"invariant {inv.name!r} after {inv.probe.site} ({detail})"
            break
    if backend != "torch":
        uncertain = [d for d in result.output.trace.decisions if not d.certified]
        if uncertain:
            return where, f"uncertified decision at {uncertain[0].where}: {uncertain[0].what}", result.answer
        return where, "construction error (the model disagrees with the reference in exact/certified arithmetic)", \
            result.answer
    exact = None
    for ref_backend in ("exact", "certified"):
        try:
            exact = _run(construction, [x], ref_backend, None, None)[0]
            break
        except IrrationalOperation:
            continue
        except ExactformerError as exc:
            return where, f"the {ref_backend} model raises too: {exc}", result.answer
    if exact is None:
        return where, "could not evaluate the exact model", result.answer
    if exact.answer != reference.expected(x):
        return where, "construction error (the exact model disagrees with the reference too)", result.answer
    divergence = _first_divergence(result.output.trace, exact.output.trace, dtype or torch.float64, n_tokens)
    if where == "the answer" and divergence:
        where = f"first divergence from the exact model after {divergence}"
    return where, f"precision ({dtype}): the exact model agrees with the reference", result.answer


@_sharing_arithmetics
def check(
    construction: Construction,
    reference: Any,
    *,
    lengths: Iterable[int] = range(0, 17),
    samples_per_length: int = 200,
    exhaustive_up_to: int = 4096,
    backend: str = "torch",
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    batch_size: int = 256,
    tolerance: float | None = None,
    check_invariants: bool = True,
    shrink: bool = True,
    progress: bool = False,
) -> Report:
    """Check ``construction`` against ``reference`` at every size in ``lengths``.

    Parameters
    ----------
    construction
        What to check.
    reference
        A DFA (or any object :func:`~exactformer.verify.reference.as_reference` accepts).
    lengths
        Input sizes to test (word lengths for languages).
    samples_per_length
        How many inputs per size when not exhaustive (half accepted, half rejected for a DFA).
    exhaustive_up_to
        Test every input of a size when there are at most this many.
    backend, dtype, device
        How to run the model (``"exact"``, ``"certified"``, ``"torch"``).
    seed
        The same seed gives the same report.
    batch_size
        Inputs per batched forward pass.
    tolerance
        Overrides :func:`float_tolerance` for torch invariants.
    check_invariants, shrink
        Turn off invariant checks or counterexample shrinking (for speed).
    progress
        Show a progress bar.
    """
    ref = as_reference(reference)
    dtype = dtype if dtype is not None else (torch.float64 if backend == "torch" else None)
    report = Report(
        construction=construction.name,
        reference=getattr(ref, "name", type(ref).__name__),
        backend=backend,
        dtype=str(dtype).replace("torch.", "") if dtype is not None else "-",
        seed=seed,
    )
    sizes = list(lengths)
    bar = _progress(progress, len(sizes), construction.name)
    for size in sizes:
        rng = random.Random(f"{seed}:{size}")
        xs, mode = ref.inputs(size, count=samples_per_length, exhaustive_limit=exhaustive_up_to, rng=rng)
        lr = LengthReport(size=size, mode=mode)
        lr.invariants = {inv.name: InvariantTally(inv.name) for inv in construction.invariants} if check_invariants \
            else {}
        ce_total, ce_count = 0.0, 0
        for group in _by_encoded_length(construction, xs):
            for start in range(0, len(group), batch_size):
                batch = group[start : start + batch_size]
                for x, outcome in zip(batch, _run_isolating_errors(construction, batch, backend, dtype, device)):
                    expected = ref.expected(x)
                    lr.tested += 1
                    if isinstance(outcome, ExactformerError):
                        _record(lr, construction, ref, x, expected, None, "error", backend, dtype, device,
                                tolerance, shrink, reason=f"{type(outcome).__name__}: {outcome}")
                        continue
                    result: RunResult = outcome
                    lr.certified += int(result.certified)
                    lr.min_margin = min(lr.min_margin, result.margin)
                    ce = _cross_entropy_bits(construction, result, expected)
                    if ce is not None:
                        ce_total, ce_count = ce_total + ce, ce_count + 1
                    answer_ok = result.answer == expected
                    lr.passed += int(answer_ok)
                    broken = []
                    if check_invariants:
                        n_tokens = len(construction.encode(x))
                        for inv in construction.invariants:
                            held, _ = invariant_holds(inv, result.output.trace, result.batch_index, x, n_tokens,
                                                      construction.model.space.index, backend, dtype, tolerance)
                            tally = lr.invariants[inv.name]
                            tally.checked += 1
                            tally.held += int(held)
                            if not held:
                                broken.append(inv.name)
                    if not answer_ok or broken:
                        _record(lr, construction, ref, x, expected, result.answer,
                                "answer" if not answer_ok else "invariant", backend, dtype, device, tolerance, shrink)
        lr.cross_entropy_bits = ce_total / ce_count if ce_count else None
        report.lengths.append(lr)
        if bar is not None:
            bar[0].advance(bar[1])
    if bar is not None:
        bar[0].stop()
    return report


def _record(lr: LengthReport, construction: Construction, ref: Reference, x: Any, expected: Any, got: Any,
            kind: str, backend: str, dtype: Any, device: Any, tolerance: float | None, shrink: bool,
            reason: str | None = None) -> None:
    if len(lr.failures) >= _MAX_FAILURES_PER_SIZE:
        return
    minimal = _shrink(construction, ref, x, backend, dtype, device, tolerance) if shrink else x
    where, why, got_min = diagnose(construction, ref, minimal, backend=backend, dtype=dtype, device=device,
                                   tolerance=tolerance)
    try:
        expected_min = ref.expected(minimal)
    except Exception:
        expected_min = expected
    lr.failures.append(Failure(kind=kind, input=x, minimal_input=minimal, expected=expected_min,
                               got=got_min if minimal is not x else got, where=where, reason=reason or why))


def _by_encoded_length(construction: Construction, xs: Sequence[Any]) -> list[list[Any]]:
    groups: dict[int, list[Any]] = {}
    for x in xs:
        groups.setdefault(len(construction.encode(x)), []).append(x)
    return list(groups.values())


def _run_isolating_errors(construction: Construction, batch: list[Any], backend: str, dtype: Any,
                          device: Any) -> list[RunResult | ExactformerError]:
    """Run a batch; if the batch raises, run its inputs one by one so the error lands on the input that caused it."""
    try:
        return list(_run(construction, batch, backend, dtype, device))
    except IrrationalOperation:
        raise
    except ExactformerError:
        out: list[RunResult | ExactformerError] = []
        for x in batch:
            try:
                out.append(_run(construction, [x], backend, dtype, device)[0])
            except IrrationalOperation:
                raise
            except ExactformerError as exc:
                out.append(exc)
        return out


def _progress(enabled: bool, total: int, name: str) -> tuple[Any, Any] | None:
    if not enabled:
        return None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(f"checking {name}", total=total)
    bar.start()
    return bar, task
