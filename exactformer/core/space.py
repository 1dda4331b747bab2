"""Named coordinate spaces and exact linear maps defined by their action on named directions.

Every vector space in a model (the residual stream, a head's query/key/value space, an MLP's hidden layer) is a
:class:`Space`: an ordered list of named coordinates grouped in named blocks. A coordinate is written
``"block:label"`` (or just ``"block"`` for a one-coordinate block without a label). Constructions never index raw
columns: they say where each named direction goes, and :func:`linear_map` assembles the matrix::

    residual = Space.of(Block("tokens", ["0", "1", "CLS"]), Block("pos", ["i/N", "sign"]))
    head = Space.of(Block("q", ["x"]))
    W_Q = linear_map(residual, head, {"pos:i/N": {"q:x": 1}})

Matrices act on row vectors, ``x @ W``, as in TransformerLens (``W[d_in, d_out]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, overload

import numpy as np

from .rational import SHARED_ZERO, Number, as_fraction, rational_zeros
from .sparse import SparseRationalMatrix

__all__ = ["Block", "Space", "linear_map", "vector", "SpaceError"]


class SpaceError(KeyError):
    """A coordinate or block name that the space does not have."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Block:
    """A named group of coordinates, e.g. ``Block("state", ["q0", "q1"])``.

    Parameters
    ----------
    name
        The block's name; it must not contain ``":"``.
    labels
        The labels of the block's coordinates, in order. An empty sequence means one unlabeled coordinate whose
        full name is the block name itself.
    """

    name: str
    labels: tuple[str, ...] = ()

    def __init__(self, name: str, labels: Iterable[object] = ()) -> None:
        if not name or ":" in name:
            raise ValueError(f"block name {name!r} must be non-empty and contain no ':'")
        labels = tuple(str(label) for label in labels)
        if len(set(labels)) != len(labels):
            raise ValueError(f"block {name!r} has repeated labels")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "labels", labels)

    @property
    def coordinates(self) -> tuple[str, ...]:
        """The full names of this block's coordinates."""
        if not self.labels:
            return (self.name,)
        return tuple(f"{self.name}:{label}" for label in self.labels)

    def __len__(self) -> int:
        return max(1, len(self.labels))


