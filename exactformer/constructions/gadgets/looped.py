"""The log-depth loop: a block of layers repeated ``ceil(log2 n)`` times on an input of n letters."""

from __future__ import annotations

from collections.abc import Sequence

from ...core.architecture import Embedding, Layer, Loop, Readout, RepeatCount, Transformer
from ...core.claims import Claim, log_depth
from ...core.space import Space

__all__ = ["log_depth_model", "THEOREM1_LAYERS", "looped_depth"]

#: Merrill & Sabharwal's Theorem 1 depth for a regular language on words of n letters.
THEOREM1_LAYERS = Claim("layers", "<=", log_depth(8, 9), "8⌈log2 n⌉ + 9")


def looped_depth(prefix: int, block: int, final_block: bool) -> Claim:
    """The exact depth :func:`log_depth_model` builds: ``prefix + block (⌈log2 n⌉ [+ 1])`` layers on n letters,
    stated as this build's own claim (the verifier compares it with the measured depth)."""
    offset = prefix + (block if final_block else 0)
    levels = "(⌈log2 n⌉ + 1)" if final_block else "⌈log2 n⌉"
    formula = (f"{prefix} + " if prefix else "") + (f"{block}" if block != 1 else "") + levels
    return Claim("layers", "==", log_depth(block, offset), formula, source="build")


def log_depth_model(space: Space, embedding: Embedding, block: Sequence[Layer], readout: Readout, *,
                    extra_tokens: int, prefix: Sequence[Layer] = (), final_block: bool = False) -> Transformer:
    """``prefix``, then ``block`` looped ``ceil(log2 n)`` times, then (``final_block``) ``block`` once more.

    n is the number of letters: the sequence length minus ``extra_tokens`` (BOS, and the end marker if any), as
    :class:`~exactformer.core.architecture.RepeatCount` ``"ceil_log2"`` reads it. The extra application of the
    same weights is the final block of Merrill & Sabharwal's tree, which needs ``floor(log2 n) + 1`` levels.
    """
    return Transformer(
        space=space,
        embedding=embedding,
        layers=tuple(prefix),
        loop=Loop(block=tuple(block), count=RepeatCount("ceil_log2", extra_tokens=extra_tokens)),
        suffix=tuple(block) if final_block else (),
        readout=readout,
    )
