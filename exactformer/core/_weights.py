"""Weight arrays on their way into the architecture: rational (or sparse), of the shape the block expects.

The frozen blocks (:class:`~exactformer.core.attention.Attention`, :class:`~exactformer.core.mlp.MLP`,
:class:`~exactformer.core.architecture.Readout`, ...) accept nested lists, numbers and rational arrays; these helpers
turn what they were given into numpy object arrays of :class:`fractions.Fraction` and check the shape, naming the
weight in the :class:`~exactformer.core.errors.ModelFormatError` when it is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ModelFormatError
from .rational import is_rational_array, rational_array, rational_zeros
from .sparse import SparseRationalMatrix

__all__ = ["as_weights", "checked_weights", "set_biases"]


def as_weights(value: object) -> np.ndarray:
    """``value`` as a rational array (returned as is when it already is one)."""
    return value if is_rational_array(value) else rational_array(value)  # type: ignore[arg-type,return-value]


def checked_weights(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a rational array (a :class:`SparseRationalMatrix` is kept) of exactly ``shape``."""
    arr: Any = value if isinstance(value, SparseRationalMatrix) else as_weights(value)
    if arr.shape != shape:
        raise ModelFormatError(f"{name} has shape {arr.shape}, expected {shape}")
    return arr


def set_biases(block: object, shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Set each bias ``name`` of the frozen ``block`` to its checked array, or to zeros of its shape when ``None``."""
    for name, shape in shapes.items():
        value = getattr(block, name)
        object.__setattr__(block, name, rational_zeros(shape) if value is None else checked_weights(name, value, shape))
