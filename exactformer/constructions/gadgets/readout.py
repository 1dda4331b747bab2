"""The readout of a recognizer: one logit, read at a position, decided by its sign."""

from __future__ import annotations

from collections.abc import Mapping

from ...core.architecture import Readout
from ...core.rational import Number, as_fraction
from ...core.space import Block, Space, linear_map

__all__ = ["sign_readout"]


def sign_readout(space: Space, action: Mapping[str, Number], *, bias: Number | None = None,
                 position: int = -1, label: str = "accept") -> Readout:
    """``logit = sum_c action[c] x_c + bias`` at ``position`` (default: the last token), labelled ``label``:
    yes iff the logit is positive (``decision="sign"``). ``bias=None``: no bias vector."""
    W_U = linear_map(space, Space.of(Block(label)), {c: {label: w} for c, w in action.items()})
    b_U = None if bias is None else [as_fraction(bias)]
    return Readout(W_U=W_U, labels=(label,), position=position, decision="sign", b_U=b_U)
