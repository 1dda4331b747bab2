"""The tensor path of :func:`~exactformer.verify.check`: a whole size checked as tensors, Python objects only for
failures.

Where it applies (:func:`tensor_path_unavailable` says why not elsewhere): a torch backend, a DFA reference
(:class:`~exactformer.verify.reference.LanguageReference` with a transition table), and a construction whose
``encode`` carries a :class:`~exactformer.core.batch_encoding.BatchEncoder` (``encode.batch``) over an alphabet that
holds the reference's. Then, per size:

* the words are one ``[batch, n]`` tensor of symbol indices (every word, or uniform accepted and rejected words:
  :mod:`exactformer.verify.tensor_inputs`), the reference's answers one table gather per symbol over the batch;
* each batch (the general path's batches: ``batch_size`` words in the same order) is encoded by one gather and run
  by the one forward pass (:func:`~exactformer.core.forward.forward`, which embeds vocabulary indices directly);
* the readout's decisions and margins (the same float64 operations as
  :func:`~exactformer.core.runners.read_out` on the same logits, so the same bits), the answers against the
  reference, every invariant (``expected.batch`` where the invariant has one, else ``expected`` word by word) and
  every relation are compared on the device, as the general path compares them one input at a time;
* a batch in which anything fails (a wrong answer, a tie, a broken statement, an error in the forward pass, a
  non-finite logit) is handed to the general path as it is (the words rendered as strings), which runs it again and
  records, shrinks and diagnoses its failures exactly as it always does.

So the report is the general path's: the same inputs, counts, margins (bit for bit), invariant tallies and failures.
Only the mean cross-entropy is summed in another order (numpy's ``exp``/``log1p`` and a pairwise sum, where the general
path adds ``math`` values one at a time): it agrees to about ``n * eps`` relative, not to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..core.arith import TorchArithmetic
from ..core.arith.torch_fast import RESIDUAL_BUDGET
from ..core.batch_encoding import BatchEncoder, batch_of
from ..core.construction import Construction, Probe
from ..core.errors import ExactformerError
from ..core.forward import forward, schedule
from ..core.heap import retained_heap
from .relations import applicable_relations
from .report import LengthReport
from .statements import float_tolerance
from .tensor_inputs import render_words

__all__ = ["tensor_path_unavailable", "tensor_min_length", "check_size_on_tensors", "TRACE_BUDGET", "RESIDUAL_BUDGET",
           "MANY_BLOCKS"]

#: Largest trace (bytes, every residual of a batch) one forward pass of the tensor path keeps; a larger batch of
#: the general path is split (which it would refuse over the memory budget).
TRACE_BUDGET = 1 << 29

#: A size that fills at least this many blocks of twice :data:`RESIDUAL_BUDGET` runs in such blocks. A block's
#: first pass faults its pages in (the heap keeps them for the next blocks: ``core/heap.py``), a cost that only
#: many blocks repay; after it, fewer and larger blocks spend less on each operation's dispatch and on the threads'
#: hand-offs. Measured (2 threads, the two budgets alternating in one process): PARITY's 2^20 words 3.26-3.41 ->
#: 2.96-2.97 s, FIRST's 1.70-1.71 -> 1.57-1.63 s, log-depth-parity at n = 17 6.95-7.41 -> 6.03-6.36 s; one thread
#: ~2%. A size of a few blocks is slower in larger ones (log-depth-parity at n = 14, 3 blocks of 4x the budget: 75%
#: slower).
MANY_BLOCKS = 16



def tensor_path_unavailable(construction: Construction, ref: Any, backend: str) -> str | None:
    """Why the tensor path does not apply to this check, or ``None`` when it does."""
    if backend != "torch":
        return f"it computes in torch floats, and the backend is {backend!r}"
    table = getattr(ref, "table", None) if hasattr(ref, "word_indices") else None
    if table is None:
        return "the reference is not a DFA with a transition table"
    encoder = batch_of(construction.encode)
    if not isinstance(encoder, BatchEncoder):
        return "its encode has no batched form (encode.batch)"
    if type(construction).run_batch is not Construction.run_batch:
        return "it runs its inputs its own way (run_batch is overridden)"
    missing = [a for a in ref.alphabet if a not in encoder.alphabet]
    if missing:
        return f"the reference's symbols {missing} are not in the batched encoder's alphabet"
    if construction.model.readout.decision not in ("sign", "argmax"):
        return f"the readout decides by {construction.model.readout.decision!r}"
    return None


def tensor_min_length(construction: Construction) -> int:
    """The shortest word the batched encoder takes (shorter sizes run the general path, which reports the refusal)."""
    return int(batch_of(construction.encode).min_length)


def _answer_table(construction: Construction, device: Any) -> torch.Tensor:
    """``ok[label, expected]``: whether the answer interpreted from readout label ``label`` (index among the labels:
    ``False, True`` for a sign readout) equals the reference's answer ``expected`` (``False, True``)."""
    readout = construction.model.readout
    labels = (False, True) if readout.decision == "sign" else tuple(readout.labels)
    answers = [construction.interpret(label) for label in labels]
    ok = [[bool(answer == want) for want in (False, True)] for answer in answers]
    return torch.tensor(ok, dtype=torch.bool, device=device)


