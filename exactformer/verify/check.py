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

A reference with a ``decodes(size, rng)`` method (a machine reference, :mod:`exactformer.verify.machines`) also has
whole decodes run through ``construction.simulate`` at every size and compared token by token; a decode that
differs is a failure of kind ``"decode"`` naming the first differing step.
"""

from __future__ import annotations

import contextvars
import functools
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from ..core.arith import Arithmetic, TorchArithmetic, Trace, arithmetic_for
from ..core.construction import Construction, RunResult
from ..core.errors import AttentionTieError, ExactformerError, InputError, IrrationalOperation, ReadoutTieError
from .arguments import validated_backend, validated_count, validated_dtype, validated_sizes, validated_tolerance
from .black_box import check_black_box, is_black_box
from .claims import claim_results
from .cross_entropy import logit, string_cross_entropy_bits
from .reference import LanguageReference, Reference, as_reference
from .relations import applicable_relations
from .report import Failure, InvariantTally, LengthReport, Report
from .statements import float_tolerance, invariant_holds, proof_statements
from .tensor_check import check_size_on_tensors, tensor_min_length, tensor_path_unavailable
from .tensor_inputs import render_words

__all__ = ["check", "float_tolerance", "invariant_holds", "diagnose"]

_MAX_FAILURES_PER_SIZE = 3
_SHRINK_BUDGET = 200
#: The longest input the certified evaluator re-runs to diagnose a float failure: its cost grows ~N^2.6 (first-ln:
#: 0.6, 3.2, 20.5 CPU s at 33, 65, 129 tokens), so 4,097 tokens would take days. Longer inputs are not diagnosed.
CERTIFIED_DIAGNOSIS_TOKENS = 256
_TIES = (ReadoutTieError, AttentionTieError)


def _tied(result: RunResult) -> bool:
    """Whether ``result``'s readout is a tie (``Output.tied``; a runner that does not say counts as no tie)."""
    tied = getattr(result.output, "tied", None)
    return bool(tied[result.batch_index]) if tied else False


def _cross_entropy_bits(construction: Construction, result: RunResult, expected: Any) -> float | None:
    if construction.model.readout.decision != "sign" or not isinstance(expected, bool):
        return None
    return string_cross_entropy_bits(logit(result), expected)


# One arithmetic per (backend, dtype, device) for the duration of a check() call, so the model's weights are rendered
# once per check rather than once per batch (a 28-million-entry rational model takes a minute to render).
_SHARED_ARITHMETICS: list[dict[tuple[str, str, str], Arithmetic]] = []


# Whether the check running now stops at its first failing size and records failures undiagnosed (``fail_fast``).
_FAIL_FAST: contextvars.ContextVar[bool] = contextvars.ContextVar("exactformer_fail_fast", default=False)
# Where the check running now has all-equal-score attention sum its values (``accumulate``; TorchArithmetic).
_ACCUMULATE: contextvars.ContextVar[str] = contextvars.ContextVar("exactformer_accumulate", default="dtype")


