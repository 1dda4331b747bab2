"""Products with selection matrices in the fast torch arithmetic (:mod:`~exactformer.core.selection_products`).

:class:`SelectionPaths` is a base of :class:`~exactformer.core.arith.torch_fast.TorchArithmetic`: it finds the
selection form of a rendered weight (remembered per parameter) and says whether an input may take it (finite, no
gradients). The finiteness of an input is tested once per tensor: a tensor the forward pass has just checked (a
residual stream, :meth:`check`) or one this class has tested is remembered (one slot, a weak reference and the
tensor's in-place version), so the query, key and value maps of one sublayer read their input's finiteness once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ..architecture import Attention
from ..selection_products import SelectionMatrix
from .torch import _all_finite

__all__ = ["SelectionPaths"]


def _as_matrix(W: torch.Tensor, layout: str) -> torch.Tensor:
    """``W`` as the one matrix a product with it multiplies by (see :meth:`TorchArithmetic._sparse_matrix`)."""
    if layout == "heads_in":  # [h, d, e] -> [d, h * e]: column h * e + k is head h's coordinate k
        return W.permute(1, 0, 2).flatten(1)
    if layout == "heads_out":  # [h, e, d] -> [h * e, d]
        return W.flatten(0, 1)
    return W


class SelectionPaths:
    """The selection-matrix paths of :class:`~exactformer.core.arith.torch_fast.TorchArithmetic`."""

    _rendered: dict[int, torch.Tensor]

    if TYPE_CHECKING:  # provided by TorchArithmetic
        def weights(self, arr: Any) -> torch.Tensor: ...
        def _remembered(self, tensors: tuple[torch.Tensor, ...], compute: Callable[[], Any], tag: str = "") -> Any: ...

    def _selection(self, W: torch.Tensor, layout: str, x: torch.Tensor) -> SelectionMatrix | None:
        """The :class:`SelectionMatrix` of a rendered parameter ``W`` read as a matrix in ``layout`` (see
        :func:`_as_matrix`), remembered per parameter, when ``x`` may be
        multiplied by it (finite, neither side needing gradients); else ``None`` (the general product)."""
        if self._rendered.get(id(W)) is not W or x.requires_grad or W.requires_grad:
            return None
        selection = self._remembered((W,), lambda: SelectionMatrix.of(_as_matrix(W, layout)), tag="select " + layout)
        if selection is None or not self._finite_input(x):
            return None
        return selection

    def _single_term_scores(self, q: torch.Tensor, k: torch.Tensor, att: Attention) -> torch.Tensor | None:
        """The scores ``q . k`` (``[batch, head, query, key]``, before scaling) when each head's query and key can
        be nonzero together in at most one coordinate ``e``; ``None`` otherwise (the einsum).

        A coordinate where the query map (``W_Q[h][:, e]`` and ``b_Q[h][e]``) or the key map is zero holds +-0 for
        a finite input, so with finite ``q`` and ``k`` (the caller knows) every term of ``sum_e q_e k_e`` but the
        shared one is +-0, and the score is ``q_e * k_e`` rounded once, as any summation gives it (up to the sign
        of a zero score, which the softmax and the maxima do not tell apart). PARITY's and FIRST's layer-2 heads
        score this way (one coordinate each). A head with no shared coordinate scores +-0 everywhere.
        """
        shared = self._shared_coordinates(att)
        if shared is None or q.requires_grad or k.requires_grad:
            return None
        heads = range(q.shape[1])
        zero = torch.zeros((), dtype=q.dtype, device=q.device)
        q_e = torch.stack([q[:, h, :, e] if e >= 0 else zero.expand(q.shape[0], q.shape[2]) for h, e in
                           zip(heads, shared)], dim=1)
        k_e = torch.stack([k[:, h, :, e] if e >= 0 else zero.expand(k.shape[0], k.shape[2]) for h, e in
                           zip(heads, shared)], dim=1)
        return q_e[:, :, :, None] * k_e[:, :, None, :]

    def _shared_coordinates(self, att: Attention) -> tuple[int, ...] | None:
        """Per head, the one coordinate where the query and the key maps may both be nonzero (-1: none), or
        ``None`` when a head has two or more (remembered per parameters)."""
        W_Q, b_Q, W_K, b_K = (self.weights(w) for w in (att.W_Q, att.b_Q, att.W_K, att.b_K))

        def shared() -> tuple[int, ...] | None:
            if W_Q.layout != torch.strided or W_K.layout != torch.strided:
                return None
            live = ((W_Q != 0).any(dim=1) | (b_Q != 0)) & ((W_K != 0).any(dim=1) | (b_K != 0))  # [head, d_head]
            if bool((live.sum(dim=1) > 1).any()):
                return None
            return tuple(int(row.nonzero()[0, 0]) if bool(row.any()) else -1 for row in live)

        return self._remembered((W_Q, b_Q, W_K, b_K), shared, tag="shared coordinates")

    def _finite_input(self, x: torch.Tensor) -> bool:
        """Whether every entry of ``x`` is finite, remembered for the last tensor tested or checked."""
        slot = self.__dict__.get("_finite_slot")
        if slot is not None and slot[0]() is x and slot[1] == x._version:
            return True
        if not _all_finite(x):
            return False
        self._finite_slot = (weakref.ref(x), x._version)
        return True

    def check(self, x: torch.Tensor, where: str) -> None:
        """The forward pass's test that a residual stream is finite (it raises otherwise), remembered for the
        products that read it next."""
        super().check(x, where)  # type: ignore[misc]
        if isinstance(x, torch.Tensor) and x.layout == torch.strided:
            self._finite_slot = (weakref.ref(x), x._version)
