"""The one transformer, as frozen data.

Every construction in exactformer is weights and encodings for the :class:`Transformer` defined here. What the
papers change about the standard GPT block is an explicit option:

==========================  ==================================================================================
option                      values
==========================  ==================================================================================
``Norm.kind``               ``none``, ``layernorm`` (eps, no gain/bias), ``rmsnorm``, ``l2`` (x/||x||)
``Norm.mask``               coordinates read by a *masked pre-norm* (Merrill & Sabharwal): ``norm(m * x)``
``Sublayer.residual``       ``x + f(x)`` or just ``f(x)`` (the superposition MLP has no residual)
``Sublayer.output_norm``    post-norm after the residual add (Chiang & Cholak's LN variant, L2 after an MLP)
``Attention.kind``          ``softmax`` (with a :class:`Scale`), ``hard`` (unique argmax + tie rule),
                            ``average_hard`` (mean over the argmax set)
``Mask.kind``               ``none``, ``causal`` (j <= i), ``strict_causal`` (j < i), ``window`` (i-w < j <= i)
``Attention.relative_bias`` additive score bias as a function of i - j (per head)
``MLP.activation``          ``relu``, ``step`` (1[x >= threshold])
``Loop``                    prefix layers, a block repeated ``RepeatCount(n)`` times, suffix layers
``Readout``                 unembedding at a position, decided by ``sign`` or ``argmax``
==========================  ==================================================================================

Shapes follow TransformerLens: ``W_E[d_vocab, d_model]``, ``W_Q[h, d_model, d_head]``, ``W_O[h, d_head, d_model]``,
``W_in[d_model, d_mlp]``, ``W_out[d_mlp, d_model]``, ``W_U[d_model, d_out]``. All weights are rational arrays
(numpy object arrays of :class:`fractions.Fraction`).

The attention sublayer and its options live in :mod:`exactformer.core.attention`, the MLP and the norms in
:mod:`exactformer.core.mlp`; this module assembles them into sublayers, layers, the loop and the model, and
re-exports them so that ``from exactformer.core.architecture import Attention`` keeps working.
"""


from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._weights import as_weights, set_biases
from .attention import Attention, AttentionKind, Mask, MaskKind, RelativeBias, Scale, TieRule
from .errors import ModelFormatError
from .mlp import MLP, NO_NORM, Activation, Norm, NormKind
from .positions import PositionalFeature
from .space import Space

__all__ = [
    "Norm",
    "Scale",
    "Mask",
    "RelativeBias",
    "Attention",
    "MLP",
    "Sublayer",
    "Layer",
    "RepeatCount",
    "Loop",
    "Embedding",
    "Readout",
    "Transformer",
    "NO_NORM",
    "NormKind",
    "AttentionKind",
    "TieRule",
    "MaskKind",
    "Activation",
]


@dataclass(frozen=True, eq=False)
class Sublayer:
    """An attention or MLP block with its input norm, residual switch and output norm:

    ``y = output_norm((x if residual else 0) + block(input_norm(x)))``.
    """

    block: Attention | MLP
    input_norm: Norm = NO_NORM
    residual: bool = True
    output_norm: Norm = NO_NORM

    def describe(self) -> str:
        parts = [self.block.describe()]
        if not self.input_norm.is_identity:
            parts.append(f"in: {self.input_norm.describe()}")
        parts.append("residual" if self.residual else "no residual")
        if not self.output_norm.is_identity:
            parts.append(f"out: {self.output_norm.describe()}")
        return "; ".join(parts)


@dataclass(frozen=True, eq=False)
class Layer:
    """An attention sublayer and/or an MLP sublayer, applied in that order."""

    attention: Sublayer | None = None
    mlp: Sublayer | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.attention is None and self.mlp is None:
            raise ModelFormatError(f"layer {self.name!r} has neither attention nor MLP")
        if self.attention is not None and not isinstance(self.attention.block, Attention):
            raise ModelFormatError(f"layer {self.name!r}: the attention sublayer holds {type(self.attention.block)}")
        if self.mlp is not None and not isinstance(self.mlp.block, MLP):
            raise ModelFormatError(f"layer {self.name!r}: the MLP sublayer holds {type(self.mlp.block)}")

    def sublayers(self) -> list[tuple[str, Sublayer]]:
        return [(k, s) for k, s in (("attn", self.attention), ("mlp", self.mlp)) if s is not None]