def _sharing_arithmetics(fn: Callable[..., Report]) -> Callable[..., Report]:
    """Run ``fn`` with one arithmetic per (backend, dtype, device) shared by every :func:`_run` inside it (and
    with its ``fail_fast`` option visible to :func:`_record`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Report:
        _SHARED_ARITHMETICS.append({})
        token = _FAIL_FAST.set(bool(kwargs.get("fail_fast", False)))
        summing = _ACCUMULATE.set(kwargs.get("accumulate", "dtype"))
        try:
            return fn(*args, **kwargs)
        finally:
            _ACCUMULATE.reset(summing)
            _FAIL_FAST.reset(token)
            _SHARED_ARITHMETICS.pop()

    return wrapper


def _arithmetic(backend: str, dtype: Any, device: Any) -> Arithmetic | None:
    """The arithmetic the check running now shares for (backend, dtype, device); ``None`` outside a check."""
    if not _SHARED_ARITHMETICS:
        return None
    shared = _SHARED_ARITHMETICS[-1]
    key = (backend, str(dtype), str(device))
    if key not in shared:
        shared[key] = arithmetic_for(backend, dtype=dtype, device=device, accumulate=_ACCUMULATE.get())
    return shared[key]


def _run(construction: Construction, xs: Sequence[Any], backend: str, dtype: Any, device: Any) -> list[RunResult]:
    arith = _arithmetic(backend, dtype, device)
    return construction.run_batch(list(xs), backend=backend, dtype=dtype, device=device, arith=arith)


def _choose_path(path: str, construction: Construction, ref: Reference, backend: str) -> bool:
    """Whether the check takes the tensor path (see ``check``'s ``path``)."""
    if path not in ("auto", "tensor", "general"):
        raise InputError(f"path must be 'auto', 'tensor' or 'general', got {path!r}")
    if path == "general":
        return False
    why = tensor_path_unavailable(construction, ref, backend)
    if why is not None and path == "tensor":
        raise InputError(f"path='tensor': the tensor path does not apply to {construction.name}: {why}")
    return why is None


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
    if result.answer != expected or _tied(result) or (backend == "certified" and not result.certified):
        return True
    return not all(held for _, _, _, held, _ in proof_statements(construction, result, x, backend, dtype, tolerance))


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
    """Where and why ``x`` fails: ``(where, reason, got)``.

    A tie (a readout whose two largest logits are equal, or a hard-attention tie without a tie rule) gives a reason
    that starts with ``"tie:"``; an answer the certified evaluator cannot separate from another one that starts with
    ``"uncertified"``.
    """
    try:
        result = _run(construction, [x], backend, dtype, device)[0]
    except ReadoutTieError as exc:
        return "the readout", f"tie: {exc}", None
    except AttentionTieError as exc:
        return str(exc).split(":")[0], f"tie: {exc}", None
    except ExactformerError as exc:
        return str(exc).split(":")[0], f"{type(exc).__name__}: {exc}", None
    if _tied(result):
        return "the readout", "tie: the two largest logits are equal (margin 0), so the model decides nothing", \
            result.answer
    n_tokens = len(construction.encode(x))
    where = "the answer"
    for kind, name, site, held, detail in proof_statements(construction, result, x, backend, dtype, tolerance):
        if not held:
            where = f"{kind} {name!r} after {site} ({detail})"
            break
    if backend != "torch":
        uncertain = [d for d in result.output.trace.decisions if not d.certified]
        if uncertain:
            return where, f"uncertified decision at {uncertain[0].where}: {uncertain[0].what}", result.answer
        if not result.certified:
            return where, ("uncertified readout: the logit intervals overlap (the answer is not verified; try a "
                           "higher precision)"), result.answer
        return where, "construction error (the model disagrees with the reference in exact/certified arithmetic)", \
            result.answer
    exact = None
    for ref_backend in ("exact", "certified"):
        if ref_backend == "certified" and n_tokens > CERTIFIED_DIAGNOSIS_TOKENS:
            return where, (f"not diagnosed: {n_tokens} tokens is over the certified re-run's limit "
                           f"(check.CERTIFIED_DIAGNOSIS_TOKENS = {CERTIFIED_DIAGNOSIS_TOKENS})"), result.answer
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
    fail_fast: bool = False,
    path: str = "auto",
    accumulate: str = "dtype",
) -> Report:
    """Check ``construction`` against ``reference`` at every size in ``lengths``.

    At every size the construction's resource claims are also set against its measured resources
    (:mod:`exactformer.verify.claims`): a broken claim is a ``"resources"`` failure of the report.

    Parameters
    ----------
    construction
        What to check: a construction, or a *black box* (any callable of a word returning a ``bool`` or a float
        logit, or a torch module such as a trained ``HookedTransformer``; see :mod:`exactformer.verify.black_box`),
        checked by its answers alone: the report is marked ``black_box`` and holds no invariants, claims or
        margins; ``backend``, ``dtype``, ``device``, ``tolerance``, ``check_invariants``, ``progress``,
        ``fail_fast`` and ``path`` do not apply to it.
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
    accumulate
        Torch: ``"dtype"`` (the default: PyTorch's arithmetic in ``dtype``) or ``"float64"`` (attention with
        all-equal scores sums its values in float64; see :class:`~exactformer.core.arith.TorchArithmetic`).
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
    fail_fast
        Stop after the first size with a failure, and record failures as found (not shrunk, not diagnosed): for
        callers that only need to know *whether* the check fails, such as :func:`~exactformer.verify.mutate`.
    path
        ``"auto"`` (the default): the tensor path (:mod:`exactformer.verify.tensor_check`: words, answers,
        margins and proof statements as tensors, Python objects only for a batch with a failure) wherever it
        applies (a torch backend, a DFA reference, a construction with a batched encoder), else the general path.
        ``"tensor"`` requires it (``InputError`` saying why it does not apply); ``"general"`` never takes it. Both
        give the same report (tests/verify/test_tensor_path.py).

    Raises
    ------
    TypeError
        If ``construction`` is not a construction, or an argument has the wrong type (``lengths=5``).
    InputError
        Before anything runs, on an argument that would make the check test nothing or cannot run: ``lengths``
        empty or holding a negative size, ``samples_per_length < 1``, ``batch_size < 1``, ``exhaustive_up_to < 0``,
        an unknown ``backend``, a non-float ``dtype``, an unknown ``accumulate``, a negative ``tolerance``, an
        unknown ``path`` or
        ``path="tensor"`` where the tensor path does not apply. After the run, if the reference gave
        no input at any of the sizes (a check that tested nothing is not a pass; a single size without inputs shows
        as ``tested 0`` in the report).
    """
    # -- arguments: a check that would test nothing, or cannot run, is refused before anything runs --
    sizes = validated_sizes(lengths)
    samples_per_length = validated_count(samples_per_length, "samples_per_length")
    exhaustive_up_to = validated_count(exhaustive_up_to, "exhaustive_up_to", minimum=0)
    batch_size = validated_count(batch_size, "batch_size")
    if is_black_box(construction):  # a callable or torch module: its answers only (verify/black_box.py)
        unused = [name for name, value, default in (("backend", backend, "torch"), ("dtype", dtype, None),
                                                    ("device", device, None), ("tolerance", tolerance, None),
                                                    ("path", path, "auto")) if value != default]
        if unused:
            raise InputError(f"{', '.join(unused)} do(es) not apply to a black-box model (it is only asked for "
                             "answers); leave them out")
        return check_black_box(construction, reference, lengths=sizes, samples_per_length=samples_per_length,
                               exhaustive_up_to=exhaustive_up_to, seed=seed, batch_size=batch_size, shrink=shrink)
    for attr in ("name", "model", "encode", "run_batch"):
        if not hasattr(construction, attr):
            raise TypeError(f"check() needs a Construction, a callable or a torch module as its first argument, "
                            f"got {type(construction).__name__}")
    backend = validated_backend(backend)
    dtype = validated_dtype(dtype)
    if accumulate not in TorchArithmetic.ACCUMULATE:
        raise InputError(f"accumulate must be 'dtype' or 'float64', got {accumulate!r}")
    tolerance = validated_tolerance(tolerance)
    ref = as_reference(reference)
    dtype = dtype if dtype is not None else (torch.float64 if backend == "torch" else None)
    use_tensor = _choose_path(path, construction, ref, backend)
    dfa_words = isinstance(ref, LanguageReference) and ref.table is not None
    report = Report(
        construction=construction.name,
        reference=getattr(ref, "name", type(ref).__name__),
        backend=backend,
        dtype=str(dtype).replace("torch.", "") if dtype is not None else "-",
        seed=seed,
    )
    bar = _progress(progress, len(sizes), construction.name)
    for size in sizes:
        rng = random.Random(f"{seed}:{size}")
        words, xs = None, []  # type: ignore[var-annotated]
        if dfa_words:  # a DFA: the words as symbol indices (both paths test these, the general one rendered)
            words, mode = ref.word_indices(size, count=samples_per_length,  # type: ignore[attr-defined]
                                           exhaustive_limit=exhaustive_up_to, rng=rng)
        else:
            xs, mode = ref.inputs(size, count=samples_per_length, exhaustive_limit=exhaustive_up_to, rng=rng)
        lr = LengthReport(size=size, mode=mode)
        lr.claims, broken_claims = claim_results(construction, size)
        lr.failures += broken_claims
        statements = [inv.name for inv in construction.invariants] + [
            r.name for r in applicable_relations(construction, backend)]
        lr.invariants = {name: InvariantTally(name) for name in statements} if check_invariants else {}
        if words is not None and use_tensor and size >= tensor_min_length(construction):
            ce_total, ce_count = check_size_on_tensors(
                lr, construction, ref, words, batch_size=batch_size, dtype=dtype or torch.float64, device=device,
                tolerance=tolerance, check_invariants=check_invariants, arith=_arithmetic("torch", dtype, device),
                general=functools.partial(_check_batch, lr, construction, ref, backend=backend, dtype=dtype,
                                          device=device, tolerance=tolerance, check_invariants=check_invariants,
                                          shrink=shrink))
        else:
            xs = render_words(words, ref.alphabet) if words is not None else xs  # type: ignore[attr-defined]
            ce_total, ce_count = 0.0, 0
            for group in _by_encoded_length(construction, xs):
                for start in range(0, len(group), batch_size):
                    ce_total, ce_count = _check_batch(
                        lr, construction, ref, group[start : start + batch_size], backend=backend, dtype=dtype,
                        device=device, tolerance=tolerance, check_invariants=check_invariants, shrink=shrink,
                        ce=(ce_total, ce_count))
        lr.cross_entropy_bits = ce_total / ce_count if ce_count else None
        if hasattr(ref, "decodes"):  # a machine reference: whole decodes too, token by token (verify/machines.py)
            from .machines import record_decodes

            record_decodes(lr, construction, ref, backend=backend, dtype=dtype, device=device, rng=rng)
        report.lengths.append(lr)
        if fail_fast and not lr.ok:
            break
        if bar is not None:
            bar[0].advance(bar[1])
    if bar is not None:
        bar[0].stop()
    if report.tested == 0:  # every size gave no input (e.g. a corpus with nothing of these sizes): not a pass
        raise InputError(f"the check tested no inputs: the reference {report.reference!r} has none at sizes "
                         f"{_short_sizes(sizes)}; choose sizes it has inputs for")
    return report


