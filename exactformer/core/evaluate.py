"""One forward pass, three kinds of arithmetic.

:func:`forward` is the whole transformer, readable in one sitting. It does its arithmetic through an
:class:`Arithmetic`, of which there are three:

* :class:`ExactArithmetic`: rational numbers (``fractions.Fraction``). Linear maps, ReLU, step, hard and
  average-hard attention are exact; softmax, the norms and sinusoids raise
  :class:`~exactformer.core.errors.IrrationalOperation` naming the operation and where it is.
* :class:`CertifiedArithmetic`: ``mpmath.iv`` intervals at a chosen precision. Every value is an interval that
  contains the true value; every decision (an attention argmax, a step, the answer's sign or argmax) is recorded as
  certified or not.
* :class:`TorchArithmetic`: batched float tensors of any dtype on any device, attention chunked over queries so
  memory grows as O(N * chunk), and every sublayer checked for NaN and infinity.

Arrays are ``[batch, position, coordinate]`` in all three.
"""

from __future__ import annotations

import itertools
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Union

import mpmath
import numpy as np
import torch

from .architecture import MLP, Attention, Norm, Sublayer, Transformer
from .errors import AttentionTieError, InputError, IrrationalOperation, ModelFormatError, NonFiniteError
from .rational import _not_shared_zero, as_fraction, rational_array, to_float_array
from .sparse import SparseRationalMatrix
from .sparse_products import ActiveUnitsMLP, CompressedMatrix, compress

__all__ = [
    "Item",
    "Decision",
    "Trace",
    "Arithmetic",
    "ExactArithmetic",
    "CertifiedArithmetic",
    "TorchArithmetic",
    "arithmetic_for",
    "available_devices",
    "torch_device",
    "forward",
    "interval_bounds",
    "named_weights",
    "check_exact_weight",
]

#: One input position: a token of the vocabulary, or a vector of the residual space (a continuous input).
Item = Union[str, np.ndarray, torch.Tensor, Sequence[Any]]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class Decision:
    """A discrete choice the forward pass made, and whether it is certain.

    ``where`` names the sublayer (``"L1.attn"``), ``what`` the choice (``"argmax head 0, query 3"``).
    Exact arithmetic certifies every decision; certified arithmetic certifies a decision when the intervals
    separate; torch certifies none (floats carry no error bound).
    """

    where: str
    what: str
    certified: bool
    margin: float | None = None


@dataclass
class Trace:
    """Every intermediate residual stream of one forward pass, by label (``"embed"``, ``"L0.attn"``, ...)."""

    space_names: tuple[str, ...]
    labels: list[str] = field(default_factory=list)
    residuals: list[Any] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def record(self, label: str, x: Any) -> None:
        self.labels.append(label)
        self.residuals.append(x)

    def __getitem__(self, label: str) -> Any:
        try:
            return self.residuals[self.labels.index(label)]
        except ValueError:
            raise KeyError(f"no residual {label!r} in this trace (have: {', '.join(self.labels)})") from None

    @property
    def final(self) -> Any:
        return self.residuals[-1]

    def named(self, label: str, batch: int = 0, position: int = -1) -> dict[str, Any]:
        """The residual after ``label`` at one position, as ``{coordinate name: value}``."""
        row = self[label][batch][position]
        if isinstance(row, torch.Tensor):
            row = row.detach().cpu().tolist()
        return dict(zip(self.space_names, list(row)))

    @property
    def certified(self) -> bool:
        """Whether every recorded decision is certified."""
        return all(d.certified for d in self.decisions)


def named_weights(model: Transformer) -> list[tuple[str, Any]]:
    """Every distinct weight array of ``model`` with the name the evaluators' errors use for it.

    Names follow the trace labels: ``"embed.W_E"``, ``"L0.attn.W_Q"``, ``"loop0.B1.mlp.b_in"`` (a looped block is
    listed once, as its first repetition), ``"S0.mlp.W_out"``, ``"readout.W_U"``, ``"readout.b_U"``. An array
    shared by several sublayers is listed once, under its first name.
    """
    out: list[tuple[str, Any]] = [("embed.W_E", model.embedding.W_E)]
    for label, layer in model.named_layers(None):
        for kind, sub in layer.sublayers():
            out += [(f"{label}.{kind}.{name}", getattr(sub.block, name)) for name in sub.block.WEIGHTS]
    out += [("readout.W_U", model.readout.W_U), ("readout.b_U", model.readout.b_U)]
    seen: set[int] = set()
    unique = []
    for name, arr in out:
        if id(arr) not in seen:
            seen.add(id(arr))
            unique.append((name, arr))
    return unique


def _entry_index(arr: Any, flat_index: int) -> tuple[int, ...]:
    """The index of the ``flat_index``-th entry of a weight (the ``k``-th stored entry of a sparse matrix)."""
    if isinstance(arr, SparseRationalMatrix):
        return int(arr.rows[flat_index]), int(arr.cols[flat_index])
    return tuple(int(i) for i in np.unravel_index(flat_index, arr.shape))


def _is_finite_number(v: Any) -> bool:
    """Whether ``v`` (an entry of a weight or an input) is not a float NaN or infinity."""
    if isinstance(v, (float, np.floating)):
        return math.isfinite(float(v))
    if isinstance(v, torch.Tensor):
        return bool(torch.isfinite(v).all())
    return True


def check_exact_weight(name: str, arr: Any, user: str = "the exact evaluator") -> None:
    """Refuse a weight with an entry that is not an exact rational (a Fraction, or an int).

    Parameters
    ----------
    name
        The weight's name, for the message (e.g. ``"L0.attn.W_Q"``).
    arr
        A rational array or a :class:`~exactformer.core.sparse.SparseRationalMatrix`.
    user
        Who needs exact entries, for the message (``"the certified evaluator"``, ``"save_model"``).

    Raises
    ------
    NonFiniteError
        For a float NaN or infinity, naming the weight and the entry's index.
    ModelFormatError
        For any other entry that is not an exact rational (a finite float, ``None``...).
    """
    if isinstance(arr, SparseRationalMatrix):
        values = arr.values
        flat_indices = None
    else:
        flat = np.asarray(arr, dtype=object).reshape(-1)
        flat_indices = _not_shared_zero(flat)
        values = flat[flat_indices]
    if all(isinstance(v, Fraction) for v in values):
        return
    for k, v in enumerate(values):
        if isinstance(v, numbers.Rational) and not isinstance(v, bool):
            continue
        index = _entry_index(arr, k if flat_indices is None else int(flat_indices[k]))
        where = f"weight {name}{list(index)}"
        if not _is_finite_number(v):
            raise NonFiniteError(f"{where} is {v!r}: a NaN or an infinity is not an exact rational, which {user} "
                                 "needs")
        raise ModelFormatError(f"{where} is {v!r} ({type(v).__name__}), not an exact rational, which {user} "
                               "needs (write it as a Fraction or a string like '1/3')")


class Arithmetic(ABC):
    """The operations :func:`forward` needs. Subclasses implement them for one kind of number."""

    name = "abstract"

    def __init__(self) -> None:
        self.trace: Trace | None = None

    # -- the weights ----------------------------------------------------------------------------------------
    def check_weights(self, model: Transformer) -> None:
        """Refuse a model with a weight this arithmetic cannot compute with: every runner calls this before its
        first sublayer.

        A weight holding a NaN or an infinity raises :class:`NonFiniteError`, and (exact and certified) an entry
        that is not an exact rational raises :class:`ModelFormatError`, each naming the weight (see
        :func:`named_weights`) and the entry's index. Weights are rational arrays built from exact numbers, which
        refuse floats; such an entry can only come from writing into an array after the model was built. Each array
        is looked at once per arithmetic (as :meth:`TorchArithmetic.weights` renders it once).
        """
        checked: dict[int, Any] = self.__dict__.setdefault("_checked_weights", {})
        if checked.get(id(model)) is model:
            return
        for name, arr in named_weights(model):
            if checked.get(id(arr)) is not arr:
                self._check_weight(name, arr)
                checked[id(arr)] = arr
        checked[id(model)] = model

    def _check_weight(self, name: str, arr: Any) -> None:  # noqa: B027 (each arithmetic says what it can take)
        """Raise if the weight ``name`` holds an entry this arithmetic cannot compute with."""

    # -- set-up ---------------------------------------------------------------------------------------------
    @abstractmethod
    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]]) -> Any:
        """Implemented by each arithmetic."""

    def decide(self, where: str, what: str, certified: bool, margin: float | None = None) -> None:
        if self.trace is not None:
            self.trace.decisions.append(Decision(where, what, certified, margin))

    # -- the sublayers -------------------------------------------------------------------------------------
    def add(self, a: Any, b: Any) -> Any:
        return a + b

    @abstractmethod
    def norm(self, x: Any, norm: Norm, model: Transformer, where: str) -> Any:
        """Implemented by each arithmetic."""

    @abstractmethod
    def mlp(self, x: Any, mlp: MLP, where: str) -> Any:
        """Implemented by each arithmetic."""

    @abstractmethod
    def attention(self, x: Any, att: Attention, length: int, where: str) -> Any:
        """Implemented by each arithmetic."""

    def check(self, x: Any, where: str) -> None:  # noqa: B027 (exact values cannot be NaN; torch overrides)
        """Raise :class:`NonFiniteError` if ``x`` holds a NaN or an infinity (only floats can)."""


