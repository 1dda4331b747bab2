"""The arithmetics a model is evaluated in, one module each.

* :mod:`.exact`: :class:`ExactArithmetic`, rational numbers;
* :mod:`.interval`: :class:`CertifiedArithmetic`, ``mpmath.iv`` intervals with certified decisions;
* :mod:`.ball`: :class:`~.ball.BallArithmetic`, FLINT ``arb`` balls with certified decisions at C speed (hard
  attention models; not a ``backend`` name: call :func:`~exactformer.core.forward.forward` with it), and
  :mod:`.ball_prefix`, every word up to a length through a causal model with each prefix computed once;
* :mod:`.torch`: :class:`PlainTorchArithmetic`, the float reference in plain torch;
* :mod:`.torch_fast`: :class:`TorchArithmetic`, the same floats fast (the default ``backend="torch"``).

:mod:`.base` holds the interface (:class:`Arithmetic`) and what a pass records (:class:`Trace`, :class:`Decision`).
"""

from __future__ import annotations

import torch as _torch

from ..errors import InputError
from .base import Arithmetic, Decision, Item, Trace, check_exact_weight, named_weights
from .devices import available_devices, torch_device
from .exact import ExactArithmetic
from .interval import CertifiedArithmetic, interval_bounds
from .torch import PlainTorchArithmetic
from .torch_fast import TorchArithmetic

__all__ = [
    "Item",
    "Decision",
    "Trace",
    "Arithmetic",
    "ExactArithmetic",
    "CertifiedArithmetic",
    "PlainTorchArithmetic",
    "TorchArithmetic",
    "arithmetic_for",
    "available_devices",
    "torch_device",
    "interval_bounds",
    "named_weights",
    "check_exact_weight",
]


def arithmetic_for(
    backend: str,
    *,
    dtype: _torch.dtype | None = None,
    device: str | _torch.device | None = None,
    precision: int = 128,
    chunk: int = 1024,
    accumulate: str = "dtype",
) -> Arithmetic:
    """The arithmetic called ``backend`` (``"exact"``, ``"certified"`` or ``"torch"``) with its options.

    ``accumulate`` (torch): ``"dtype"`` computes every operation in ``dtype`` as PyTorch does; ``"float64"`` sums
    the values of all-equal-score attention in float64 (see :class:`TorchArithmetic`). The exact and certified
    evaluators ignore it.

    Raises
    ------
    InputError
        For an unknown backend, and (torch) for a device that is not a torch device name or is not available here
        (see :func:`torch_device`). The exact and certified evaluators compute in Python and ignore ``device``.
    """
    if backend == "exact":
        return ExactArithmetic()
    if backend == "certified":
        return CertifiedArithmetic(precision=precision)
    if backend == "torch":
        return TorchArithmetic(dtype=dtype or _torch.float64, device=device or "cpu", chunk=chunk,
                               accumulate=accumulate)
    raise InputError(f"unknown backend {backend!r}; choose 'exact', 'certified' or 'torch'")

