"""Three ways to run a model: classify, decode, think.

* :func:`classify`: an encoder-style pass; the answer is read at one position.
* :func:`decode`: autoregressive greedy decoding. With torch it keeps a cache of each attention sublayer's
  (normalised) inputs, trimmed to the attention window, so a windowed model does O(window) work per token.
* :func:`think`: continuous chain of thought; the last position's final residual is fed back as the next input
  vector, ``num_thoughts`` times, then the remaining tokens are appended and the answer is read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import torch

from .architecture import Readout, Transformer
from .arith import Arithmetic, Item, TorchArithmetic, Trace, interval_bounds
from .errors import InputError, NonFiniteError, ReadoutTieError
from .forward import KVCache, batch_length, forward

__all__ = ["Output", "classify", "decode", "think", "Decoded", "Thoughts", "read_out", "forward_to_readout"]


@dataclass
class Output:
    """What a classification pass returns, per sequence of the batch.

    Attributes
    ----------
    labels
        The decided label of each sequence (for a ``sign`` readout, ``True`` iff the logit is > 0).
    logits
        The readout logits, ``[batch, n_out]`` (Fractions, intervals or a tensor, by backend).
    margins
        How far each decision is from flipping: ``|z|`` for sign, top minus runner-up for argmax (floats).
    certified
        Per sequence, whether the decision and every decision inside the forward pass are certain.
    trace
        Every residual stream.
    tied
        Per sequence, whether the readout decided nothing: the two largest logits are equal (``argmax``) or the logit
        is exactly 0 (``sign``), compared exactly by the exact evaluator, as point intervals by the certified one and
        as floats by torch. The label of a tied sequence is an accident of the evaluation order, its margin is 0, and
        it is never certified.
    """

    labels: list[Any]
    logits: Any
    margins: list[float]
    certified: list[bool]
    trace: Trace
    tied: list[bool] = field(default_factory=list)

    def raise_on_ties(self, readout: Readout, *, where: str = "") -> None:
        """Raise :class:`~exactformer.core.errors.ReadoutTieError` if some sequence's readout is a tie (see
        :attr:`tied`), naming the first one, its tied labels and their logit."""
        if any(self.tied):
            raise ReadoutTieError(_tie_message(readout, self.logits, self.tied.index(True), where))


def _float(v: Any) -> float:
    if hasattr(v, "mid"):  # an mpmath interval
        return float(v.mid)
    return float(v)


def _interval_bounds(v: Any) -> tuple[Fraction, Fraction] | None:
    """Exact endpoints of an interval, ``None`` for an exact value."""
    return interval_bounds(v) if hasattr(v, "_mpi_") else None


def _tie_message(readout: Readout, logits: Any, b: int, where: str = "", row_of_b: int | None = None) -> str:
    """``"readout tie (batch 0): the logits of 'a', 'b' are all 1/2, so the argmax decides nothing"`` for the tied
    sequence ``b`` (``where`` goes after "readout tie", e.g. "at decoding step 3"), whose logits are row
    ``row_of_b`` of ``logits`` (by default row ``b``)."""
    row = logits[b if row_of_b is None else row_of_b]
    if isinstance(row, torch.Tensor):
        row = row.detach().to(torch.float64).cpu().tolist()
    values = list(row)
    at = f" {where}" if where else ""
    if readout.decision == "sign":
        return (f"readout tie{at} (batch {b}): the sign readout's logit is exactly {values[0]}, so the model "
                "answers neither yes nor no")
    mids = [_float(v) for v in values]
    top = max(mids)
    tied = [readout.labels[j] for j, m in enumerate(mids) if m == top]
    shown = values[mids.index(top)]
    return (f"readout tie{at} (batch {b}): the logits of {', '.join(repr(t) for t in tied)} are all {shown}, so the "
            "argmax decides nothing")


def _read_out_floats(readout: Readout, logits: torch.Tensor) -> tuple[list[Any], list[float], list[bool]]:
    """The decisions and margins of a batch of float logits, computed for the whole batch at once."""
    return _decide_floats(readout, logits.detach().to(torch.float64).cpu().numpy())


def _decide_floats(readout: Readout, values: np.ndarray) -> tuple[list[Any], list[float], list[bool]]:
    """:func:`_read_out_floats` of the logits as a float64 array ``[batch, n_out]``."""
    certified = [False] * values.shape[0]
    if readout.decision == "sign":
        z = values[:, 0]
        return (z > 0).tolist(), np.abs(z).tolist(), certified
    order = np.argsort(values, axis=1)[:, ::-1]  # per row the same sort as np.argsort(row)[::-1]
    top = order[:, 0]
    rows = np.arange(values.shape[0])
    best = values[rows, top]
    second = values[rows, order[:, 1]] if values.shape[1] > 1 else np.full(values.shape[0], float("-inf"))
    return [readout.labels[int(t)] for t in top], (best - second).tolist(), certified


def _read_out_torch(
    readout: Readout, row: torch.Tensor, arith: TorchArithmetic
) -> tuple[torch.Tensor, list[Any], list[float], list[bool], list[bool]]:
    """Logits of the readout rows ``[batch, d_model]``, the decision for each sequence and whether it is a tie.

    Raises :class:`~exactformer.core.errors.NonFiniteError` for a NaN or infinite logit. A tie is a margin of
    exactly 0 (the logits are finite, so ``best - second == 0`` iff they are equal, and ``|z| == 0`` iff ``z`` is
    +-0)."""
    logits = arith._round(row @ arith.weights(readout.W_U) + arith.weights(readout.b_U))
    values = logits.detach().to(torch.float64).cpu().numpy()
    if not (np.isfinite(values.sum()) or np.isfinite(values).all()):  # one sum first, as arith.torch._all_finite
        b, j = (int(i) for i in np.argwhere(~np.isfinite(values))[0])
        raise NonFiniteError(f"readout logit {logits[b, j].item()} for label {readout.labels[j]!r} (batch {b}) in "
                             f"{arith.dtype}")
    labels, margins, certified = _decide_floats(readout, values)
    tied = (np.asarray(margins) == 0).tolist() if 0.0 in margins else [False] * len(margins)  # C-speed test first
    return logits, labels, margins, certified, tied


def read_out(
    readout: Readout, final: Any, arith: Arithmetic
) -> tuple[Any, list[Any], list[float], list[bool], list[bool]]:
    """Logits at the readout position of ``final``, and per sequence the decision, its margin, whether it is
    certified and whether it is a tie (see :attr:`Output.tied`).

    ``sign``: the label is ``z > 0``, the margin ``|z|``; exactly ``z == 0`` is a tie (an interval that holds 0 and
    something else is not certified). ``argmax``: the label of the largest logit, the margin top minus runner-up;
    two equal largest logits are a tie (overlapping intervals are not certified). Floats are certified never.
    """
    if isinstance(arith, TorchArithmetic):
        return _read_out_torch(readout, final[:, readout.position], arith)
    row = final[:, readout.position]
    logits = row @ arith.weights(readout.W_U) + arith.weights(readout.b_U)  # type: ignore[attr-defined]
    values = logits
    labels: list[Any] = []
    margins: list[float] = []
    certified: list[bool] = []
    tied: list[bool] = []
    for b in range(values.shape[0]):
        if readout.decision == "sign":
            z = values[b, 0]
            lo, hi = _bounds(z)
            tie = lo == hi == 0
            labels.append(_float(z) > 0)
            margins.append(0.0 if tie else abs(_float(z)))
            certified.append(lo > 0 or hi < 0)
            tied.append(tie)
            continue
        row_values = [_float(v) for v in values[b]]
        order = np.argsort(row_values)[::-1]
        top = int(order[0])
        second = row_values[int(order[1])] if len(order) > 1 else float("-inf")
        labels.append(readout.labels[top])
        top_lo, top_hi = _bounds(values[b, top])
        others = [_bounds(values[b, j]) for j in range(len(row_values)) if j != top]
        unique = all(hi < top_lo for _, hi in others)
        tie = top_lo == top_hi and any(o == (top_lo, top_hi) for o in others)
        margins.append(0.0 if tie else row_values[top] - second)
        certified.append(unique)
        tied.append(tie)
    return logits, labels, margins, certified, tied


def _bounds(v: Any) -> tuple[Fraction, Fraction]:
    """The exact endpoints of an interval, ``(v, v)`` for an exact value."""
    return _interval_bounds(v) or (v, v)


def classify(
    model: Transformer,
    inputs: Sequence[Sequence[Item]],
    arith: Arithmetic,
    *,
    keep_trace: bool = True,
    on_tie: Literal["report", "raise"] = "report",
) -> Output:
    """Run ``model`` on a batch of equally long sequences and read the answer at the readout position.

    Parameters
    ----------
    model, inputs, arith
        The transformer, a batch of equally long input sequences, and the arithmetic.
    on_tie
        What a readout tie does (the two largest logits equal, or a sign logit of exactly 0: see
        :attr:`Output.tied`): ``"report"`` (the default) flags it in ``Output.tied`` with margin 0; ``"raise"``
        raises :class:`~exactformer.core.errors.ReadoutTieError` naming the first tied sequence.
        :meth:`Construction.run <exactformer.core.construction.Construction.run>` raises.
    keep_trace
        ``True`` (the default): every residual stream at every position is kept in ``Output.trace``.
        ``False``, with a torch arithmetic: the answer alone is computed, by :func:`forward_to_readout` (the last
        attention layer answers only the readout position's query, and the trace keeps only the final residual
        at that position). It runs the full pass's operations on fewer rows, so the logits agree with the full
        pass's up to the last bits of matrix products over fewer rows (tests/core/test_fast_paths.py compares both
        with the exact and certified evaluators); only values that cannot reach the answer are skipped (so a NaN at
        another position after the last attention layer is not reported). With the exact and certified
        arithmetics the full pass runs either way.
    """
    if on_tie not in ("report", "raise"):
        raise InputError(f"on_tie must be 'report' or 'raise', not {on_tie!r}")
    if not keep_trace and isinstance(arith, TorchArithmetic):
        trace = forward_to_readout(model, inputs, arith)
        logits, labels, margins, certified, tied = _read_out_torch(model.readout, trace.final[:, 0], arith)
        output = Output(labels, logits, margins, certified, trace, tied)
    else:
        trace = forward(model, inputs, arith)
        logits, labels, margins, certified, tied = read_out(model.readout, trace.final, arith)
        inner = trace.certified and not isinstance(arith, TorchArithmetic)
        output = Output(labels, logits, margins, [c and inner for c in certified], trace, tied)
    if on_tie == "raise":
        output.raise_on_ties(model.readout)
    return output


def forward_to_readout(model: Transformer, inputs: Sequence[Sequence[Item]], arith: TorchArithmetic) -> Trace:
    """The forward pass of :func:`~exactformer.core.forward.forward`, computing only what reaches the readout.

    MLPs and norms act position by position, so after the model's last attention sublayer only the readout
    position matters: that sublayer answers the readout position's query alone (its keys and values are still
    every position), and the rest of the pass continues on that one row (``forward``'s ``queries``). Every value
    computed is computed by the same operations as in the full pass (a constant-score attention by the same O(N)
    path), on fewer rows: a matrix product over fewer rows may round its last bit differently, so the final row
    equals the full pass's row up to rounding.

    Returns
    -------
    Trace
        One residual, recorded under the last sublayer's label: ``[batch, 1, d_model]``, the readout position.
    """
    length = batch_length(model, inputs)
    position = model.readout.position
    if not -length <= position < length:
        raise InputError(f"the readout position {position} is outside a sequence of {length} tokens")
    return forward(model, inputs, arith, queries=[position])


@dataclass
class Decoded:
    """Tokens generated by :func:`decode`, per sequence of the batch, whether each stopped, and whether it stopped
    at a readout tie (``on_tie="stop"``: no unique next token; the tied token is not in ``tokens``)."""

    tokens: list[list[str]]
    stopped: list[bool]
    margins: list[list[float]]
    tied: list[bool] = field(default_factory=list)


class _Progress:
    """What :func:`decode` has generated so far, per sequence, and the one rule for taking a step: a sequence that
    has not stopped takes its label (or, at a readout tie, raises or stops there without it) and stops at a stop
    token; a stopped sequence's further labels are not used."""

    def __init__(self, batch: int, is_stop: Callable[[str], bool], on_tie: str) -> None:
        self.is_stop, self.on_tie = is_stop, on_tie
        self.out: list[list[str]] = [[] for _ in range(batch)]
        self.margins: list[list[float]] = [[] for _ in range(batch)]
        self.stopped = [False] * batch
        self.tied = [False] * batch

    def advance(self, readout: Readout, logits: Any, labels: list[Any], margins: list[float], tied: list[bool],
                step: int, sequences: Sequence[int] | None = None) -> None:
        """Take one step; row ``i`` of ``logits`` (and of the lists) is sequence ``sequences[i]`` of the batch (by
        default sequence ``i``)."""
        for i, label in enumerate(labels):
            b = i if sequences is None else sequences[i]
            if self.stopped[b]:
                continue
            if tied[i]:
                if self.on_tie == "raise":
                    raise ReadoutTieError(_tie_message(readout, logits, b, where=f"at decoding step {step}",
                                                       row_of_b=i))
                self.stopped[b] = self.tied[b] = True
                continue
            self.out[b].append(label)
            self.margins[b].append(margins[i])
            self.stopped[b] = self.is_stop(label)

    def result(self) -> Decoded:
        return Decoded(self.out, self.stopped, self.margins, self.tied)


def _stop_test(stop: Collection[str] | Callable[[str], bool] | None) -> Callable[[str], bool]:
    if stop is None:
        return lambda token: False
    if callable(stop):
        return stop
    stop_set = set(stop)
    return lambda token: token in stop_set


def decode(
    model: Transformer,
    prompts: Sequence[Sequence[str]],
    arith: Arithmetic,
    *,
    max_new_tokens: int,
    stop: Collection[str] | Callable[[str], bool] | None = None,
    cache: bool = True,
    on_tie: Literal["raise", "stop"] = "raise",
    context: int | None = None,
) -> Decoded:
    """Greedy autoregressive decoding: append the argmax label (a vocabulary token) until ``stop`` or the limit.

    With torch (and ``cache=True``) the pass is incremental (cached attention inputs, trimmed to the window); with
    the exact and certified arithmetics, or ``cache=False``, each step reruns the whole sequence.
    A sequence that has stopped keeps its tokens; the batch runs until all have stopped.

    ``on_tie``: when the next token of a sequence that has not stopped is a readout tie (two equal largest logits:
    greedy decoding has no next token), ``"raise"`` (the default) raises; ``"stop"`` stops that sequence there,
    without the token, flagged in :attr:`Decoded.tied`. ``context``: rerun only the last ``context`` tokens per step
    (the uncached path), for a model whose next token depends on no more than those (a window mask of that width
    and no absolute positions).

    Raises
    ------
    ReadoutTieError
        With ``on_tie="raise"``, at a readout tie of a sequence that has not stopped, naming the step and the
        sequence.
    NonFiniteError
        For a NaN or an infinity in a weight, a residual, an attention score or a logit.
    """
    if model.readout.decision != "argmax":
        raise InputError("decoding needs an argmax readout whose labels are vocabulary tokens")
    missing = [label for label in model.readout.labels if label not in model.embedding.vocab]
    if missing:
        raise InputError(f"readout labels {missing[:5]} are not vocabulary tokens, so they cannot be fed back")
    if len({len(p) for p in prompts}) != 1:
        raise InputError("every prompt in a batch must have the same length")
    if on_tie not in ("raise", "stop"):
        raise InputError(f"on_tie must be 'raise' or 'stop', not {on_tie!r}")
    if context is not None and context < 1:
        raise InputError(f"context must be a positive number of tokens, got {context!r}")
    progress = _Progress(len(prompts), _stop_test(stop), on_tie)
    if isinstance(arith, TorchArithmetic) and cache:
        return _decode_cached(model, prompts, arith, max_new_tokens, progress)
    seqs = [list(p) for p in prompts]
    for step in range(max_new_tokens):
        if all(progress.stopped):
            break
        result = classify(model, [seq if context is None else seq[-context:] for seq in seqs], arith)
        progress.advance(model.readout, result.logits, result.labels, result.margins, result.tied, step)
        for b, label in enumerate(result.labels):
            seqs[b].append(label)
    return progress.result()


def _decode_cached(
    model: Transformer,
    prompts: Sequence[Sequence[str]],
    arith: TorchArithmetic,
    max_new_tokens: int,
    progress: _Progress,
) -> Decoded:
    """Greedy decoding with a :class:`~exactformer.core.forward.KVCache`: each step runs only the new tokens (the
    prompt, then one token per sequence), answering only the newest position's query."""
    if model.embedding.depends_on_length:
        raise InputError("cached decoding needs positional features that do not depend on the sequence length")
    if model.loop is not None:
        raise InputError("cached decoding needs a fixed depth; a looped model's depth changes with the length")
    if model.readout.position != -1:
        raise InputError("cached decoding reads the newest token: the readout position must be -1")
    for label, layer in model.named_layers(None):
        if layer.attention is not None and not layer.attention.block.mask.is_causal:  # type: ignore[union-attr]
            raise InputError(f"cached decoding needs causal attention masks; {label}.attn has none")
    cache = KVCache()
    items: Any = prompts  # token lists, then a [batch, 1] tensor of vocabulary indices (which forward also takes)
    running = list(range(len(prompts)))  # the sequence of each row of the cache
    # later steps feed the labels as vocabulary indices, one [batch, 1] tensor (embedded by one gather, the same
    # rows of W_E), instead of one Python list per sequence and step
    vocabulary = {token: i for i, token in enumerate(model.embedding.vocab)}
    for step in range(max_new_tokens):
        final = forward(model, items, arith, queries=[-1], cache=cache).final
        logits, labels, step_margins, _, tied = read_out(model.readout, final, arith)
        progress.advance(model.readout, logits, labels, step_margins, tied, step, running)
        if all(progress.stopped):
            break
        live = [i for i, b in enumerate(running) if not progress.stopped[b]]
        if 2 * len(live) <= len(running):  # most rows have stopped: drop the stopped ones (each row is its own)
            cache.keep(live)
            running, labels = [running[i] for i in live], [labels[i] for i in live]
        items = torch.tensor([vocabulary[label] for label in labels], dtype=torch.int64)[:, None]
    return progress.result()


@dataclass
class Thoughts:
    """The continuous thoughts of :func:`think` (one vector per thought, per sequence) and the final answer."""

    thoughts: list[list[Any]]
    output: Output


def think(
    model: Transformer,
    prompts: Sequence[Sequence[Item]],
    arith: Arithmetic,
    *,
    num_thoughts: int,
    then: Sequence[str] = (),
    on_tie: Literal["report", "raise"] = "report",
) -> Thoughts:
    """Continuous chain of thought: append the last position's final residual ``num_thoughts`` times as an input
    vector, then append the tokens ``then`` and read the answer (``on_tie`` as for :func:`classify`)."""
    seqs: list[list[Item]] = [list(p) for p in prompts]
    thoughts: list[list[Any]] = [[] for _ in prompts]
    for _ in range(num_thoughts):
        trace = forward(model, seqs, arith)
        for b in range(len(seqs)):
            vec = trace.final[b, -1]
            thoughts[b].append(vec)
            seqs[b].append(vec)
    for token in then:
        for seq in seqs:
            seq.append(token)
    return Thoughts(thoughts, classify(model, seqs, arith, on_tie=on_tie))
