"""Exact rational matrices on FLINT (python-flint's ``fmpq_mat``), and the conversions at their boundary.

The exact evaluator (:class:`~exactformer.core.arith.exact.ExactArithmetic`) keeps the residual stream, the logits
and every traced value as numpy object arrays of :class:`fractions.Fraction` (the public API's numbers), and
computes each sublayer's products on FLINT: a product of rational matrices in FLINT is a product of integer
matrices with common denominators in C, where numpy's ``@`` on object arrays calls ``Fraction.__mul__`` and
``Fraction.__add__`` once per term. Every value is the same rational either way, so the results are identical.

* :func:`to_flint` / :func:`to_fractions`: a 2-d array of exact numbers to an ``fmpq_mat`` and back;
* :func:`integer_form`: an ``fmpq_mat`` as integers over one positive common denominator, for the comparisons
  (ReLU, step, argmax) that decide entry by entry;
* :class:`FlintWeights`: each weight (with its bias as a last row, so ``[x | 1] @ [[W], [b]] = x W + b``)
  converted once per arithmetic.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from flint import fmpq, fmpq_mat, fmpz_mat

from ..sparse import SparseRationalMatrix

__all__ = ["DENSE_LIMIT", "FlintWeights", "integer_form", "to_flint", "to_fractions", "from_integers", "ones_column"]

#: A sparse weight is made a dense ``fmpq_mat`` when it has at most this many entries (16 bytes each at least).
DENSE_LIMIT = 2**23


def _entry(v: Any) -> Any:
    """An exact number as FLINT takes it: an int as it is, a Fraction as an ``fmpq``."""
    if isinstance(v, Fraction):
        return v.numerator if v.denominator == 1 else fmpq(v.numerator, v.denominator)
    return v


def to_flint(arr: Any) -> fmpq_mat:
    """The ``fmpq_mat`` of a 2-d array of exact numbers (Fractions or ints; a
    :class:`~exactformer.core.sparse.SparseRationalMatrix` by its stored entries)."""
    if isinstance(arr, SparseRationalMatrix):
        rows, cols = arr.shape
        out = fmpq_mat(rows, cols)
        for i, j, v in zip(arr.rows.tolist(), arr.cols.tolist(), arr.values):
            out[i, j] = _entry(v)
        return out
    a = np.asarray(arr, dtype=object)
    if a.ndim != 2:
        raise ValueError(f"a matrix is 2-d; got an array of shape {a.shape}")
    return fmpq_mat(a.shape[0], a.shape[1], [_entry(v) for v in a.ravel().tolist()])


def integer_form(m: fmpq_mat) -> tuple[np.ndarray, int]:
    """``(numerators, denominator)``: ``m`` as an object array of Python ints over one positive int, so that
    ``m[i, j] == numerators[i, j] / denominator``."""
    numerators, denominator = m.numer_denom()
    ints = np.empty((m.nrows(), m.ncols()), dtype=object)
    ints.ravel()[:] = [int(v) for v in numerators.entries()]
    return ints, int(denominator)


def from_integers(numerators: np.ndarray, denominator: int = 1) -> fmpq_mat:
    """The ``fmpq_mat`` ``numerators / denominator`` of a 2-d array of ints."""
    out = fmpq_mat(fmpz_mat(numerators.shape[0], numerators.shape[1], numerators.ravel().tolist()))
    return out if denominator == 1 else out / denominator


def to_fractions(m: fmpq_mat) -> np.ndarray:
    """The object array of Fractions of an ``fmpq_mat``."""
    numerators, denominator = integer_form(m)
    out = np.empty(numerators.shape, dtype=object)
    if denominator == 1:
        out.ravel()[:] = [Fraction(v) for v in numerators.ravel().tolist()]
    else:
        out.ravel()[:] = [Fraction(v, denominator) for v in numerators.ravel().tolist()]
    return out


def ones_column(x: np.ndarray) -> fmpq_mat:
    """``[x | 1]``: the rows of the 2-d exact array ``x`` with a last entry 1 (they meet a weight's bias row)."""
    augmented = np.empty((x.shape[0], x.shape[1] + 1), dtype=object)
    augmented[:, :-1] = x
    augmented[:, -1] = 1
    return to_flint(augmented)


class FlintWeights:
    """Each weight matrix of a model as an ``fmpq_mat``, converted once and kept while the weight lives.

    The key is the identity of the arrays (weights are immutable once a model is built); each entry keeps the
    arrays it was made from, so a new array at a recycled address is not mistaken for an old one.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}

    def _get(self, key: tuple[Any, ...], sources: tuple[Any, ...], make: Any) -> Any:
        hit = self._cache.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], sources)):
            hit = (sources, make())
            self._cache[key] = hit
        return hit[1]

    def affine(self, W: Any, b: Any, head: int | None = None) -> fmpq_mat:
        """``[[W], [b]]`` (``W[head]``, ``b[head]`` for a per-head weight): ``[x | 1]`` times it is ``x W + b``."""

        def make() -> fmpq_mat:
            w = W if head is None else W[head]
            bias = np.asarray(b if head is None else b[head], dtype=object)
            if not isinstance(w, SparseRationalMatrix):
                return to_flint(np.vstack([np.asarray(w, dtype=object), bias[None]]))
            rows, cols = w.shape
            stacked = fmpq_mat(rows + 1, cols)
            for i, j, v in zip(w.rows.tolist(), w.cols.tolist(), w.values):
                stacked[i, j] = _entry(v)
            for j, v in enumerate(bias.tolist()):
                stacked[rows, j] = _entry(v)
            return stacked

        return self._get(("affine", id(W), id(b), head), (W, b), make)

    def matrix(self, W: Any, head: int | None = None) -> fmpq_mat:
        """``W`` (``W[head]``) as an ``fmpq_mat``."""
        return self._get(("matrix", id(W), head), (W,), lambda: to_flint(W if head is None else W[head]))

    def row(self, b: Any, rows: int) -> fmpq_mat:
        """The bias vector ``b`` repeated as ``rows`` rows."""
        entries = [_entry(v) for v in np.asarray(b, dtype=object).tolist()]
        return self._get(("row", id(b), rows), (b,), lambda: fmpq_mat(rows, len(entries), entries * rows))


def fits_dense(W: Any) -> bool:
    """Whether a weight is dense, or sparse but small enough to multiply as a dense ``fmpq_mat``."""
    return not isinstance(W, SparseRationalMatrix) or W.size <= DENSE_LIMIT
