"""What attention and the norms mean, written once for every arithmetic.

The architecture (:mod:`exactformer.core.architecture`) names the options; this module says what they compute, in
functions that take numpy arrays (of Fractions, intervals or bools) and torch tensors alike, so that the exact,
certified and float arithmetics (and the TransformerLens export) read one definition:

* :func:`allowed`: which keys a mask lets a query see;
* :func:`chosen_keys`: which of the maximal keys hard and average-hard attention read (the tie rules);
* :func:`tie_error`: the error of a hard-attention tie without a tie rule;
* :func:`norm_parts`: a norm as numerator over the square root of a denominator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .attention import Mask
from .errors import AttentionTieError
from .mlp import Norm

__all__ = ["allowed", "chosen_keys", "tie_error", "norm_parts"]

A = TypeVar("A")  # a numpy array or a torch tensor


def allowed(mask: Mask, query: Any, key: Any) -> Any:
    """Boolean ``[len(query), len(key)]``: whether the query at position ``i`` may attend to the key at ``j``.

    ``none``: every key; ``causal``: ``j <= i``; ``strict_causal``: ``j < i`` (a query may have no key);
    ``window``: ``i - width < j <= i``. ``query`` and ``key`` are 1-d integer arrays or tensors of positions.
    """
    i, j = query[:, None], key[None, :]
    if mask.kind == "none":
        return (j <= i) | (j > i)  # every pair, as a bool array of the right type and shape
    if mask.kind == "causal":
        return j <= i
    if mask.kind == "strict_causal":
        return j < i
    return (j <= i) & (j > i - mask.width)


def chosen_keys(winners: A, kind: str, tie_rule: str) -> A:
    """The keys attention reads among the maximal ones: boolean ``[..., key]`` from the maximal keys ``winners``.

    Average-hard attention reads every maximal key (each with weight ``1 / count``). Hard attention reads one:
    the only one, or at a tie the leftmost (``tie_rule="leftmost"``) or the rightmost (``"rightmost"``); with
    ``tie_rule="error"`` a tie is an error the caller raises (:func:`tie_error`) before asking.
    """
    if kind == "average_hard" or tie_rule == "error":
        return winners
    rank = winners.cumsum(-1)  # type: ignore[attr-defined]  # how many maximal keys up to and including each key
    if tie_rule == "leftmost":
        return winners & (rank == 1)  # type: ignore[operator]
    return winners & (rank == rank[..., -1:])  # type: ignore[operator]


def tie_error(where: str, head: int, query: int, batch: int, keys: str, number: str = "") -> AttentionTieError:
    """The error of a hard-attention tie without a tie rule: ``keys`` (``"2 keys"``, ``"keys [0, 3]"``) share the
    maximal score; ``number`` names the float type, if any."""
    within = f" in {number}" if number else ""
    return AttentionTieError(f"hard attention tie in {where} head {head} query {query} (batch {batch}){within}: "
                             f"{keys} share the maximal score and no tie rule is set")


def norm_parts(x: A, norm: Norm, mean: Callable[[A], A], total: Callable[[A], A], eps: Any) -> tuple[A, A]:
    """``(numerator, denominator)`` of a norm: the norm of ``x`` is ``numerator / sqrt(denominator)``.

    ``layernorm``: ``(x - mean(x), mean((x - mean(x))^2) + eps)``; ``rmsnorm``: ``(x, mean(x^2) + eps)``;
    ``l2``: ``(x, sum(x^2) + eps)``. ``mean`` and ``total`` reduce the last axis keeping it (size 1); a masked
    norm's mask is applied by the caller first.
    """
    if norm.kind == "layernorm":
        centred = x - mean(x)  # type: ignore[operator]
        return centred, mean(centred * centred) + eps  # type: ignore[operator]
    if norm.kind == "rmsnorm":
        return x, mean(x * x) + eps  # type: ignore[operator]
    return x, total(x * x) + eps  # type: ignore[operator]
