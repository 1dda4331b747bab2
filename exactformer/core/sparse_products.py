"""Products with large, mostly zero float matrices (the torch evaluator's CPU fast paths).

A composition MLP of the pointer-jumping recognizer has |M|^2 (or |Q|^3) units, each reading two coordinates and
writing a few, and the residual stream it reads holds a few nonzero coordinates per position. Two facts make its
products cheap, and neither changes a single float:

* :class:`CompressedMatrix`: ``x @ W`` in SciPy's dense x CSC product sums each output's terms in the order the
  column stores them (increasing row, from 0). When ``x`` is mostly zero, the CSR x CSR product of ``x``'s nonzero
  entries sums the same terms in the same order, leaving out the zero ones (``0 * w`` is +-0 for a finite ``w``,
  and a sum that starts at +0 is unchanged by adding +-0).
* :class:`ActiveUnitsMLP`: a ReLU unit whose pre-activation is a sum of non-positive terms outputs 0, so only the
  other units (the *candidates*) need their pre-activations.

Both are checked against the full products entry by entry (``np.array_equal``, ``torch.equal``) in
``tests/core/test_active_units.py``.

The candidate rule. For one position ``x``, unit ``u`` gets the terms ``x[k] * W_in[k, u]`` of its stored weights
and its bias ``b_in[u]``. It can be positive only if some term is positive, i.e. ``x[k] > 0`` and
``W_in[k, u] > 0``, or ``x[k] < 0`` and ``W_in[k, u] < 0``, or ``b_in[u] > 0``. These are the nonzero pattern of::

    [x > 0] @ [W_in > 0]  +  [x < 0] @ [W_in < 0]  (+ the units of positive bias)

For the composition MLP (all weights positive, bias -1) they are the units reading one of the position's nonzero
coordinates: the ``|M|`` units of ``left = a`` and the ``|M|`` of ``right = b``, of which one fires. Every other
unit's pre-activation is ``<= 0`` (a sum of ``<= 0`` terms, rounded: rounding is monotone), so its ReLU is 0, as the
full product gives. The second product, ``hidden @ W_out``, is the CSR x CSR product of the fired units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse
import torch

from .dyadic import SIGNIFICAND, fraction_bits

__all__ = ["ActiveUnitsMLP", "CompressedMatrix", "PAIR_BUDGET", "compress"]

#: Matrices with at least this many entries, at most 1/SPARSE_DENSITY of them nonzero, multiply in sparse form.
SPARSE_MIN_ENTRIES = 2**16
SPARSE_DENSITY = 16
#: ``x`` multiplies by rows (its nonzero entries only) when at most 1/SPARSE_INPUT_DENSITY of its entries are nonzero.
SPARSE_INPUT_DENSITY = 4
#: The units reading a nonzero coordinate come from one CSR product when at most this many times the candidates.
PRODUCT_OVERHEAD = 2
#: The MLP runs as the dense x CSC product when at least 1/DENSE_CANDIDATES of its (position, unit) pairs are
#: candidates (:meth:`ActiveUnitsMLP._dense`).
DENSE_CANDIDATES = 8
#: (position, unit) pairs one block of the dense route holds: 8 MB of float64 pre-activations (log-depth-a5 at
#: n = 256: 17.5 CPU s at 2^20, 18.3 at 2^21, 19.3 at 2^22, 20.6 at 2^18, 35.9 at 2^16).
DENSE_BLOCK = 2**20
#: Candidate (position, unit) pairs one block holds (5 arrays of 8 bytes each: ~160 MB at this size).
PAIR_BUDGET = 2**22
#: The bounded candidate rule runs when the units of the positive sparse terms are at most 1/BOUNDED_TOUCHED of
#: the (position, unit) pairs (they are summed by a compiled product; few of them are candidates).
BOUNDED_TOUCHED = 2
#: For the bounded candidate rule, a coordinate counts as dense when nonzero at more than 1/DENSE_COORDINATE of the
#: positions (:meth:`ActiveUnitsMLP._bounded`).
DENSE_COORDINATE = 4


@dataclass(frozen=True, eq=False)
class CompressedMatrix:
    """A large, mostly zero float matrix in the two compressed forms its products use.

    Parameters
    ----------
    by_column
        The matrix in CSC form with sorted indices: ``x @ W`` for a dense ``x``.
    by_row
        The same matrix in CSR form with sorted indices: ``x @ W`` for a mostly zero ``x``.
    """

    by_column: scipy.sparse.csc_matrix
    by_row: scipy.sparse.csr_matrix

    @classmethod
    def from_csc(cls, matrix: scipy.sparse.csc_matrix) -> CompressedMatrix:
        by_column = scipy.sparse.csc_matrix(matrix)
        by_column.sort_indices()
        by_row = by_column.tocsr()
        by_row.sort_indices()
        return cls(by_column=by_column, by_row=by_row)

    @property
    def shape(self) -> tuple[int, int]:
        return self.by_column.shape

    @property
    def finite(self) -> bool:
        """Whether every stored entry is finite (remembered): a product may skip ``0 * w`` only for a finite ``w``."""
        if "_finite" not in self.__dict__:
            object.__setattr__(self, "_finite", bool(np.isfinite(self.by_column.data).all()))
        return self.__dict__["_finite"]

    def rmatmul(self, x: np.ndarray) -> np.ndarray:
        """``x @ W`` for rows ``x`` ``[positions, rows of W]``: by rows over ``x``'s nonzero entries when at most
        1/:data:`SPARSE_INPUT_DENSITY` of them are nonzero and ``W`` is finite, else SciPy's dense x CSC
        product; the same floats either way (module docstring)."""
        if self.finite:
            flat = _nonzero_entries(x)
            if len(flat) * SPARSE_INPUT_DENSITY <= x.size:
                return (_sparse_rows(x, flat) @ self.by_row).toarray()
        return np.asarray(x @ self.by_column)


def compress(W: torch.Tensor) -> CompressedMatrix | None:
    """The compressed forms of a large, mostly zero CPU float matrix ``W`` (dense, or a sparse COO rendering), or
    ``None`` when a dense product is as good.

    A composition MLP (|M|^2 or |Q|^3 units, each reading two coordinates and writing a few) has a few nonzeros per
    column of ``d_model``: ``x @ W`` in CSC form costs positions x nonzeros instead of positions x d_model x d_mlp
    (measured for an 800 x 18,000 matrix with 36,000 nonzeros, 4,096 positions, one thread: 0.19 s, dense 3.4 s).
    """
    if W.device.type != "cpu" or W.dtype not in (torch.float32, torch.float64) or W.dim() != 2:
        return None
    stored_sparse = W.layout == torch.sparse_coo  # a sparse rendering: the same rule on the matrix it stands for
    if stored_sparse:
        W = W.coalesce()
    nonzero = int(torch.count_nonzero(W.values() if stored_sparse else W))
    if W.numel() < SPARSE_MIN_ENTRIES or nonzero * SPARSE_DENSITY > W.numel():
        return None
    if stored_sparse:
        rows, cols = W.indices().numpy()
        return CompressedMatrix.from_csc(
            scipy.sparse.csc_matrix((W.values().numpy(), (rows, cols)), shape=tuple(W.shape))
        )
    return CompressedMatrix.from_csc(scipy.sparse.csc_matrix(W.contiguous().numpy()))


class ActiveUnitsMLP:
    """``relu(x @ W_in + b_in) @ W_out`` for sparse ``W_in``, ``W_out``, computed on the candidate units only.

    Parameters
    ----------
    W_in
        ``[d_model, d_mlp]``.
    W_out
        ``[d_mlp, d_out]``.
    b_in
        ``[d_mlp]`` floats of ``W_in``'s dtype.

    Notes
    -----
    The input and the weights must be finite: a NaN term has no sign, and ``0 * inf`` is not 0, so the candidate
    rule does not apply (the caller falls back to the full product, whose NaN the forward pass reports).
    """

    def __init__(self, *, W_in: CompressedMatrix, W_out: CompressedMatrix, b_in: np.ndarray):
        if W_in.shape[1] != W_out.shape[0] or b_in.shape != (W_in.shape[1],):
            raise ValueError(f"shapes do not chain: W_in {W_in.shape}, b_in {b_in.shape}, W_out {W_out.shape}")
        if not (W_in.finite and W_out.finite):
            raise ValueError("the weights must be finite")
        self.W_in, self.W_out, self.b_in = W_in.by_column, W_out.by_row, b_in
        self._by_row = W_in.by_row  # [d_model, d_mlp]: the units each coordinate reads into
        self._positive = _zero_one(self._by_row, self._by_row.data > 0)  # where a term x[k] > 0 is positive
        self._negative = _zero_one(self._by_row, self._by_row.data < 0)
        self._positive_degree = np.diff(self._positive.indptr)  # candidates one positive coordinate adds
        self._negative_degree = np.diff(self._negative.indptr)
        self._degree = np.diff(self._by_row.indptr)  # units one nonzero coordinate touches
        self._always = np.flatnonzero(b_in > 0)  # units that are candidates at every position
        # The CSR product leaves out the units of positive bias that read no nonzero coordinate (candidates too).
        self._product = not len(self._always)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``relu(x @ W_in + b_in) @ W_out`` for finite rows ``x`` ``[positions, d_model]``.

        The pre-activations of the candidates come from one of two computations, both summing each unit's terms
        as the full product does: the product ``x @ W_in`` of ``x`` in sparse form (every unit that reads a
        nonzero coordinate, in compiled loops) when these units are not many more than the candidates (a
        composition MLP: its weights are all positive), else the candidates' terms gathered one slot at a time (a
        unit's terms include a coordinate that is nonzero at every position, e.g. a constant read as a bias).
        """
        nonzero = _sparse_rows(x)  # one pass over x; every count below from its nonzero entries
        row = _entry_rows(nonzero)
        bound = self._positive_term_units(nonzero, row) + len(self._always)  # candidates per row
        product, hi = self._product, None
        if product:
            touched = np.bincount(row, weights=self._degree[nonzero.indices], minlength=x.shape[0])
            product = touched.sum() <= PRODUCT_OVERHEAD * bound.sum()
            bound = touched if product else bound
        if not product and bound.sum() * DENSE_CANDIDATES >= x.shape[0] * self.W_in.shape[1]:
            bounded = self._bounded(x, nonzero)
            if bounded is None or bounded[2].sum() * BOUNDED_TOUCHED >= x.shape[0] * self.W_in.shape[1]:
                return self._dense(x)
            nonzero, hi, bound = bounded
        out = np.zeros((x.shape[0], self.W_out.shape[1]), dtype=x.dtype)
        start = 0
        while start < x.shape[0]:  # blocks of rows holding at most PAIR_BUDGET (position, unit) pairs, >= 1 row
            cumulative = np.cumsum(bound[start:])
            stop = start + max(1, int(np.searchsorted(cumulative, PAIR_BUDGET, side="right")))
            block = nonzero[start:stop]
            if product:
                rows, units, pre = self._touched_pre_activations(block)
            else:
                rows, units = self._candidates(block) if hi is None else self._bounded_candidates(block, hi)
                pre = self._pre_activations(x[start:stop], rows, units)
            out[start:stop] = self._output(pre, rows, units, stop - start)
            start = stop
        return out

    def _dense(self, x: np.ndarray) -> np.ndarray:
        """The MLP with every unit's pre-activation computed, in blocks of at most :data:`DENSE_BLOCK`
        (position, unit) pairs: for a residual stream whose candidates are a large share of all units (a unit
        reading a coordinate that is positive at every position), where gathering each candidate's terms costs
        several times the product (log-depth-a5's tree: 27-66% of the pairs are candidates, ~4.4 terms a unit;
        check at n = 128, 49.4 -> 13.0 CPU s; at n = 256, 27.6 -> 17.5 s).

        The pre-activations come transposed, ``W_in^T @ x^T`` (CSR x dense, each row of the result contiguous),
        each unit's terms summed from +0 in increasing coordinate as SciPy's dense x CSC product sums them; the
        units that fire (few: one of each group of candidates in a composition MLP) then multiply ``W_out`` as in
        :meth:`_output`.
        """
        out = np.empty((x.shape[0], self.W_out.shape[1]), dtype=x.dtype)
        rows = max(1, DENSE_BLOCK // max(1, self.W_in.shape[1]))
        for start in range(0, x.shape[0], rows):
            pre = self.W_in.T @ np.ascontiguousarray(x[start : start + rows].T)  # [d_mlp, positions]
            if self.b_in.any():
                pre += self.b_in[:, None]
            units, positions = np.divmod(np.flatnonzero(pre > 0), pre.shape[1])  # the units that fire: few
            out[start : start + rows] = self._output(pre[units, positions], positions, units, pre.shape[1])
        return out

    def _output(self, pre: np.ndarray, rows: np.ndarray, units: np.ndarray, positions: int) -> np.ndarray:
        """``relu(pre) @ W_out`` for the pre-activations ``pre`` of the (position, unit) pairs; 0 elsewhere."""
        fired = pre > 0
        hidden = scipy.sparse.csr_matrix(
            (pre[fired], (rows[fired], units[fired])), shape=(positions, self.W_in.shape[1])
        )
        hidden.sort_indices()  # each row's units in increasing order: the order W_out's columns store them
        return (hidden @ self.W_out).toarray()

    def _touched_pre_activations(
        self, x: scipy.sparse.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position, unit, pre-activation) for every unit that reads a nonzero coordinate of ``x`` (sorted CSR):
        SciPy's CSR product adds ``x[k] * W_in[k, u]`` over the nonzero ``x[k]`` in increasing ``k``, from 0, as the
        full product does over a sorted column (its other terms are +-0); then the bias. (A sum that is exactly 0
        is left out: its pre-activation is the bias, <= 0.)"""
        sums = x @ self._by_row
        rows = _entry_rows(sums)
        units = sums.indices.astype(np.int64)
        pre = sums.data + self.b_in[units] if self.b_in.any() else sums.data
        return rows, units, pre

    def _bounded(
        self, x: np.ndarray, nonzero: scipy.sparse.csr_matrix
    ) -> tuple[scipy.sparse.csr_matrix, np.ndarray, np.ndarray] | None:
        """The bounded candidate rule, for rows ``x`` whose pre-activations are exact (:mod:`~exactformer.core.dyadic`):
        ``(x's entries in its sparse coordinates (CSR), hi (below), at most how many candidates per position)``;
        ``None`` where it does not apply (a sum that may round, no dense coordinate).

        A coordinate nonzero at more than 1/:data:`DENSE_COORDINATE` of the positions is *dense* (a constant, a
        position, a flag set almost everywhere). Over the rows, the dense terms of unit ``u`` sum to at most
        ``hi[u] = b_in[u] + sum_dense max_rows(x[k] W_in[k, u])``. A unit with ``hi[u] <= 0`` has a positive
        pre-activation only where ``hi[u]`` plus its positive *sparse* terms is positive, so the candidates are the
        units with ``hi > 0`` everywhere and, per position, those units of a positive sparse term
        (:meth:`_bounded_candidates`). This takes the rule's arithmetic at its word: exact sums, so that a sum whose
        exact value is ``<= 0`` is ``<= 0`` in floats (a rounded sum of terms of both signs need not be). The
        Theorem 1 tree's composition MLP (~7,400 units such as ``x[a] + x[b] + x[c] - 2 x[one]``, half of them
        reading a flag set at most positions) is the case in point: the plain rule makes a unit of the flag a
        candidate wherever the flag is set, this rule only where the unit's other coordinates can lift it above 0
        (log-depth-a5 at n = 128: 4-12 candidates a position, of which 3-9 fire; the plain rule's 1,900-5,500)."""
        exact = self._exact_bound
        if exact is None:
            return None
        weight_bits, largest_sum, largest_bias = exact
        bits = fraction_bits(nonzero.data)  # x is finite (the caller's contract); its zeros need no bits
        peak = float(np.abs(nonzero.data).max(initial=0.0))
        largest = (largest_sum * peak + largest_bias) * 2.0 ** (bits + weight_bits) if bits is not None else math.inf
        if not largest < 2.0 ** SIGNIFICAND[x.dtype]:  # a partial sum, in units of 2^-(bits of x + of weights)
            return None
        dense = np.bincount(nonzero.indices, minlength=x.shape[1]) * DENSE_COORDINATE > x.shape[0]
        if not dense.any():
            return None
        columns = np.flatnonzero(dense)
        top, low = np.zeros(x.shape[1], dtype=x.dtype), np.zeros(x.shape[1], dtype=x.dtype)
        top[columns] = x[:, columns].max(axis=0)  # the largest term of a weight w > 0 is w max x
        low[columns] = x[:, columns].min(axis=0)  # of w < 0: w min x
        hi = self._positive_weights.T @ top + self._negative_weights.T @ low + self.b_in
        sparse = _kept(nonzero, ~dense[nonzero.indices])
        bound = self._positive_term_units(sparse, _entry_rows(sparse)) + int((hi > 0).sum())
        return sparse, hi, bound

    def _positive_term_units(self, x: scipy.sparse.csr_matrix, row: np.ndarray) -> np.ndarray:
        """Per row of ``x`` (CSR; ``row``: the row of each stored entry), how many (unit, entry) pairs make a
        positive term: an entry ``x[k] > 0`` with the units of a positive weight of row ``k``, ``x[k] < 0`` with
        those of a negative one."""
        column = x.indices
        degree = np.where(x.data > 0, self._positive_degree[column], self._negative_degree[column])
        return np.bincount(row, weights=degree, minlength=x.shape[0])

    @cached_property
    def _exact_bound(self) -> tuple[int, float, float] | None:
        """``(fraction bits of W_in and b_in, the largest sum_k |W_in[k, u]| of a unit, the largest |b_in|)``, or
        ``None`` when the weights need more than 64 fraction bits."""
        bits = fraction_bits(np.concatenate([self._by_row.data, self.b_in]))
        if bits is None:
            return None
        sums = np.bincount(self._by_row.indices, weights=np.abs(self._by_row.data), minlength=self.W_in.shape[1])
        return bits, float(sums.max(initial=0.0)), float(np.abs(self.b_in).max(initial=0.0))

    @cached_property
    def _positive_weights(self) -> scipy.sparse.csr_matrix:
        """``W_in``'s positive entries (``[d_model, d_mlp]``, the others 0)."""
        return _kept(self._by_row, self._by_row.data > 0)

    @cached_property
    def _negative_weights(self) -> scipy.sparse.csr_matrix:
        """``W_in``'s negative entries (``[d_model, d_mlp]``, the others 0)."""
        return _kept(self._by_row, self._by_row.data < 0)

    def _bounded_candidates(self, x: scipy.sparse.csr_matrix, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position, unit) of the candidates of the bounded rule (:meth:`_bounded`) for the rows ``x`` (CSR, the
        sparse coordinates only), in no particular order: where ``hi[u]`` plus the sum of the unit's positive sparse
        terms (exact, as every sum here) is positive; the units with ``hi > 0`` everywhere."""
        top = _kept(x, x.data > 0) @ self._positive_weights
        if bool((x.data < 0).any()):  # a negative x[k] with a negative weight: a positive term too
            top = top + _kept(x, x.data < 0) @ self._negative_weights
        rows, units = _entry_rows(top), top.indices.astype(np.int64)
        keep = (top.data + hi[units] > 0) & (hi[units] <= 0)
        rows, units = rows[keep], units[keep]
        always = np.flatnonzero(hi > 0)
        if len(always):
            rows = np.concatenate([rows, np.repeat(np.arange(x.shape[0]), len(always))])
            units = np.concatenate([units, np.tile(always, x.shape[0])])
        return rows, units

    def _candidates(self, x: scipy.sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(position, unit) of every candidate for the rows ``x`` (CSR), in no particular order."""
        always = self._always
        pattern = _zero_one(x, x.data > 0) @ self._positive + _zero_one(x, x.data < 0) @ self._negative
        if len(always):  # the units of `always` in every row, built in CSR form directly
            positions = pattern.shape[0]
            every = scipy.sparse.csr_matrix(
                (np.ones(positions * len(always), dtype=np.float32), np.tile(always, positions),
                 np.arange(0, positions * len(always) + 1, len(always))), shape=pattern.shape)
            pattern = pattern + every
        pattern = scipy.sparse.csr_matrix(pattern)
        return _entry_rows(pattern), pattern.indices.astype(np.int64)

    @cached_property
    def _slots(self) -> tuple[np.ndarray, np.ndarray] | None:
        """:func:`_slots` of ``W_in``, built on the first gather (the CSR product path never needs them)."""
        return _slots(self.W_in)

    def _pre_activations(self, x: np.ndarray, rows: np.ndarray, units: np.ndarray) -> np.ndarray:
        """``x[row] @ W_in[:, unit] + b_in[unit]`` per candidate, summed as SciPy's ``x @ W_in`` sums it: from 0,
        the unit's stored terms in their stored order, then the bias."""
        flat, offset = x.reshape(-1), rows * x.shape[1]
        total = np.zeros(len(units), dtype=x.dtype)
        if self._slots is not None:  # every unit's terms in slots 0..longest-1, padded with 0 * x[0] (+-0)
            coordinates, weights = self._slots
            for k, w in zip(coordinates, weights):
                total += w[units] * flat[offset + k[units]]
        else:  # longest first (a stable radix sort of small integers): slot s is a prefix of the candidates
            first = self.W_in.indptr[units]
            length = self.W_in.indptr[units + 1] - first
            longest = int(length.max(initial=0))
            order = np.argsort(-length.astype(np.int32 if longest >= 2**15 else np.int16), kind="stable")
            first, length, offset = first[order], length[order], offset[order]
            live = np.searchsorted(-length, -np.arange(1, longest + 1), side="right")  # candidates with > s terms
            for slot, count in enumerate(live):
                entry = first[:count] + slot
                total[:count] += self.W_in.data[entry] * flat[offset[:count] + self.W_in.indices[entry]]
            total[order] = total.copy()
        if self.b_in.any():
            total += self.b_in[units]
        return total


def _slots(W_in: scipy.sparse.csc_matrix) -> tuple[np.ndarray, np.ndarray] | None:
    """``(coordinates, weights)``, each ``[longest, d_mlp]``: slot s of unit u is its s-th stored term (coordinate
    and weight), or coordinate 0 with weight 0 past its last; ``None`` when padding would more than double the
    stored terms (a few long columns: the terms are then gathered by length)."""
    length = np.diff(W_in.indptr)
    longest = int(length.max(initial=0))
    if longest * W_in.shape[1] > 2 * max(W_in.nnz, 1):
        return None
    slot = np.arange(W_in.nnz) - np.repeat(W_in.indptr[:-1], length)
    unit = np.repeat(np.arange(W_in.shape[1]), length)
    coordinates = np.zeros((longest, W_in.shape[1]), dtype=np.int64)
    weights = np.zeros((longest, W_in.shape[1]), dtype=W_in.dtype)
    coordinates[slot, unit] = W_in.indices
    weights[slot, unit] = W_in.data
    return coordinates, weights


def _nonzero_entries(x: np.ndarray) -> np.ndarray:
    """The flat (row-major) indices of ``x``'s nonzero entries, increasing: the entries ``np.nonzero`` finds (``-0.0``
    is zero, NaN is not), found through a boolean array, ~7x faster than ``np.nonzero`` on a float matrix (a
    129 x 6,851 float64 block with 6 nonzeros a row: 0.37 ms against 2.8 ms, one thread)."""
    return np.flatnonzero(x != 0)


def _sparse_rows(x: np.ndarray, flat: np.ndarray | None = None) -> scipy.sparse.csr_matrix:
    """``x`` ``[positions, d]`` in CSR form, each row's entries in increasing column order (``flat``: the
    :func:`_nonzero_entries` of ``x``, when already found)."""
    rows, cols = np.divmod(_nonzero_entries(x) if flat is None else flat, max(x.shape[1], 1))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=x.shape[0]))])
    return scipy.sparse.csr_matrix((x[rows, cols], cols, indptr), shape=x.shape)


def _entry_rows(matrix: scipy.sparse.csr_matrix) -> np.ndarray:
    """The row of each stored entry of a CSR matrix, in storage order."""
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def _kept(matrix: scipy.sparse.csr_matrix, keep: np.ndarray,
          values: np.ndarray | None = None) -> scipy.sparse.csr_matrix:
    """``matrix`` (CSR) with the stored entries where ``keep`` (their values, or ``values``) and 0 elsewhere."""
    rows = _entry_rows(matrix)[keep]
    data = matrix.data[keep] if values is None else values
    return scipy.sparse.csr_matrix((data, (rows, matrix.indices[keep])), shape=matrix.shape)


def _zero_one(matrix: scipy.sparse.csr_matrix, keep: np.ndarray) -> scipy.sparse.csr_matrix:
    """The 0/1 CSR matrix of ``matrix``'s stored positions where ``keep``."""
    return _kept(matrix, keep, np.ones(int(keep.sum()), dtype=np.float32))
