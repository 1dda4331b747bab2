"""A model's exact weights by TransformerLens-style name, and lower bounds of the memory they and a forward pass take.

:func:`model_weights` names every weight array (``embed.W_E``, ``blocks.{k}.attn.W_Q``...; the loop unrolled and
``W_pos`` materialised for a given number of tokens); :func:`weights_bytes` and :func:`forward_bytes` bound the
bytes they and one forward pass allocate, so that a run over the memory budget is refused before it starts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .architecture import Transformer
from .budget import require_memory
from .errors import InputError

__all__ = ["model_weights", "weights_bytes", "forward_bytes"]


def _entries(arr: Any) -> int:
    """The number of entries of a (possibly sparse) weight array, from its shape alone."""
    return math.prod(int(k) for k in getattr(arr, "shape", ()))

def weights_bytes(model: Transformer, n_tokens: int | None, itemsize: int | None = None) -> int:
    """A lower bound of the bytes :func:`model_weights` allocates for ``n_tokens`` (8 per entry of the new
    ``W_pos`` array, a pointer, and 48 per positional value, a ``Fraction``), plus, with ``itemsize``, the float
    rendering of every returned tensor (one copy per unrolled layer, as :meth:`Construction.state_dict` makes)."""
    pos = total = 0
    if n_tokens is not None and model.embedding.positional:
        pos = n_tokens * model.d_model
        total = 8 * pos + 48 * n_tokens * len(model.embedding.positional)
    if itemsize is not None:
        rendered = _entries(model.embedding.W_E) + pos + _entries(model.readout.W_U) + _entries(model.readout.b_U)
        for _, layer in model.named_layers(n_tokens):
            if layer.attention is not None:
                att = layer.attention.block
                rendered += sum(_entries(getattr(att, k)) for k in att.WEIGHTS)
            if layer.mlp is not None:
                mlp = layer.mlp.block
                rendered += sum(_entries(getattr(mlp, k)) for k in mlp.WEIGHTS)
        total += itemsize * rendered
    return total


def forward_bytes(model: Transformer, batch: int, n_tokens: int, itemsize: int, *, keep_trace: bool = True) -> int:
    """A lower bound of the bytes one forward pass of ``batch`` sequences of ``n_tokens`` allocates: the residual
    streams it keeps (the embedding and every sublayer's with ``keep_trace``, else at least two), each entry
    ``itemsize`` bytes (8 for exact and certified entries: a pointer). Attention scores and MLP hidden units come
    on top (their fast paths differ by model, so they are not counted)."""
    sublayers = sum(len(layer.sublayers()) for _, layer in model.named_layers(n_tokens))
    residuals = (1 + sublayers) if keep_trace else 2
    return itemsize * batch * n_tokens * residuals * model.d_model


def model_weights(model: Transformer, n_tokens: int | None = None) -> dict[str, np.ndarray]:
    """The model's exact weights by TransformerLens-style name.

    Layers are ``blocks.{k}`` in execution order (the loop unrolled for ``n_tokens``); for a looped model with
    ``n_tokens=None`` the distinct layers are ``blocks.L0``, ``blocks.loop0.B0``, ``blocks.S0``... With
    ``n_tokens`` the positional encoding is materialised as ``pos_embed.W_pos[n_tokens, d_model]``.
    """
    out: dict[str, np.ndarray] = {"embed.W_E": model.embedding.W_E}
    if n_tokens is not None:
        if model.max_length is not None and n_tokens > model.max_length:
            raise InputError(f"weights for {n_tokens:,} tokens: the model is built for at most {model.max_length:,} "
                             "tokens (a longer input is refused by every run)")
        require_memory(weights_bytes(model, n_tokens), f"the exact weights for {n_tokens:,} tokens (W_pos is "
                       f"{n_tokens:,} x {model.d_model})")
    if n_tokens is not None and model.embedding.positional:
        from .rational import rational_zeros

        W_pos = rational_zeros((n_tokens, model.d_model))
        for coord, feature in model.embedding.positional:
            c = model.space.index(coord)
            for i in range(n_tokens):
                W_pos[i, c] += feature.exact(i, n_tokens)
        out["pos_embed.W_pos"] = W_pos
    named = model.named_layers(n_tokens)
    unrolled = n_tokens is not None or model.loop is None
    for k, (label, layer) in enumerate(named):
        prefix = f"blocks.{k if unrolled else label}"
        if layer.attention is not None:
            att = layer.attention.block
            for name in att.WEIGHTS:
                out[f"{prefix}.attn.{name}"] = getattr(att, name)
        if layer.mlp is not None:
            mlp = layer.mlp.block
            for name in mlp.WEIGHTS:
                out[f"{prefix}.mlp.{name}"] = getattr(mlp, name)
    out["unembed.W_U"] = model.readout.W_U
    assert model.readout.b_U is not None  # Readout fills a missing bias with zeros
    out["unembed.b_U"] = model.readout.b_U
    return out
