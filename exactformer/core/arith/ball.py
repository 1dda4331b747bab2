"""Certified ball arithmetic: FLINT's ``arb`` balls (midpoint and radius) at a chosen precision.

The same guarantee as :mod:`.interval` -- every value is a ball that contains the true value of the exact model, and
every decision (an attention argmax set, the answer's sign) is certified only when the balls separate it -- at C speed:
the products are ``arb_mat`` products over a whole batch at once, and the working precision is FLINT's for the whole
pass (``flint.ctx.prec``), including the residual additions. What a ball cannot decide is never decided: an
average-hard tie is certified only between exactly equal point scores (e.g. a head with zero queries), a norm only
when its variance is bounded away from 0.

It covers the hard-attention models the certificates run (:mod:`exactformer.proofs`): ReLU and step MLPs, hard and
average-hard attention (relative biases too), the norms (masked or not) and rational positional features; softmax,
irrational positional features (sinusoids) and continuous inputs raise :class:`~exactformer.core.errors.InputError`
naming what is missing (use :class:`~.interval.CertifiedArithmetic` there). It is not one of
:func:`~exactformer.core.arith.arithmetic_for`'s backends: call :func:`~exactformer.core.forward.forward` with it
and read the answer with :func:`ball_sign`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb, arb_mat, ctx

from ..architecture import MLP, Attention, Norm, Transformer
from ..attention_rules import allowed, chosen_keys, norm_parts
from ..errors import InputError, IrrationalOperation, NonFiniteError
from ..sparse import SparseRationalMatrix
from .base import Arithmetic, Item, check_exact_weight

__all__ = ["BallArithmetic", "ball", "ball_sign", "ball_bounds"]


def ball(value: Fraction | int) -> arb:
    """The ball of an exact rational (exact when the denominator is a power of 2, else radius ~2^-prec)."""
    v = Fraction(value)
    return arb(v.numerator) / v.denominator if v.denominator != 1 else arb(v.numerator)


def ball_bounds(v: arb) -> tuple[Fraction, Fraction]:
    """The exact endpoints of a ball."""
    def exact(e: arb) -> Fraction:
        man, exp = e.man_exp()
        return Fraction(int(man)) * Fraction(2) ** int(exp)

    return exact(v.lower()), exact(v.upper())


def ball_sign(v: arb) -> int | None:
    """``+1`` or ``-1`` when the ball excludes 0 on that side, ``0`` for an exact zero, ``None`` when undecided."""
    if v > 0:
        return 1
    if v < 0:
        return -1
    return 0 if v.is_exact() and v.is_zero() else None


@contextmanager
def _working_precision(bits: int) -> Iterator[None]:
    saved = ctx.prec
    ctx.prec = bits
    try:
        yield
    finally:
        ctx.prec = saved


def _dense(arr: Any) -> np.ndarray:
    return arr.toarray() if isinstance(arr, SparseRationalMatrix) else np.asarray(arr, dtype=object)


class BallArithmetic(Arithmetic):
    """``arb`` balls at ``precision`` bits; residual streams are object arrays ``[batch, position, d]`` of balls."""

    name = "ball"

    def __init__(self, precision: int = 128) -> None:
        super().__init__()
        self.precision = precision
        self._mats: dict[tuple[int, int | None], tuple[Any, arb_mat]] = {}
        self._streams: dict[int, tuple[np.ndarray, arb_mat]] = {}

    def working_precision(self) -> Any:
        """A context in which FLINT computes at this arithmetic's precision (for work on its balls outside a
        pass, e.g. a readout)."""
        return _working_precision(self.precision)

    def _check_weight(self, name: str, arr: Any) -> None:
        check_exact_weight(name, arr, "the ball evaluator")

    # -- conversions ----------------------------------------------------------------------------------------
    def _matrix(self, arr: Any, head: int | None = None) -> arb_mat:
        """A weight (one head's slice) as an ``arb_mat``, rendered once per array."""
        key = (id(arr), head)
        hit = self._mats.get(key)
        if hit is None or hit[0] is not arr:
            dense = _dense(arr)
            hit = (arr, _convert(dense if head is None else dense[head]))
            self._mats[key] = hit
        return hit[1]

    def _to_mat(self, x: np.ndarray) -> arb_mat:
        """``x`` as one ``arb_mat`` of its rows (remembered for the arrays this pass made: a norm's output is read
        by the sublayer after it)."""
        hit = self._streams.get(id(x))
        if hit is not None and hit[0] is x:
            return hit[1]
        rows = int(np.prod(x.shape[:-1]))
        return self._remember(x, arb_mat(rows, x.shape[-1], x.ravel().tolist()))

    def _remember(self, x: np.ndarray, m: arb_mat) -> arb_mat:
        self._streams[id(x)] = (x, m)
        while len(self._streams) > 4:
            del self._streams[next(iter(self._streams))]
        return m

    def _from_mat(self, m: arb_mat, shape: tuple[int, ...]) -> np.ndarray:
        flat = np.empty(m.nrows() * m.ncols(), dtype=object)
        flat[:] = m.entries()
        out: np.ndarray = flat.reshape(shape)
        self._remember(out, m)
        return out

    def _rows_plus(self, m: arb_mat, bias: Any, head: int | None = None) -> arb_mat:
        b = self._matrix(bias, head)
        if all(v.is_zero() for v in b.entries()):
            return m
        return m + arb_mat(m.nrows(), 1, [1] * m.nrows()) * b

    # -- the pass ---------------------------------------------------------------------------------------------
    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]], start: int = 0) -> np.ndarray:
        W_E = self._matrix(model.embedding.W_E)
        rows = []
        for seq in inputs:
            for item in seq:
                if not isinstance(item, str):
                    raise InputError("the ball evaluator takes tokens only; use backend='certified' for vectors")
                rows.append(model.token_index(item))
        d = model.d_model
        out = np.empty((len(inputs), len(inputs[0]), d), dtype=object)
        for r, t in enumerate(rows):
            out.reshape(-1, d)[r] = [W_E[t, c] for c in range(d)]
        length = start + len(inputs[0])
        with _working_precision(self.precision):
            for coord, feature in model.embedding.positional:
                c = model.space.index(coord)
                for i in range(start, length):
                    try:
                        value = ball(feature.exact(i, length))
                    except IrrationalOperation as err:
                        raise InputError(f"the ball evaluator has no irrational positional feature ({err}); use "
                                         "backend='certified'") from err
                    out[:, i - start, c] = [v + value for v in out[:, i - start, c]]
        return out

    def add(self, a: Any, b: Any) -> Any:
        with _working_precision(self.precision):
            return a + b

    def norm(self, x: np.ndarray, norm: Norm, model: Transformer, where: str) -> np.ndarray:
        """``norm``'s numerator over the square root of its denominator (:func:`~..attention_rules.norm_parts`, the
        coordinates outside a masked norm's mask read as 0), refusing a denominator whose ball reaches 0."""
        if norm.is_identity:
            return x
        with _working_precision(self.precision):
            d, zero = x.shape[-1], arb(0)
            initial: Any = zero  # (numpy types an initial value as a number)
            if norm.mask is not None:
                keep = np.zeros(d, dtype=bool)
                keep[[model.space.index(c) for c in norm.mask]] = True
                x = x.copy()
                x[..., ~keep] = zero

            def total(a: np.ndarray) -> np.ndarray:
                return np.sum(a, axis=-1, keepdims=True, initial=initial)

            numerator, denominator = norm_parts(x, norm, lambda a: total(a) / d, total, ball(norm.eps))
            for index in np.ndindex(denominator.shape[:-1]):
                if not denominator[index][0] > 0:
                    raise NonFiniteError(f"{norm.describe()} in {where} divides by a norm that may be 0 "
                                         f"(batch/position {index})")
            out: np.ndarray = numerator / np.vectorize(lambda v: v.sqrt(), otypes=[object])(denominator)
            self._remember(out, arb_mat(int(np.prod(out.shape[:-1])), d, out.ravel().tolist()))
            return out

    def mlp(self, x: np.ndarray, mlp: MLP, where: str) -> np.ndarray:
        with _working_precision(self.precision):
            pre = self._rows_plus(self._to_mat(x) * self._matrix(mlp.W_in), mlp.b_in)
            if mlp.activation == "relu":
                units = [_relu(v) for v in pre.entries()]
            else:
                shifted = [v - ball(mlp.threshold) for v in pre.entries()]
                uncertain = sum(not (v >= 0 or v < 0) for v in shifted)
                units = [arb(1) if v >= 0 else arb(0) for v in shifted]
                margin = min((abs(float(v.mid())) for v in shifted), default=float("inf"))
                self.decide(where, f"{len(units)} step activations ({uncertain} uncertain)", uncertain == 0, margin)
            hidden = arb_mat(pre.nrows(), pre.ncols(), units)
            out = self._rows_plus(hidden * self._matrix(mlp.W_out), mlp.b_out)
            return self._from_mat(out, (*x.shape[:-1], out.ncols()))

    def attend(self, xq: np.ndarray, xk: np.ndarray, query_pos: Any, key_pos: Any, att: Attention, length: int,
               where: str) -> np.ndarray:
        if att.kind not in ("hard", "average_hard"):
            raise InputError(f"the ball evaluator has no {att.kind} attention ({where}); use backend='certified'")
        sees = np.asarray(allowed(att.mask, np.asarray(query_pos), np.asarray(key_pos)), dtype=bool)
        seen_by = [np.flatnonzero(row).tolist() for row in sees]
        batch, tq, tk = xq.shape[0], xq.shape[1], xk.shape[1]
        with _working_precision(self.precision):
            queries = self._to_mat(xq)
            keys = queries if xk is xq else self._to_mat(xk)
            total = self._rows_plus(arb_mat(batch * tq, xq.shape[2]), att.b_O)
            for h in range(att.n_heads):
                bias = att.bias_for(h)
                extra = None if bias is None else _convert(bias.matrix(np.asarray(query_pos), np.asarray(key_pos)))
                q = self._rows_plus(queries * self._matrix(att.W_Q, h), att.b_Q, h)
                k = self._rows_plus(keys * self._matrix(att.W_K, h), att.b_K, h)
                v = self._rows_plus(keys * self._matrix(att.W_V, h), att.b_V, h)
                parts = []
                shares: dict[int, arb] = {}
                for b in range(batch):
                    scores = _block(q, b * tq, tq) * _block(k, b * tk, tk).transpose()
                    if extra is not None:
                        scores = scores + extra
                    read = arb_mat(tq, tk)  # [query, key]: the share each key gets
                    for i in range(tq):
                        seen = seen_by[i]
                        if not seen:
                            continue
                        chosen = self.select(att, [scores[i, j] for j in seen], where,
                                              f"head {h} query {int(query_pos[i])} (batch {b})")
                        share = shares.setdefault(len(chosen), ball(Fraction(1, len(chosen))))
                        for j in chosen:
                            read[i, seen[j]] = share
                    parts.append(read * _block(v, b * tk, tk))
                z = _stack(parts, v.ncols())
                total = total + z * self._matrix(att.W_O, h)
            return self._from_mat(total, xq.shape)

    def select(self, att: Attention, scores: list[arb], where: str, what: str) -> list[int]:
        """The keys read among ``scores``: the maximal set, recorded as certified when the balls separate it from
        the rest and, for more than one key, the tied scores are the same point."""
        best_lower = max(s.lower() for s in scores)
        winners = [j for j, s in enumerate(scores) if s.upper() >= best_lower]
        first = scores[winners[0]]
        certain = len(winners) == 1 or all(scores[j].is_exact() and scores[j] == first for j in winners)
        if att.kind == "hard" and len(winners) > 1 and not certain:
            winners, certain = [max(winners, key=lambda j: float(scores[j].mid()))], False
        if att.kind == "average_hard" or len(winners) == 1:
            chosen = winners
        else:
            maximal = np.zeros(len(scores), dtype=bool)
            maximal[winners] = True
            chosen = [int(j) for j in np.flatnonzero(chosen_keys(maximal, att.kind, att.tie_rule))]
        if att.kind == "hard" and att.tie_rule == "error" and len(chosen) > 1:
            certain = False  # a certified tie where the head allows none: not a decision the head makes
        if len(winners) > 1:
            gap = 0.0
        elif len(scores) == 1:
            gap = float("inf")
        else:
            gap = float(first.mid()) - max(float(s.mid()) for j, s in enumerate(scores) if j != winners[0])
        self.decide(where, f"argmax set of {what}: {chosen}", certain, gap)
        return chosen


def _convert(dense: np.ndarray) -> arb_mat:
    """A rational vector (one row) or matrix as an ``arb_mat``."""
    dense = np.asarray(dense, dtype=object)
    if dense.ndim == 1:
        dense = dense.reshape(1, -1)
    rows, cols = dense.shape
    return arb_mat(rows, cols, [ball(v) for v in dense.ravel()])


def _relu(v: arb) -> arb:
    if v >= 0:
        return v
    if v <= 0:
        return arb(0)
    return arb(0).union(v.upper())  # the smallest ball holding [0, upper]


def _block(m: arb_mat, start: int, rows: int) -> arb_mat:
    return arb_mat(rows, m.ncols(), [m[start + r, c] for r in range(rows) for c in range(m.ncols())])


def _stack(parts: list[arb_mat], cols: int) -> arb_mat:
    entries = [e for p in parts for e in p.entries()]
    return arb_mat(len(entries) // cols if cols else 0, cols, entries)