def _check_batch(lr: LengthReport, construction: Construction, ref: Reference, batch: list[Any], *, backend: str,
                 dtype: Any, device: Any, tolerance: float | None, check_invariants: bool,
                 shrink: bool, ce: tuple[float, int] = (0.0, 0)) -> tuple[float, int]:
    """The general path on one batch of inputs that encode to equally long sequences: run it, compare every answer
    and proof statement with the reference, record failures in ``lr``; return the running cross-entropy sum (bits)
    and count ``ce`` with this batch's inputs added, one by one in input order."""
    ce_total, ce_count = ce
    bits: float | None
    for x, outcome in zip(batch, _run_isolating_errors(construction, batch, backend, dtype, device)):
        expected = ref.expected(x)
        lr.tested += 1
        if isinstance(outcome, ExactformerError):
            tie = isinstance(outcome, _TIES)  # the model decides nothing: a decision margin of 0
            if tie:
                lr.ties += 1
                lr.min_margin = 0.0
            _record(lr, construction, ref, x, expected, None, "tie" if tie else "error", backend, dtype,
                    device, tolerance, shrink, reason=f"{type(outcome).__name__}: {outcome}")
            continue
        result: RunResult = outcome
        # a tie (margin 0) or, in the certified backend, a decision the intervals do not separate is a
        # failure whatever the answer: the answer is an accident of the arithmetic, not verified
        tied = _tied(result)
        uncertified = backend == "certified" and not result.certified and not tied
        lr.ties += int(tied)
        lr.uncertified += int(uncertified)
        lr.certified += int(result.certified)
        lr.min_margin = min(lr.min_margin, 0.0 if tied else result.margin)
        bits = _cross_entropy_bits(construction, result, expected)
        if bits is not None:
            ce_total, ce_count = ce_total + bits, ce_count + 1
        answer_ok = result.answer == expected
        lr.passed += int(answer_ok and not tied and not uncertified)
        broken = []
        if check_invariants:
            for _, name, _, held, _ in proof_statements(construction, result, x, backend, dtype,
                                                         tolerance):
                tally = lr.invariants[name]
                tally.checked += 1
                tally.held += int(held)
                if not held:
                    broken.append(name)
        if tied or not answer_ok or uncertified or broken:
            kind = ("tie" if tied else "answer" if not answer_ok else "uncertified" if uncertified
                    else "invariant")
            _record(lr, construction, ref, x, expected, result.answer, kind, backend, dtype, device,
                    tolerance, shrink)
    return ce_total, ce_count


def _short_sizes(sizes: list[int]) -> str:
    return str(sizes) if len(sizes) <= 8 else f"[{', '.join(map(str, sizes[:8]))}, ...] ({len(sizes)} sizes)"


def _record(lr: LengthReport, construction: Construction, ref: Reference, x: Any, expected: Any, got: Any,
            kind: str, backend: str, dtype: Any, device: Any, tolerance: float | None, shrink: bool,
            reason: str | None = None) -> None:
    if len(lr.failures) >= _MAX_FAILURES_PER_SIZE:
        return
    if _FAIL_FAST.get():  # the caller wants to know whether the check fails, not why: record the failure as found
        lr.failures.append(Failure(kind=kind, input=x, minimal_input=x, expected=expected, got=got,
                                   where="(not diagnosed: fail_fast)", reason=reason or kind))
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