def _decisions(construction: Construction, trace: Any, arith: TorchArithmetic) -> tuple[Any, Any, Any] | None:
    """``(label index, margin, float64 logits)`` per sequence, by the general readout's float64 operations on the
    same logits; ``None`` when a logit is not finite or a decision is a tie (the general path reports those)."""
    readout = construction.model.readout
    held = trace.rows("final", [readout.position])  # the readout-only tail holds a few positions
    row = trace.final[:, held[0]]
    logits = arith._round(row @ arith.weights(readout.W_U) + arith.weights(readout.b_U))
    values = logits.detach().to(torch.float64)
    if not bool(torch.isfinite(values).all()):
        return None
    if readout.decision == "sign":
        z = values[:, 0]
        label, margin = (z > 0).to(torch.int64), z.abs()
    else:
        label = values.argmax(dim=1)
        if values.shape[1] > 1:
            top2 = values.topk(2, dim=1).values
            margin = top2[:, 0] - top2[:, 1]
        else:
            margin = torch.full_like(values[:, 0], math.inf)
    if bool((margin == 0).any()):
        return None
    return label, margin, values


def _probed(probe: Probe, trace: Any, index: Callable[[str], int], batch: int) -> torch.Tensor:
    """``probe``'s values for every sequence, ``[batch, positions, coordinates]`` in float64: by
    :meth:`Probe.read_batch`, or sequence by sequence for a probe that reads its own way (overrides ``read`` only)."""
    if type(probe).read is Probe.read or type(probe).read_batch is not Probe.read_batch:
        return probe.read_batch(trace, index).to(torch.float64)
    return torch.from_numpy(np.stack([probe.read(trace, index, b) for b in range(batch)]).astype(np.float64))


def _expected(statement: Any, words: torch.Tensor, python_words: Callable[[], list[Any]], n_tokens: int,
              device: Any) -> torch.Tensor:
    """A statement's expected values for the batch: its ``expected.batch`` if it has one, else ``expected`` word by
    word (exact values rounded to float64, as the general path rounds them)."""
    batched = batch_of(statement.expected)
    if batched is not None:
        return batched(words, n_tokens).to(device=device, dtype=torch.float64)
    values = [np.array(statement.expected(x, n_tokens), dtype=object).astype(np.float64) for x in python_words()]
    return torch.from_numpy(np.stack(values)).to(device)


def _statements_hold(construction: Construction, trace: Any, words: torch.Tensor, python_words: Callable[[], list[Any]],
                     n_tokens: int, dtype: torch.dtype, tolerance: float | None) -> list[bool] | None:
    """Whether each invariant, then each relation stated for torch, holds on every sequence of the batch (the
    general path's float comparisons, entry for entry); ``None`` if a probe cannot be read or has the wrong shape."""
    index, batch = construction.model.space.index, words.shape[0]
    device = trace.final.device
    out = []
    try:
        for inv in construction.invariants:
            got = _probed(inv.probe, trace, index, batch).to(device)
            want = _expected(inv, words, python_words, n_tokens, device)
            if got.shape != want.shape:
                return None
            tol = tolerance if tolerance is not None else float_tolerance(dtype, n_tokens)
            # |got - want| <= tol * (scale + |want|): the same float operations, two temporaries written in place
            bound = want.abs().add_(inv.scale).mul_(tol)
            out.append(bool(torch.sub(got, want).abs_().le_(bound).all()))
        for rel in applicable_relations(construction, "torch"):
            got = _probed(rel.probe, trace, index, batch).to(device)
            if hasattr(rel, "pairs"):
                half = len(rel.pairs)
                a, b = got[..., :half], got[..., half:]
                out.append(bool(((a + b).abs() <= float_tolerance(dtype, n_tokens) * (1 + a.abs())).all()))
                continue
            sign = _expected(rel, words, python_words, n_tokens, device)
            if got.shape != sign.shape:
                return None
            out.append(bool(torch.where(sign > 0, got > 0, got < 0).all()))
    except KeyError:  # a probed sublayer or coordinate that the model lacks
        return None
    return out


