"""Attention heads shared by the log-depth constructions: the copy map, the quadratic pointer head, the one-score
chooser head and multi-head attention written as named actions.

Every head here is given by its action on named residual directions (:func:`~exactformer.core.space.linear_map`):
the query and key maps by the score they produce, the value and output maps by the cells they copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...core.architecture import Attention, Mask
from ...core.rational import Number, rational_array
from ...core.space import Block, Space, linear_map

__all__ = [
    "Map",
    "copy_actions",
    "copy_maps",
    "quadratic_pointer",
    "pointer_head",
    "chooser_head",
    "HeadAction",
    "heads_attention",
]

Map = Mapping[str, Mapping[str, Number]]
"""A linear map by its action: ``{source coordinate: {target coordinate: weight}}``."""


def copy_actions(copied: Sequence[tuple[str, str]], *, read_scale: Number = 1,
                 write_scale: Number = 1) -> tuple[Map, Map]:
    """The value and output actions of a head that copies cell ``src`` of the attended token into cell ``dst`` of
    the query token, for each ``(src, dst)`` in ``copied``.

    The value block has one cell per pair (``v:k``): the value map sends ``src`` to ``read_scale v:k`` and the
    output map sends ``v:k`` to ``write_scale dst``. A head whose sublayer reads through a norm of known scale
    passes the inverse of that scale as ``read_scale``.
    """
    value = {src: {f"v:{k}": read_scale} for k, (src, _) in enumerate(copied)}
    output = {f"v:{k}": {dst: write_scale} for k, (_, dst) in enumerate(copied)}
    return value, output


def copy_maps(space: Space, copied: Sequence[tuple[str, str]], *, read_scale: Number = 1,
              write_scale: Number = 1) -> tuple[np.ndarray, np.ndarray]:
    """``W_V, W_O`` of the copy head of :func:`copy_actions` (value cells ``v:0 .. v:{len(copied) - 1}``)."""
    value, output = copy_actions(copied, read_scale=read_scale, write_scale=write_scale)
    cells = Space.of(Block("v", [str(k) for k in range(len(copied))]))
    return linear_map(space, cells, value), linear_map(cells, space, output)


def _scaled(form: Mapping[str, Number], factor: int, cell: str, into: dict[str, dict[str, Number]]) -> None:
    for coord, w in form.items():
        row = into.setdefault(coord, {})
        row[cell] = row.get(cell, 0) + factor * w


def quadratic_pointer(space: Space, target: Mapping[str, Number], target_squared: Mapping[str, Number], *,
                      key: tuple[str, str] = ("pos:i", "pos:i2"), one: str = "one") -> tuple[np.ndarray, np.ndarray]:
    """``W_Q, W_K`` of the score ``2 p j - j^2 - p^2 = -(j - p)^2``: maximal (0) exactly at the key ``j = p``.

    Parameters
    ----------
    target, target_squared
        ``p`` and ``p^2`` at the query token, as linear forms over residual coordinates (e.g. ``p = i - 1`` is
        ``{"pos:i": 1, "one": -1}`` and ``p^2`` is ``{"pos:i2": 1, "pos:i": -2, "one": 1}``).
    key
        The coordinates holding ``j`` and ``j^2`` at every token.
    one
        The constant coordinate (1 at every token).

    Proof sketch
    ------------
    The query is ``(2p, -1, -p^2)`` and the key ``(j, j^2, 1)``, so the score is ``-(j - p)^2``. For integer
    ``j, p`` it is 0 at ``j = p`` and at most -1 elsewhere: a unique maximum with a gap of 1, exact in any
    arithmetic that represents integers up to ``2 max(j, p)^2`` exactly.
    """
    qk = Space.of(Block("h", ["j", "j2", "one"]))
    query: dict[str, dict[str, Number]] = {}
    _scaled(target, 2, "h:j", query)
    _scaled({one: 1}, -1, "h:j2", query)
    _scaled(target_squared, -1, "h:one", query)
    W_K = linear_map(space, qk, {key[0]: {"h:j": 1}, key[1]: {"h:j2": 1}, one: {"h:one": 1}})
    return linear_map(space, qk, query), W_K


def pointer_head(space: Space, target: Mapping[str, Number], target_squared: Mapping[str, Number],
                 copied: Sequence[tuple[str, str]], *, key: tuple[str, str] = ("pos:i", "pos:i2"),
                 one: str = "one") -> Attention:
    """A hard, causal head that attends to token ``p`` (:func:`quadratic_pointer`) and copies ``copied`` from it
    (:func:`copy_maps`). ``p <= i`` must hold for the causal mask to allow the target; the maximum is unique, so no
    tie rule is needed."""
    W_Q, W_K = quadratic_pointer(space, target, target_squared, key=key, one=one)
    W_V, W_O = copy_maps(space, copied)
    return Attention(W_Q=[W_Q], W_K=[W_K], W_V=[W_V], W_O=[W_O], kind="hard", mask=Mask("causal"))


def chooser_head(space: Space, query: Mapping[str, Number], key: Mapping[str, Number],
                 copied: Sequence[tuple[str, str]], *, kind: str = "hard", tie_rule: str = "rightmost",
                 read_scale: Number = 1, write_scale: Number = 1) -> Attention:
    """A causal head with a one-cell score ``(query . x_i)(key . x_j)`` that copies ``copied`` from the token it
    chooses.

    With ``query`` a constant and ``key`` a 0/1 flag it chooses the latest flagged token ``j <= i`` (hard, ties
    rightmost); a key that adds a small increasing function of j breaks the tie toward the latest j without a tie
    rule (average-hard attention then has a unique maximiser; pass ``tie_rule="error"``).
    """
    qk = Space.of(Block("h"))
    W_Q = linear_map(space, qk, {c: {"h": w} for c, w in query.items()})
    W_K = linear_map(space, qk, {c: {"h": w} for c, w in key.items()})
    W_V, W_O = copy_maps(space, copied, read_scale=read_scale, write_scale=write_scale)
    return Attention(W_Q=[W_Q], W_K=[W_K], W_V=[W_V], W_O=[W_O], kind=kind, tie_rule=tie_rule, mask=Mask("causal"))


@dataclass(frozen=True)
class HeadAction:
    """One head by the action of its four maps on named directions (head cells ``d:0 ..`` and ``v:0 ..``)."""

    query: Map = field(default_factory=dict)
    key: Map = field(default_factory=dict)
    value: Map = field(default_factory=dict)
    output: Map = field(default_factory=dict)


def heads_attention(space: Space, heads: Sequence[HeadAction], d_head: int, d_value: int, *,
                    kind: str = "average_hard", mask: Mask | None = None) -> Attention:
    """Multi-head attention from :class:`HeadAction` s: query/key cells ``d:0 .. d:{d_head - 1}``, value cells
    ``v:0 .. v:{d_value - 1}`` (cells a head does not use are zero). Unmasked unless ``mask`` says otherwise."""
    qk = Space.of(Block("d", range(d_head)))
    vv = Space.of(Block("v", range(d_value)))
    return Attention(
        W_Q=rational_array([linear_map(space, qk, h.query) for h in heads]),
        W_K=rational_array([linear_map(space, qk, h.key) for h in heads]),
        W_V=rational_array([linear_map(space, vv, h.value) for h in heads]),
        W_O=rational_array([linear_map(vv, space, h.output) for h in heads]),
        kind=kind, mask=mask if mask is not None else Mask("none"),
    )
