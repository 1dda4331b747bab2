"""Three ways to run a model: classify, decode, think.

* :func:`classify`: an encoder-style pass; the answer is read at one position.
* :func:`decode`: autoregressive greedy decoding. With torch it keeps a cache of each attention sublayer's
  (normalised) inputs, trimmed to the attention window, so a windowed model does O(window) work per token.
* :func:`think`: continuous chain of thought; the last position's final residual is fed back as the next input
  vector, ``num_thoughts`` times, then the remaining tokens are appended and the answer is read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from .architecture import Attention, Readout, Transformer
from .errors import InputError
from .evaluate import Arithmetic, Item, TorchArithmetic, Trace, _sublayer, batch_length, forward, interval_bounds

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
    """

    labels: list[Any]
    logits: Any
    margins: list[float]
    certified: list[bool]
    trace: Trace


def _float(v: Any) -> float:
    if hasattr(v, "mid"):  # an mpmath interval
        return float(v.mid)
    return float(v)


def _interval_bounds(v: Any) -> tuple[Fraction, Fraction] | None:
    """Exact endpoints of an interval, ``None`` for an exact value."""
    return interval_bounds(v) if hasattr(v, "_mpi_") else None


def _read_out_floats(readout: Readout, logits: torch.Tensor) -> tuple[list[Any], list[float], list[bool]]:
    """The decisions and margins of a batch of float logits, computed for the whole batch at once."""
    values = logits.detach().to(torch.float64).cpu().numpy()
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
) -> tuple[torch.Tensor, list[Any], list[float], list[bool]]:
    """Logits of the readout rows ``[batch, d_model]`` and the decision for each sequence."""
    logits = arith._round(row @ arith.weights(readout.W_U) + arith.weights(readout.b_U))
    return (logits, *_read_out_floats(readout, logits))


def read_out(readout: Readout, final: Any, arith: Arithmetic) -> tuple[Any, list[Any], list[float], list[bool]]:
    """Logits at the readout position of ``final`` and the decision for each sequence."""
    if isinstance(arith, TorchArithmetic):
        return _read_out_torch(readout, final[:, readout.position], arith)
    else:
        row = final[:, readout.position]
        logits = row @ arith.weights(readout.W_U) + arith.weights(readout.b_U)  # type: ignore[attr-defined]
        values = logits
    labels, margins, certified = [], [], []
    exact = not isinstance(arith, TorchArithmetic)
    for b in range(values.shape[0]):
        if readout.decision == "sign":
            z = values[b, 0]
            bounds = _interval_bounds(z)
            labels.append(_float(z) > 0)
            margins.append(abs(_float(z)))
            certified.append(exact and (bounds is None or bounds[0] > 0 or bounds[1] <= 0))
            continue
        row_values = [_float(v) for v in values[b]]
        order = np.argsort(row_values)[::-1]
        top = int(order[0])
        second = row_values[int(order[1])] if len(order) > 1 else float("-inf")
        labels.append(readout.labels[top])
        margins.append(row_values[top] - second)
        if not exact:
            certified.append(False)
        else:
            lower_top = _interval_bounds(values[b, top])
            if lower_top is None:
                unique = all(values[b, j] < values[b, top] for j in range(len(row_values)) if j != top)
            else:
                unique = all(
                    _interval_bounds(values[b, j])[1] < lower_top[0]  # type: ignore[index]
                    for j in range(len(row_values))
                    if j != top
                )
            certified.append(unique)
    return logits, labels, margins, certified


