"""Fixed-point arithmetic with a constant number of bits: a fourth way to evaluate a model.

Every weight and every intermediate result (embeddings, queries, keys, values, scores, attention weights and
outputs, MLP pre-activations and outputs, norms) is rounded to the grid of multiples of ``2**-frac_bits`` and
saturated to ``[-2**int_bits, 2**int_bits - 2**-frac_bits]``: a signed number of ``1 + int_bits + frac_bits``
bits. Computing in float64 between roundings is exact for such small grids, so this emulates a machine whose
registers hold that many bits. It is how the constant-precision claim of Li & Wang is measured.
"""

from __future__ import annotations

import torch

from .arith import TorchArithmetic

__all__ = ["FixedPointArithmetic"]


class FixedPointArithmetic(TorchArithmetic):
    """Signed fixed point with ``int_bits`` integer and ``frac_bits`` fractional bits (plus a sign bit).

    Rounding is to nearest (ties to even, as ``torch.round``); out-of-range values saturate.
    """

    name = "fixed_point"
    rounds_intermediate_results = True

    def __init__(self, int_bits: int, frac_bits: int, device: str | torch.device = "cpu", chunk: int = 1024):
        super().__init__(dtype=torch.float64, device=device, chunk=chunk)
        if int_bits < 0 or frac_bits < 0 or int_bits + frac_bits > 50:
            raise ValueError("need 0 <= int_bits, frac_bits and int_bits + frac_bits <= 50 (float64 emulation)")
        self.int_bits = int_bits
        self.frac_bits = frac_bits

    @property
    def bits(self) -> int:
        """The word size: sign + integer + fractional bits."""
        return 1 + self.int_bits + self.frac_bits

    def _round(self, x: torch.Tensor) -> torch.Tensor:
        step = 2.0**-self.frac_bits
        hi = 2.0**self.int_bits - step
        return torch.clamp(torch.round(x / step) * step, -(2.0**self.int_bits), hi)