@dataclass(frozen=True)
class RepeatCount:
    """How often a looped block runs on a sequence of ``N`` tokens: ``multiplier * f(n) + offset``.

    ``n = N - extra_tokens`` is the number of input symbols (``extra_tokens`` counts markers such as BOS and ``$``).
    ``f`` is ``"constant"`` (1), ``"ceil_log2"`` (ceil(log2 n), 0 for n <= 1) or ``"floor_log2_plus_1"``
    (floor(log2 n) + 1 for n >= 1, 0 for n = 0: the number of bits of n). The result is clipped at 0.
    """

    function: Literal["constant", "ceil_log2", "floor_log2_plus_1"] = "constant"
    multiplier: int = 1
    offset: int = 0
    extra_tokens: int = 0

    def __post_init__(self) -> None:
        if self.function not in ("constant", "ceil_log2", "floor_log2_plus_1"):
            raise ModelFormatError(f"unknown repeat-count function {self.function!r}")

    def __call__(self, length: int) -> int:
        n = max(0, length - self.extra_tokens)
        if self.function == "constant":
            base = 1
        elif self.function == "ceil_log2":
            base = (n - 1).bit_length() if n > 1 else 0
        else:
            base = n.bit_length()
        return max(0, self.multiplier * base + self.offset)

    def describe(self) -> str:
        f = {"constant": "1", "ceil_log2": "ceil(log2 n)", "floor_log2_plus_1": "(floor(log2 n)+1)"}[self.function]
        text = f if self.multiplier == 1 else f"{self.multiplier}*{f}"
        return text + (f" {'+' if self.offset > 0 else '-'} {abs(self.offset)}" if self.offset else "")


@dataclass(frozen=True, eq=False)
class Loop:
    """A block of layers repeated ``count(n)`` times between the prefix and the suffix."""

    block: tuple[Layer, ...]
    count: RepeatCount

    def __post_init__(self) -> None:
        object.__setattr__(self, "block", tuple(self.block))
        if not self.block:
            raise ModelFormatError("a loop needs at least one layer")


