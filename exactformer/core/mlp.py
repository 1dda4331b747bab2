"""The MLP sublayer and the norms, as frozen data (what they compute is in the arithmetics and
:mod:`exactformer.core.attention_rules`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar, Literal

import numpy as np

from ._weights import as_weights, checked_weights, set_biases
from .errors import ModelFormatError
from .rational import as_fraction
from .sparse import SparseRationalMatrix

__all__ = ["Norm", "NO_NORM", "MLP", "NormKind", "Activation"]

#: The norms (see :class:`Norm`).
NormKind = Literal["none", "layernorm", "rmsnorm", "l2"]


@dataclass(frozen=True)
class Norm:
    """A normalisation applied to a sublayer's input or output.

    Parameters
    ----------
    kind
        ``"none"``; ``"layernorm"``: (x - mean) / sqrt(var + eps), biased variance over all d coordinates, no gain
        or bias; ``"rmsnorm"``: x / sqrt(mean(x^2) + eps); ``"l2"``: x / ||x||_2 (Zhu et al.).
    eps
        The epsilon under the square root (exact rational; default 0).
    mask
        Coordinates kept before normalising (masked pre-norm: ``norm(m * x)`` with ``m`` the indicator of these
        coordinates); ``None`` keeps all.
    """

    kind: NormKind = "none"
    eps: Fraction = Fraction(0)
    mask: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("none", "layernorm", "rmsnorm", "l2"):
            raise ModelFormatError(f"unknown norm kind {self.kind!r}")
        object.__setattr__(self, "eps", as_fraction(self.eps))
        if self.eps < 0:
            raise ModelFormatError(f"norm eps must be >= 0, got {self.eps}")
        if self.mask is not None:
            object.__setattr__(self, "mask", tuple(self.mask))
            if self.kind == "none":
                raise ModelFormatError("a norm mask needs a norm kind other than 'none'")

    @property
    def is_identity(self) -> bool:
        return self.kind == "none"

    def describe(self) -> str:
        if self.kind == "none":
            return "-"
        text = self.kind + (f"(eps={self.eps})" if self.eps else "")
        return f"masked {text}[{len(self.mask)}]" if self.mask is not None else text


NO_NORM = Norm()


#: The MLP activations: ReLU, or the step ``1[x >= threshold]``.
Activation = Literal["relu", "step"]


@dataclass(frozen=True, eq=False)
class MLP:
    """``act(x W_in + b_in) W_out + b_out`` with ``act`` = ReLU or the step ``1[x >= threshold]``.

    ``W_in`` and ``W_out`` are rational arrays or :class:`~exactformer.core.sparse.SparseRationalMatrix` (for the
    wide, mostly zero MLPs of the composition constructions); the biases are rational arrays.
    """

    W_in: np.ndarray | SparseRationalMatrix
    W_out: np.ndarray | SparseRationalMatrix
    b_in: np.ndarray | None = None
    b_out: np.ndarray | None = None
    activation: Activation = "relu"
    threshold: Fraction = Fraction(0)

    #: The weight arrays of an MLP sublayer, in TransformerLens order.
    WEIGHTS: ClassVar[tuple[str, ...]] = ("W_in", "b_in", "W_out", "b_out")

    def __post_init__(self) -> None:
        if self.activation not in ("relu", "step"):
            raise ModelFormatError(f"unknown MLP activation {self.activation!r}")
        W_in = self.W_in if isinstance(self.W_in, SparseRationalMatrix) else as_weights(self.W_in)
        if W_in.ndim != 2:
            raise ModelFormatError(f"W_in must have shape [d_model, d_mlp], got {W_in.shape}")
        d, w = W_in.shape
        object.__setattr__(self, "W_in", W_in)
        object.__setattr__(self, "W_out", checked_weights("W_out", self.W_out, (w, d)))
        set_biases(self, {"b_in": (w,), "b_out": (d,)})
        object.__setattr__(self, "threshold", as_fraction(self.threshold))

    @property
    def d_model(self) -> int:
        """The residual stream's width (the rows of ``W_in``)."""
        return self.W_in.shape[0]

    @property
    def d_mlp(self) -> int:
        """The number of hidden units (the columns of ``W_in``)."""
        return self.W_in.shape[1]

    def describe(self) -> str:
        act = "ReLU" if self.activation == "relu" else f"step(>={self.threshold})"
        return f"mlp {self.d_mlp} {act}"

