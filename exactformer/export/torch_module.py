"""Export a model as a plain ``torch.nn.Module`` (usable with nnsight, torch hooks, any torch code).

The module's parameters are the float renderings of the exact weights, named like TransformerLens parameters
(``blocks.0.attn.W_Q``...), and every attention and MLP sublayer is a submodule whose forward returns that
sublayer's output, so hooks and nnsight see each step. The computation is the library's one forward pass
(:func:`~exactformer.core.forward.forward`, in :class:`~exactformer.core.arith.TorchArithmetic`) reading these
parameters, each sublayer run inside its module, so the module and ``backend="torch"`` agree to the bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ..core.architecture import Sublayer, Transformer
from ..core.arith import TorchArithmetic
from ..core.arith.torch import _all_finite
from ..core.errors import NonFiniteError
from ..core.forward import forward
from ..core.rational import to_float_array

__all__ = ["ExactformerModule", "to_torch_module"]


class _ParameterArithmetic(TorchArithmetic):
    """Torch arithmetic whose weights are the parameters of an :class:`ExactformerModule`."""

    def __init__(self, dtype: torch.dtype, params: dict[int, torch.Tensor]) -> None:
        super().__init__(dtype=dtype)
        self.params = params

    def weights(self, arr: np.ndarray) -> torch.Tensor:
        param = self.params.get(id(arr))
        if param is not None:
            # a parameter stands for its array: the evaluator's remembered flags and sparse forms (renewed when the
            # parameter changes in place; none for one that needs gradients) apply to it as to a rendering
            self._rendered[id(param)] = param
            return param
        return super().weights(arr).to(self._device_of_params())

    def _device_of_params(self) -> torch.device:
        return next(iter(self.params.values())).device if self.params else torch.device("cpu")


class SublayerModule(nn.Module):
    """One attention or MLP sublayer: its parameters, and a forward that returns the sublayer's output."""

    def __init__(self, sub: Sublayer, where: str, owner: ExactformerModule) -> None:
        super().__init__()
        self.sub = sub
        self.where = where
        for name in sub.block.WEIGHTS:
            arr = getattr(sub.block, name)
            self.register_parameter(name, nn.Parameter(_render(arr, owner.dtype), requires_grad=False))
            owner._by_array[id(arr)] = getattr(self, name)

    def forward(self, x: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """The sublayer's output for its input ``x``: ``compute(x)``, the one forward pass's step (see
        :func:`~exactformer.core.forward.forward`), run here so that hooks see it."""
        return compute(x)


class ExactformerModule(nn.Module):
    """A :class:`~exactformer.core.architecture.Transformer` as a ``torch.nn.Module``.

    ``forward(tokens)`` takes token ids ``[batch, N]`` (or token strings, one list per sequence) and returns the
    readout logits ``[batch, n_out]``; ``residuals(tokens)`` returns every residual stream. A looped model is
    unrolled for ``length`` tokens at construction (loops repeat the same parameters).

    As in ``backend="torch"``, a NaN or an infinity raises :class:`~exactformer.core.errors.NonFiniteError` naming
    where it is: in a parameter (looked at on every call, since parameters may be changed in place), the
    embedding, a sublayer's output, an attention score, or a logit.
    """

    def __init__(self, model: Transformer, *, dtype: torch.dtype = torch.float32, length: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        self._by_array: dict[int, torch.Tensor] = {}
        self.embed = nn.Module()
        self.embed.register_parameter("W_E", nn.Parameter(_render(model.embedding.W_E, dtype), requires_grad=False))
        self._by_array[id(model.embedding.W_E)] = cast(torch.Tensor, self.embed.W_E)
        self.unembed = nn.Module()
        for name in ("W_U", "b_U"):
            arr = getattr(model.readout, name)
            self.unembed.register_parameter(name, nn.Parameter(_render(arr, dtype), requires_grad=False))
            self._by_array[id(arr)] = cast(torch.Tensor, getattr(self.unembed, name))
        if model.loop is not None and length is None:
            raise ValueError("a looped model needs `length` (the number of tokens) to fix its depth")
        self.length = length
        self.blocks = nn.ModuleList()
        self._schedule: list[tuple[str, SublayerModule]] = []
        shared: dict[int, SublayerModule] = {}
        for label, layer in model.named_layers(length):
            block = nn.Module()
            for kind, sub in layer.sublayers():
                if id(sub) not in shared:
                    shared[id(sub)] = SublayerModule(sub, f"{label}.{kind}", self)
                setattr(block, kind, shared[id(sub)])
                self._schedule.append((f"{label}.{kind}", shared[id(sub)]))
            self.blocks.append(block)

    def _arith(self, device: torch.device) -> TorchArithmetic:
        arith = _ParameterArithmetic(self.dtype, self._by_array)
        arith.device = device
        return arith

    def _tokens(self, tokens: Any) -> list[list[str]]:
        if isinstance(tokens, torch.Tensor):
            vocab = self.model.embedding.vocab
            return [[vocab[int(t)] for t in row] for row in tokens]
        return [list(seq) for seq in tokens]

    def residuals(self, tokens: Any) -> dict[str, torch.Tensor]:
        """Every residual stream by sublayer label (``"embed"``, ``"L0.attn"``, ...)."""
        seqs = self._tokens(tokens)
        length = len(seqs[0])
        if self.length is not None and self.model.loop is not None and length != self.length:
            raise ValueError(f"this module was unrolled for {self.length} tokens, got {length}")
        self._check_parameters()
        modules = dict(self._schedule)
        trace = forward(self.model, seqs, self._arith(cast(torch.Tensor, self.embed.W_E).device),
                        step=lambda where, compute, x: modules[where](x, compute))
        return dict(zip(trace.labels, trace.residuals))

    def forward(self, tokens: Any) -> torch.Tensor:
        final = list(self.residuals(tokens).values())[-1]
        row = final[:, self.model.readout.position]
        W_U, b_U = (cast(torch.Tensor, getattr(self.unembed, name)) for name in ("W_U", "b_U"))
        logits = row @ W_U + b_U
        if not _all_finite(logits):
            b, j = (~torch.isfinite(logits)).nonzero()[0].tolist()
            raise NonFiniteError(f"readout logit {logits[b, j].item()} for label {self.model.readout.labels[j]!r} "
                                 f"(batch {b}) in {logits.dtype}")
        return logits

    def _check_parameters(self) -> None:
        """Raise :class:`~exactformer.core.errors.NonFiniteError` naming the first parameter entry that is a NaN or
        an infinity (an exact weight too large for the dtype renders as one)."""
        for name, param in self.named_parameters():
            values = param.detach()
            if not _all_finite(values):
                index = (~torch.isfinite(values)).nonzero()[0].tolist()
                raise NonFiniteError(f"parameter {name}{index} is {values[tuple(index)].item()} in {values.dtype}")


def _render(arr: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(to_float_array(arr)).to(dtype)


def to_torch_module(model: Transformer, *, dtype: torch.dtype = torch.float32,
                    length: int | None = None) -> ExactformerModule:
    """The model as a plain ``torch.nn.Module`` (see :class:`ExactformerModule`)."""
    return ExactformerModule(model, dtype=dtype, length=length)