def _sublayer(arith: Arithmetic, x: Any, sub: Sublayer, model: Transformer, length: int, where: str) -> Any:
    """``output_norm((x if residual else 0) + block(input_norm(x)))``."""
    h = arith.norm(x, sub.input_norm, model, where + ".input_norm")
    if isinstance(sub.block, Attention):
        delta = arith.attention(h, sub.block, length, where)
    else:
        delta = arith.mlp(h, sub.block, where)
    if delta.shape[1] != x.shape[1]:  # cached decoding answered only the last queries (see runners._Cached)
        x = x[:, -delta.shape[1] :]
    y = arith.add(x, delta) if sub.residual else delta
    y = arith.norm(y, sub.output_norm, model, where + ".output_norm")
    arith.check(y, where)
    return y


def batch_length(model: Transformer, inputs: Sequence[Sequence[Item]]) -> int:
    """The common token length of a batch, refusing an empty batch, ragged or empty sequences, and sequences
    longer than the model's ``max_length``."""
    if not inputs:
        raise InputError("the batch is empty")
    length = len(inputs[0])
    if any(len(seq) != length for seq in inputs):
        raise InputError("every sequence in a batch must have the same length; group inputs by length")
    if length == 0:
        raise InputError("an input sequence must have at least one token")
    if model.max_length is not None and length > model.max_length:
        raise InputError(f"sequence of {length} tokens is longer than the model's max_length {model.max_length}")
    return length


def forward(model: Transformer, inputs: Sequence[Sequence[Item]], arith: Arithmetic) -> Trace:
    """Run ``model`` on a batch of equally long input sequences, recording every residual stream.

    Parameters
    ----------
    model
        The transformer.
    inputs
        A batch of sequences; each item is a token of the vocabulary or a vector of the residual space.
    arith
        The arithmetic to compute in.

    Returns
    -------
    Trace
        ``"embed"`` and one entry per sublayer, ``"<layer>.attn"`` / ``"<layer>.mlp"``.
    """
    length = batch_length(model, inputs)
    arith.check_weights(model)
    trace = Trace(space_names=model.space.names)
    arith.trace = trace
    x = arith.embed(model, inputs)
    arith.check(x, "embed")
    trace.record("embed", x)
    for label, layer in model.named_layers(length):
        for kind, sub in layer.sublayers():
            where = f"{label}.{kind}"
            x = _sublayer(arith, x, sub, model, length, where)
            trace.record(where, x)
    return trace


# ---------------------------------------------------------------------------------------------------------------
# Exact and certified arithmetic: numpy object arrays of Fractions or of mpmath intervals.
# ---------------------------------------------------------------------------------------------------------------


def _is_vector(item: Item) -> bool:
    return not isinstance(item, str)


def _refuse_non_finite_input(item: Item, batch: int, position: int) -> None:
    """Raise :class:`NonFiniteError` for a continuous input with a float NaN or infinity (the exact and certified
    evaluators would otherwise fail on it with an unrelated error)."""
    entries = item.detach().cpu().reshape(-1).tolist() if isinstance(item, torch.Tensor) else list(np.ravel(
        np.asarray(item, dtype=object)))
    for j, v in enumerate(entries):
        if not _is_finite_number(v):
            raise NonFiniteError(f"{v!r} in the continuous input at batch {batch}, position {position}, entry {j}")


class _ObjectArithmetic(Arithmetic):
    """Shared code of the exact and certified evaluators: numpy object arrays, one scalar type."""

    @abstractmethod
    def scalar(self, value: Fraction) -> Any:
        """Implemented by each arithmetic."""

    def weights(self, arr: np.ndarray) -> np.ndarray:
        return arr

    def _check_weight(self, name: str, arr: Any) -> None:
        check_exact_weight(name, arr, f"the {self.name} evaluator")

    @abstractmethod
    def vector_input(self, item: Item, d: int) -> np.ndarray:
        """Implemented by each arithmetic."""

    # comparisons: return (decision, certified)
    @abstractmethod
    def greater_equal(self, a: Any, b: Any) -> tuple[bool, bool]:
        """Implemented by each arithmetic."""

    @abstractmethod
    def maximisers(self, scores: list[Any]) -> tuple[list[int], bool]:
        """Implemented by each arithmetic."""

    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]]) -> np.ndarray:
        d = model.d_model
        length = len(inputs[0])
        W_E = self.weights(model.embedding.W_E)
        out = np.empty((len(inputs), length, d), dtype=object)
        for b, seq in enumerate(inputs):
            for i, item in enumerate(seq):
                if _is_vector(item):
                    _refuse_non_finite_input(item, b, i)
                    out[b, i] = self.vector_input(item, d)
                else:
                    out[b, i] = W_E[model.token_index(item)]
        for coord, feature in model.embedding.positional:
            c = model.space.index(coord)
            for i in range(length):
                value = self.position(feature, i, length)
                for b in range(len(inputs)):
                    out[b, i, c] = out[b, i, c] + value
        return out

    @abstractmethod
    def position(self, feature: Any, i: int, length: int) -> Any:
        """Implemented by each arithmetic."""

    def mlp(self, x: np.ndarray, mlp: MLP, where: str) -> np.ndarray:
        pre = x @ self.weights(mlp.W_in) + self.weights(mlp.b_in)
        if mlp.activation == "relu":
            hidden = np.vectorize(self.relu, otypes=[object])(pre)
        else:
            threshold = self.scalar(mlp.threshold)
            hidden = np.empty(pre.shape, dtype=object)
            uncertain = 0
            margin = float("inf")
            for index, v in np.ndenumerate(pre):
                fired, sure = self.greater_equal(v, threshold)
                uncertain += not sure
                margin = min(margin, abs(_midpoint(v - threshold)))
                hidden[index] = self.scalar(Fraction(int(fired)))
            self.decide(where, f"{pre.size} step activations ({uncertain} uncertain)", uncertain == 0, margin)
        return hidden @ self.weights(mlp.W_out) + self.weights(mlp.b_out)

    @abstractmethod
    def relu(self, v: Any) -> Any:
        """Implemented by each arithmetic."""

    def attention(self, x: np.ndarray, att: Attention, length: int, where: str) -> np.ndarray:
        batch = x.shape[0]
        positions = np.arange(length)
        allowed = att.mask.allowed(positions, positions)
        scale = self.attention_scale(att, length, where)
        out = np.empty(x.shape, dtype=object)
        for b in range(batch):
            total = np.tile(self.weights(att.b_O), (length, 1))
            for h in range(att.n_heads):
                q = x[b] @ self.weights(att.W_Q[h]) + self.weights(att.b_Q[h])
                k = x[b] @ self.weights(att.W_K[h]) + self.weights(att.b_K[h])
                v = x[b] @ self.weights(att.W_V[h]) + self.weights(att.b_V[h])
                scores = (q @ k.T) * scale
                bias = att.bias_for(h)
                if bias is not None:
                    scores = scores + self.weights(bias.matrix(positions, positions))
                z = np.empty((length, v.shape[1]), dtype=object)
                for i in range(length):
                    keys = np.flatnonzero(allowed[i])
                    if len(keys) == 0:
                        z[i] = self.weights(np.full(v.shape[1], Fraction(0), dtype=object))
                        continue
                    weights = self.attention_weights(att, list(scores[i, keys]), f"{where} head {h} query {i}")
                    z[i] = sum((v[j] * w for w, j in zip(weights, keys) if not _is_zero(w)), start=v[0] * 0)
                total = total + z @ self.weights(att.W_O[h])
            out[b] = total
        return out

    @abstractmethod
    def attention_scale(self, att: Attention, length: int, where: str) -> Any:
        """Implemented by each arithmetic."""

    def attention_weights(self, att: Attention, scores: list[Any], what: str) -> list[Any]:
        """The attention distribution over the allowed keys (in order) for one query."""
        where, _, detail = what.partition(" ")
        if att.kind == "softmax":
            return self.softmax(scores, where)
        winners, certain = self.maximisers(scores)
        losers = [_midpoint(s) for j, s in enumerate(scores) if j not in winners]
        gap = _midpoint(scores[winners[0]]) - max(losers) if losers else float("inf")
        if len(winners) > 1:
            gap = 0.0  # a tie is at distance 0 from flipping: floats keep it only if they compute equal scores
        one, zero = self.scalar(Fraction(1)), self.scalar(Fraction(0))
        if att.kind == "average_hard":
            self.decide(where, f"argmax set of {detail}: {winners}", certain, gap)
            share = self.scalar(Fraction(1, len(winners)))
            return [share if j in winners else zero for j in range(len(scores))]
        if len(winners) > 1:
            if att.tie_rule == "error" and certain:
                raise AttentionTieError(
                    f"hard attention tie in {what}: keys {winners} share the maximal score and no tie rule is set"
                )
            if att.tie_rule == "error":  # overlapping intervals, not a tie: the likeliest key, not certified
                mids = [_midpoint(scores[j]) for j in winners]
                winners = [winners[mids.index(max(mids))]]
            else:
                winners = [min(winners)] if att.tie_rule == "leftmost" else [max(winners)]
        self.decide(where, f"argmax of {detail}: key {winners[0]}", certain, gap)
        return [one if j == winners[0] else zero for j in range(len(scores))]

    @abstractmethod
    def softmax(self, scores: list[Any], where: str) -> list[Any]:
        """Implemented by each arithmetic."""


