"""Exact rational numbers and arrays of them.

Weights in exactformer are exact rationals first; float tensors are renderings. A *rational array* is a
numpy array of ``dtype=object`` whose entries are :class:`fractions.Fraction`. numpy's ``@`` and ``+`` work on
such arrays entry by entry, so the exact evaluator is ordinary numpy code on them.
"""

from __future__ import annotations

import ctypes
import operator
import platform
from collections.abc import Iterable
from fractions import Fraction
from numbers import Rational
from typing import TYPE_CHECKING, TypeGuard, Union

import numpy as np
import sympy

if TYPE_CHECKING:  # only for the type checker: sparse.py builds on this module
    from .sparse import SparseRationalMatrix

Number = Union[int, Fraction, "sympy.Rational", str]

__all__ = [
    "Number",
    "as_fraction",
    "rational_array",
    "rational_zeros",
    "is_rational_array",
    "to_float_array",
    "fraction_to_str",
]


def as_fraction(value: object) -> Fraction:
    """Convert ``value`` to an exact :class:`~fractions.Fraction`.

    Accepts ints, Fractions, sympy Rationals, numpy integers and strings such as ``"3/4"``. Python floats are
    refused, because whether ``0.333`` means 1/3 or its binary rounding is ambiguous: write ``Fraction(1, 3)``
    or ``"1/3"`` instead.

    Raises
    ------
    TypeError
        If ``value`` is a float, an irrational sympy number or anything else that is not exactly rational.
    """
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        return Fraction(int(value))
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, sympy.Basic):
        raise TypeError(f"{value!r} is not an exact rational number (sympy {type(value).__name__})")
    if isinstance(value, Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    if isinstance(value, str):
        return Fraction(value)
    if isinstance(value, (float, np.floating)):
        raise TypeError(
            f"float {value!r} is not accepted as an exact weight; write it as a Fraction or a string like '1/3'"
        )
    raise TypeError(f"cannot read {value!r} ({type(value).__name__}) as an exact rational number")


def _is_sparse(values: object) -> TypeGuard[SparseRationalMatrix]:
    """Whether ``values`` is a :class:`~exactformer.core.sparse.SparseRationalMatrix` (recognised by its
    ``to_scipy`` method: sparse.py builds on this module, which therefore does not import it)."""
    return hasattr(values, "to_scipy")


def rational_array(values: Iterable | np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return an object array of Fractions built from nested sequences or an array of exact numbers.

    Raises
    ------
    TypeError
        For an entry that is not an exact rational, and for a
        :class:`~exactformer.core.sparse.SparseRationalMatrix` (where a dense array is wanted: an MLP's ``W_in`` and
        ``W_out`` are the weights that may be sparse; ``.toarray()`` gives the dense form).
    """
    if _is_sparse(values):
        raise TypeError(
            f"a dense rational array is wanted here, not {values!r}: only an MLP's W_in and W_out may be sparse "
            "(use .toarray() for the dense form)"
        )
    arr = np.array(values, dtype=object)  # a new array, whatever ``values`` is
    if arr.ndim and is_rational_array(arr):  # e.g. a list of arrays made by linear_map: no entry to convert
        out = arr
    else:
        out = _AS_FRACTION(arr) if arr.size else np.empty(arr.shape, dtype=object)
    if not isinstance(out, np.ndarray):  # a 0-d input: frompyfunc returns the bare object
        out = np.array(out, dtype=object)
    if shape is not None:
        out = out.reshape(shape)
    return out


SHARED_ZERO = Fraction(0)
"""The one object :func:`rational_zeros` fills with; rendering and validation skip it by identity."""


def rational_zeros(shape: tuple[int, ...]) -> np.ndarray:
    """An object array of ``Fraction(0)`` of the given shape (every entry the same object)."""
    out = np.empty(shape, dtype=object)
    out.fill(SHARED_ZERO)
    return out


def is_rational_array(arr: object) -> bool:
    """Whether ``arr`` is an object array whose every entry is a Fraction."""
    if not isinstance(arr, np.ndarray) or arr.dtype != object:
        return False
    flat = arr.reshape(-1)
    return all(isinstance(v, Fraction) for v in flat[_not_shared_zero(flat)])


def _not_shared_zero(flat: np.ndarray) -> np.ndarray:
    """The indices of the entries of a flat object array that are not the shared zero of :func:`rational_zeros`.

    An identity test per entry (large weight matrices are mostly that zero). In CPython an object array holds the
    objects' addresses and ``id`` is the address, so the test is one vectorised comparison of the array's memory
    read as unsigned integers (2.4·10^7 entries: 0.11 s, where ``operator.is_not`` per entry took 2.8 s); elsewhere,
    or for an array that is not contiguous, ``operator.is_not`` per entry.
    """
    if not flat.size:
        return np.zeros(0, dtype=np.int64)
    if _ADDRESSES_ARE_IDS and flat.flags.c_contiguous:
        return np.flatnonzero(_addresses(flat) != id(SHARED_ZERO))
    return np.flatnonzero(np.asarray(_IS_NOT(flat, np.asarray(SHARED_ZERO, dtype=object)), dtype=bool))


_ADDRESSES_ARE_IDS = platform.python_implementation() == "CPython"


def _addresses(flat: np.ndarray) -> np.ndarray:
    """The object addresses a contiguous 1-d object array stores, as a read-only ``uintp`` view of its memory (valid
    while ``flat`` lives and is not resized; the objects themselves are not touched)."""
    buffer = (ctypes.c_size_t * flat.size).from_address(flat.ctypes.data)
    view = np.frombuffer(memoryview(buffer), dtype=np.uintp)
    view.flags.writeable = False
    return view


def to_float_array(arr: np.ndarray) -> np.ndarray:
    """Render a rational array as float64 (each entry correctly rounded from its exact value).

    Entries that are the shared zero of :func:`rational_zeros` are skipped by an identity test; every other entry
    is converted by ``float()``. A construction's large matrices (composition MLPs with 10^4-10^5 units) are mostly
    that zero, and an identity test costs about a twentieth of a ``float()`` of a Fraction (measured on an
    800 x 18,000 matrix with 40,000 nonzeros: 1.6 s instead of 9.7 s). A
    :class:`~exactformer.core.sparse.SparseRationalMatrix` is rendered densely.
    """
    if _is_sparse(arr):
        return arr.to_scipy().toarray()
    out = np.zeros(arr.shape, dtype=np.float64)
    flat = arr.reshape(-1)
    todo = _not_shared_zero(flat)
    out.reshape(-1)[todo] = [float(v) for v in flat[todo]]
    return out


_IS_NOT = np.frompyfunc(operator.is_not, 2, 1)
_AS_FRACTION = np.frompyfunc(as_fraction, 1, 1)


def fraction_to_str(value: Fraction) -> str:
    """``'3/4'`` or ``'2'``: the lossless text form used in JSON metadata."""
    return str(value)
