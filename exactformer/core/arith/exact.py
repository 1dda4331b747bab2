"""Exact arithmetic: numpy object arrays of Fractions, and what it shares with the certified (interval) one.

Linear maps, ReLU, step, hard and average-hard attention are exact; softmax, the norms and sinusoids raise
:class:`~exactformer.core.errors.IrrationalOperation` naming the operation and where it is. Every decision (an
attention argmax, a step) is certified.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from ..architecture import MLP, Attention, Norm, Transformer
from ..attention_rules import allowed, chosen_keys, tie_error
from ..errors import InputError, IrrationalOperation, NonFiniteError
from ..rational import rational_array
from .base import Arithmetic, Item, _is_finite_number, check_exact_weight
from .flint_matrices import (
    FlintWeights,
    IntegerMatrix,
    fits_dense,
    from_integers,
    integer_matrix,
    integer_product,
    to_fractions,
)

__all__ = ["ExactArithmetic", "ObjectArithmetic"]



def _refuse_non_finite_input(item: Item, batch: int, position: int) -> None:
    """Raise :class:`NonFiniteError` for a continuous input with a float NaN or infinity (the exact and certified
    evaluators would otherwise fail on it with an unrelated error)."""
    entries = item.detach().cpu().reshape(-1).tolist() if isinstance(item, torch.Tensor) else list(np.ravel(
        np.asarray(item, dtype=object)))
    for j, v in enumerate(entries):
        if not _is_finite_number(v):
            raise NonFiniteError(f"{v!r} in the continuous input at batch {batch}, position {position}, entry {j}")


class ObjectArithmetic(Arithmetic):
    """Shared code of the exact and certified evaluators: numpy object arrays, one scalar type."""

    @abstractmethod
    def scalar(self, value: Fraction) -> Any:
        """Implemented by each arithmetic."""

    def weights(self, arr: Any) -> Any:
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

    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]], start: int = 0) -> np.ndarray:
        d = model.d_model
        length = start + len(inputs[0])
        W_E = self.weights(model.embedding.W_E)
        out = np.empty((len(inputs), length, d), dtype=object)
        for b, seq in enumerate(inputs):
            for i, item in enumerate(seq):
                if isinstance(item, str):
                    out[b, i] = W_E[model.token_index(item)]
                else:
                    _refuse_non_finite_input(item, b, i)
                    out[b, i] = self.vector_input(item, d)
        for coord, feature in model.embedding.positional:
            c = model.space.index(coord)
            for i in range(start, length):
                value = self.position(feature, i, length)
                for b in range(len(inputs)):
                    out[b, i - start, c] = out[b, i - start, c] + value
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

    def attend(
        self, xq: np.ndarray, xk: np.ndarray, query_pos: Any, key_pos: Any, att: Attention, length: int, where: str
    ) -> np.ndarray:
        sees = allowed(att.mask, query_pos, key_pos)
        scale = self.attention_scale(att, length, where)
        out = np.empty(xq.shape, dtype=object)
        for b in range(xq.shape[0]):
            total = np.tile(self.weights(att.b_O), (xq.shape[1], 1))
            for h in range(att.n_heads):
                q = xq[b] @ self.weights(att.W_Q)[h] + self.weights(att.b_Q)[h]
                k = xk[b] @ self.weights(att.W_K)[h] + self.weights(att.b_K)[h]
                v = xk[b] @ self.weights(att.W_V)[h] + self.weights(att.b_V)[h]
                scores = (q @ k.T) * scale
                bias = att.bias_for(h)
                if bias is not None:
                    scores = scores + self.weights(bias.matrix(query_pos, key_pos))
                z = np.empty((xq.shape[1], v.shape[1]), dtype=object)
                for i in range(xq.shape[1]):
                    keys = np.flatnonzero(sees[i])
                    if len(keys) == 0:
                        z[i] = self.weights(np.full(v.shape[1], Fraction(0), dtype=object))
                        continue
                    what = f"{where} head {h} query {int(query_pos[i])}"
                    weights = self.attention_weights(att, list(scores[i, keys]), what, b)
                    z[i] = sum((v[j] * w for w, j in zip(weights, keys) if not _is_zero(w)), start=v[0] * 0)
                total = total + z @ self.weights(att.W_O)[h]
            out[b] = total
        return out

    @abstractmethod
    def attention_scale(self, att: Attention, length: int, where: str) -> Any:
        """Implemented by each arithmetic."""

    def attention_weights(self, att: Attention, scores: list[Any], what: str, batch: int = 0) -> list[Any]:
        """The attention distribution over the allowed keys (in order) for one query."""
        where, _, detail = what.partition(" ")
        if att.kind == "softmax":
            return self.softmax(scores, where)
        winners, certain = self.maximisers(scores)
        losers = [_midpoint(s) for j, s in enumerate(scores) if j not in winners]
        gap = _midpoint(scores[winners[0]]) - max(losers) if losers else float("inf")
        if len(winners) > 1:
            gap = 0.0  # a tie is at distance 0 from flipping: floats keep it only if they compute equal scores
        if att.kind == "hard" and len(winners) > 1 and att.tie_rule == "error":
            if certain:
                head, query = (int(t) for t in detail.split()[1::2])
                raise tie_error(where, head, query, batch, f"keys {winners}")
            mids = [_midpoint(scores[j]) for j in winners]  # overlapping intervals, not a tie: the likeliest key,
            winners = [winners[mids.index(max(mids))]]  # not certified
        maximal = np.zeros(len(scores), dtype=bool)
        maximal[winners] = True
        chosen = [int(j) for j in np.flatnonzero(chosen_keys(maximal, att.kind, att.tie_rule))]
        if att.kind == "average_hard":
            self.decide(where, f"argmax set of {detail}: {chosen}", certain, gap)
            share = self.scalar(Fraction(1, len(chosen)))
        else:
            self.decide(where, f"argmax of {detail}: key {chosen[0]}", certain, gap)
            share = self.scalar(Fraction(1))
        zero = self.scalar(Fraction(0))
        return [share if j in chosen else zero for j in range(len(scores))]

    @abstractmethod
    def softmax(self, scores: list[Any], where: str) -> list[Any]:
        """Implemented by each arithmetic."""


def _midpoint(v: Any) -> float:
    """A float for a Fraction or the midpoint of an interval (used for margins only, never for decisions)."""
    return float(v.mid) if hasattr(v, "mid") else float(v)


def _is_zero(w: Any) -> bool:
    return isinstance(w, Fraction) and w == 0


class ExactArithmetic(ObjectArithmetic):
    """Rational arithmetic; refuses irrational operations with :class:`IrrationalOperation`.

    Values are object arrays of Fractions between sublayers (what a trace records); inside an MLP or an attention
    sublayer the products are FLINT integer matrix products over one denominator per matrix
    (:class:`~.flint_matrices.IntegerMatrix`), the sequences of a batch stacked, and ReLU, the step and the argmax
    compare those integers (the small per-sequence products of attention, its scores and reads, by
    :func:`~.flint_matrices.integer_product`). A sparse weight too large to multiply densely
    (:data:`~.flint_matrices.DENSE_LIMIT`) is multiplied entry by entry, as :class:`ObjectArithmetic` does.
    """

    name = "exact"

    def __init__(self) -> None:
        super().__init__()
        self._flint = FlintWeights()
        self._forms: dict[int, tuple[np.ndarray, IntegerMatrix]] = {}
        self._known: dict[int, dict[int, Fraction]] = {}

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


    # -- FLINT forms of the residual stream -------------------------------------------------------------------
    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]], start: int = 0) -> np.ndarray:
        self._forms.clear()  # a pass starts: what the last one made is not looked up again
        return super().embed(model, inputs, start)

    def _form(self, x: np.ndarray) -> IntegerMatrix:
        """``x`` ``[batch, position, coordinate]`` as one :class:`IntegerMatrix` ``[batch * position, coordinate]``:
        remembered for the arrays this pass made or converted (the residual stream is read by a sublayer, then added
        to its output)."""
        hit = self._forms.get(id(x))
        if hit is not None and hit[0] is x:
            return hit[1]
        return self._remember(x, integer_matrix(x.reshape(-1, x.shape[-1])))

    def _remember(self, x: np.ndarray, m: IntegerMatrix) -> IntegerMatrix:
        self._forms[id(x)] = (x, m)
        while len(self._forms) > 4:  # a sublayer needs its input and its output; a few more are kept
            del self._forms[next(iter(self._forms))]
        return m

    def _made(self, m: IntegerMatrix, shape: tuple[int, ...]) -> np.ndarray:
        """The Fractions of ``m`` (the sequences' rows one after another) as an array of ``shape``, remembered with
        ``m`` over its least denominator (so that denominators do not grow from sublayer to sublayer)."""
        m = m.reduced()
        out = to_fractions(m, self._known).reshape(shape)
        self._remember(out, m)
        return out

    def add(self, a: Any, b: Any) -> Any:
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and a.ndim == 3):
            return a + b
        return self._made(self._form(a) + self._form(b), a.shape)

    # -- the sublayers ----------------------------------------------------------------------------------------
    def mlp(self, x: np.ndarray, mlp: MLP, where: str) -> np.ndarray:
        if not (fits_dense(mlp.W_in) and fits_dense(mlp.W_out)) or x.ndim != 3:
            return super().mlp(x, mlp, where)
        rows = x.shape[0] * x.shape[1]
        pre = self._form(x) @ self._flint.matrix(mlp.W_in) + self._flint.row(mlp.b_in, rows)
        numerators, denominator = pre.integers(), pre.denominator
        if mlp.activation == "relu":
            hidden = np.maximum(numerators, 0)
        else:
            threshold = Fraction(mlp.threshold)
            # v >= t  iff  numerator * t.denominator >= t.numerator * denominator (both denominators positive)
            shifted = _as_python_ints(numerators) * threshold.denominator - threshold.numerator * denominator
            # min |float(v - t)| over the entries is float(min |v - t|): rounding is monotone and odd
            margin = float(Fraction(np.abs(shifted).min(), threshold.denominator * denominator)) if shifted.size \
                else float("inf")
            hidden, denominator = np.asarray(shifted >= 0, dtype=bool).astype(np.int64), 1
            self.decide(where, f"{shifted.size} step activations (0 uncertain)", True, margin)
        active = np.flatnonzero(hidden.any(axis=0))
        if len(active) * 4 < hidden.shape[1]:  # few units fire: only their rows of W_out are read
            W_out = self._flint.row_index(mlp.W_out).rows(active)
            out = from_integers(hidden[:, active], denominator) @ W_out + self._flint.row(mlp.b_out, rows)
        else:
            out = from_integers(hidden, denominator) @ self._flint.matrix(mlp.W_out) + self._flint.row(mlp.b_out, rows)
        return self._made(out, (*x.shape[:-1], out.shape[1]))

    def attend(
        self, xq: np.ndarray, xk: np.ndarray, query_pos: Any, key_pos: Any, att: Attention, length: int, where: str
    ) -> np.ndarray:
        self.attention_scale(att, length, where)  # refuses softmax
        sees = np.asarray(allowed(att.mask, query_pos, key_pos), dtype=bool)
        batch, n_q = xq.shape[0], xq.shape[1]
        queries, keys = self._form(xq), self._form(xk)
        projected = [self._project(att, h, queries, keys, batch, query_pos, key_pos) for h in range(att.n_heads)]
        chosen: list[list[np.ndarray]] = [[] for _ in range(att.n_heads)]
        for b in range(batch):  # the decisions in the order of the Fraction evaluator: sequence by sequence
            for h, (qs, ks, _, denominator, bias) in enumerate(projected):
                scores = integer_product(qs[b], ks[b].T)
                if bias is not None:
                    scores, denominator = _sum(scores, denominator, bias.integers(), bias.denominator)
                chosen[h].append(self._select(att, scores, denominator, sees, query_pos, where, h, b))
        total = self._flint.row(att.b_O, batch * n_q)
        for h, (_, _, vs, _, _) in enumerate(projected):
            # hard: the chosen key's value; average-hard: the mean of the chosen keys' values, each key weighted
            # common / count over the common multiple of the counts
            counts = [c.sum(axis=1) for c in chosen[h]]
            common = math.lcm(*(c for cs in counts for c in cs.tolist() if c)) if att.kind == "average_hard" else 1
            reads = [integer_product(_weighted(c, cs, common), values)
                     for c, cs, values in zip(chosen[h], counts, vs[0])]
            z = from_integers(np.concatenate(reads) if reads else np.zeros((0, vs[0].shape[2]), dtype=np.int64),
                              common * vs[1])
            total = total + z @ self._flint.matrix(att.W_O, h)
        return self._made(total, xq.shape)

    def _project(
        self, att: Attention, h: int, queries: IntegerMatrix, keys: IntegerMatrix, batch: int, query_pos: Any,
        key_pos: Any
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, int], int, IntegerMatrix | None]:
        """Head ``h``'s queries, keys (``[batch, position, d_head]`` numerators), values (numerators and their
        denominator), the scores' denominator and the score bias: one product each for the whole batch."""
        rows_q, rows_k = queries.shape[0], keys.shape[0]
        q = queries @ self._flint.matrix(att.W_Q, h) + self._flint.row(att.b_Q, rows_q, h)
        k = keys @ self._flint.matrix(att.W_K, h) + self._flint.row(att.b_K, rows_k, h)
        v = keys @ self._flint.matrix(att.W_V, h) + self._flint.row(att.b_V, rows_k, h)
        qs, ks, vs = (m.integers().reshape(batch, -1, m.shape[1]) for m in (q, k, v))
        bias = att.bias_for(h)
        bias_form = None if bias is None else integer_matrix(bias.matrix(query_pos, key_pos))
        return qs, ks, (vs, v.denominator), q.denominator * k.denominator, bias_form

    def _select(
        self, att: Attention, numerators: np.ndarray, denominator: int, sees: np.ndarray, query_pos: Any, where: str,
        head: int, batch: int
    ) -> np.ndarray:
        """The keys hard or average-hard attention reads over the scores ``numerators / denominator`` (``[query,
        key]``, ints), as a boolean matrix ``[query, key]``.

        Records each query's decision as :meth:`ObjectArithmetic.attention_weights` does (key indices among the
        query's allowed keys, the margin top minus runner-up as floats)."""
        if numerators.dtype != object:  # below 2^31 in magnitude: exact as float64, beside the -inf of no key
            numerators = numerators.astype(np.float64)
        best = np.where(sees, numerators, -math.inf).max(axis=1, initial=-math.inf)
        winners = sees & np.asarray(numerators == best[:, None], dtype=bool)
        runner_up = np.where(sees & ~winners, numerators, -math.inf).max(axis=1, initial=-math.inf)
        count = winners.sum(axis=1)
        rank = np.cumsum(sees, axis=1) - 1  # a key's index among the query's allowed keys
        if att.kind == "hard" and att.tie_rule == "error" and (count > 1).any():
            i = int(np.flatnonzero(count > 1)[0])
            tied = [int(j) for j in rank[i][winners[i]]]
            raise tie_error(where, head, int(query_pos[i]), batch, f"keys {tied}")
        chosen = chosen_keys(winners, att.kind, att.tie_rule)
        for i in np.flatnonzero(sees.any(axis=1)).tolist():
            if count[i] > 1:
                gap = 0.0  # a tie is at distance 0 from flipping
            elif runner_up[i] == -math.inf:
                gap = float("inf")
            else:
                # each correctly rounded, as float(v): Python ints divided
                gap = int(best[i]) / denominator - int(runner_up[i]) / denominator
            picked = [int(j) for j in rank[i][chosen[i]]]
            detail = f"head {head} query {int(query_pos[i])}"
            if att.kind == "average_hard":
                self.decide(where, f"argmax set of {detail}: {picked}", True, gap)
            else:
                self.decide(where, f"argmax of {detail}: key {picked[0]}", True, gap)
        return np.asarray(chosen, dtype=bool)


def _weighted(chosen: np.ndarray, counts: np.ndarray, common: int) -> np.ndarray:
    """The boolean matrix ``chosen`` ``[query, key]`` with each query's row times ``common / count`` (ints; Python
    ints where they could overflow int64)."""
    factors = [common // c if c else 0 for c in counts.tolist()]
    dtype = np.int64 if common < 2**31 else object
    return chosen.astype(np.int64).astype(dtype) * np.array(factors, dtype=dtype)[:, None]


def _sum(a: np.ndarray, a_denominator: int, b: np.ndarray, b_denominator: int) -> tuple[np.ndarray, int]:
    """``a / a_denominator + b / b_denominator`` for int arrays, as ints over the least common multiple of the
    denominators (Python ints: exact whatever their size)."""
    common = math.lcm(a_denominator, b_denominator)
    return _as_python_ints(a) * (common // a_denominator) + _as_python_ints(b) * (common // b_denominator), common


def _as_python_ints(a: np.ndarray) -> np.ndarray:
    """An int array as an object array of Python ints (exact products and quotients: int64 would wrap, and numpy
    divides int64 by an int in floats), unchanged if it is one already."""
    return a if a.dtype == object else a.astype(object)
