"""Token embeddings read from one table per sequence length: a part of the fast torch arithmetic.

A batch of vocabulary indices (the verifier's tensor path, :class:`~exactformer.core.batch_encoding.BatchEncoder`)
is embedded as ``W_E[token] + pe[position]``. Every entry is one addition of a row of ``W_E`` and a row of the
positional features, so the table of all ``vocabulary x positions`` sums, made once per length with the same
additions, holds the same floats; a batch is then one gather from it instead of a gather and a pass adding the
positions (PARITY, 2,496 words of 21 tokens: 0.30 against 0.63 ms, one thread).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..architecture import Transformer

__all__ = ["TokenTables", "TABLES_KEPT"]

#: Tables kept per arithmetic (one per model and length; the oldest is dropped first).
TABLES_KEPT = 16


class TokenTables:
    """The table path of ``embed`` in :class:`~exactformer.core.arith.torch_fast.TorchArithmetic`."""

    dtype: torch.dtype
    device: torch.device

    if TYPE_CHECKING:  # provided by TorchArithmetic
        def weights(self, arr: Any) -> torch.Tensor: ...
        def _round(self, x: torch.Tensor) -> torch.Tensor: ...
        def _positional_rows(self, model: Transformer, start: int, length: int) -> torch.Tensor: ...

    def embed(self, model: Transformer, inputs: Sequence[Sequence[Any]], start: int = 0) -> torch.Tensor:
        """Rows of ``W_E`` plus positional features; a ``[batch, tokens]`` tensor of vocabulary indices of a model
        with positional features is read from the table of its length (the same floats)."""
        W_E = self.weights(model.embedding.W_E)
        if (not isinstance(inputs, torch.Tensor) or not model.embedding.positional or W_E.requires_grad
                or W_E.layout != torch.strided or not inputs.numel()):
            return super().embed(model, inputs, start)  # type: ignore[misc]
        index = inputs.to(device=self.device, dtype=torch.int64)
        vocabulary = W_E.shape[0]
        lowest, highest = (int(i) for i in torch.aminmax(index))
        if lowest < 0 or highest >= vocabulary:  # the general gather says what is wrong
            return super().embed(model, inputs, start)  # type: ignore[misc]
        n = index.shape[1]
        table = self._token_table(model, W_E, start, start + n)
        rows = index * n + torch.arange(n, device=self.device)
        return self._round(torch.nn.functional.embedding(rows, table))

    def _token_table(self, model: Transformer, W_E: torch.Tensor, start: int, length: int) -> torch.Tensor:
        """``[vocabulary * positions, d_model]``: row ``t * n + i`` is ``W_E[t] + pe[start + i]``, remembered per
        embedding, rendered ``W_E`` (and its in-place version) and positions."""
        tables: dict[tuple[int, int, int], tuple[Any, torch.Tensor, int, torch.Tensor]] = self.__dict__.setdefault(
            "_token_tables", {})
        key = (id(model.embedding), start, length)
        hit = tables.get(key)
        if hit is None or hit[0] is not model.embedding or hit[1] is not W_E or hit[2] != W_E._version:
            pe = self._positional_rows(model, start, length)
            table = (W_E[:, None, :] + pe[None, :, :]).reshape(-1, W_E.shape[1])
            if len(tables) >= TABLES_KEPT:
                tables.pop(next(iter(tables)))
            hit = tables[key] = (model.embedding, W_E, W_E._version, table)
        return hit[3]