def interval_bounds(v: Any) -> tuple[Fraction, Fraction]:
    """The exact endpoints of an ``mpmath.iv`` interval (or ``(v, v)`` for a Fraction)."""
    if isinstance(v, Fraction):
        return v, v
    lo, hi = v._mpi_
    return Fraction(*mpmath.libmp.to_rational(lo)), Fraction(*mpmath.libmp.to_rational(hi))


def _midpoint(v: Any) -> float:
    """A float for a Fraction or the midpoint of an interval (used for margins only, never for decisions)."""
    return float(v.mid) if hasattr(v, "mid") else float(v)


def _is_zero(w: Any) -> bool:
    return isinstance(w, Fraction) and w == 0


class ExactArithmetic(_ObjectArithmetic):
    """Rational arithmetic; refuses irrational operations with :class:`IrrationalOperation`."""

    name = "exact"

    def scalar(self, value: Fraction) -> Fraction:
        return value

    def vector_input(self, item: Item, d: int) -> np.ndarray:
        vec = rational_array(item) if not isinstance(item, torch.Tensor) else None
        if vec is None:
            raise InputError("the exact evaluator takes continuous inputs as exact rational vectors, not tensors")
        if vec.shape != (d,):
            raise InputError(f"a continuous input must have {d} entries, got shape {vec.shape}")
        return vec

    def position(self, feature: Any, i: int, length: int) -> Fraction:
        return feature.exact(i, length)

    def greater_equal(self, a: Fraction, b: Fraction) -> tuple[bool, bool]:
        return a >= b, True

    def maximisers(self, scores: list[Fraction]) -> tuple[list[int], bool]:
        best = max(scores)
        return [j for j, s in enumerate(scores) if s == best], True

    def relu(self, v: Fraction) -> Fraction:
        return v if v > 0 else Fraction(0)

    def norm(self, x: np.ndarray, norm: Norm, model: Transformer, where: str) -> np.ndarray:
        if norm.is_identity:
            return x
        raise IrrationalOperation(
            f"{norm.describe()} in {where} takes a square root; use backend='certified' or 'torch'"
        )

    def attention_scale(self, att: Attention, length: int, where: str) -> Fraction:
        if att.kind != "softmax":
            return Fraction(1)  # argmax is invariant under a positive scale
        raise IrrationalOperation(f"softmax attention in {where} is irrational; use backend='certified' or 'torch'")

    def softmax(self, scores: list[Any], where: str) -> list[Any]:  # pragma: no cover - refused by the scale
        raise IrrationalOperation(f"softmax in {where}")


class CertifiedArithmetic(_ObjectArithmetic):
    """Interval arithmetic (``mpmath.iv``) at ``precision`` bits; decisions come back certified or not."""

    name = "certified"

    def __init__(self, precision: int = 128) -> None:
        super().__init__()
        self.precision = precision
        self._cache: dict[int, np.ndarray] = {}

    def scalar(self, value: Fraction) -> Any:
        return mpmath.iv.mpf(value.numerator) / value.denominator

    def weights(self, arr: np.ndarray) -> np.ndarray:
        key = id(arr)
        hit = self._cache.get(key)
        if hit is None or hit[0] is not arr:
            if isinstance(arr, SparseRationalMatrix):
                hit = (arr, arr.with_values(self.scalar))
            else:
                hit = (arr, np.vectorize(self.scalar, otypes=[object])(arr) if arr.size else arr.copy())
            self._cache[key] = hit
        return hit[1]

    def vector_input(self, item: Item, d: int) -> np.ndarray:
        arr = np.asarray(item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else item, dtype=object)
        if arr.shape != (d,):
            raise InputError(f"a continuous input must have {d} entries, got shape {arr.shape}")
        return np.array([v if isinstance(v, mpmath.ctx_iv.ivmpf) else self._to_interval(v) for v in arr], dtype=object)

    def _to_interval(self, v: Any) -> Any:
        if isinstance(v, (float, np.floating)):
            return mpmath.iv.mpf(float(v))  # a float is exactly a dyadic rational
        return self.scalar(as_fraction(v))

    def position(self, feature: Any, i: int, length: int) -> Any:
        return feature.interval(i, length)

    def greater_equal(self, a: Any, b: Any) -> tuple[bool, bool]:
        lo, hi = interval_bounds(a - b)
        if lo >= 0:
            return True, True
        if hi < 0:
            return False, True
        return (lo + hi) >= 0, False

    def maximisers(self, scores: list[Any]) -> tuple[list[int], bool]:
        bounds = [interval_bounds(s) for s in scores]
        best_lower = max(lo for lo, _ in bounds)
        candidates = [j for j, (_, hi) in enumerate(bounds) if hi >= best_lower]
        if len(candidates) == 1:
            return candidates, True
        points = {bounds[j] for j in candidates}
        lo, hi = bounds[candidates[0]]
        if len(points) == 1 and lo == hi:
            return candidates, True  # an exact tie between point intervals
        return candidates, False

    def relu(self, v: Any) -> Any:
        lo, hi = interval_bounds(v)
        if lo >= 0:
            return v
        if hi <= 0:
            return mpmath.iv.mpf(0)
        return mpmath.iv.mpf([0, v.b])

    def norm(self, x: np.ndarray, norm: Norm, model: Transformer, where: str) -> np.ndarray:
        if norm.is_identity:
            return x
        iv = mpmath.iv
        if norm.mask is not None:
            keep = np.zeros(model.d_model, dtype=bool)
            keep[[model.space.index(c) for c in norm.mask]] = True
            x = np.where(keep, x, iv.mpf(0))
        d = x.shape[-1]
        eps = self.scalar(norm.eps)
        out = np.empty(x.shape, dtype=object)
        for index in np.ndindex(x.shape[:-1]):
            row = x[index]
            if norm.kind == "layernorm":
                mean = sum(row, iv.mpf(0)) / d
                centred = row - mean
                denom_sq = sum((c * c for c in centred), iv.mpf(0)) / d + eps
            elif norm.kind == "rmsnorm":
                centred = row
                denom_sq = sum((c * c for c in row), iv.mpf(0)) / d + eps
            else:
                centred = row
                denom_sq = sum((c * c for c in row), iv.mpf(0)) + eps
            if interval_bounds(denom_sq)[0] <= 0:
                raise NonFiniteError(
                    f"{norm.describe()} in {where} divides by a norm that may be 0 (batch/position {index})"
                )
            root = iv.sqrt(denom_sq)
            out[index] = np.array([c / root for c in centred], dtype=object)
        return out

    def attention_scale(self, att: Attention, length: int, where: str) -> Any:
        if att.kind != "softmax":
            return self.scalar(Fraction(1))
        iv = mpmath.iv
        s = self.scalar(att.scale.coefficient) * iv.sqrt(self.scalar(att.scale.sqrt_of))
        return s * iv.log(iv.mpf(length)) if att.scale.log_length else s

    def softmax(self, scores: list[Any], where: str) -> list[Any]:
        iv = mpmath.iv
        # w_j = 1 / sum_k exp(s_k - s_j): an enclosure that stays tight when the scores are tight
        return [1 / sum((iv.exp(s_k - s_j) for s_k in scores), iv.mpf(0)) for s_j in scores]


@contextmanager
def _interval_precision(bits: int) -> Iterator[None]:
    """Set ``mpmath.iv``'s working precision for the duration of a block."""
    saved = mpmath.iv.prec
    mpmath.iv.prec = bits
    try:
        yield
    finally:
        mpmath.iv.prec = saved