def _spot_check(construction: Construction, encoder: BatchEncoder, words: torch.Tensor, ref_words: np.ndarray,
                alphabet: Sequence[Any], n_tokens: int) -> None:
    """The batched forms must agree with the functions they stand for: on the first and last word of the size
    (``words``, in the encoder's symbol indices, and ``ref_words``, the reference's), the batched encoding equals
    ``encode``'s tokens and every ``expected.batch`` equals ``expected``."""
    picks = [0, len(ref_words) - 1]
    xs = render_words(ref_words[picks], alphabet)
    tokens = encoder(words).cpu().tolist()
    vocab = construction.model.embedding.vocab
    for x, row in zip(xs, tokens):
        if [vocab[t] for t in row] != list(construction.encode(x)):
            raise ExactformerError(f"{construction.name}: encode.batch disagrees with encode on {x!r}")
    statements = list(construction.invariants) + applicable_relations(construction, "torch")
    for st in statements:
        batched = batch_of(getattr(st, "expected", None))
        if batched is None:
            continue
        got = batched(words, n_tokens).to(torch.float64).cpu().numpy()
        want = np.stack([np.array(st.expected(x, n_tokens), dtype=object).astype(np.float64) for x in xs])
        if got.shape != want.shape or not np.array_equal(got, want):
            raise ExactformerError(f"{construction.name}: {st.name}'s expected.batch disagrees with its expected on "
                                   f"{xs[0]!r} or {xs[1]!r}")


def _tail_rows(construction: Construction, n_tokens: int, check_invariants: bool, batches: int = 2**30,
               ) -> list[int] | None:
    """The positions the model's last attention sublayer and the sublayers after it must answer (the *tail*): the
    readout position and every position a statement reads there; ``None`` when a statement reads the tail at
    every position, the positions are not fewer than half the sequence, or the tail is too small a share of the
    sublayers to repay the first batch's second pass over ``batches`` batches (a share ``s`` of the work saved on
    each later batch must exceed twice the ``1 - s`` the test costs: PARITY's tail is 2 of 4 sublayers, the
    log-depth recognizers' 2 of dozens)."""
    model = construction.model
    sublayers, last = schedule(model, n_tokens)
    share = (len(sublayers) - last) / len(sublayers) if last >= 0 else 0.0
    if last < 0 or share * (batches - 1) <= 2 * (1 - share):
        return None
    tail = {label for label, _ in sublayers[last:]}
    wanted = {model.readout.position % n_tokens}
    statements = list(construction.invariants) + applicable_relations(construction, "torch") if check_invariants else []
    for statement in statements:
        label = statement.probe.site.label
        if label in tail or (label == "final" and sublayers[-1][0] in tail):
            if statement.probe.positions is None:
                return None
            wanted |= {p % n_tokens for p in statement.probe.positions}
    return sorted(wanted) if 2 * len(wanted) <= n_tokens else None


def _tail_agrees(construction: Construction, tokens: torch.Tensor, arith: TorchArithmetic, tail_rows: Any,
                 full: Any) -> bool:
    """Run the batch ``tokens`` again with the tail at ``tail_rows`` only; whether it gives ``full``'s bits."""
    try:
        tail = forward(construction.model, tokens, arith, queries=tail_rows, full_trace=True)  # type: ignore[arg-type]
    except ExactformerError:
        return False
    return _same_bits(full, tail)


def _same_bits(full: Any, tail: Any) -> bool:
    """Whether every residual of the tail-only trace has the full trace's bits at the rows it holds."""
    for label, x in zip(tail.labels, tail.residuals):
        y = full[label]
        held = tail.partial.get(label)
        if held is not None:
            y = y[:, list(held[1])]
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        as_int = {8: torch.int64, 4: torch.int32, 2: torch.int16}[x.element_size()]
        if not torch.equal(x.contiguous().view(as_int), y.contiguous().view(as_int)):
            return False
    return True


