"""The AND-lookup MLP: one ReLU unit per pair of monoid elements, firing iff the left block holds a and the right
block holds b (and whatever gates the construction adds), writing the product ``a * b``.

Every log-depth construction multiplies transition-monoid elements held as one-hot blocks with this gadget: the
tree recognizers' survivors and ``$`` accumulator, the pointer-jumping composition. The conditions are 0/1 values
read from the residual stream; :func:`and_read` turns k of them into the read of a unit whose pre-activation is 1
when all hold and at most 0 otherwise, and :func:`product_units` writes one such unit per table entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ...core.rational import Number
from .units import Unit

__all__ = ["and_read", "product_units", "ReadRule", "WriteRule"]

ReadRule = Callable[[int, int], Mapping[str, Number]]
"""``read(a, b)``: what unit (a, b) reads."""

WriteRule = Callable[[int, int, int], Mapping[str, Number]]
"""``write(a, b, ab)``: what unit (a, b) writes when it fires, ``ab`` being the index of the product ``a * b``."""


def and_read(*conditions: Mapping[str, Number], one: str = "one", scale: Number = 1) -> dict[str, Number]:
    """The read of a unit that computes ``scale (c_1 + .. + c_k - (k - 1))`` from k conditions.

    Each condition is a linear form over residual coordinates whose value is 0 or 1 (a one-hot cell
    ``{"D:3": 1}``, a signed flag ``{"A:p": 1/2, "one:p": 1/2}``, a negation ``{"F": -1, "one": 1}``); ``one`` is
    the constant coordinate (1 at every token, or ``1/scale`` when the sublayer reads through a norm of scale
    ``1/scale``).

    Proof sketch
    ------------
    With every ``c_i`` in {0, 1} the sum ``c_1 + .. + c_k - (k - 1)`` is 1 iff all k conditions hold and at most 0
    otherwise, so ``ReLU`` of it is exactly their AND (0 or 1, times ``scale``).
    """
    read: dict[str, Number] = {}
    for condition in conditions:
        for coord, w in condition.items():
            read[coord] = read.get(coord, 0) + scale * w
    read[one] = read.get(one, 0) - scale * (len(conditions) - 1)
    return read


def product_units(table: np.ndarray, rules: Mapping[str, tuple[ReadRule, WriteRule]], *,
                  skip_unchanged: bool = False) -> dict[str, Unit]:
    """The AND-lookup of a multiplication table: unit ``"<prefix>:a*b"`` reads ``read(a, b)`` and writes
    ``write(a, b, a*b)``, for every pair (a, b) and every rule ``prefix: (read, write)`` (units ordered by a, b,
    then rule).

    ``table[a, b]`` is the index of the product "first a, then b" (``TransitionMonoid.table``).
    ``skip_unchanged`` leaves out the pairs with ``a * b = b``, where an in-place product ``b <- a * b`` has
    nothing to write.
    """
    table = np.asarray(table)
    size = table.shape[0]
    if table.shape != (size, size):
        raise ValueError(f"the multiplication table must be square, got shape {table.shape}")
    units: dict[str, Unit] = {}
    for a in range(size):
        for b in range(size):
            ab = int(table[a, b])
            if skip_unchanged and ab == b:
                continue
            for prefix, (read, write) in rules.items():
                units[f"{prefix}:{a}*{b}"] = (read(a, b), write(a, b, ab))
    return units