@dataclass(frozen=True)
class Space:
    """An ordered, immutable list of named coordinates grouped in blocks.

    Build one with :meth:`Space.of`. ``space.index("block:label")`` is the column of a coordinate,
    ``space.names`` lists every coordinate, ``space.block_slice("block")`` the columns of a block.
    """

    blocks: tuple[Block, ...]
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        seen_blocks: set[str] = set()
        for block in self.blocks:
            if block.name in seen_blocks:
                raise ValueError(f"block {block.name!r} appears twice in the space")
            seen_blocks.add(block.name)
            for name in block.coordinates:
                if name in index:
                    raise ValueError(f"coordinate {name!r} appears twice in the space")
                index[name] = len(index)
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, *blocks: Block) -> Space:
        """The space whose blocks are ``blocks``, in order."""
        return cls(tuple(blocks))

    @classmethod
    def from_names(cls, names: Sequence[str]) -> Space:
        """Rebuild a space from its coordinate names (``"block:label"`` or ``"block"``), keeping their order."""
        blocks: list[Block] = []
        current: str | None = None
        labels: list[str] = []
        single = False
        for name in names:
            block, sep, label = name.partition(":")
            if block != current or single or not sep:
                if current is not None:
                    blocks.append(Block(current, labels))
                current, labels, single = block, [], not sep
            if sep:
                labels.append(label)
        if current is not None:
            blocks.append(Block(current, labels))
        space = cls(tuple(blocks))
        if space.names != tuple(names):
            raise ValueError("coordinate names do not form contiguous blocks")
        return space

    @property
    def dim(self) -> int:
        """The number of coordinates."""
        return len(self._index)

    def __len__(self) -> int:
        return self.dim

    @property
    def names(self) -> tuple[str, ...]:
        """Every coordinate's full name, in column order."""
        return tuple(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def index(self, name: str) -> int:
        """The column of coordinate ``name``.

        Raises
        ------
        SpaceError
            Naming the missing coordinate and the blocks the space does have.
        """
        try:
            return self._index[name]
        except KeyError:
            blocks = ", ".join(b.name for b in self.blocks)
            raise SpaceError(f"no coordinate {name!r} in this space (blocks: {blocks})") from None

    def block(self, name: str) -> Block:
        """The block called ``name``."""
        for block in self.blocks:
            if block.name == name:
                return block
        raise SpaceError(f"no block {name!r} in this space (blocks: {', '.join(b.name for b in self.blocks)})")

    def block_slice(self, name: str) -> slice:
        """The columns of block ``name``."""
        block = self.block(name)
        start = self.index(block.coordinates[0])
        return slice(start, start + len(block))

    def coordinates_of(self, selector: str) -> tuple[str, ...]:
        """Coordinates named by ``selector``: a coordinate name or a block name."""
        if selector in self._index and not any(b.name == selector and b.labels for b in self.blocks):
            return (selector,)
        return self.block(selector).coordinates

    def concat(self, other: Space) -> Space:
        """The direct sum: this space's blocks followed by ``other``'s."""
        return Space(self.blocks + other.blocks)

    def describe(self, vec: np.ndarray, *, skip_zero: bool = True) -> dict[str, object]:
        """The entries of a vector of this space by coordinate name."""
        if len(vec) != self.dim:
            raise ValueError(f"vector has {len(vec)} entries, the space has {self.dim}")
        return {n: v for n, v in zip(self.names, vec) if not (skip_zero and v == 0)}


def vector(space: Space, entries: Mapping[str, Number]) -> np.ndarray:
    """The exact vector of ``space`` with the given named entries and zeros elsewhere."""
    out = rational_zeros((space.dim,))
    for name, value in entries.items():
        _accumulate(out, space.index(name), as_fraction(value))
    return out


@overload
def linear_map(
    source: Space, target: Space, action: Mapping[str, Mapping[str, Number]], *, sparse: Literal[False] = False
) -> np.ndarray: ...


@overload
def linear_map(
    source: Space, target: Space, action: Mapping[str, Mapping[str, Number]], *, sparse: Literal[True]
) -> SparseRationalMatrix: ...


@overload
def linear_map(
    source: Space, target: Space, action: Mapping[str, Mapping[str, Number]], *, sparse: bool
) -> np.ndarray | SparseRationalMatrix: ...


def linear_map(
    source: Space,
    target: Space,
    action: Mapping[str, Mapping[str, Number]],
    *,
    sparse: bool = False,
) -> np.ndarray | SparseRationalMatrix:
    """The exact matrix ``W[source.dim, target.dim]`` sending each named direction where ``action`` says.

    ``action[src][dst] = c`` means that the unit vector of ``src`` is sent to ``c`` times the unit vector of ``dst``
    (plus whatever else ``action[src]`` lists). Unlisted directions go to zero. Repeated contributions add.
    With ``sparse=True`` the same matrix comes as a :class:`~exactformer.core.sparse.SparseRationalMatrix` (its
    nonzero entries only: for wide, mostly zero maps such as a composition MLP's).

    Examples
    --------
    >>> from exactformer.core.space import Block, Space, linear_map
    >>> s = Space.of(Block("x", ["a", "b"]))
    >>> linear_map(s, s, {"x:a": {"x:b": 2}}).tolist()
    [[Fraction(0, 1), Fraction(2, 1)], [Fraction(0, 1), Fraction(0, 1)]]
    """
    if sparse:
        entries: dict[tuple[int, int], Fraction] = {}
        for src, row in action.items():
            i = source.index(src)
            for dst, value in row.items():
                at = (i, target.index(dst))
                entries[at] = entries[at] + as_fraction(value) if at in entries else as_fraction(value)
        return SparseRationalMatrix.from_entries(shape=(source.dim, target.dim), entries=entries)
    out = rational_zeros((source.dim, target.dim))
    for src, row in action.items():
        i = source.index(src)
        for dst, value in row.items():
            _accumulate(out, (i, target.index(dst)), as_fraction(value))
    return out


def _accumulate(out: np.ndarray, at: int | tuple[int, int], value: Fraction) -> None:
    """``out[at] += value``, storing ``value`` itself where the entry is still the shared zero of
    :func:`~exactformer.core.rational.rational_zeros` (``0 + value`` is ``value``; a composition MLP's weight
    matrices get ~10^5-10^6 such entries, each a Fraction addition otherwise)."""
    current = out[at]
    out[at] = value if current is SHARED_ZERO else current + value


def identity_on(source: Space, target: Space, pairs: Iterable[tuple[str, str]]) -> np.ndarray:
    """The matrix copying each ``src`` coordinate to its ``dst`` coordinate with coefficient 1."""
    return linear_map(source, target, {src: {dst: Fraction(1)} for src, dst in pairs})
