"""THE forward pass: embed, then every sublayer in order, recording the residual stream.

One function, :func:`forward`, evaluates every model in every arithmetic: ``classify``, ``decode``, ``think``, the
readout-only pass and the ``torch.nn.Module`` export all call it. A sublayer is

    ``y = output_norm((x if residual else 0) + block(input_norm(x)))``

with ``block`` an attention sublayer (queries from this position, keys and values from the positions the mask
allows, :mod:`~exactformer.core.attention_rules`) or an MLP; a looped block is unrolled for the sequence's length
(:meth:`~exactformer.core.architecture.Transformer.named_layers`). Two options change what is computed, never
how:

* ``queries``: only these positions are needed at the end (the readout position). MLPs and norms act position by
  position, so the model's last attention sublayer answers only these queries (its keys and values are still every
  position) and the rest of the pass continues on those rows.
* ``cache``: a :class:`KVCache` of the attention inputs of earlier positions; ``inputs`` are then the next tokens
  of those sequences, and each attention sublayer's new queries attend to the cached keys and the new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
import torch

from .architecture import Attention, Mask, Sublayer, Transformer
from .arith.base import Arithmetic, Item, Trace
from .errors import InputError

__all__ = ["forward", "KVCache", "batch_length", "Step"]

#: How a caller may wrap each sublayer (the torch export runs it inside a module, for hooks): ``step(where,
#: compute, x)`` must return ``compute(x)``.
Step = Callable[[str, Callable[[Any], Any], Any], Any]


@dataclass
class KVCache:
    """The (normalised) inputs of every attention sublayer at the earlier positions a later query may still see.

    ``start`` positions are cached; :func:`forward` with this cache embeds its inputs as positions ``start,
    start + 1, ...`` and advances ``start``. Under a window mask of width ``w`` only the last ``w - 1`` positions
    are kept, so a windowed model does O(w) work per new token.

    Torch rows are kept in an append-only buffer per sublayer (:class:`_Rows`): a step writes its new rows after the
    kept ones and hands out a view, instead of concatenating every kept row into a fresh tensor (O(w d) per step);
    a full buffer is copied into a new one twice the kept size, so the copying is O(d) per step on average. A view
    handed out is never written again (new rows go after it; a full buffer is replaced, not compacted in place).
    ``entries[where]`` is ``(rows, positions)`` of what a later query may see.
    """

    start: int = 0
    entries: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    _buffers: dict[str, _Rows] = field(default_factory=dict, repr=False)

    def extend(self, where: str, x: Any, positions: Any, mask: Mask) -> tuple[Any, Any]:
        """The keys of ``where`` for the new rows ``x`` at ``positions``: the cached rows and the new ones, with
        their positions; remembers what a later query may see."""
        buffer = self._buffers.get(where)
        if isinstance(x, torch.Tensor) and not x.requires_grad and (buffer is not None or where not in self.entries):
            if buffer is None or not buffer.takes(x, positions):
                buffer = self._buffers[where] = _Rows.empty(x, positions)
            keys, key_pos = buffer.append(x, positions)
        else:  # numpy rows (or rows that need gradients): concatenated
            self._buffers.pop(where, None)
            if where in self.entries:
                old_x, old_pos = self.entries[where]
                keys, key_pos = _concatenate(old_x, x), _concatenate(old_pos, positions, axis=0)
            else:
                keys, key_pos = x, positions
            buffer = None
        if mask.kind == "window":
            # store only what a future query (position > positions[-1]) may see; this step's queries attend to all
            # keys (several new queries during the prompt pass: the earlier ones need keys the trim drops)
            keep = key_pos > int(positions[-1]) - mask.width  # type: ignore[operator]
            first = len(keep) - int(keep.sum())
            if bool(keep[first:].all()):  # positions in order: the kept keys are the last ones, a view (no copy)
                if buffer is not None:
                    buffer.drop(first)
                self.entries[where] = (keys[:, first:], key_pos[first:])
            else:
                if buffer is not None:
                    self._buffers[where] = _Rows.of(keys[:, keep], key_pos[keep])
                self.entries[where] = (keys[:, keep], key_pos[keep])
        else:
            self.entries[where] = (keys, key_pos)
        return keys, key_pos

    def keep(self, sequences: Sequence[int]) -> None:
        """Keep only the batch rows ``sequences`` (in that order): a decoder drops the sequences that have stopped,
        so that later steps compute only the ones still running. Each torch buffer is copied into a fresh one that
        holds those rows (projections kept with the old buffer start over); the kept keys and positions are
        unchanged."""
        index = list(sequences)
        for where, (keys, key_pos) in list(self.entries.items()):
            if not isinstance(keys, torch.Tensor):
                self.entries[where] = (keys[index], key_pos)
                continue
            chosen = keys[torch.tensor(index, dtype=torch.long, device=keys.device)]
            if where in self._buffers:
                buffer = self._buffers[where] = _Rows.of(chosen, key_pos)
                chosen, key_pos = buffer.rows[:, buffer.lo : buffer.hi], buffer.positions[buffer.lo : buffer.hi]
            self.entries[where] = (chosen, key_pos)


@dataclass
class _Rows:
    """An append-only buffer of a sublayer's cached rows: ``rows[:, lo:hi]`` at ``positions[lo:hi]`` are kept."""

    rows: torch.Tensor  # [batch, capacity, d_model]
    positions: torch.Tensor  # [capacity]
    lo: int = 0
    hi: int = 0
    #: what an arithmetic computed from the rows, by its key (:mod:`~exactformer.core.arith.torch_cached`)
    projections: dict[Any, Any] = field(default_factory=dict)
    #: the rows the last :meth:`append` wrote, as given (``rows[:, hi - n : hi]`` is their copy, strided by the
    #: capacity: reading the given tensor instead reads memory in sequence), and where they start
    last: tuple[int, torch.Tensor] | None = None
    #: ``((lo, hi), peak)``: the last rows whose entries :mod:`~exactformer.core.arith.torch_cached` tested, and
    #: their largest entry (None: not all plain integers)
    tested: tuple[tuple[int, int], float | None] | None = None

    @classmethod
    def empty(cls, x: torch.Tensor, positions: torch.Tensor, capacity: int = 64) -> _Rows:
        """A buffer for rows like ``x`` (its batch, width, dtype, device) and positions like ``positions``."""
        capacity = max(capacity, 2 * x.shape[1])
        return cls(x.new_empty((x.shape[0], capacity, x.shape[2])), positions.new_empty((capacity,)))

    @classmethod
    def of(cls, x: torch.Tensor, positions: torch.Tensor) -> _Rows:
        """A buffer holding ``x`` at ``positions``."""
        buffer = cls.empty(x, positions)
        buffer.append(x, positions)
        return buffer

    def takes(self, x: torch.Tensor, positions: torch.Tensor) -> bool:
        """Whether rows ``x`` at ``positions`` can be appended (the same batch, width, dtype and device)."""
        r, p = self.rows, self.positions
        return (x.dim() == 3 and x.shape[0] == r.shape[0] and x.shape[2] == r.shape[2] and x.dtype == r.dtype
                and x.device == r.device and isinstance(positions, torch.Tensor) and positions.dtype == p.dtype
                and positions.device == p.device)

    def append(self, x: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``x`` after the kept rows; the kept rows and the new ones (views), with their positions."""
        n, kept = x.shape[1], self.hi - self.lo
        if self.hi + n > self.rows.shape[1]:  # full: a new buffer with room for as many rows again
            fresh = _Rows.empty(x, positions, capacity=2 * (kept + n))
            fresh.rows[:, :kept] = self.rows[:, self.lo : self.hi]
            fresh.positions[:kept] = self.positions[self.lo : self.hi]
            self.rows, self.positions, self.lo, self.hi = fresh.rows, fresh.positions, 0, kept
            self.tested = None  # (its indices were the old rows')
        self.rows[:, self.hi : self.hi + n] = x
        self.positions[self.hi : self.hi + n] = positions
        self.last = (self.hi, x)
        self.hi += n
        keys = self.rows[:, self.lo : self.hi]
        keys.kv_rows = (self, self.lo, self.hi)  # type: ignore[attr-defined]  # (torch_cached reads it)
        return keys, self.positions[self.lo : self.hi]

    def drop(self, count: int) -> None:
        """Forget the ``count`` oldest kept rows."""
        self.lo += count


def _concatenate(a: Any, b: Any, axis: int = 1) -> Any:
    return torch.cat([a, b], dim=axis) if isinstance(a, torch.Tensor) else np.concatenate([a, b], axis=axis)


def batch_length(model: Transformer, inputs: Sequence[Sequence[Item]]) -> int:
    """The common token length of a batch, refusing an empty batch, ragged or empty sequences, and sequences
    longer than the model's ``max_length``. A batch may be a ``[batch, tokens]`` integer tensor of vocabulary
    indices (the torch arithmetic embeds it with one gather)."""
    if isinstance(inputs, torch.Tensor):  # a [batch, tokens] tensor of vocabulary indices: rectangular already
        if inputs.dim() != 2 or inputs.dtype.is_floating_point:
            raise InputError("a batch given as a tensor must hold vocabulary indices [batch, tokens]")
        if inputs.shape[0] == 0:
            raise InputError("the batch is empty")
    elif not inputs:
        raise InputError("the batch is empty")
    length = len(inputs[0])
    if not isinstance(inputs, torch.Tensor) and any(len(seq) != length for seq in inputs):
        raise InputError("every sequence in a batch must have the same length; group inputs by length")
    if length == 0:
        raise InputError("an input sequence must have at least one token")
    if model.max_length is not None and length > model.max_length:
        raise InputError(f"sequence of {length} tokens is longer than the model's max_length {model.max_length}")
    return length


#: Per model, per loop repetition count: its sublayers in execution order with their trace labels, and the index of
#: the last attention sublayer (-1 if none). A decoder calls :func:`forward` once per token; building these labels
#: anew each time cost ~5% of a one-layer model's decoding step.
_SCHEDULES: WeakKeyDictionary[Transformer, dict[int, tuple[list[tuple[str, Sublayer]], int]]] = WeakKeyDictionary()


def schedule(model: Transformer, length: int) -> tuple[list[tuple[str, Sublayer]], int]:
    """``model``'s sublayers for a sequence of ``length`` tokens (the loop unrolled), as ``(trace label, sublayer)``
    in execution order, and the index of the last attention sublayer among them (-1 if none)."""
    reps = 0 if model.loop is None else model.loop.count(length)
    per_model = _SCHEDULES.setdefault(model, {})
    hit = per_model.get(reps)
    if hit is None:
        sublayers = [(f"{label}.{kind}", sub) for label, layer in model.named_layers(length)
                     for kind, sub in layer.sublayers()]
        last = max((k for k, (_, sub) in enumerate(sublayers) if isinstance(sub.block, Attention)), default=-1)
        hit = per_model[reps] = (sublayers, last)
    return hit


def _rows(queries: Sequence[int], n: int) -> slice | list[int]:
    """The rows of ``queries`` (positions among the ``n`` inputs, negative from the end): a slice for one."""
    for q in queries:
        if not -n <= q < n:
            raise InputError(f"query position {q} is outside a sequence of {n} tokens")
    rows = [q % n for q in queries]
    return slice(rows[0], rows[0] + 1) if len(rows) == 1 else rows


def _sublayer(
    arith: Arithmetic,
    model: Transformer,
    sub: Sublayer,
    where: str,
    length: int,
    positions: Any,
    cache: KVCache | None,
    rows: slice | list[int] | None,
    x: Any,
) -> Any:
    """``output_norm((x if residual else 0) + block(input_norm(x)))``; an attention sublayer answers only the
    queries ``rows`` (then the result has those rows only), over the cached keys and the new ones."""
    h = arith.norm(x, sub.input_norm, model, where + ".input_norm")
    if isinstance(sub.block, Attention):
        keys, key_pos = (h, positions) if cache is None else cache.extend(where, h, positions, sub.block.mask)
        if rows is not None:
            h, positions, x = h[:, rows], positions[rows], x[:, rows]
        delta = arith.attend(h, keys, positions, key_pos, sub.block, length, where)
    else:
        delta = arith.mlp(h, sub.block, where)
    y = arith.add(x, delta) if sub.residual else delta
    y = arith.norm(y, sub.output_norm, model, where + ".output_norm")
    arith.check(y, where)
    return y


def forward(
    model: Transformer,
    inputs: Sequence[Sequence[Item]],
    arith: Arithmetic,
    *,
    queries: Sequence[int] | None = None,
    cache: KVCache | None = None,
    step: Step | None = None,
    full_trace: bool = False,
) -> Trace:
    """Run ``model`` on a batch of equally long input sequences, recording every residual stream.

    Parameters
    ----------
    model
        The transformer.
    inputs
        A batch of sequences; each item is a token of the vocabulary or a vector of the residual space.
    arith
        The arithmetic to compute in.
    queries
        Positions among the inputs (negative: from the end) whose final residual is needed; ``None``: all. With
        queries, only what reaches them is computed and the trace holds only the final residual at those rows.
    cache
        Earlier positions' attention inputs (see :class:`KVCache`): ``inputs`` continue those sequences, and the
        cache is extended by them.
    step
        Runs each sublayer: ``step(where, compute, x)`` returns ``compute(x)`` (the torch export wraps each in a
        module, so hooks see it).
    full_trace
        With ``queries``, record every residual anyway: in full up to the last attention sublayer, and from it on
        at the queried rows only (``trace.partial`` says which); the verifier's tensor path reads its invariants
        from the first and its answers from the second.

    Returns
    -------
    Trace
        ``"embed"`` and one entry per sublayer, ``"<layer>.attn"`` / ``"<layer>.mlp"``; with ``queries``, only the
        last sublayer's, at the queried rows (every entry with ``full_trace``).
    """
    n = batch_length(model, inputs)
    if full_trace and (queries is None or cache is not None):
        raise InputError("full_trace records a queried pass of a whole sequence: it needs queries and no cache")
    start = 0 if cache is None else cache.start
    length = start + n
    arith.check_weights(model)
    trace = Trace(space_names=model.space.names)
    arith.trace = trace
    x = arith.embed(model, inputs, start)
    if cache is None or model.embedding.positional:  # cached decoding feeds tokens: rows of W_E, checked finite
        arith.check(x, "embed")
    positions = arith.positions(start, length)
    sublayers, last = schedule(model, length)
    rows = None if queries is None else _rows(queries, n)
    kept = None if rows is None else (n, tuple(range(n)[rows]) if isinstance(rows, slice) else tuple(rows))
    if rows is not None and last < 0:  # no attention: every sublayer acts position by position
        x, positions = x[:, rows], positions[rows]
    where = "embed"
    if rows is None or full_trace:
        trace.record(where, x, kept if rows is not None and last < 0 else None)
    for k, (where, sub) in enumerate(sublayers):
        answer = rows if k == last else None
        if step is None:
            x = _sublayer(arith, model, sub, where, length, positions, cache, answer, x)
        else:
            x = step(where, partial(_sublayer, arith, model, sub, where, length, positions, cache, answer), x)
        if answer is not None:
            positions = positions[answer]
        if rows is None or full_trace:
            trace.record(where, x, kept if rows is not None and k >= last else None)
    if rows is not None and not full_trace:
        trace.record(where, x)
    if cache is not None:
        cache.start = length
    return trace
