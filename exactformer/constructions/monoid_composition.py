"""Composition MLPs: one ReLU layer that multiplies two transition-monoid elements held in the residual stream.

A DFA's transition monoid M is the set of maps ``Q -> Q`` induced by words, under composition read left to right
(``a * b`` is "first a, then b", :meth:`~exactformer.languages.monoid.TransitionMonoid.multiply`). Log-depth
recognisers reduce a word to a product of monoid elements, and each reduction step is one MLP that takes two
elements, ``left`` and ``right``, stored in two residual blocks, and writes their product. This module gives two
such MLPs, both exact (weights in {-1, 0, 1}, biases in {-1, 0}) and both for one-hot codes:

* :func:`lookup_units` -- the transition-monoid lookup table (Merrill & Sabharwal 2025, App. B / the note's
  [RECON] |M|^2 bound). An element is a one-hot over the |M| elements; one unit per pair (a, b) fires iff
  ``left = a`` and ``right = b``: **|M|^2 units**, |M| coordinates per element.
* :func:`function_units` -- function composition (Liu et al. 2023's idea of composing maps, as a table-free MLP).
  An element ``f`` is the |Q| x |Q| 0/1 matrix with cell ``(q, r) = [f(q) = r]``; one unit per triple (q, r, s) fires
  iff ``left(q) = r`` and ``right(r) = s``: **|Q|^3 + |Q|^2 units**, |Q|^2 coordinates per element. It needs no
  monoid at all, so it is the choice when |M| is large (|M| can be as large as |Q|^|Q|).

:func:`choose_code` picks the narrower of the two for a DFA, and a :class:`ElementCode` knows how to write
(:meth:`ElementCode.entries`) and read (:meth:`ElementCode.decode`) an element in a block. Units are collected in
:class:`Units` bags that add up (``a + b``) and become one :class:`~exactformer.core.architecture.MLP` on a residual
space (:meth:`Units.mlp`), so a construction can put the composition and its own bookkeeping (pointer copies,
clean-ups) in the same MLP sublayer.

Public API (kept stable for the log-depth constructions)::

    code = choose_code(dfa)                      # or ElementCode.lookup(monoid) / ElementCode.function(n_states)
    space = Space.of(Block("L", code.labels), Block("R", code.labels), ...)
    units = code.units(left="L", right="R", out="R")   # R <- L * R, L <- 0
    mlp = units.mlp(space)
    vector(space, code.entries("L", element))    # write an element (a tuple of state indices)
    code.decode(values_of_block_R)               # read it back
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any, Literal

import numpy as np
import torch

from ..core.architecture import MLP
from ..core.errors import InputError
from ..core.rational import Number, as_fraction
from ..core.space import Space
from .gadgets.lookup import product_units
from .gadgets.units import unit_mlp

__all__ = [
    "Units",
    "ElementCode",
    "lookup_units",
    "function_units",
    "choose_code",
    "composition_widths",
    "segment_products",
    "code_cells",
]

Element = tuple[int, ...]
CodeKind = Literal["lookup", "function"]


@dataclass(frozen=True)
class Units:
    """A bag of ReLU units over named residual coordinates: ``out += sum_u w_out[u] * ReLU(w_in[u] . x + bias[u])``.

    Attributes
    ----------
    labels
        The units' names, in order (they become the hidden coordinates ``unit:<label>``).
    inputs
        ``inputs[u] = {residual coordinate: weight}``, what unit ``u`` reads.
    bias
        ``bias[u]``, the unit's input bias (0 when absent).
    outputs
        ``outputs[u] = {residual coordinate: weight}``, what unit ``u`` writes when it outputs 1.
    """

    labels: tuple[str, ...] = ()
    inputs: Mapping[str, Mapping[str, Fraction]] = field(default_factory=dict)
    bias: Mapping[str, Fraction] = field(default_factory=dict)
    outputs: Mapping[str, Mapping[str, Fraction]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("units have repeated labels")

    def __len__(self) -> int:
        return len(self.labels)

    def __add__(self, other: Units) -> Units:
        clash = set(self.labels) & set(other.labels)
        if clash:
            raise ValueError(f"unit labels {sorted(clash)[:3]} appear in both bags; prefix them")
        return Units(
            labels=self.labels + other.labels,
            inputs={**self.inputs, **other.inputs},
            bias={**self.bias, **other.bias},
            outputs={**self.outputs, **other.outputs},
        )

    def mlp(self, space: Space) -> MLP:
        """The ReLU MLP on ``space`` with these units as its hidden layer (``d_mlp = len(self)``).

        ``W_in`` and ``W_out`` are :class:`~exactformer.core.sparse.SparseRationalMatrix`: a unit reads two
        coordinates and writes a few, so a composition MLP of 10^5 units on thousands of coordinates has ~10^5-10^6
        nonzero entries among 10^8-10^9 (the dense form did not fit in memory for the widest MLRegTest automata).
        """
        units = {u: (self.inputs.get(u, {}), self.outputs.get(u, {})) for u in self.labels}
        return unit_mlp(space, units, biases=self.bias, sparse=True)


_ONE, _MINUS_ONE = Fraction(1), Fraction(-1)


def lookup_units(table: np.ndarray, *, left: str, right: str, out: str, clear_left: bool = True,
                 clear_right: bool = True, read_scale: Number = 1, prefix: str = "mul") -> Units:
    """The monoid lookup table as |M|^2 ReLU units: ``out <- left * right`` on one-hot codes.

    Parameters
    ----------
    table
        ``table[a, b]`` = index of the product "first a, then b" (``TransitionMonoid.table``).
    left, right, out
        Residual blocks whose coordinates are labelled ``"0" .. "|M|-1"`` (element indices). ``out`` may be
        ``right`` (in-place product) or a third block.
    clear_left, clear_right
        Also erase ``left`` / ``right`` (a right block that is also ``out`` is always replaced by the product).
    read_scale
        The inputs are read as ``read_scale * x``: 1 for raw 0/1 cells; the inverse of a known norm scale when the
        blocks are read through a (masked) pre-norm.
    prefix
        Prefix of the unit labels (to put several bags in one MLP).

    Proof sketch
    ------------
    Unit (a, b) computes ``ReLU(s * (left[a] + right[b]) - 1)`` with s = ``read_scale``. With one-hot codes,
    ``s * left[a] + s * right[b]`` is 2 when left = a and right = b, 1 when exactly one matches and 0 otherwise,
    so exactly one unit outputs 1 and all others 0. That unit writes ``+1`` to ``out[a*b]`` and ``-1`` to
    ``left[a]`` (if clearing) and ``right[b]`` (if clearing or in place), so afterwards ``out`` holds the one-hot
    of ``a*b`` and the cleared blocks hold 0. If either block is empty (all zeros), no unit fires and nothing
    changes.
    """
    s = as_fraction(read_scale)
    clear_right = clear_right or out == right

    def write(a: int, b: int, ab: int) -> dict[str, Fraction]:
        cells: dict[str, Fraction] = {f"{out}:{ab}": _ONE}
        for block, index, clear in ((left, a, clear_left), (right, b, clear_right)):
            if clear:
                cell = f"{block}:{index}"
                cells[cell] = cells[cell] - 1 if cell in cells else _MINUS_ONE
        return cells

    units = product_units(table, {prefix: (lambda a, b: {f"{left}:{a}": s, f"{right}:{b}": s}, write)})
    labels = tuple(units)
    inputs = {u: read for u, (read, _) in units.items()}
    outputs = {u: cells for u, (_, cells) in units.items()}
    bias = dict.fromkeys(labels, _MINUS_ONE)  # Fractions are immutable: one shared object for |M|^2 entries
    return Units(labels, inputs, bias, outputs)


def function_units(n_states: int, *, left: str, right: str, out: str, clear_left: bool = True, clear_right: bool = True,
                   read_scale: Number = 1, prefix: str = "fun") -> Units:
    """Composition of two maps ``Q -> Q`` in |Q|^3 (+ |Q|^2 clearing) ReLU units: ``out <- left * right``.

    The blocks ``left``, ``right`` and ``out`` have coordinates labelled ``"q>r"`` for state indices q, r; an
    element f is coded by ``[q>r] = [f(q) = r]`` (|Q| ones).

    Proof sketch
    ------------
    ``(left * right)(q) = right(left(q))``, so cell (q, s) of the product is
    ``sum_r [left(q) = r] [right(r) = s]``, a sum with at most one non-zero term. Unit (q, r, s) computes
    ``ReLU(s0 * (left[q>r] + right[r>s]) - 1)`` (s0 = ``read_scale``), which is 1 iff ``left(q) = r`` and
    ``right(r) = s`` (both cells 1) and 0 otherwise (each cell is 0 or 1); it writes ``+1`` to ``out[q>s]``. For
    each q exactly one of these units fires, the one with ``r = left(q)``, so it can also erase ``left[q>r]``.
    ``right`` is erased by |Q|^2 units ``ReLU(s0 * right[r>s])`` writing ``-right[r>s]`` (rows of ``right`` outside
    the image of ``left`` are not touched by the triple units). In place (``out = right``) the two writes add up to
    ``right <- left * right``.
    """
    if n_states < 1:
        raise ValueError("a map needs at least one state")
    s0 = as_fraction(read_scale)
    clear_right = clear_right or out == right
    labels, inputs, bias, outputs = [], {}, {}, {}
    for q in range(n_states):
        for r in range(n_states):
            for s in range(n_states):
                u = f"{prefix}:{q}>{r}>{s}"
                labels.append(u)
                inputs[u] = {f"{left}:{q}>{r}": s0, f"{right}:{r}>{s}": s0}
                bias[u] = Fraction(-1)
                write: dict[str, Fraction] = {f"{out}:{q}>{s}": Fraction(1)}
                if clear_left:
                    write[f"{left}:{q}>{r}"] = write.get(f"{left}:{q}>{r}", Fraction(0)) - 1
                outputs[u] = write
    if clear_right:
        for r in range(n_states):
            for s in range(n_states):
                u = f"{prefix}:clear:{r}>{s}"
                labels.append(u)
                inputs[u] = {f"{right}:{r}>{s}": s0}
                outputs[u] = {f"{right}:{r}>{s}": Fraction(-1) / s0}
    return Units(tuple(labels), inputs, bias, outputs)


def composition_widths(n_states: int, monoid_size: int | None) -> dict[str, int | None]:
    """MLP units and coordinates per element of each code (``None`` for the lookup when |M| is unknown)."""
    return {
        "lookup_units": None if monoid_size is None else monoid_size**2,
        "lookup_dim": monoid_size,
        "function_units": n_states**3 + n_states**2,
        "function_dim": n_states**2,
    }


@dataclass(frozen=True)
class ElementCode:
    """How monoid elements (maps ``Q -> Q`` as tuples of state indices) are coded in a residual block.

    Build with :meth:`lookup` (one-hot over the monoid's elements) or :meth:`function` (|Q| x |Q| 0/1 matrix), or
    let :func:`choose_code` pick. Labels of a block holding one element are :attr:`labels`.
    """

    kind: CodeKind
    n_states: int
    monoid: Any = None

    @classmethod
    def lookup(cls, monoid: Any) -> ElementCode:
        """One-hot over the elements of ``monoid`` (a :class:`~exactformer.languages.monoid.TransitionMonoid`)."""
        return cls("lookup", len(monoid.states), monoid)

    @classmethod
    def function(cls, n_states: int, monoid: Any = None) -> ElementCode:
        """The |Q| x |Q| matrix code; ``monoid`` is optional (only used to report |M| when known)."""
        return cls("function", int(n_states), monoid)

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """Coordinate labels of one element's block (computed once per code: the verifier reads them per token)."""
        if self.kind == "lookup":
            return tuple(str(k) for k in range(len(self.monoid)))
        n = self.n_states
        return tuple(f"{q}>{r}" for q in range(n) for r in range(n))

    @property
    def dim(self) -> int:
        """Coordinates per element."""
        return len(self.monoid) if self.kind == "lookup" else self.n_states**2

    @property
    def monoid_size(self) -> int | None:
        return None if self.monoid is None else len(self.monoid)

    def units(self, *, left: str, right: str, out: str, clear_left: bool = True, clear_right: bool = True,
              read_scale: Number = 1, prefix: str | None = None) -> Units:
        """The composition units ``out <- left * right`` for this code (see :func:`lookup_units`,
        :func:`function_units`)."""
        if self.kind == "lookup":
            return lookup_units(self.monoid.table, left=left, right=right, out=out, clear_left=clear_left,
                                clear_right=clear_right, read_scale=read_scale, prefix=prefix or "mul")
        return function_units(self.n_states, left=left, right=right, out=out, clear_left=clear_left,
                              clear_right=clear_right, read_scale=read_scale, prefix=prefix or "fun")

    def width(self) -> int:
        """The number of units :meth:`units` makes (with both blocks cleared)."""
        if self.kind == "lookup":
            return len(self.monoid) ** 2
        return self.n_states**3 + self.n_states**2

    def cells(self, element: Sequence[int]) -> tuple[str, ...]:
        """The labels of the coordinates that are 1 in the code of ``element``."""
        element = tuple(map(int, element))
        if len(element) != self.n_states or (element and not 0 <= min(element) <= max(element) < self.n_states):
            raise InputError(f"{element} is not a map of {self.n_states} state indices")
        if self.kind == "lookup":
            return (str(self.monoid.index(element)),)
        return tuple(f"{q}>{r}" for q, r in enumerate(element))

    def entries(self, block: str, element: Sequence[int]) -> dict[str, Fraction]:
        """``{coordinate: 1}`` writing ``element`` into ``block`` (for :func:`~exactformer.core.space.vector`)."""
        return {f"{block}:{c}": Fraction(1) for c in self.cells(element)}

    def code_vector(self, element: Sequence[int]) -> list[int]:
        """The 0/1 code of ``element`` in the order of :attr:`labels`."""
        vector = [0] * self.dim
        for label in self.cells(element):
            vector[self._position[label]] = 1
        return vector

    @cached_property
    def _position(self) -> dict[str, int]:
        """``{label: its index in labels}``."""
        return {label: k for k, label in enumerate(self.labels)}

    def decode(self, values: Sequence[Any]) -> Element | None:
        """The element whose code is ``values`` (in the order of :attr:`labels`), or ``None`` if it is no code.

        Values are compared with 1/2: a cell is on iff it is > 1/2 (exact values are 0 or 1).
        """
        on = [float(v) > 0.5 for v in values]
        if len(on) != self.dim:
            raise ValueError(f"expected {self.dim} values, got {len(on)}")
        if self.kind == "lookup":
            hits = [k for k, b in enumerate(on) if b]
            return self.monoid.elements[hits[0]] if len(hits) == 1 else None
        n = self.n_states
        out = []
        for q in range(n):
            hits = [r for r in range(n) if on[q * n + r]]
            if len(hits) != 1:
                return None
            out.append(hits[0])
        return tuple(out)

    def describe(self) -> str:
        if self.kind == "lookup":
            return f"monoid lookup: |M| = {len(self.monoid)}, {self.width()} units, {self.dim} coordinates/element"
        m = f"|M| = {self.monoid_size}" if self.monoid is not None else "|M| not computed"
        return (f"function composition: |Q| = {self.n_states} ({m}), {self.width()} units, "
                f"{self.dim} coordinates/element")


def choose_code(dfa: Any, *, prefer: CodeKind | None = None) -> ElementCode:
    """The narrower composition MLP for ``dfa``'s transition monoid: lookup (|M|^2 units) or function (|Q|^3 + |Q|^2).

    The monoid is only enumerated up to the size where the lookup stops being narrower (``|M|^2 <= |Q|^3 + |Q|^2``),
    so a DFA with a huge monoid costs nothing to compile with the function code. ``prefer`` forces one code
    (``"lookup"`` enumerates the whole monoid).
    """
    from ..languages.errors import LanguagesError

    if prefer not in (None, "lookup", "function"):
        raise InputError(f"prefer must be None, 'lookup' or 'function', not {prefer!r}")
    n_states = _completed_states(dfa)
    function_width = n_states**3 + n_states**2
    if prefer == "function":
        return ElementCode.function(n_states)
    if prefer == "lookup":
        return ElementCode.lookup(dfa.transition_monoid())
    limit = math.isqrt(function_width)  # |M| <= limit  <=>  |M|^2 <= function_width
    try:
        monoid = dfa.transition_monoid(max_size=limit + 1)
    except LanguagesError:
        return ElementCode.function(n_states)
    if len(monoid) ** 2 <= function_width:
        return ElementCode.lookup(monoid)
    return ElementCode.function(n_states, monoid)


def _completed_states(dfa: Any) -> int:
    """|Q| of the completed DFA (a sink is added when some transition is missing)."""
    missing = any((q, a) not in dfa.transitions for q in dfa.states for a in dfa.alphabet)
    return len(dfa.states) + int(missing)


def segment_products(code: ElementCode, letter_maps: Sequence[Sequence[int]], words: torch.Tensor,
                     rounds: int) -> torch.Tensor:
    """``[batch, n + 1, k]`` for a batch of words (indices into ``letter_maps``, one map of the states per symbol):
    at token ``i`` (token 0 before the word) the product of the letters ``w_{p+1} .. w_i``, ``p = max(i -
    2^rounds, 0)``, as monoid element indices (``k = 1``, lookup code) or as maps of the states (``k = |Q|``,
    function code). By doubling: the product of round ``r`` at ``i`` is round ``r - 1``'s at ``max(i - 2^(r-1),
    0)`` followed by round ``r - 1``'s at ``i``."""
    device, batch = words.device, words.shape[0]
    if code.kind == "lookup":  # element indices: the identity is element 0, "first a, then b" is table[a, b]
        letter = torch.tensor([[code.monoid.index(tuple(m))] for m in letter_maps], dtype=torch.int64, device=device)
        identity = torch.zeros((batch, 1, 1), dtype=torch.int64, device=device)
        table = torch.from_numpy(code.monoid.table).to(device)

        def then(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
            return table[first, second]
    else:  # maps of the states: "first f, then g" is q -> g[f[q]]
        letter = torch.tensor([list(m) for m in letter_maps], dtype=torch.int64, device=device)
        identity = torch.arange(code.n_states, device=device).expand(batch, 1, -1)

        def then(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
            return torch.gather(second, -1, first)
    products = torch.cat([identity, letter[words]], dim=1)  # round 0: the letter of each token (token 0: identity)
    tokens = torch.arange(products.shape[1], device=device)
    for r in range(1, rounds + 1):
        products = then(products[:, (tokens - 2 ** (r - 1)).clamp(min=0)], products)
    return products


def code_cells(code: ElementCode, products: torch.Tensor) -> torch.Tensor:
    """The indices (into :attr:`ElementCode.labels`) of the 1s of each product's code (:func:`segment_products`):
    ``[batch, n + 1, cells]``."""
    if code.kind == "lookup":
        return products
    n = code.n_states
    return torch.arange(n, device=products.device) * n + products  # the cell "q>f(q)" of every state q