@dataclass(frozen=True, eq=False)
class Embedding:
    """Token table plus positional features: ``h_i = W_E[token_i] + sum_f feature_f(i, N) e_{coord_f}``.

    A continuous input (a vector of the residual space, as continuous thoughts are) replaces ``W_E[token]``; the
    positional features are added to it all the same.
    """

    W_E: np.ndarray
    vocab: tuple[str, ...]
    positional: tuple[tuple[str, PositionalFeature], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocab", tuple(self.vocab))
        if len(set(self.vocab)) != len(self.vocab):
            raise ModelFormatError("the vocabulary has repeated tokens")
        W_E = as_weights(self.W_E)
        if W_E.ndim != 2 or W_E.shape[0] != len(self.vocab):
            raise ModelFormatError(f"W_E must have shape [{len(self.vocab)}, d_model], got {W_E.shape}")
        object.__setattr__(self, "W_E", W_E)
        object.__setattr__(self, "positional", tuple((str(c), f) for c, f in self.positional))

    @property
    def depends_on_length(self) -> bool:
        return any(f.depends_on_length for _, f in self.positional)


@dataclass(frozen=True, eq=False)
class Readout:
    """Unembedding ``logits = h[position] W_U + b_U`` and the decision rule.

    ``position`` is an index into the sequence (negative counts from the end). ``decision="sign"`` needs one
    output column and answers ``logit > 0``; ``"argmax"`` answers the label of the unique largest logit.
    """

    W_U: np.ndarray
    labels: tuple[str, ...]
    position: int = -1
    decision: Literal["sign", "argmax"] = "argmax"
    b_U: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        W_U = as_weights(self.W_U)
        if W_U.ndim != 2 or W_U.shape[1] != len(self.labels):
            raise ModelFormatError(f"W_U must have shape [d_model, {len(self.labels)}], got {W_U.shape}")
        object.__setattr__(self, "W_U", W_U)
        set_biases(self, {"b_U": (len(self.labels),)})
        if self.decision not in ("sign", "argmax"):
            raise ModelFormatError(f"unknown decision rule {self.decision!r}")
        if self.decision == "sign" and len(self.labels) != 1:
            raise ModelFormatError("a 'sign' readout needs exactly one output column")


@dataclass(frozen=True, eq=False)
class Transformer:
    """The model: residual space, embedding, layers (prefix, optional loop, suffix), readout.

    Parameters
    ----------
    space
        The residual stream's named coordinates; every weight's ``d_model`` axis is this space.
    embedding, readout
        See :class:`Embedding`, :class:`Readout`.
    layers
        The prefix layers (all layers of an unlooped model).
    loop, suffix
        An optional looped block and the layers after it.
    max_length
        The longest sequence (in tokens) the model is built for, or ``None`` for any length.
    """

    space: Space
    embedding: Embedding
    layers: tuple[Layer, ...]
    readout: Readout
    loop: Loop | None = None
    suffix: tuple[Layer, ...] = ()
    max_length: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "suffix", tuple(self.suffix))
        d = self.space.dim
        if self.embedding.W_E.shape[1] != d:
            raise ModelFormatError(f"W_E has d_model {self.embedding.W_E.shape[1]}, the space has {d} coordinates")
        if self.readout.W_U.shape[0] != d:
            raise ModelFormatError(f"W_U has d_model {self.readout.W_U.shape[0]}, the space has {d} coordinates")
        for coord, _ in self.embedding.positional:
            self.space.index(coord)
        for label, layer in self.named_layers(None):
            for kind, sub in layer.sublayers():
                if sub.block.d_model != d:
                    raise ModelFormatError(f"{label}.{kind} has d_model {sub.block.d_model}, expected {d}")
                for norm in (sub.input_norm, sub.output_norm):
                    for coord in norm.mask or ():
                        self.space.index(coord)

    def named_layers(self, length: int | None) -> list[tuple[str, Layer]]:
        """The layers in execution order with their labels, the loop unrolled for ``length`` tokens.

        With ``length=None`` each distinct layer is listed once (the loop block once).
        """
        out = [(f"L{k}", layer) for k, layer in enumerate(self.layers)]
        if self.loop is not None:
            reps = 1 if length is None else self.loop.count(length)
            for r in range(reps):
                out += [(f"loop{r}.B{k}", layer) for k, layer in enumerate(self.loop.block)]
        out += [(f"S{k}", layer) for k, layer in enumerate(self.suffix)]
        return out

    @property
    def d_model(self) -> int:
        return self.space.dim

    def embed_vector(self, token: str) -> np.ndarray:
        """The exact embedding row of ``token`` (without positions)."""
        return self.embedding.W_E[self.token_index(token)]

    def token_index(self, token: str) -> int:
        try:
            return self.embedding.vocab.index(token)
        except ValueError:
            from .errors import InputError

            raise InputError(
                f"token {token!r} is not in the model's vocabulary {list(self.embedding.vocab)}"
            ) from None

    def describe(self, n: int | None = None) -> str:
        """A table of the blocks of the residual space and of the layers (the loop unrolled for ``n`` tokens)."""
        lines = [f"Transformer: d_model={self.d_model}, vocab={len(self.embedding.vocab)}"]
        lines.append("  residual blocks: " + ", ".join(f"{b.name}[{len(b)}]" for b in self.space.blocks))
        if self.embedding.positional:
            pe = ", ".join(f"{c} = {f.describe()}" for c, f in self.embedding.positional)
            lines.append(f"  positions: {pe}")
        layers: Sequence[tuple[str, Layer]]
        layers = self.named_layers(n)
        if self.loop is not None and n is None:
            lines.append(f"  loop: block of {len(self.loop.block)} layer(s) x {self.loop.count.describe()}")
        for label, layer in layers:
            for kind, sub in layer.sublayers():
                lines.append(f"  {label}.{kind}: {sub.describe()}")
        pos = self.readout.position
        lines.append(f"  readout: {self.readout.decision} over {len(self.readout.labels)} at position {pos}")
        return "\n".join(lines)
