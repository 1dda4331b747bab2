"""Sparse exact matrices: a rational matrix stored by its nonzero entries.

A composition MLP (:mod:`exactformer.constructions.monoid_composition`) has |M|^2 or |Q|^3 units, each reading two
residual coordinates and writing a few: its ``W_in`` and ``W_out`` have 4 to 8 nonzero entries per unit in all (in
the recognisers measured) out of 2 ``d_model`` (thousands). As dense rational arrays
(:mod:`exactformer.core.rational`) they cost 8 bytes per entry even where every entry is the shared zero, so an
MLRegTest automaton with |Q| = 42 (75,852 units x 3,625 coordinates, 2.7·10^8 entries) did not fit in memory. A
:class:`SparseRationalMatrix` stores the nonzero entries only, and every part of the library that reads a weight
takes one where an MLP's ``W_in`` or ``W_out`` may be:

* the exact and certified evaluators multiply by it entry by entry (``x @ W`` works on object arrays);
* the torch evaluator renders it as a sparse tensor and multiplies in compressed sparse form on the CPU (the
  same products, term for term, as for the dense rendering of the same matrix, so the arithmetic does not depend
  on how the weights were stored);
* :func:`~exactformer.core.serialize.save_model` stores its entries (indices, numerators, denominators);
* :func:`~exactformer.core.rational.to_float_array` and the exports render it densely.

Examples
--------
>>> from fractions import Fraction
>>> import numpy as np
>>> from exactformer.core.sparse import SparseRationalMatrix
>>> W = SparseRationalMatrix.from_entries(shape=(3, 2), entries={(0, 1): 2, (2, 0): "1/3"})
>>> W.nnz, W.shape
(2, (3, 2))
>>> x = np.array([[Fraction(1), Fraction(5), Fraction(3)]], dtype=np.object_)
>>> (x @ W).tolist()
[[Fraction(1, 1), Fraction(2, 1)]]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import scipy.sparse

from .rational import Number, as_fraction, is_rational_array, rational_array, rational_zeros

__all__ = ["SparseRationalMatrix"]


class SparseRationalMatrix:
    """An immutable ``rows x cols`` matrix of exact rationals given by its nonzero entries.

    Build one with :meth:`from_entries` or :meth:`from_dense`, or with the keyword-only constructor from three
    parallel sequences (row indices, column indices, values). Entries equal to 0 are dropped; a position listed
    twice is an error (say what the entry is, once). The entries are kept in row-major order.

    It behaves like a 2-d weight array where the library reads weights: ``shape``, ``ndim``, ``size`` (rows x cols,
    the dense parameter count), ``x @ W`` for a numpy array ``x`` whose last axis has ``rows`` entries,
    :meth:`toarray` for the dense rational array and :meth:`to_scipy` for a float rendering.

    Parameters
    ----------
    shape
        ``(rows, cols)``.
    rows, cols
        The positions of the entries (integers in range).
    values
        The entries: exact numbers (ints, Fractions, strings like ``"1/3"``; floats are refused, as everywhere).

    Raises
    ------
    ValueError
        For a malformed shape, sequences of different lengths, an index out of range or a repeated position.
    TypeError
        For a value that is not an exact rational.
    """

    __slots__ = ("_shape", "_rows", "_cols", "_values", "_zero")
    _shape: tuple[int, int]
    _rows: np.ndarray
    _cols: np.ndarray
    _values: np.ndarray
    _zero: Any
    __array_ufunc__ = None  # numpy leaves ``x @ W`` to :meth:`__rmatmul__`
    __hash__ = None  # type: ignore[assignment]  # equality is by entries, and the object is not a dict key
    ndim = 2
    dtype = np.dtype(object)

    def __init__(self, *, shape: tuple[int, int], rows: Any, cols: Any, values: Any) -> None:
        dims = tuple(int(s) for s in shape)
        if len(dims) != 2 or min(dims) < 0:
            raise ValueError(f"a sparse matrix needs a shape (rows, cols) of non-negative sizes, got {dims}")
        shape = (dims[0], dims[1])
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        c = np.asarray(cols, dtype=np.int64).reshape(-1)
        v = list(values)
        if not len(r) == len(c) == len(v):
            raise ValueError(f"{len(r)} row indices, {len(c)} column indices and {len(v)} values: they must match")
        if len(r) and (r.min() < 0 or r.max() >= shape[0] or c.min() < 0 or c.max() >= shape[1]):
            bad = int(np.flatnonzero((r < 0) | (r >= shape[0]) | (c < 0) | (c >= shape[1]))[0])
            raise ValueError(f"entry ({r[bad]}, {c[bad]}) is outside a {shape[0]} x {shape[1]} matrix")
        fractions = np.empty(len(v), dtype=np.object_)
        fractions[:] = [as_fraction(x) for x in v]
        keep = np.flatnonzero([x != 0 for x in fractions]) if len(v) else np.zeros(0, dtype=np.int64)
        r, c, fractions = r[keep], c[keep], fractions[keep]
        order = np.lexsort((c, r))
        r, c, fractions = r[order], c[order], fractions[order]
        repeated = np.flatnonzero((r[1:] == r[:-1]) & (c[1:] == c[:-1]))
        if len(repeated):
            raise ValueError(f"entry ({r[repeated[0]]}, {c[repeated[0]]}) is given twice")
        self._set(shape, r, c, fractions, Fraction(0))

    def _set(self, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, values: np.ndarray, zero: Any) -> None:
        for arr in (rows, cols, values):
            arr.flags.writeable = False
        object.__setattr__(self, "_shape", shape)
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_cols", cols)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_zero", zero)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a SparseRationalMatrix is immutable")

    # -- construction ----------------------------------------------------------------------------------------
    @classmethod
    def from_entries(cls, *, shape: tuple[int, int], entries: Mapping[tuple[int, int], Number]) -> SparseRationalMatrix:
        """The matrix with ``entries[(i, j)]`` at row ``i``, column ``j`` and 0 elsewhere."""
        keys = list(entries)
        return cls(shape=shape, rows=[i for i, _ in keys], cols=[j for _, j in keys], values=entries.values())

    @classmethod
    def from_dense(cls, arr: Any) -> SparseRationalMatrix:
        """The sparse form of a 2-d array of exact numbers (a rational array, or nested lists of them)."""
        dense = arr if is_rational_array(arr) else rational_array(arr)
        if dense.ndim != 2:
            raise ValueError(f"a sparse matrix is 2-d; got an array of shape {dense.shape}")
        nonzero = [(i, j) for (i, j), v in np.ndenumerate(dense) if v != 0]
        return cls.from_entries(shape=dense.shape, entries={ij: dense[ij] for ij in nonzero})

    def with_values(self, convert: Callable[[Fraction], Any]) -> SparseRationalMatrix:
        """The same pattern with each entry ``v`` replaced by ``convert(v)`` (e.g. an interval enclosing it: the
        certified evaluator's copy of a weight), and ``convert(0)`` as the value of the other entries."""
        out = object.__new__(SparseRationalMatrix)
        values = np.empty(len(self._values), dtype=np.object_)
        values[:] = [convert(v) for v in self._values]
        out._set(self._shape, self._rows, self._cols, values, convert(Fraction(0)))
        return out

    # -- what a weight array has -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def size(self) -> int:
        """rows x cols: the number of parameters the matrix stands for (as for a dense array)."""
        return self._shape[0] * self._shape[1]

    @property
    def nnz(self) -> int:
        """The number of nonzero entries stored."""
        return len(self._values)

    @property
    def rows(self) -> np.ndarray:
        """The row index of each stored entry (row-major order; read-only)."""
        return self._rows

    @property
    def cols(self) -> np.ndarray:
        """The column index of each stored entry (read-only)."""
        return self._cols

    @property
    def values(self) -> np.ndarray:
        """The stored entries, an object array (read-only)."""
        return self._values

    def entries(self) -> dict[tuple[int, int], Any]:
        """``{(row, column): value}`` for every stored entry."""
        return {(int(i), int(j)): v for i, j, v in zip(self._rows, self._cols, self._values)}

    def toarray(self) -> np.ndarray:
        """The dense rational array (zeros are the shared zero of :func:`~exactformer.core.rational.rational_zeros`)."""
        out = rational_zeros(self._shape)
        out[self._rows, self._cols] = self._values
        return out

    def float_values(self) -> np.ndarray:
        """The stored entries as float64, each correctly rounded from its value (in :attr:`values` order)."""
        return np.array([v.numerator / v.denominator for v in self._values], dtype=np.float64)  # = float(v), 2x faster

    def to_scipy(self) -> scipy.sparse.csc_matrix:
        """The float64 rendering in compressed sparse column form (:meth:`float_values` at their positions)."""
        return scipy.sparse.csc_matrix((self.float_values(), (self._rows, self._cols)), shape=self._shape)

    # -- arithmetic -------------------------------------------------------------------------------------------------
    def __rmatmul__(self, x: Any) -> np.ndarray:
        """``x @ W`` over the last axis of ``x``, exactly: each output entry is the sum, in row order, of
        ``x[..., i] * W[i, j]`` over the stored entries of column ``j`` (the zero of the entries where none is)."""
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[-1] != self._shape[0]:
            raise ValueError(f"cannot multiply an array of shape {x.shape} by a {self._shape[0]} x "
                             f"{self._shape[1]} matrix")
        flat = x.reshape(int(np.prod(x.shape[:-1])), self._shape[0])
        out = np.empty((flat.shape[0], self._shape[1]), dtype=np.object_)
        out.fill(self._zero)
        if self.nnz:
            by_column = np.argsort(self._cols, kind="stable")  # within a column, rows stay in increasing order
            cols = self._cols[by_column]
            terms = flat[:, self._rows[by_column]] * self._values[by_column]
            starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
            out[:, cols[starts]] = np.add.reduceat(terms, starts, axis=1)
        return out.reshape(*x.shape[:-1], self._shape[1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseRationalMatrix):
            return NotImplemented
        return (
            self._shape == other._shape
            and np.array_equal(self._rows, other._rows)
            and np.array_equal(self._cols, other._cols)
            and all(a == b for a, b in zip(self._values, other._values))
        )

    def __repr__(self) -> str:
        return f"SparseRationalMatrix(shape={self._shape}, nnz={self.nnz})"