def _with_precision(method: Any) -> Any:
    def wrapped(self: CertifiedArithmetic, *args: Any, **kwargs: Any) -> Any:
        with _interval_precision(self.precision):
            return method(self, *args, **kwargs)

    wrapped.__name__ = method.__name__
    wrapped.__doc__ = method.__doc__
    return wrapped


for _name in ("embed", "norm", "mlp", "attention"):
    setattr(CertifiedArithmetic, _name, _with_precision(getattr(CertifiedArithmetic, _name)))


# ---------------------------------------------------------------------------------------------------------------
# Torch arithmetic: batched, chunked, any dtype and device.
# ---------------------------------------------------------------------------------------------------------------


#: Largest hidden layer (positions x units) one MLP block holds in torch; wider batches are split over positions.
MLP_BLOCK_ENTRIES = 2**20  # 8 MB in float64: 2**24 was 2.5x slower (page faults of fresh blocks)
def _as_matrix(W: torch.Tensor, layout: str) -> torch.Tensor:
    """``W`` as the one matrix a product with it multiplies by (see :meth:`TorchArithmetic._sparse_matrix`)."""
    if layout == "heads_in":  # [h, d, e] -> [d, h * e]: column h * e + k is head h's coordinate k
        return W.permute(1, 0, 2).flatten(1)
    if layout == "heads_out":  # [h, e, d] -> [h * e, d]
        return W.flatten(0, 1)
    return W


def _sparse_product(x: torch.Tensor, sparse: CompressedMatrix) -> torch.Tensor:
    """``x @ sparse`` over the last axis of a CPU tensor ``x``, as a tensor of ``x``'s leading shape."""
    rows = x.reshape(-1, x.shape[-1]).numpy()
    return torch.from_numpy(sparse.rmatmul(rows)).reshape(*x.shape[:-1], sparse.shape[1])


def _safe_float(v: Fraction) -> float:
    """``float(v)``, or an infinity of its sign where ``v`` is beyond float64."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


#: Up to this many scores an attention call tests its scores directly (one sum) rather than bound them.
_FEW_SCORES = 4096


def _peak(x: torch.Tensor) -> float:
    """``max |x|``, NaN if ``x`` holds a NaN (one min-max pass, no copy); 0 for an empty tensor."""
    if not x.numel():
        return 0.0
    lo, hi = (float(v) for v in torch.aminmax(x))
    return math.nan if math.isnan(lo) or math.isnan(hi) else max(-lo, hi)


def _all_finite_small(x: torch.Tensor) -> bool:
    """:func:`_all_finite` for a small tensor: on the CPU through numpy, whose sum of a few entries costs a fraction
    of a torch call's dispatch (17 us against 4 us per decoding step, measured)."""
    if x.device.type != "cpu" or x.dtype == torch.bfloat16 or x.requires_grad:
        return _all_finite(x)
    values = x.numpy()
    return bool(np.isfinite(values.sum())) or bool(np.isfinite(values).all())