@retained_heap()  # each batch's trace reuses the last one's pages (no page faults): 15% of PARITY's time
def check_size_on_tensors(lr: LengthReport, construction: Construction, ref: Any, ref_words: np.ndarray, *,
                          batch_size: int, dtype: torch.dtype, device: Any, tolerance: float | None,
                          check_invariants: bool, arith: Any,
                          general: Callable[..., tuple[float, int]]) -> tuple[float, int]:
    """Check the words ``ref_words`` (``[count, n]`` indices into ``ref.alphabet``) of one size into ``lr``; return
    the summed cross-entropy (bits) and its count. ``general(batch, ce=...)`` runs the general path on a batch of
    rendered words (for a batch with a failure)."""
    encoder: BatchEncoder = batch_of(construction.encode)
    arith = arith if isinstance(arith, TorchArithmetic) else TorchArithmetic(dtype=dtype, device=device or "cpu")
    dev = arith.device
    ce_total, ce_count = 0.0, 0
    if len(ref_words) == 0:
        return ce_total, ce_count
    remap = torch.tensor([encoder.alphabet.index(a) for a in ref.alphabet], dtype=torch.int64, device=dev)
    # the words stay in the reference's compact dtype (uint8 for up to 256 symbols: 21 MB for 2^20 x 20) and a batch
    # at a time becomes int64 (statements compute with the indices; uint8 arithmetic would wrap), then the encoder's
    # symbol indices: the same values when the two alphabets agree in order, else one gather
    ref_tensor = torch.from_numpy(np.ascontiguousarray(ref_words)).to(dev)
    same_order = torch.equal(remap, torch.arange(len(remap), device=dev))
    expected_all = ref.table.accepts(ref_tensor)
    n_tokens = encoder.tokens_for(ref_words.shape[1])
    first_last = ref_tensor[[0, -1]].to(torch.int64)
    _spot_check(construction, encoder, first_last if same_order else remap[first_last], ref_words, ref.alphabet,
                n_tokens)
    ok_table = _answer_table(construction, dev)
    sign = construction.model.readout.decision == "sign"
    sublayers = 1 + sum(len(list(layer.sublayers())) for _, layer in construction.model.named_layers(n_tokens))
    itemsize = torch.finfo(dtype).bits // 8
    residual = n_tokens * construction.model.d_model * itemsize
    budget = 2 * RESIDUAL_BUDGET if len(ref_words) * residual >= MANY_BLOCKS * 2 * RESIDUAL_BUDGET else RESIDUAL_BUDGET
    rows = max(1, min(batch_size, TRACE_BUDGET // (residual * sublayers), budget // residual))
    # With several batches, the tail (the last attention sublayer on) answers only the positions read from it, once
    # the first batch has shown it gives the full pass's bits there (None: not yet tried; a product over fewer rows
    # may round a last bit otherwise, and then every batch takes the full pass)
    batches = -(-len(ref_words) // min(rows, batch_size))
    tail_rows = _tail_rows(construction, n_tokens, check_invariants, batches) if batches > 1 else None
    tail_on: bool | None = None if tail_rows is not None else False
    for start in range(0, len(ref_words), batch_size):
        for low in range(start, min(start + batch_size, len(ref_words)), rows):
            high = min(low + rows, start + batch_size, len(ref_words))
            words, expected = ref_tensor[low:high].to(torch.int64), expected_all[low:high]
            words = words if same_order else remap[words]

            def python_words(low: int = low, high: int = high) -> list[Any]:
                return render_words(ref_words[low:high], ref.alphabet)

            tokens = encoder(words)
            try:
                if tail_on:
                    trace = forward(construction.model, tokens, arith, queries=tail_rows, full_trace=True)  # type: ignore[arg-type]
                else:
                    trace = forward(construction.model, tokens, arith)  # type: ignore[arg-type]
            except ExactformerError:
                trace = None
            if tail_on is None and trace is not None:
                tail_on = _tail_agrees(construction, tokens, arith, tail_rows, trace)
            decided = None if trace is None else _decisions(construction, trace, arith)
            held: list[bool] | None = []
            if decided is not None and check_invariants:
                held = _statements_hold(construction, trace, words, python_words, n_tokens, dtype, tolerance)
            passed = decided is not None and held is not None and all(held)
            if passed:
                label, margin, values = decided  # type: ignore[misc]
                passed = bool(ok_table[label, expected.to(torch.int64)].all())
            if not passed:  # the general path runs this batch again, and records its failures
                ce_total, ce_count = general(python_words(), ce=(ce_total, ce_count))
                continue
            count = high - low
            lr.tested += count
            lr.passed += count
            lr.min_margin = min(lr.min_margin, float(margin.min()))
            if check_invariants:  # as the general path counts: once per statement, per input
                for name in [inv.name for inv in construction.invariants] + [
                        rel.name for rel in applicable_relations(construction, "torch")]:
                    lr.invariants[name].checked += count
                    lr.invariants[name].held += count
            if sign:
                t = torch.where(expected, values[:, 0], -values[:, 0]).cpu().numpy()
                bits = (np.maximum(-t, 0.0) + np.log1p(np.exp(-np.abs(t)))) / math.log(2)
                ce_total, ce_count = ce_total + float(bits.sum()), ce_count + count
    return ce_total, ce_count
