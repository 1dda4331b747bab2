"""Exact rational matrices on FLINT (python-flint's ``fmpq_mat``), and the conversions at their boundary.

The exact evaluator (:class:`~exactformer.core.arith.exact.ExactArithmetic`) keeps the residual stream, the logits
and every traced value as numpy object arrays of :class:`fractions.Fraction` (the public API's numbers), and
computes each sublayer's products on FLINT: a product of rational matrices in FLINT is a product of integer
matrices with common denominators in C, where numpy's ``@`` on object arrays calls ``Fraction.__mul__`` and
``Fraction.__add__`` once per term. Every value is the same rational either way, so the results are identical.

* :func:`to_flint` / :func:`to_fractions`: a 2-d array of exact numbers to an ``fmpq_mat`` and back;
* :func:`integer_form`: an ``fmpq_mat`` as integers over one positive common denominator, for the comparisons
  (ReLU, step, argmax) that decide entry by entry;
* :class:`FlintWeights`: each weight matrix, and each bias repeated as the rows it is added to, converted once
  per arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from flint import fmpq, fmpq_mat, fmpz_mat

from ..sparse import SparseRationalMatrix

__all__ = ["DENSE_LIMIT", "FlintWeights", "integer_form", "to_flint", "to_fractions", "from_integers", "fits_dense"]

#: A sparse weight is made a dense ``fmpq_mat`` when it has at most this many entries (16 bytes each at least).
DENSE_LIMIT = 2**23


def _entry(v: Any) -> Any:
    """An exact number as FLINT takes it: an int as it is, a Fraction as an ``fmpq``."""
    if isinstance(v, Fraction):
        return v.numerator if v.denominator == 1 else fmpq(v.numerator, v.denominator)
    return v


def to_flint(arr: Any) -> fmpq_mat:
    """The ``fmpq_mat`` of a 2-d array of exact numbers (Fractions or ints; a
    :class:`~exactformer.core.sparse.SparseRationalMatrix` by its stored entries).

    A dense array goes over one common denominator: its numerators scaled to it make one integer matrix (three
    passes of plain int arithmetic, instead of one ``fmpq`` per entry)."""
    if isinstance(arr, SparseRationalMatrix):
        rows, cols = arr.shape
        out = fmpq_mat(rows, cols)
        for i, j, v in zip(arr.rows.tolist(), arr.cols.tolist(), arr.values):
            out[i, j] = _entry(v)
        return out
    a = np.asarray(arr, dtype=object)
    if a.ndim != 2:
        raise ValueError(f"a matrix is 2-d; got an array of shape {a.shape}")
    flat = a.ravel().tolist()
    numerators = [v.numerator for v in flat]
    denominators = [v.denominator for v in flat]
    common = math.lcm(*denominators) if denominators else 1
    if common != 1:
        numerators = [n * (common // d) for n, d in zip(numerators, denominators)]
    out = fmpq_mat(fmpz_mat(a.shape[0], a.shape[1], numerators))
    return out if common == 1 else out / common


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


def to_fractions(m: fmpq_mat, known: dict[int, dict[int, Fraction]] | None = None) -> np.ndarray:
    """The object array of Fractions of an ``fmpq_mat``.

    ``known`` (``{denominator: {numerator: Fraction}}``) lends Fractions already made: a Fraction is immutable, so
    equal entries may share one object, and a dictionary look-up costs a fraction of ``Fraction(p, q)``.
    """
    numerators, denominator = integer_form(m)
    flat = numerators.ravel().tolist()
    made = {} if known is None else known.setdefault(denominator, {})
    if len(made) > KNOWN_LIMIT:
        made.clear()
    out = np.empty(numerators.shape, dtype=object)
    out.ravel()[:] = [made[v] if v in made else made.setdefault(v, Fraction(v, denominator)) for v in flat]
    return out


#: Fractions kept per denominator by :func:`to_fractions` before the table is emptied.
KNOWN_LIMIT = 2**16


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

    def matrix(self, W: Any, head: int | None = None) -> fmpq_mat:
        """``W`` (``W[head]``) as an ``fmpq_mat``."""
        return self._get(("matrix", id(W), head), (W,), lambda: to_flint(W if head is None else W[head]))

    def row(self, b: Any, rows: int, head: int | None = None) -> fmpq_mat:
        """The bias vector ``b`` (``b[head]``) repeated as ``rows`` rows."""

        def make() -> fmpq_mat:
            entries = [_entry(v) for v in np.asarray(b if head is None else b[head], dtype=object).tolist()]
            return fmpq_mat(rows, len(entries), entries * rows)

        return self._get(("row", id(b), rows, head), (b,), make)


def fits_dense(W: Any) -> bool:
    """Whether a weight is dense, or sparse but small enough to multiply as a dense ``fmpq_mat``."""
    return not isinstance(W, SparseRationalMatrix) or W.size <= DENSE_LIMIT