def _all_finite(x: torch.Tensor) -> bool:
    """Whether every entry of ``x`` is finite: one sum (finite only if every entry is), and the entrywise test
    only when the sum is not finite (a NaN or infinity, or finite entries whose sum overflows)."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


class TorchArithmetic(Arithmetic):
    """Float arithmetic in torch.

    Parameters
    ----------
    dtype
        ``torch.float16``, ``torch.bfloat16``, ``torch.float32`` or ``torch.float64``. Weights are rendered from
        their exact values by rounding once to float64, then to ``dtype``.
    device
        Where to compute (``"cpu"``, ``"cuda"``, ...).
    chunk
        Queries per attention block: attention holds ``batch * heads * chunk * N`` scores at a time.
    """

    name = "torch"

    def __init__(self, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu", chunk: int = 1024):
        super().__init__()
        if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise ValueError(f"unsupported dtype {dtype}; use float16, bfloat16, float32 or float64")
        self.dtype = dtype
        self.device = torch_device(device)
        self.chunk = int(chunk)
        self._cache: dict[int, tuple[np.ndarray, torch.Tensor]] = {}
        self._vocabularies: dict[int, tuple[Sequence[str], dict[str, int]]] = {}
        # flags computed from parameters, by the parameters' ids: (the tensors, their in-place versions, the flags)
        self._flags: dict[tuple[Any, ...], tuple[tuple[torch.Tensor, ...], tuple[int, ...], Any]] = {}
        self._rendered: dict[int, torch.Tensor] = {}  # the tensors weights() rendered, by id

    def _round(self, x: torch.Tensor) -> torch.Tensor:
        """Where a lower-precision arithmetic rounds each intermediate result; the identity for plain floats."""
        return x

    def weights(self, arr: np.ndarray) -> torch.Tensor:
        key = id(arr)
        hit = self._cache.get(key)
        if hit is None or hit[0] is not arr:
            if isinstance(arr, SparseRationalMatrix):
                tensor = self._sparse_tensor(arr)
            else:
                tensor = self._round(torch.from_numpy(to_float_array(arr)).to(device=self.device, dtype=self.dtype))
            hit = (arr, tensor)
            self._cache[key] = hit
            self._rendered[id(tensor)] = tensor
        return hit[1]

    def _check_weight(self, name: str, arr: Any) -> None:
        """The rendering of every weight must be finite: an entry that is a NaN or an infinity, or an exact value too
        large for the dtype (it renders as an infinity), raises :class:`NonFiniteError` naming it."""
        tensor = self.weights(arr)
        values = tensor._values() if tensor.layout == torch.sparse_coo else tensor
        if _all_finite(values):
            return
        bad = (~torch.isfinite(values)).nonzero()[0].tolist()
        if tensor.layout == torch.sparse_coo:
            index = tuple(int(i) for i in tensor._indices()[:, bad[0]].tolist())
            exact = arr.entries().get(index) if isinstance(arr, SparseRationalMatrix) else None
        else:
            index = tuple(bad)
            exact = arr[index] if isinstance(arr, np.ndarray) else None
        value = values[tuple(bad)].item()
        if exact is not None and _is_finite_number(exact):
            raise NonFiniteError(f"weight {name}{list(index)} = {exact} is too large for {self.dtype}: it renders as "
                                 f"{value}")
        raise NonFiniteError(f"weight {name}{list(index)} is {value} in {self.dtype}: a NaN or an infinity is not a "
                             "number the model can compute with")

    def _sparse_tensor(self, arr: SparseRationalMatrix) -> torch.Tensor:
        """A sparse weight rendered as a sparse COO tensor: each entry rounded as a dense rendering rounds it."""
        values = self._round(torch.from_numpy(arr.float_values()).to(device=self.device, dtype=self.dtype))
        indices = torch.from_numpy(np.stack([arr.rows, arr.cols])).to(self.device)
        return torch.sparse_coo_tensor(indices, values, arr.shape, check_invariants=True).coalesce()

    def _token_lookup(self, model: Transformer) -> dict[str, int]:
        """``{token: index}`` for the model's vocabulary (the first index of a repeated token, as
        :meth:`Transformer.token_index` gives), built once per vocabulary."""
        vocab = model.embedding.vocab
        hit = self._vocabularies.get(id(vocab))
        if hit is None or hit[0] is not vocab:
            lookup: dict[str, int] = {}
            for index, token in enumerate(vocab):
                lookup.setdefault(token, index)
            hit = (vocab, lookup)
            self._vocabularies[id(vocab)] = hit
        return hit[1]

    def _token_indices(self, model: Transformer, inputs: Sequence[Sequence[Item]]) -> torch.Tensor | None:
        """The ``[batch, position]`` vocabulary indices of a batch of token sequences, in one pass without a
        per-sequence tensor; ``None`` when some item is not a known token (a vector, or an unknown token that the
        general path reports)."""
        lookup = self._token_lookup(model)
        try:
            # np.fromiter over a map: ~20% less per token than a list comprehension (torch.tensor of a list: ~4x more)
            flat = np.fromiter(map(lookup.__getitem__, itertools.chain.from_iterable(inputs)), dtype=np.int64)
        except (KeyError, TypeError):  # a vector (unhashable or not a key) or a token outside the vocabulary
            return None
        return torch.from_numpy(flat).to(self.device).view(len(inputs), -1)

    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]], start: int = 0) -> torch.Tensor:
        """Embed ``inputs`` as the positions ``start, start + 1, ...`` of a sequence.

        A batch of tokens only is looked up in one gather; a batch with continuous inputs (vectors) is embedded
        item by item. Both give the same rows of the rendered ``W_E``.
        """
        length = start + len(inputs[0])
        W_E = self.weights(model.embedding.W_E)
        index = self._token_indices(model, inputs)
        x = W_E[index] if index is not None else self._embed_items(model, inputs, W_E)
        if model.embedding.positional:
            d = model.d_model
            i = torch.arange(start, length, device=self.device)
            pe = torch.zeros(len(i), d, dtype=self.dtype, device=self.device)
            for coord, feature in model.embedding.positional:
                pe[:, model.space.index(coord)] += feature.torch(i, length, self.dtype)
            x = x + pe
        return self._round(x)

    def _embed_items(self, model: Transformer, inputs: Sequence[Sequence[Item]], W_E: torch.Tensor) -> torch.Tensor:
        """Embed a batch item by item (tokens and continuous inputs mixed), without positions."""
        d = model.d_model
        rows = []
        for seq in inputs:
            if all(isinstance(item, str) for item in seq):
                index = torch.tensor([model.token_index(t) for t in seq], device=self.device)
                rows.append(W_E[index])
                continue
            parts = []
            for item in seq:
                if isinstance(item, str):
                    parts.append(W_E[model.token_index(item)])
                else:
                    parts.append(self._vector(item, d))
            rows.append(torch.stack(parts))
        return torch.stack(rows)

    def _vector(self, item: Item, d: int) -> torch.Tensor:
        if isinstance(item, torch.Tensor):
            vec = item.to(device=self.device, dtype=self.dtype)
        else:
            arr = np.asarray(item, dtype=object)
            vec = torch.tensor([float(v) for v in arr.ravel()], dtype=torch.float64).to(self.device, self.dtype)
        if vec.shape != (d,):
            raise InputError(f"a continuous input must have {d} entries, got shape {tuple(vec.shape)}")
        return vec

    def check(self, x: torch.Tensor, where: str) -> None:
        if not _all_finite(x):
            bad = (~torch.isfinite(x)).nonzero()[0].tolist()
            kind = "NaN" if torch.isnan(x).any() else "infinity"
            raise NonFiniteError(
                f"{kind} after {where} in {self.dtype} (first at batch {bad[0]}, position {bad[1]}, "
                f"coordinate {bad[2]})"
            )

    def norm(self, x: torch.Tensor, norm: Norm, model: Transformer, where: str) -> torch.Tensor:
        if norm.is_identity:
            return x
        if norm.mask is not None:
            keep = torch.zeros(model.d_model, dtype=self.dtype, device=self.device)
            keep[[model.space.index(c) for c in norm.mask]] = 1
            x = x * keep
        eps = float(norm.eps)
        if norm.kind == "layernorm":
            centred = x - x.mean(dim=-1, keepdim=True)
            return self._round(centred / torch.sqrt((centred * centred).mean(dim=-1, keepdim=True) + eps))
        if norm.kind == "rmsnorm":
            return self._round(x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps))
        return self._round(x / torch.sqrt((x * x).sum(dim=-1, keepdim=True) + eps))

    def mlp(self, x: torch.Tensor, mlp: MLP, where: str) -> torch.Tensor:
        W_in, W_out = self.weights(mlp.W_in), self.weights(mlp.W_out)
        active = self._active_units(x, mlp, W_in, W_out)
        if active is not None:  # a sparse ReLU MLP: only the units that can fire (the same floats)
            y = torch.from_numpy(active(x.reshape(-1, x.shape[-1]).numpy()))
            return self._plus(y.reshape(*x.shape[:-1], W_out.shape[1]), self.weights(mlp.b_out))
        rows = max(1, MLP_BLOCK_ENTRIES // max(1, W_in.shape[1]))  # positions per block: hidden <= the budget
        flat = x.reshape(-1, x.shape[-1])
        if flat.shape[0] > rows:  # a wide MLP on many positions: in blocks, so the hidden layer stays bounded
            parts = [self.mlp(flat[start : start + rows], mlp, where) for start in range(0, flat.shape[0], rows)]
            return torch.cat(parts).reshape(*x.shape[:-1], W_out.shape[1])
        pre = self._matmul(x, W_in)  # a fresh tensor: the bias and the ReLU may overwrite it
        b_in = self.weights(mlp.b_in)
        if not self._is_zero(b_in):
            pre = pre.add_(b_in) if not pre.requires_grad else pre + b_in
        pre = self._round(pre)
        if mlp.activation == "relu":
            hidden = pre.relu_() if not pre.requires_grad else torch.relu(pre)
        else:
            hidden = (pre >= float(mlp.threshold)).to(self.dtype)
        return self._round(self._plus(self._matmul(hidden, W_out), self.weights(mlp.b_out)))

    def _active_units(
        self, x: torch.Tensor, mlp: MLP, W_in: torch.Tensor, W_out: torch.Tensor
    ) -> ActiveUnitsMLP | None:
        """The :class:`~exactformer.core.sparse_products.ActiveUnitsMLP` of a ReLU MLP whose two matrices multiply
        in sparse form (remembered per parameters), for a finite input; ``None`` for the general path (another
        activation, a dense matrix, an arithmetic that rounds intermediate results, a NaN or infinity in ``x``)."""
        if mlp.activation != "relu" or type(self)._round is not TorchArithmetic._round:
            return None
        sparse_in, sparse_out = self._sparse_matrix(W_in, "matrix", x), self._sparse_matrix(W_out, "matrix", x)
        if sparse_in is None or sparse_out is None or not (sparse_in.finite and sparse_out.finite and _all_finite(x)):
            return None
        b_in = self.weights(mlp.b_in)
        return self._remembered(
            (W_in, W_out, b_in),
            lambda: ActiveUnitsMLP(W_in=sparse_in, W_out=sparse_out, b_in=b_in.numpy()),
            tag="active units",
        )

    def _matmul(self, x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """``x @ W`` for a rendered weight matrix ``W``; through a compressed sparse form of ``W`` when it has one
        (:func:`~exactformer.core.sparse_products.compress`: a large, mostly zero matrix on the CPU, such as a
        composition MLP's). The sparse product sums the same nonzero terms in another order, so a result may differ
        from the dense one in its last bits, as two BLAS builds may. A weight rendered as a sparse tensor (from a
        :class:`~exactformer.core.sparse.SparseRationalMatrix`) takes the same path as its dense rendering would:
        the compressed form under the same rule, else a dense copy (remembered)."""
        sparse = self._sparse_matrix(W, "matrix", x)
        if sparse is not None:
            return _sparse_product(x, sparse)
        return x @ (W if W.layout == torch.strided else self._remembered((W,), W.to_dense, tag="dense"))

    def _sparse_matrix(self, W: torch.Tensor, layout: str, x: torch.Tensor) -> CompressedMatrix | None:
        """The compressed forms (:func:`~exactformer.core.sparse_products.compress`) of a rendered parameter ``W``
        read as a matrix in ``layout`` (``"matrix"``: ``W`` itself; ``"heads_in"``: ``[h, d, e]`` as
        ``[d, h * e]``; ``"heads_out"``: ``[h, e, d]`` as ``[h * e, d]``), remembered per parameter; ``None`` for a
        dense product (a small or dense ``W``, a transient tensor, another device, or an input that needs
        gradients)."""
        if self._rendered.get(id(W)) is not W or x.requires_grad or W.requires_grad or x.device.type != "cpu":
            return None
        return self._remembered((W,), lambda: compress(_as_matrix(W, layout)), tag=layout)

    def _plus(self, y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``y + bias``, or ``y`` itself when every entry of ``bias`` is 0 (most constructions are bias-free).

        Adding +0 changes nothing but the sign of a -0 entry (to +0), which no later operation tells apart: scores,
        comparisons, ReLU, thresholds and norms treat +-0 alike. Skipping it saves a full pass over ``y`` (and, for a
        large ``y``, the page faults of a fresh tensor).
        """
        return y if self._is_zero(bias) else y + bias

    def _is_zero(self, tensor: torch.Tensor) -> bool:
        """Whether every entry of ``tensor`` is 0. Remembered for the parameters :meth:`weights` rendered (per
        tensor and its in-place version counter, so a parameter changed in place is looked at again); a transient
        tensor (e.g. a selection of heads) is looked at each time and not remembered."""
        if self._rendered.get(id(tensor)) is not tensor:
            return not bool(tensor.any())
        return self._remembered((tensor,), lambda: not bool(tensor.any()), tag="zero")

    def _remembered(self, tensors: tuple[torch.Tensor, ...], compute: Callable[[], Any], tag: str = "") -> Any:
        """``compute()``, remembered per tuple of tensors (and ``tag``, what is computed from them) and their
        in-place version counters (a parameter changed in place is looked at again)."""
        key = (tag, *(id(t) for t in tensors))
        versions = tuple(t._version for t in tensors)
        hit = self._flags.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], tensors)) or hit[1] != versions:
            hit = (tensors, versions, compute())
            self._flags[key] = hit
        return hit[2]

    def _per_head(self, x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``x @ W[h] + b[h]`` for every head: ``[batch, head, position, d_head]`` from ``x`` ``[batch, position,
        d_model]``, ``W`` ``[head, d_model, d_head]`` and ``b`` ``[head, d_head]`` (the bias left out when 0)."""
        sparse = self._sparse_matrix(W, "heads_in", x)
        if sparse is None:
            y = torch.einsum("bnd,hde->bhne", x, W)
        else:
            y = _sparse_product(x, sparse).unflatten(-1, W.shape[::2]).permute(0, 2, 1, 3)
        return self._round(y if self._is_zero(b) else y + b[None, :, None, :])  # b itself: its zero flag is cached

    def _relative_bias(self, att: Attention, head: int, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor | None:
        bias = att.bias_for(head)
        if bias is None:
            return None
        offset = query[:, None] - key[None, :]
        out = torch.full(offset.shape, float(bias.default), dtype=self.dtype, device=self.device)
        for k, value in bias.values.items():
            out = torch.where(offset == k, torch.tensor(float(value), dtype=self.dtype, device=self.device), out)
        return out

    def _allowed(self, att: Attention, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        i, j = query[:, None], key[None, :]
        kind = att.mask.kind
        if kind == "none":
            return torch.ones(i.shape[0], j.shape[1], dtype=torch.bool, device=self.device)
        if kind == "causal":
            return j <= i
        if kind == "strict_causal":
            return j < i
        return (j <= i) & (j > i - att.mask.width)

    def attention(self, x: torch.Tensor, att: Attention, length: int, where: str) -> torch.Tensor:
        positions = torch.arange(length, device=self.device)
        return self.attend(x, x, positions, positions, att, length, where)

    def attend(
        self,
        xq: torch.Tensor,
        xk: torch.Tensor,
        query_pos: torch.Tensor,
        key_pos: torch.Tensor,
        att: Attention,
        length: int,
        where: str,
    ) -> torch.Tensor:
        """Attention of the queries at ``query_pos`` (rows of ``xq``) over the keys at ``key_pos`` (rows of ``xk``).

        Used for a whole sequence (``xq is xk``), for the readout-only pass (one query, every key) and for cached
        decoding (a few new queries, the cached keys). When every score is +-0 (see :meth:`_queries_and_keys`) and
        the mask allows it, :meth:`_constant_attention` computes the output in O(N) instead of the general path's
        O(N^2) score matrix.
        """
        W_Q, W_K, W_V, W_O = (self.weights(w) for w in (att.W_Q, att.W_K, att.W_V, att.W_O))
        b_Q, b_K, b_V = (self.weights(b) for b in (att.b_Q, att.b_K, att.b_V))
        # [batch, head, position, d_head]
        q, k, constant = self._queries_and_keys(xq, xk, W_Q, b_Q, W_K, b_K, att)
        # With constant weights (finite) and an all-zero value map (xk is finite), every z is +-0 and adds +-0 to
        # the +0 + b_O below: the output is exactly b_O. A hard-attention tie without a tie rule is still reported.
        idle = constant and all(self._zero_heads(W_V, b_V))
        if constant:
            fast = self._constant_attention(xq, xk, query_pos, key_pos, att, W_V, b_V, W_O, idle, where)
            if fast is not None:
                return fast
        v = None if idle else self._per_head(xk, W_V, b_V)
        out = self._bias_rows(xq.shape, att)
        split = None if constant or v is None else self._zero_query_rows(q, k, v, query_pos, key_pos, att)
        if split is None:
            self._general_attention(out, q, k, v, query_pos, key_pos, att, W_O, constant, length, where)
            return self._round(out)
        assert q is not None and v is not None
        uniform, counts = split
        out[:, uniform] += self._project(self._uniform_values(v, counts, att), W_O)
        general = ~uniform
        if bool(general.any()):
            part = out[:, general]
            self._general_attention(
                part, q[:, :, general], k, v, query_pos[general], key_pos, att, W_O, False, length, where
            )
            out[:, general] = part
        return self._round(out)

    def _general_attention(
        self,
        out: torch.Tensor,
        q: torch.Tensor | None,
        k: torch.Tensor | None,
        v: torch.Tensor | None,
        query_pos: torch.Tensor,
        key_pos: torch.Tensor,
        att: Attention,
        W_O: torch.Tensor,
        constant: bool,
        length: int,
        where: str,
    ) -> None:
        """The general path: adds to ``out`` ([batch, query, d_model], holding ``b_O``) the attention output of
        the queries ``q`` at ``query_pos``, in chunks of queries (an [batch, head, chunk, key] score block each).
        With ``constant`` the scores are all 0 (``q`` and ``k`` may be ``None``); ``v is None`` (zero values)
        computes the weights only, so that a hard-attention tie is still reported."""
        scale = att.scale.value(length) if att.kind == "softmax" else 1.0
        # Scores are tested for a NaN or an infinity: hard attention's by _weights, from the maxima it computes
        # anyway; the others directly when there are few (decoding: one query), else through a bound from the
        # queries and keys (O(N d_head) instead of the O(N^2) scores)
        few = out.shape[0] * att.n_heads * out.shape[1] * len(key_pos) <= _FEW_SCORES
        bounded = constant or att.kind == "hard" or (
            not few and self._scores_bounded(q, k, query_pos, key_pos, att, scale, where))
        for start in range(0, out.shape[1], self.chunk):
            stop = min(start + self.chunk, out.shape[1])
            qpos = query_pos[start:stop]
            if constant:  # every score is +-0: one batch row of the pipeline below, shared by the whole batch
                scores = torch.zeros((1, att.n_heads, stop - start, len(key_pos)), dtype=self.dtype, device=self.device)
            else:
                assert q is not None and k is not None
                scores = torch.einsum("bhqe,bhke->bhqk", q[:, :, start:stop], k)
            if scale != 1.0:
                scores.mul_(scale)  # in place (the block is fresh): a new block of N x chunk scores costs page faults
            scores = self._round(scores)
            biases = [self._relative_bias(att, h, qpos, key_pos) for h in range(att.n_heads)]
            if any(b is not None for b in biases):
                zeros = torch.zeros(len(qpos), len(key_pos), dtype=self.dtype, device=self.device)
                scores = self._round(scores + torch.stack([zeros if b is None else b for b in biases])[None])
            if not bounded:
                self._check_scores(scores, qpos, key_pos, where)
            allowed = self._allowed(att, qpos, key_pos)[None, None]
            weights = self._round(self._weights(scores, allowed, att, where, start))
            if v is None:
                continue
            if constant:
                weights = weights.expand(v.shape[0], -1, -1, -1).contiguous()
            z = self._round(torch.einsum("bhqk,bhke->bhqe", weights, v))
            out[:, start:stop] += self._heads_out(z, W_O)

    def _scores_bounded(
        self,
        q: torch.Tensor | None,
        k: torch.Tensor | None,
        query_pos: torch.Tensor,
        key_pos: torch.Tensor,
        att: Attention,
        scale: float,
        where: str,
    ) -> bool:
        """Raise :class:`NonFiniteError` if a query or key holds a NaN or an infinity (an overflow of ``x W_Q``);
        return whether every score is then certainly finite, so the score blocks need no test of their own.

        ``|scale <q, k> + bias| <= scale * d_head * max|q| * max|k| + max|bias|``; when that bound (in float64) is
        below half the dtype's largest number, no product, partial sum, scaling or bias addition can overflow
        (rounding adds a relative ``d_head * eps``). The test reads the queries and keys once, O(N d_head), where
        testing the scores would read O(N^2) of them. When the bound fails, :meth:`_check_scores` tests each block.
        """
        assert q is not None and k is not None
        q_peak, k_peak = _peak(q), _peak(k)
        if not (math.isfinite(q_peak) and math.isfinite(k_peak)):
            name, t, pos = ("queries", q, query_pos) if not math.isfinite(q_peak) else ("keys", k, key_pos)
            b, h, p, e = (~torch.isfinite(t)).nonzero()[0].tolist()
            kind = "NaN" if bool(torch.isnan(t).any()) else "infinity"
            raise NonFiniteError(f"{kind} in the {name} of {where} head {h} at position {int(pos[p])} (batch {b}, "
                                 f"entry {e}) in {self.dtype}")
        bound = abs(scale) * q.shape[-1] * q_peak * k_peak + self._bias_peak(att)
        return bound <= torch.finfo(self.dtype).max / 2

    def _bias_peak(self, att: Attention) -> float:
        """The largest ``|relative bias|`` of any head of ``att`` (0 without one), remembered per sublayer."""
        peaks: dict[int, tuple[Attention, float]] = self.__dict__.setdefault("_bias_peaks", {})
        hit = peaks.get(id(att))
        if hit is None or hit[0] is not att:
            biases = [b for b in (att.relative_bias or ()) if b is not None]
            hit = (att, max((abs(_safe_float(v)) for b in biases for v in (b.default, *b.values.values())),
                            default=0.0))
            peaks[id(att)] = hit
        return hit[1]

    def _check_scores(self, scores: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor, where: str) -> None:
        """Raise :class:`NonFiniteError` if a block of scores ``[batch, head, query, key]`` holds a NaN or an
        infinity (an overflow of ``scale <q, k>``), naming the head, the query and the key."""
        if _all_finite_small(scores) if scores.numel() <= _FEW_SCORES else _all_finite(scores):
            return
        b, h, i, j = (~torch.isfinite(scores)).nonzero()[0].tolist()
        value = scores[b, h, i, j].item()
        raise NonFiniteError(f"attention score {value} in {where} head {h}, query {int(query_pos[i])}, key "
                             f"{int(key_pos[j])} (batch {b}) in {self.dtype}")

    def _bias_rows(self, shape: torch.Size, att: Attention) -> torch.Tensor:
        """A fresh ``[batch, query, d_model]`` tensor holding ``b_O`` in every row, to accumulate heads into."""
        b_O = self.weights(att.b_O)
        if self._is_zero(b_O):
            return torch.zeros(shape, dtype=self.dtype, device=self.device)
        return b_O.expand(shape).clone()

    def _heads_out(self, z: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
        """``sum_h z[:, h] @ W_O[h]``: ``[batch, query, d_model]`` from ``z`` ``[batch, head, query, d_head]``."""
        sparse = self._sparse_matrix(W_O, "heads_out", z)
        if sparse is None:
            return torch.einsum("bhqe,hed->bqd", z, W_O)
        return _sparse_product(z.permute(0, 2, 1, 3).flatten(-2), sparse)

    def _project(self, z: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
        """``sum_h z[:, h] @ W_O[h]``, ``[batch, query, d_model]``, in the general path's chunks of queries."""
        parts = [
            self._heads_out(z[:, :, start : start + self.chunk], W_O)
            for start in range(0, z.shape[2], self.chunk)
        ]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def _constant_attention(
        self,
        xq: torch.Tensor,
        xk: torch.Tensor,
        query_pos: torch.Tensor,
        key_pos: torch.Tensor,
        att: Attention,
        W_V: torch.Tensor,
        b_V: torch.Tensor,
        W_O: torch.Tensor,
        idle: bool,
        where: str,
    ) -> torch.Tensor | None:
        """Attention whose scores are all +-0, in O(N): the output of :meth:`attend`, or ``None`` to take the
        general path.

        With equal scores, softmax and average-hard attention weigh every allowed key of a query equally, so
        ``z = w * S`` with ``S`` the sum of the allowed values and ``w = 1/c`` for ``c`` allowed keys: the weight the
        general path computes (``1/c`` rounded to the dtype, through float32 for a float16/bfloat16 softmax, then
        :meth:`_round`; 0 for a query with no key). ``S`` is, for the mask ``none``, one sum over the keys; for
        ``causal`` / ``strict_causal``, a cumulative sum over the keys read at ``c``. Hard attention with equal
        scores is a tie among the allowed keys: with ``tie_rule="error"`` the general path's
        :class:`AttentionTieError` (same message: head 0, batch 0, the first query with two or more keys);
        otherwise a gather of the leftmost (key 0) or rightmost (key ``c - 1``) allowed value, bit-identical to the
        general path.

        Precision: ``S`` is accumulated in float64 for every dtype, and ``w * S`` is rounded once to the dtype
        (then :meth:`_round`, where the general path rounds ``z``). This changes the order of the floating-point
        sums, so the result is not bit-identical to the general path's ``sum_j w v_j``: in float64 both are within
        about ``N eps`` of the true mean (relative to ``max_j |v_j|``); in float32, float16 and bfloat16 this path is
        the more accurate one (its only rounding in the dtype is the last). For a grid arithmetic whose values and
        products are exact in float64 (small :class:`~exactformer.core.fixed_point.FixedPointArithmetic`), both
        paths compute the exact ``w * S`` and round it once, so they agree bit for bit.

        Heads whose value map is 0 are left out (they add +-0). Under the mask ``none`` every query has the same
        ``z``, so it is projected by ``W_O`` once per sequence and copied to every query. With every value map 0
        (``idle``) the output is ``b_O`` exactly, as in the general path.

        ``None`` (the general path) for a window mask, for causal masks whose keys are not the positions
        ``0, 1, ..., K - 1`` in order, and for values that are not all finite (so an overflow is reported as the
        general path reports it).
        """
        counts = self._allowed_counts(att, query_pos, key_pos)
        if counts is None:
            return None
        if att.kind == "hard" and att.tie_rule == "error":
            tied = (counts > 1).nonzero()
            if len(tied):
                first = int(tied[0, 0])
                raise AttentionTieError(
                    f"hard attention tie in {where} head 0 query {first} (batch 0) in {self.dtype}: "
                    f"{int(counts[first])} keys share the maximal score and no tie rule is set"
                )
        if idle:
            return self._round(self._bias_rows(xq.shape, att))
        zero_values = self._zero_heads(W_V, b_V)
        if any(zero_values):  # a head whose values are 0 adds +-0 to every output: leave it out
            live = torch.tensor([h for h, zero in enumerate(zero_values) if not zero], device=W_V.device)
            W_V, b_V, W_O = W_V.index_select(0, live), b_V.index_select(0, live), W_O.index_select(0, live)
        v = self._per_head(xk, W_V, b_V)
        if not _all_finite(v):
            return None
        if att.mask.kind == "none" and att.kind != "hard":  # one z per sequence: project it once, for every query
            z = self._uniform_values(v, counts[:1], att)
            out = self._plus(self._heads_out(z, W_O), self.weights(att.b_O))
            return self._round(out).expand(xq.shape).contiguous()
        return self._round(self._plus(self._project(self._uniform_values(v, counts, att), W_O), self.weights(att.b_O)))

    def _uniform_values(self, v: torch.Tensor, counts: torch.Tensor, att: Attention) -> torch.Tensor:
        """``z`` ([batch, head, query, d_head]) of queries whose scores are all equal and whose allowed keys are the
        first ``counts[i]`` keys: the rounded weight ``1/c`` times the float64 sum of those values (softmax,
        average-hard), or the value of key 0 / key ``c - 1`` (hard, leftmost / rightmost); 0 with no key."""
        some = (counts > 0)[None, None, :, None]
        if att.kind == "hard":
            pick = torch.zeros_like(counts) if att.tie_rule == "leftmost" else (counts - 1).clamp(min=0)
            return torch.where(some, v.index_select(2, pick), torch.zeros((), dtype=self.dtype, device=self.device))
        v64 = v.to(torch.float64)
        if att.mask.kind == "none":
            total = v64.sum(dim=2, keepdim=True).expand(-1, -1, len(counts), -1)
        else:
            prefix = torch.cat([torch.zeros_like(v64[:, :, :1]), v64.cumsum(dim=2)], dim=2)
            total = prefix.index_select(2, counts)
        return self._round((self._uniform_weights(att, counts).to(torch.float64)[:, None] * total).to(self.dtype))

    def _zero_query_rows(
        self,
        q: torch.Tensor | None,
        k: torch.Tensor | None,
        v: torch.Tensor,
        query_pos: torch.Tensor,
        key_pos: torch.Tensor,
        att: Attention,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The queries whose scores are all +-0 although the query map is not zero, and their key counts.

        A query row that is exactly 0 in every head and every sequence of the batch (e.g. a query that reads a
        token coordinate absent at that position) scores +-0 against finite keys. Those rows take the O(N) path of
        :meth:`_uniform_values` and the others the general path. Returns ``(uniform, counts)``: a boolean mask over
        the queries and, for the uniform rows, how many keys they may see; ``None`` (the general path for every
        row) when no row is zero, when a head has a relative bias, for hard attention without a tie rule (so a tie
        is reported with the general path's message), for masks :meth:`_allowed_counts` does not handle, or when
        the keys or values are not all finite.
        """
        if q is None or k is None or (att.kind == "hard" and att.tie_rule == "error"):
            return None
        if any(att.bias_for(h) is not None for h in range(att.n_heads)):
            return None
        uniform = (q == 0).all(dim=3).all(dim=1).all(dim=0)
        if not bool(uniform.any()):
            return None
        counts = self._allowed_counts(att, query_pos, key_pos)
        if counts is None or not _all_finite(k) or not _all_finite(v):
            return None
        return uniform, counts[uniform]

    def _allowed_counts(self, att: Attention, query_pos: torch.Tensor, key_pos: torch.Tensor) -> torch.Tensor | None:
        """Per query, how many keys the mask allows (int64), when the allowed keys of every query are the first
        ``c`` keys; ``None`` otherwise (a window, or causal keys that are not ``0, 1, ..., K - 1`` in order)."""
        K = key_pos.shape[0]
        kind = att.mask.kind
        if kind == "none":
            return torch.full((query_pos.shape[0],), K, dtype=torch.long, device=self.device)
        if kind not in ("causal", "strict_causal"):
            return None
        if not torch.equal(key_pos, torch.arange(K, dtype=key_pos.dtype, device=key_pos.device)):
            return None
        hi = query_pos + 1 if kind == "causal" else query_pos
        return hi.to(torch.long).clamp(0, K)

    def _uniform_weights(self, att: Attention, counts: torch.Tensor) -> torch.Tensor:
        """The weight ``1/c`` that the general path gives each of a query's ``c`` allowed keys when their scores
        are equal, computed as it does (softmax: in float32 for float16/bfloat16; average-hard: ``1 / c`` in the
        dtype), rounded by :meth:`_round`; 0 for a query with no allowed key."""
        low = self.dtype in (torch.float16, torch.bfloat16)
        dtype = torch.float32 if att.kind == "softmax" and low else self.dtype
        c = counts.clamp(min=1).to(dtype)
        w = torch.where(counts > 0, torch.ones((), dtype=dtype, device=self.device) / c, 0.0).to(self.dtype)
        return self._round(w)

    def _zero_heads(self, W: torch.Tensor, b: torch.Tensor) -> tuple[bool, ...]:
        """Per head, whether the map ``x @ W[h] + b[h]`` is identically 0 (remembered per pair of tensors and
        their in-place version counters, so a changed parameter is looked at again)."""
        return self._remembered(
            (W, b), lambda: tuple(bool(z) for z in ((W == 0).flatten(1).all(dim=1) & (b == 0).all(dim=1)).tolist())
        )

    def _queries_and_keys(
        self,
        xq: torch.Tensor,
        xk: torch.Tensor,
        W_Q: torch.Tensor,
        b_Q: torch.Tensor,
        W_K: torch.Tensor,
        b_K: torch.Tensor,
        att: Attention,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, bool]:
        """The queries and keys ``[batch, head, position, d_head]``, and whether every score is exactly +-0.

        The scores are all +-0 when, in every head, the query map is zero (``W_Q`` and ``b_Q`` all 0) and the
        keys are finite, or the key map is zero and the queries are finite, no head has a relative bias, and the
        inputs are finite (then a zero map gives exactly +-0, while a NaN input would give NaN). Each score
        ``sum_e q_e k_e`` is then a sum of signed zeros, and scaling, rounding, masking, softmax and the hard
        argmax treat +0 and -0 alike, so the attention weights are those of an all-zero score matrix: the same
        for every sequence of the batch (uniform over the allowed keys, or the tie among them for hard attention).
        In that case the queries or keys that are not needed for the finiteness test are not computed (``None``).
        """
        zero_q, zero_k = self._zero_heads(W_Q, b_Q), self._zero_heads(W_K, b_K)
        constant = (
            all(a or b for a, b in zip(zero_q, zero_k))
            and all(att.bias_for(h) is None for h in range(att.n_heads))
            and _all_finite(xq)
            and (xk is xq or _all_finite(xk))
        )
        need_q = not constant or any(zk and not zq for zq, zk in zip(zero_q, zero_k))
        need_k = not constant or any(zq and not zk for zq, zk in zip(zero_q, zero_k))
        q = self._per_head(xq, W_Q, b_Q) if need_q else None
        k = self._per_head(xk, W_K, b_K) if need_k else None
        if constant and not ((q is None or _all_finite(q)) and (k is None or _all_finite(k))):
            constant = False  # an overflowing query or key: the general path computes (and reports) it
            q = q if q is not None else self._per_head(xq, W_Q, b_Q)
            k = k if k is not None else self._per_head(xk, W_K, b_K)
        return q, k, constant

    def _check_maxima(self, best: torch.Tensor, any_key: torch.Tensor, where: str, offset: int) -> None:
        """Raise :class:`NonFiniteError` if the largest score ``best`` ``[batch, head, query, 1]`` of a query that
        has keys is a NaN or an infinity."""
        bad = ~torch.isfinite(best) & any_key
        if bool(bad.any()):
            b, h, i, _ = bad.nonzero()[0].tolist()
            raise NonFiniteError(f"attention score {best[b, h, i, 0].item()} in {where} head {h}, query {i + offset} "
                                 f"(batch {b}) in {self.dtype}: the largest score over the keys is not finite")

    def _weights(
        self, scores: torch.Tensor, allowed: torch.Tensor, att: Attention, where: str, offset: int
    ) -> torch.Tensor:
        any_key = allowed.any(dim=-1, keepdim=True)
        everything = bool(allowed.all())  # no mask (a small [query, key] test): skip the no-op full-size passes
        masked = scores if everything else scores.masked_fill(~allowed, float("-inf"))
        if att.kind == "softmax":
            weights = torch.softmax(masked.float() if self.dtype in (torch.float16, torch.bfloat16) else masked, -1)
            if everything:
                return weights.to(self.dtype)
            return torch.where(any_key, weights.to(self.dtype), torch.zeros((), dtype=self.dtype, device=self.device))
        best = masked.max(dim=-1, keepdim=True).values
        winners = (masked == best) & allowed & any_key
        count = winners.sum(dim=-1, keepdim=True)
        if att.kind == "average_hard":
            return winners.to(self.dtype) / count.clamp(min=1).to(self.dtype)
        # one test for the rare cases: a tie (count > 1), a query without keys, a maximum that is infinite or NaN
        # (then no key equals it: count 0); only then are the maxima looked at
        if ((count != 1) | best.isinf()).any():
            self._check_maxima(best, any_key, where, offset)
        if (count > 1).any():
            if att.tie_rule == "error":
                b, h, q, _ = (count > 1).nonzero()[0].tolist()
                raise AttentionTieError(
                    f"hard attention tie in {where} head {h} query {q + offset} (batch {b}) in {self.dtype}: "
                    f"{int(count[b, h, q, 0])} keys share the maximal score and no tie rule is set"
                )
            idx = torch.arange(winners.shape[-1], device=self.device)
            if att.tie_rule == "leftmost":
                pick = torch.where(winners, idx, winners.shape[-1]).min(dim=-1, keepdim=True).values
            else:
                pick = torch.where(winners, idx, -1).max(dim=-1, keepdim=True).values
            winners = (idx == pick) & winners
        return winners.to(self.dtype)


def arithmetic_for(
    backend: str,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    precision: int = 128,
    chunk: int = 1024,
) -> Arithmetic:
    """The arithmetic called ``backend`` (``"exact"``, ``"certified"`` or ``"torch"``) with its options.

    Raises
    ------
    InputError
        For an unknown backend, and (torch) for a device that is not a torch device name or is not available here
        (see :func:`torch_device`). The exact and certified evaluators compute in Python and ignore ``device``.
    """
    if backend == "exact":
        return ExactArithmetic()
    if backend == "certified":
        return CertifiedArithmetic(precision=precision)
    if backend == "torch":
        return TorchArithmetic(dtype=dtype or torch.float64, device=device or "cpu", chunk=chunk)
    raise InputError(f"unknown backend {backend!r}; choose 'exact', 'certified' or 'torch'")


def available_devices() -> list[str]:
    """The torch devices this machine can compute on: ``"cpu"``, then ``"cuda:0"``... and ``"mps"`` when present."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{k}" for k in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def torch_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device`, refusing one that cannot be used here.

    Raises
    ------
    InputError
        For a name torch does not know (``"gpu"``), and for a device this machine does not have (``"cuda"`` without
        a CUDA GPU or a CUDA build of torch, ``"cuda:3"`` with fewer GPUs, ``"mps"`` off Apple silicon); the message
        lists the devices that are available.
    """
    try:
        dev = device if isinstance(device, torch.device) else torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"unknown device {device!r} (not a torch device name); available here: "
                         f"{', '.join(available_devices())}") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise InputError(f"device {str(device)!r} is not available: {why}; available here: "
                             f"{', '.join(available_devices())}")
        if dev.index is not None and dev.index >= count:
            raise InputError(f"device {str(device)!r} is not available: this machine has {count} CUDA GPU(s); "
                             f"available here: {', '.join(available_devices())}")
        return dev
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError(f"device {str(device)!r} is not available (no Apple MPS device); available here: "
                             f"{', '.join(available_devices())}")
        return dev
    raise InputError(f"device {str(device)!r} is not supported by the torch evaluator; available here: "
                     f"{', '.join(available_devices())}")
