"""Argument checks shared by :func:`~exactformer.verify.check` and :func:`~exactformer.verify.frontier`.

A check that tests nothing must not pass: an empty list of sizes, a non-positive sample count or a batch size of 0
are refused before anything runs, with a message that names the argument and the value given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from ..core.errors import InputError

__all__ = ["BACKENDS", "validated_sizes", "validated_count", "validated_backend", "validated_dtype",
           "validated_dtypes", "validated_tolerance"]

#: The backends a construction runs on.
BACKENDS: tuple[str, ...] = ("exact", "certified", "torch")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def validated_sizes(lengths: Iterable[int], what: str = "lengths") -> list[int]:
    """``lengths`` as a non-empty list of non-negative integers (in the order given).

    Raises
    ------
    TypeError
        If ``lengths`` is not an iterable of integers (a bare ``int`` or a ``str`` included).
    InputError
        If it is empty or holds a negative size.
    """
    if isinstance(lengths, (str, bytes)) or _is_int(lengths) or not isinstance(lengths, Iterable):
        raise TypeError(f"{what} must be an iterable of input sizes such as range(1, 9) or [4, 8], "
                        f"got {type(lengths).__name__} {lengths!r}")
    sizes = list(lengths)
    if not sizes:
        raise InputError(f"{what} is empty: a check over no sizes tests nothing (give at least one size)")
    for size in sizes:
        if not _is_int(size):
            raise TypeError(f"{what} must hold integers, got {type(size).__name__} {size!r}")
        if size < 0:
            raise InputError(f"{what} holds the negative size {size}; sizes are >= 0")
    return [int(s) for s in sizes]


def validated_count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an integer ``>= minimum``, or an error naming ``name``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        why = " (a check with no inputs per size tests nothing)" if name == "samples_per_length" else ""
        raise InputError(f"{name} must be >= {minimum}, got {value}{why}")
    return int(value)


def validated_backend(backend: Any) -> str:
    """``backend`` if it is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(repr(b) for b in BACKENDS)}")
    return str(backend)


def validated_dtype(dtype: Any, what: str = "dtype") -> torch.dtype | None:
    """``None`` or a floating torch dtype (the float renderings the torch backend computes in)."""
    if dtype is None:
        return None
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{what} must be a torch dtype such as torch.float32, got {type(dtype).__name__} {dtype!r}")
    if not dtype.is_floating_point:
        raise InputError(f"{what} must be a floating-point torch dtype (float16, bfloat16, float32, float64), "
                         f"got {dtype}")
    return dtype


def validated_dtypes(dtypes: Sequence[torch.dtype]) -> list[torch.dtype]:
    """A non-empty list of floating torch dtypes."""
    if isinstance(dtypes, torch.dtype):
        raise TypeError(f"dtypes must be a sequence of torch dtypes, got the single dtype {dtypes} (write [{dtypes}])")
    out = [validated_dtype(d, "each of dtypes") for d in dtypes]
    if not out:
        raise InputError("dtypes is empty: a precision frontier over no dtype tests nothing")
    return out  # type: ignore[return-value]


def validated_tolerance(tolerance: Any) -> float | None:
    """``None`` or a finite non-negative float."""
    if tolerance is None:
        return None
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.floating, np.integer)):
        raise TypeError(f"tolerance must be a number, got {type(tolerance).__name__} {tolerance!r}")
    if not math.isfinite(float(tolerance)) or tolerance < 0:
        raise InputError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    return float(tolerance)
