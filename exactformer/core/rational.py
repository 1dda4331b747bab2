"""Exact rational numbers and arrays of them.

Weights in exactformer are exact rationals first; float tensors are renderings. A *rational array* is a
numpy array of ``dtype=object`` whose entries are :class:`fractions.Fraction`. numpy's ``@`` and ``+`` work on
such arrays entry by entry, so the exact evaluator is ordinary numpy code on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from numbers import Rational
from typing import Union

import numpy as np
import sympy

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
        return Fraction(value.numerator, value.denominator)
    if isinstance(value, str):
        return Fraction(value)
    if isinstance(value, (float, np.floating)):
        raise TypeError(
            f"float {value!r} is not accepted as an exact weight; write it as a Fraction or a string like '1/3'"
        )
    raise TypeError(f"cannot read {value!r} ({type(value).__name__}) as an exact rational number")


def rational_array(values: Iterable | np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return an object array of Fractions built from nested sequences or an array of exact numbers."""
    arr = np.array(values, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for index, v in np.ndenumerate(arr):
        out[index] = as_fraction(v)
    if shape is not None:
        out = out.reshape(shape)
    return out


def rational_zeros(shape: tuple[int, ...]) -> np.ndarray:
    """An object array of ``Fraction(0)`` of the given shape."""
    out = np.empty(shape, dtype=object)
    out.fill(Fraction(0))
    return out


def is_rational_array(arr: object) -> bool:
    """Whether ``arr`` is an object array whose every entry is a Fraction."""
    return (
        isinstance(arr, np.ndarray)
        and arr.dtype == object
        and all(isinstance(v, Fraction) for v in arr.flat)
    )


def to_float_array(arr: np.ndarray) -> np.ndarray:
    """Render a rational array as float64 (each entry correctly rounded from its exact value)."""
    return np.vectorize(float, otypes=[np.float64])(arr) if arr.size else np.zeros(arr.shape)


def fraction_to_str(value: Fraction) -> str:
    """``'3/4'`` or ``'2'``: the lossless text form used in JSON metadata."""
    return str(value)
