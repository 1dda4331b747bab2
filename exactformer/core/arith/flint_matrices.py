"""Exact rational matrices on FLINT as integer matrices over one denominator, and the conversions at their boundary.

The exact evaluator (:class:`~exactformer.core.arith.exact.ExactArithmetic`) keeps the residual stream, the logits
and every traced value as numpy object arrays of :class:`fractions.Fraction` (the public API's numbers), and
computes each sublayer on FLINT. A rational matrix is held as an :class:`IntegerMatrix`: an ``fmpz_mat`` of
numerators over one positive int denominator (not necessarily the least), so a product is one integer matrix
product in C (and a product of denominators), with no per-entry canonical form: ``fmpq_mat``'s product re-reads
both operands' denominators and reduces every entry of the result, which for a 3,604-unit MLP cost ten times the
integer product. Every value is the same rational either way, so the results are identical.

* :func:`integer_matrix` / :func:`to_fractions`: a 2-d array of exact numbers (or a sparse weight) to an
  :class:`IntegerMatrix` and back;
* :meth:`IntegerMatrix.integers`: the numerators as a numpy array (int64 where they fit), for the comparisons
  (ReLU, step, argmax) that decide entry by entry; :func:`from_integers` makes a matrix of such an array;
* :class:`FlintWeights`: each weight matrix, and each bias repeated as the rows it is added to, converted once
  per arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from flint import fmpq_mat, fmpz_mat

from ..rational import _not_shared_zero
from ..sparse import SparseRationalMatrix

__all__ = ["DENSE_LIMIT", "FlintWeights", "IntegerMatrix", "RowIndex", "integer_matrix", "integer_product",
           "to_fractions", "from_integers", "fits_dense"]

#: A sparse weight is made a dense ``fmpz_mat`` when it has at most this many entries (8 bytes each at least).
DENSE_LIMIT = 2**23

#: Numerators whose magnitude is below this are compared as int64 (products of two of them cannot overflow).
_SMALL = 2**31


class IntegerMatrix:
    """The rational matrix ``numerators / denominator``: an ``fmpz_mat`` over one positive int.

    ``a @ b`` and ``a + b`` are exact (the denominators multiply, or meet at their least common multiple); the
    denominator is not kept least (:meth:`reduced` makes it so), which changes no value.
    """

    __slots__ = ("numerators", "denominator", "_ints")

    def __init__(self, numerators: fmpz_mat, denominator: int = 1) -> None:
        if denominator <= 0:
            raise ZeroDivisionError(f"an IntegerMatrix needs a positive denominator, got {denominator}")
        self.numerators = numerators
        self.denominator = denominator
        self._ints: list[int] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.numerators.nrows(), self.numerators.ncols()

    def __matmul__(self, other: IntegerMatrix) -> IntegerMatrix:
        return IntegerMatrix(self.numerators * other.numerators, self.denominator * other.denominator)

    def __add__(self, other: IntegerMatrix) -> IntegerMatrix:
        a, b = self.denominator, other.denominator
        if a == b:
            return IntegerMatrix(self.numerators + other.numerators, a)
        common = math.lcm(a, b)
        return IntegerMatrix(_scaled(self.numerators, common // a) + _scaled(other.numerators, common // b), common)

    def transpose(self) -> IntegerMatrix:
        return IntegerMatrix(self.numerators.transpose(), self.denominator)

    def fmpq(self) -> fmpq_mat:
        """The same matrix as an ``fmpq_mat`` (entries in lowest terms)."""
        out = fmpq_mat(self.numerators)
        return out if self.denominator == 1 else out / self.denominator

    def ints(self) -> list[int]:
        """The numerators as Python ints, row by row (read once)."""
        if self._ints is None:
            self._ints = list(map(int, self.numerators.entries()))
        return self._ints

    def integers(self) -> np.ndarray:
        """The numerators as a 2-d numpy array: int64 when every one is below 2^31 in magnitude (so that a product
        of two cannot overflow), else an object array of Python ints."""
        return _array(self.ints(), self.shape)

    def reduced(self) -> IntegerMatrix:
        """The same matrix with the least denominator (the numerators and denominator divided by their gcd)."""
        g = math.gcd(self.denominator, *self.ints())
        if g <= 1:
            return self
        ints = [v // g for v in self.ints()]
        out = IntegerMatrix(fmpz_mat(*self.shape, ints), self.denominator // g)
        out._ints = ints
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntegerMatrix) and self.fmpq() == other.fmpq()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IntegerMatrix({self.numerators.tolist()!r}, {self.denominator})"


def _scaled(m: fmpz_mat, factor: int) -> fmpz_mat:
    return m if factor == 1 else m * factor


def _array(ints: list[int], shape: tuple[int, int]) -> np.ndarray:
    if not ints or (max(ints) < _SMALL and min(ints) > -_SMALL):
        return np.array(ints, dtype=np.int64).reshape(shape)
    out = np.empty(len(ints), dtype=object)
    out[:] = ints
    return out.reshape(shape)


def _filled(rows: int, cols: int, row: list[int], col: list[int], values: list[int]) -> fmpz_mat:
    """A ``rows x cols`` ``fmpz_mat``, zero but for ``values`` at ``(row, col)`` (set one by one: cheaper than
    converting a list of every entry when most are zero)."""
    out = fmpz_mat(rows, cols)
    for i, j, v in zip(row, col, values):
        out[i, j] = v
    return out


def _over_common_denominator(values: list[Any]) -> tuple[list[int], int]:
    """Numerators of exact numbers (Fractions or ints) scaled to their least common denominator, and it."""
    denominators = [v.denominator for v in values]
    common = math.lcm(*denominators) if denominators else 1
    numerators = [v.numerator for v in values]
    if common != 1:
        numerators = [n * (common // d) for n, d in zip(numerators, denominators)]
    return numerators, common


def _nonzero_entries(arr: Any) -> tuple[tuple[int, int], np.ndarray, np.ndarray, list[int], int]:
    """``(shape, rows, cols, numerators, denominator)``: the entries of a 2-d array of exact numbers (a
    :class:`~exactformer.core.sparse.SparseRationalMatrix`: its stored ones) that are not the shared zero of
    :func:`~exactformer.core.rational.rational_zeros`, in row-major order, over their least common denominator."""
    if isinstance(arr, SparseRationalMatrix):
        numerators, common = _over_common_denominator(list(arr.values))
        return arr.shape, np.asarray(arr.rows), np.asarray(arr.cols), numerators, common
    a = np.asarray(arr, dtype=object)
    if a.ndim != 2:
        raise ValueError(f"a matrix is 2-d; got an array of shape {a.shape}")
    flat = np.ascontiguousarray(a).reshape(-1)
    where = _not_shared_zero(flat)
    numerators, common = _over_common_denominator(flat[where].tolist())
    rows, cols = np.divmod(where, max(a.shape[1], 1))
    return (a.shape[0], a.shape[1]), rows, cols, numerators, common


def integer_matrix(arr: Any) -> IntegerMatrix:
    """The :class:`IntegerMatrix` of a 2-d array of exact numbers (Fractions or ints; a
    :class:`~exactformer.core.sparse.SparseRationalMatrix` by its stored entries), over the least common
    denominator of its entries.

    Only the entries that are not the shared zero of :func:`~exactformer.core.rational.rational_zeros` are read
    and written (a composition MLP's dense weight is mostly that zero)."""
    (n_rows, n_cols), rows, cols, numerators, common = _nonzero_entries(arr)
    if len(numerators) * 4 < n_rows * n_cols:
        return IntegerMatrix(_filled(n_rows, n_cols, rows.tolist(), cols.tolist(), numerators), common)
    dense = np.zeros(n_rows * n_cols, dtype=object)
    dense[rows * n_cols + cols] = numerators
    return IntegerMatrix(fmpz_mat(n_rows, n_cols, dense.tolist()), common)


class RowIndex:
    """A weight's nonzero entries by row, to make the :class:`IntegerMatrix` of a few of its rows (the active
    units of an MLP: the rows of ``W_out`` whose hidden unit is nonzero somewhere)."""

    def __init__(self, arr: Any) -> None:
        (self.n_rows, self.n_cols), rows, self.cols, self.numerators, self.denominator = _nonzero_entries(arr)
        self.starts = np.searchsorted(rows, np.arange(self.n_rows + 1))

    def rows(self, which: np.ndarray) -> IntegerMatrix:
        """The rows ``which`` (in that order) as an :class:`IntegerMatrix` over the weight's denominator."""
        new_rows: list[int] = []
        cols: list[int] = []
        values: list[int] = []
        for new, r in enumerate(which.tolist()):
            a, b = int(self.starts[r]), int(self.starts[r + 1])
            new_rows += [new] * (b - a)
            cols += self.cols[a:b].tolist()
            values += self.numerators[a:b]
        return IntegerMatrix(_filled(len(which), self.n_cols, new_rows, cols, values), self.denominator)


def from_integers(numerators: np.ndarray, denominator: int = 1) -> IntegerMatrix:
    """The :class:`IntegerMatrix` ``numerators / denominator`` of a 2-d array of ints."""
    return IntegerMatrix(fmpz_mat(numerators.shape[0], numerators.shape[1], numerators.ravel().tolist()), denominator)


def integer_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-d arrays of ints, exactly: in float64 where no partial sum can reach 2^53 in magnitude (the
    bound ``inner * max|a| * max|b|``; then every sum is an integer float computes exactly, in any order), else as a
    product of ``fmpz_mat``. The result is an int array as :meth:`IntegerMatrix.integers` makes them."""
    if a.dtype != object and b.dtype != object and a.size and b.size:
        if a.shape[1] * int(np.abs(a).max()) * int(np.abs(b).max()) < 2**53:
            return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return (from_integers(a) @ from_integers(b)).integers()


def to_fractions(m: IntegerMatrix, known: dict[int, dict[int, Fraction]] | None = None) -> np.ndarray:
    """The object array of Fractions of an :class:`IntegerMatrix` (each in lowest terms, as Fractions are).

    ``known`` (``{denominator: {numerator: Fraction}}``) lends Fractions already made: a Fraction is immutable, so
    equal entries may share one object, and a dictionary look-up costs a fraction of ``Fraction(p, q)``.
    """
    m = m.reduced()  # a Fraction is in lowest terms: the table is keyed by the least denominator
    denominator = m.denominator
    made = {} if known is None else known.setdefault(denominator, {})
    if len(made) > KNOWN_LIMIT:
        made.clear()
    ints = m.ints()
    for v in set(ints).difference(made):
        made[v] = Fraction(v, denominator)
    out = np.empty(m.shape, dtype=object)
    out.ravel()[:] = list(map(made.__getitem__, ints))
    return out


#: Fractions kept per denominator by :func:`to_fractions` before the table is emptied.
KNOWN_LIMIT = 2**16


class FlintWeights:
    """Each weight matrix of a model as an :class:`IntegerMatrix`, converted once and kept while the weight lives.

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

    def matrix(self, W: Any, head: int | None = None) -> IntegerMatrix:
        """``W`` (``W[head]``) as an :class:`IntegerMatrix`."""
        return self._get(("matrix", id(W), head), (W,), lambda: integer_matrix(W if head is None else W[head]))

    def row_index(self, W: Any) -> RowIndex:
        """``W``'s nonzero entries by row (:class:`RowIndex`)."""
        return self._get(("row_index", id(W)), (W,), lambda: RowIndex(W))

    def row(self, b: Any, rows: int, head: int | None = None) -> IntegerMatrix:
        """The bias vector ``b`` (``b[head]``) repeated as ``rows`` rows."""

        def make() -> IntegerMatrix:
            numerators, common = _over_common_denominator(np.asarray(b if head is None else b[head],
                                                                     dtype=object).tolist())
            return IntegerMatrix(fmpz_mat(rows, len(numerators), numerators * rows), common)

        return self._get(("row", id(b), rows, head), (b,), make)


def fits_dense(W: Any) -> bool:
    """Whether a weight is dense, or sparse but small enough to multiply as a dense ``fmpz_mat``."""
    return not isinstance(W, SparseRationalMatrix) or W.size <= DENSE_LIMIT
