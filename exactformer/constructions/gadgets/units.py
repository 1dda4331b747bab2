"""The unit-MLP builder: an MLP written as a bag of named hidden units, each given by what it reads and what it
writes on named residual coordinates.

Every MLP of the log-depth constructions is a list of gates of the form
``out += write_u * act(read_u . x + bias_u)``: a lookup unit that fires iff two one-hot cells are both 1, a unit that
clears a cell by writing minus its value, a step unit that tests a threshold. :func:`unit_mlp` turns such a bag into
the :class:`~exactformer.core.architecture.MLP` whose hidden coordinate ``<hidden>:<name>`` is unit ``name``; the
matrices are defined by their action on named directions, so the assembled model can say what each hidden unit is.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...core.architecture import MLP
from ...core.rational import Number, as_fraction
from ...core.space import Block, Space, linear_map

__all__ = ["Unit", "UnitBag", "unit_mlp", "delta"]

Unit = tuple[Mapping[str, Number], Mapping[str, Number]]
"""One hidden unit: ``(read, write)``, each ``{residual coordinate: weight}``."""

UnitBag = Mapping[str, Unit]
"""Named units, in the order of the hidden layer."""


def unit_mlp(space: Space, units: UnitBag, *, activation: str = "relu", biases: Mapping[str, Number] | None = None,
             hidden: str = "unit", sparse: bool = False) -> MLP:
    """The MLP on ``space`` with one hidden unit per entry of ``units``.

    Parameters
    ----------
    space
        The residual space the coordinate names refer to.
    units
        ``{name: (read, write)}``: unit ``name`` computes ``act(sum_c read[c] x_c + bias)`` and adds ``write[c]``
        times that to each residual coordinate c.
    activation
        ``"relu"`` or ``"step"`` (``1[z >= 0]``), as :class:`~exactformer.core.architecture.MLP` defines them.
    biases
        ``{name: bias}`` for the hidden layer, 0 where absent. ``None`` (default): bias-free, the FFN of the papers
        whose constants come from a residual ``one`` coordinate (the MLP holds a zero bias vector).
    hidden
        The name of the hidden block (``d_mlp = len(units)``).
    sparse
        Store ``W_in`` and ``W_out`` as :class:`~exactformer.core.sparse.SparseRationalMatrix` (a composition MLP
        of 10^5 units reads two coordinates per unit).
    """
    if not units:
        raise ValueError("an MLP needs at least one unit")
    hidden_space = Space.of(Block(hidden, list(units)))
    w_in: dict[str, dict[str, Number]] = {}
    for u, (read, _) in units.items():
        for coord, w in read.items():
            w_in.setdefault(coord, {})[f"{hidden}:{u}"] = w
    w_out = {f"{hidden}:{u}": dict(write) for u, (_, write) in units.items()}
    extra = {}
    if biases is not None:
        b_in = np.empty(len(units), dtype=object)
        b_in[:] = [as_fraction(biases.get(u, 0)) for u in units]
        extra["b_in"] = b_in
    if activation != "relu":
        extra["activation"] = activation
    return MLP(W_in=linear_map(space, hidden_space, w_in, sparse=sparse),
               W_out=linear_map(hidden_space, space, w_out, sparse=sparse), **extra)


def delta(plus: str, minus: str) -> dict[str, Number]:
    """The write ``e_plus - e_minus`` that moves a one-hot from cell ``minus`` to cell ``plus`` (nothing when they
    are the same cell)."""
    if plus == minus:
        return {}
    return {plus: 1, minus: -1}
