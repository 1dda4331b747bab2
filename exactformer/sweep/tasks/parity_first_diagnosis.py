"""Why a PARITY / FIRST word fails in a low-precision dtype: the frontier task's diagnosis
(:mod:`~exactformer.sweep.tasks.parity_first_frontier`), measured against the float64 run of the same word.

For a wrong answer: the decision z in both dtypes, the proof's quantities read back from the low-precision stream
(PARITY: k and i as ``count:k/N / count:1/N`` and ``pos:i/N / count:1/N``, the hat ``[i = k]``; FIRST: the gate),
the answer coordinate entering the last sublayer, and the first sublayer whose output leaves the float64 one. For a
non-finite value, the mean square of the CLS vector entering the final LayerNorm (``2 u^2 / D``) is compared with
the dtype's smallest subnormal.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import torch

from ...core.arith import TorchArithmetic
from ...core.construction import Construction
from ...core.errors import ExactformerError
from ...core.forward import forward
from ...verify.relations import negation_residue
from .parity_first_variants import z_of


def describe_word(word: str) -> str:
    """A word as the frontier table names it: its ends, its length n, its count k of 1s and its first bit."""
    k = word.count("1")
    text = word if len(word) <= 16 else f"{word[:6]}...{word[-4:]}"
    return f"{text} (n={len(word)}, k={k}, w_1={word[0]})"


def _rows(result: Any, site: str) -> np.ndarray:
    return result.output.trace[site][result.batch_index].detach().to(torch.float64).cpu().numpy()


def proof_quantities(c: Construction, result: Any, word: str) -> list[str]:
    """The proof's quantities read back scale-invariantly (ratios within a position survive layer norm)."""
    s = c.model.space.index
    k = word.count("1")
    if c.name.startswith("parity"):
        att, ffn = _rows(result, "L0.attn"), _rows(result, "L0.mlp")
        one = att[:, s("count:1/N")]
        i = np.arange(len(one))
        k_err = np.abs(att[:, s("count:k/N")] / one - k).max()
        i_err = np.abs(att[:, s("pos:i/N")] / one - i).max()
        hat = ffn[:, s("hat:[i=k]/N")] / ffn[:, s("count:1/N")]
        bad = np.abs(hat - (i == k))
        return [
            f"k/N and i/N read back as counts are off by up to {k_err:.2g} and {i_err:.2g} (the hat needs the "
            f"difference k - i to within 1/2)",
            f"hat [i=k] off by {bad.max():.2g} at i = {int(bad.argmax())} (k = {k})",
        ]
    ffn = _rows(result, "L0.mlp")
    gate = ffn[1, s("gate:[i=1,w_i=1]")] / ffn[1, s("pos:[i=1]")]
    return [f"gate [w_1=1] read back as {gate:.3g} (want {int(word[0] == '1')})"]


def explain(c: Construction, word: str, dtype: torch.dtype, error: Exception | None = None,
            accumulate: str = "dtype") -> str:
    """Why ``word`` fails in ``dtype``, measured against the float64 run of the same word (``error``: what the
    low-precision run raised, if it raised; ``accumulate``: :class:`~exactformer.core.arith.TorchArithmetic`'s)."""
    ref = c.run(word, dtype=torch.float64)
    pos = c.model.readout.position
    ln = c.parameters.layer_norm
    answer = abs(ref.residual("L1.attn", pos)["answer"])  # the answer entering the last sublayer, float64
    if error is not None:
        parts = [f"{type(error).__name__}: {str(error).split(' (first')[0]}"]
        arith = TorchArithmetic(dtype, accumulate=accumulate)  # rerun, keeping the trace up to the failing sublayer
        try:
            forward(c.model, [c.encode(word)], arith)
        except ExactformerError:
            pass
        where = re.search(r"position (\d+)", str(error))
        if ln and "L1.attn" in arith.trace.labels and where:
            at = int(where.group(1))
            x = arith.trace["L1.attn"]
            pre = (x + arith.mlp(x, c.model.layers[1].mlp.block, "L1.mlp"))[0, at]
            u = abs(float(pre[c.model.space.index("answer")]))
            exact = float((pre.to(torch.float64) ** 2).mean())  # the mean square, computed without rounding
            centred = pre - pre.mean()
            in_dtype = float((centred * centred).mean())  # as the LayerNorm computes it, in the dtype
            smallest = torch.finfo(dtype).tiny * torch.finfo(dtype).eps
            fate = (
                f"{exact:.2g}, but computed in the dtype it rounds to 0 (the smallest subnormal is {smallest:.2g}), "
                "so the eps = 0 LayerNorm divides by 0"
                if in_dtype == 0
                else f"{exact:.2g} ({in_dtype:.2g} in the dtype)"
            )
            cls = pos % len(c.encode(word))
            site = "CLS" if at == cls else f"bit position {at}"
            u64 = abs(ref.residual("L1.attn", at)["answer"])
            parts.append(
                f"at {site} the eraser leaves [u, -u] with abs(u) = {u:.2g} (float64: {u64:.2g}); the mean square "
                f"of the vector entering the final LayerNorm is {fate}"
            )
        return "; ".join(parts)
    low = c.run(word, dtype=dtype, accumulate=accumulate)
    name = str(dtype).replace("torch.", "")
    parts = [f"z = {z_of(low):.3g} in {name} vs {z_of(ref):.3g} in float64"]
    parts += proof_quantities(c, low, word)
    parts.append(
        f"answer entering the last sublayer {abs(low.residual('L1.attn', pos)['answer']):.2g} (float64 {answer:.2g})"
    )
    if ln:
        parts.append(
            f"[u,-u] residue at CLS after the final LN {negation_residue(c, low)[pos]:.2g} "
            f"(float64 {negation_residue(c, ref)[pos]:.2g})"
        )
    tol = 8 * torch.finfo(dtype).eps * math.ceil(math.log2(len(word) + 2))
    for site in low.output.trace.labels:
        a, b = _rows(low, site), _rows(ref, site)
        gap = np.abs(a - b) / (1 + np.abs(b))
        if gap.max() > tol:
            # the first entry (by position, then coordinate) within a relative 1e-6 of the largest gap: a coordinate
            # and its negated copy ([u, -u]) leave float64 by the same amount up to a last bit, and which of the two
            # is ahead by that bit differs between machines (MKL's kernels), so argmax alone is not reproducible
            near = np.flatnonzero(gap.ravel() >= gap.max() * (1 - 1e-6))
            p, j = np.unravel_index(int(near[0]), gap.shape)
            parts.append(
                f"first leaves float64 after {site} ({c.model.space.names[j]} at position {p}: "
                f"{a[p, j]:.3g} vs {b[p, j]:.3g})"
            )
            break
    return "; ".join(parts)