def classify(
    model: Transformer, inputs: Sequence[Sequence[Item]], arith: Arithmetic, *, keep_trace: bool = True
) -> Output:
    """Run ``model`` on a batch of equally long sequences and read the answer at the readout position.

    Parameters
    ----------
    model, inputs, arith
        The transformer, a batch of equally long input sequences, and the arithmetic.
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
    if not keep_trace and isinstance(arith, TorchArithmetic):
        trace = forward_to_readout(model, inputs, arith)
        logits, labels, margins, certified = _read_out_torch(model.readout, trace.final[:, 0], arith)
        return Output(labels, logits, margins, certified, trace)
    trace = forward(model, inputs, arith)
    logits, labels, margins, certified = read_out(model.readout, trace.final, arith)
    inner = trace.certified and not isinstance(arith, TorchArithmetic)
    return Output(labels, logits, margins, [c and inner for c in certified], trace)


def forward_to_readout(model: Transformer, inputs: Sequence[Sequence[Item]], arith: TorchArithmetic) -> Trace:
    """The forward pass of :func:`~exactformer.core.evaluate.forward`, computing only what reaches the readout.

    MLPs and norms act position by position, so after the model's last attention sublayer only the readout
    position matters: that sublayer answers the readout position's query alone (its keys and values are still
    every position), and the rest of the pass continues on that one row. Every value computed is computed by the
    same operations as in the full pass (a constant-score attention by the same O(N) path, see
    :meth:`~exactformer.core.evaluate.TorchArithmetic._constant_attention`), on fewer rows: a matrix product over
    fewer rows may round its last bit differently, so the final row equals the full pass's row up to rounding.

    Returns
    -------
    Trace
        One residual, recorded under the last sublayer's label: ``[batch, 1, d_model]``, the readout position.
    """
    length = batch_length(model, inputs)
    position = model.readout.position
    if not -length <= position < length:
        raise InputError(f"the readout position {position} is outside a sequence of {length} tokens")
    position %= length
    sublayers = [
        (f"{label}.{kind}", sub) for label, layer in model.named_layers(length) for kind, sub in layer.sublayers()
    ]
    attentions = [k for k, (_, sub) in enumerate(sublayers) if isinstance(sub.block, Attention)]
    last = attentions[-1] if attentions else -1
    trace = Trace(space_names=model.space.names)
    arith.trace = trace
    x = arith.embed(model, inputs)
    arith.check(x, "embed")
    where = "embed"
    if last < 0:  # no attention at all: every sublayer acts position by position
        x = x[:, position : position + 1]
    for k, (where, sub) in enumerate(sublayers):
        if k != last:
            x = _sublayer(arith, x, sub, model, length, where)
            continue
        h = arith.norm(x, sub.input_norm, model, where + ".input_norm")
        positions = torch.arange(length, device=arith.device)
        query = slice(position, position + 1)
        delta = arith.attend(h[:, query], h, positions[query], positions, sub.block, length, where)  # type: ignore
        x = x[:, query]
        y = arith.add(x, delta) if sub.residual else delta
        x = arith.norm(y, sub.output_norm, model, where + ".output_norm")
        arith.check(x, where)
    trace.record(where, x)
    return trace


@dataclass
class Decoded:
    """Tokens generated by :func:`decode`, per sequence of the batch, and whether each stopped."""

    tokens: list[list[str]]
    stopped: list[bool]
    margins: list[list[float]]


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
) -> Decoded:
    """Greedy autoregressive decoding: append the argmax label (a vocabulary token) until ``stop`` or the limit.

    With torch (and ``cache=True``) the pass is incremental (cached attention inputs, trimmed to the window); with
    the exact and certified arithmetics, or ``cache=False``, each step reruns the whole sequence.
    A sequence that has stopped keeps its tokens; the batch runs until all have stopped.
    """
    if model.readout.decision != "argmax":
        raise InputError("decoding needs an argmax readout whose labels are vocabulary tokens")
    missing = [label for label in model.readout.labels if label not in model.embedding.vocab]
    if missing:
        raise InputError(f"readout labels {missing[:5]} are not vocabulary tokens, so they cannot be fed back")
    if len({len(p) for p in prompts}) != 1:
        raise InputError("every prompt in a batch must have the same length")
    is_stop = _stop_test(stop)
    if isinstance(arith, TorchArithmetic) and cache:
        return _decode_cached(model, prompts, arith, max_new_tokens, is_stop)
    seqs = [list(p) for p in prompts]
    out: list[list[str]] = [[] for _ in prompts]
    margins: list[list[float]] = [[] for _ in prompts]
    stopped = [False] * len(prompts)
    for _ in range(max_new_tokens):
        if all(stopped):
            break
        result = classify(model, seqs, arith)
        for b, label in enumerate(result.labels):
            seqs[b].append(label)
            if not stopped[b]:
                out[b].append(label)
                margins[b].append(result.margins[b])
                stopped[b] = is_stop(label)
    return Decoded(out, stopped, margins)


class _Cached(Arithmetic):
    """Incremental decoding around a torch arithmetic: new positions attend to cached earlier inputs.

    The cache of an attention sublayer holds its normalised inputs at the positions a future query may still
    see (all earlier positions, or only the last ``width - 1`` under a window mask). Every other operation is the
    base arithmetic's own (so a fixed-point or half-precision arithmetic rounds exactly as it does elsewhere).

    After the model's last attention sublayer only the last position can reach the readout (MLPs and norms act
    position by position), so that sublayer answers the last query alone and the residual continues as that one
    row.
    """

    name = "cached"

    def __init__(self, base: TorchArithmetic, last_attention: str | None) -> None:
        super().__init__()
        self.base = base
        self.device = base.device
        self.kv: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.start = 0
        self.last_attention = last_attention

    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]]) -> torch.Tensor:
        return self.base.embed(model, inputs, start=self.start)

    def weights(self, arr: Any) -> torch.Tensor:
        return self.base.weights(arr)

    def norm(self, x: Any, norm: Any, model: Transformer, where: str) -> Any:
        return self.base.norm(x, norm, model, where)

    def mlp(self, x: Any, mlp: Any, where: str) -> Any:
        return self.base.mlp(x, mlp, where)

    def check(self, x: Any, where: str) -> None:
        self.base.check(x, where)

    def attention(self, x: torch.Tensor, att: Attention, length: int, where: str) -> torch.Tensor:
        qpos = torch.arange(self.start, self.start + x.shape[1], device=self.device)
        if where in self.kv:
            old_x, old_pos = self.kv[where]
            keys, kpos = torch.cat([old_x, x], dim=1), torch.cat([old_pos, qpos])
        else:
            keys, kpos = x, qpos
        if att.mask.kind == "window":
            # store only what a future query (position > qpos[-1]) may see; this step's queries attend to all
            # keys (several new queries during the prompt pass: the earlier ones need keys the trim drops)
            keep = kpos > int(qpos[-1]) - att.mask.width  # type: ignore[operator]
            self.kv[where] = (keys[:, keep], kpos[keep])
        else:
            self.kv[where] = (keys, kpos)
        if where == self.last_attention:
            return self.base.attend(x[:, -1:], keys, qpos[-1:], kpos, att, length, where)
        return self.base.attend(x, keys, qpos, kpos, att, length, where)


def _decode_cached(
    model: Transformer,
    prompts: Sequence[Sequence[str]],
    arith: TorchArithmetic,
    max_new_tokens: int,
    is_stop: Callable[[str], bool],
) -> Decoded:
    if model.embedding.depends_on_length:
        raise InputError("cached decoding needs positional features that do not depend on the sequence length")
    if model.loop is not None:
        raise InputError("cached decoding needs a fixed depth; a looped model's depth changes with the length")
    if model.readout.position != -1:
        raise InputError("cached decoding reads the newest token: the readout position must be -1")
    for label, layer in model.named_layers(None):
        if layer.attention is not None and not layer.attention.block.mask.is_causal:  # type: ignore[union-attr]
            raise InputError(f"cached decoding needs causal attention masks; {label}.attn has none")
    attentions = [f"{label}.attn" for label, layer in model.named_layers(None) if layer.attention is not None]
    cached = _Cached(arith, attentions[-1] if attentions else None)
    batch = len(prompts)
    out: list[list[str]] = [[] for _ in range(batch)]
    margins: list[list[float]] = [[] for _ in range(batch)]
    stopped = [False] * batch
    items: Sequence[Sequence[str]] = prompts
    for _ in range(max_new_tokens):
        x = cached.embed(model, items)
        for label, layer in model.named_layers(None):
            for kind, sub in layer.sublayers():
                x = _sublayer(cached, x, sub, model, cached.start + x.shape[1], f"{label}.{kind}")
        cached.start += len(items[0])
        _, labels, step_margins, _ = read_out(model.readout, x, cached.base)
        for b, label in enumerate(labels):
            if not stopped[b]:
                out[b].append(label)
                margins[b].append(step_margins[b])
                stopped[b] = is_stop(label)
        if all(stopped):
            break
        items = [[label] for label in labels]
    return Decoded(out, stopped, margins)


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
) -> Thoughts:
    """Continuous chain of thought: append the last position's final residual ``num_thoughts`` times as an input
    vector, then append the tokens ``then`` and read the answer."""
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
    return Thoughts(thoughts, classify(model, seqs, arith))
