"""Batched token encoding: a batch of words, given as symbol indices, turned into vocabulary indices in one gather.

A construction whose encoder frames each symbol's own token between fixed tokens (``prefix + [token(w_1), ..,
token(w_n)] + suffix``: PARITY's ``w CLS``, FIRST's ``CLS w``, the recognizers' ``BOS w $``) can say so with a
:class:`BatchEncoder`, attached to its ``encode`` by :func:`with_batch`. The verifier's tensor path
(:mod:`exactformer.verify.tensor_check`) then encodes a whole batch of words as one ``[batch, tokens]`` tensor of
vocabulary indices, which :func:`~exactformer.core.forward.forward` embeds with one gather, the same rows of ``W_E``
that the token strings of ``encode`` select (the tensor path compares the two on words of every size it checks).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from .errors import InputError

__all__ = ["BatchEncoder", "framed_encoder", "with_batch", "batch_of"]

F = TypeVar("F", bound=Callable[..., Any])


def with_batch(fn: F, batch: Callable[..., Any]) -> F:
    """``fn`` with its batched form attached as ``fn.batch`` (an encoder's :class:`BatchEncoder`, an invariant's
    ``expected`` over a ``[batch, n]`` tensor of words). The batched form travels with the function: a construction
    or invariant rebuilt with another function (``dataclasses.replace``) has none, so the verifier cannot use a
    batched form that no longer matches."""
    fn.batch = batch  # type: ignore[attr-defined]
    return fn


def batch_of(fn: Any) -> Any:
    """The batched form :func:`with_batch` attached to ``fn``, or ``None``."""
    return getattr(fn, "batch", None)


@dataclass(frozen=True)
class BatchEncoder:
    """``prefix + [token of each symbol] + suffix``, as vocabulary indices, for a batch of words.

    Attributes
    ----------
    alphabet
        The symbols a word may hold; a word is given as indices into this tuple.
    symbol_tokens
        The vocabulary index of each symbol's token.
    prefix, suffix
        Vocabulary indices of the tokens before and after the word.
    min_length
        The shortest word ``encode`` takes (1 for PARITY and FIRST, whose encoders refuse the empty word).
    """

    alphabet: tuple[Hashable, ...]
    symbol_tokens: tuple[int, ...]
    prefix: tuple[int, ...] = ()
    suffix: tuple[int, ...] = ()
    min_length: int = 0

    def tokens_for(self, n: int) -> int:
        """The number of tokens encoding a word of ``n`` symbols."""
        return len(self.prefix) + n + len(self.suffix)

    def __call__(self, words: torch.Tensor) -> torch.Tensor:
        """``[batch, tokens]`` vocabulary indices of ``words`` (``[batch, n]`` indices into :attr:`alphabet`).

        Raises
        ------
        InputError
            If ``words`` is not a 2-d integer tensor, holds an index outside the alphabet, or its words are shorter
            than :attr:`min_length`.
        """
        if not isinstance(words, torch.Tensor) or words.dim() != 2 or words.dtype.is_floating_point:
            raise InputError("a batch of words is a 2-d integer tensor of symbol indices [batch, n]")
        if words.shape[1] < self.min_length:
            raise InputError(f"words must have at least {self.min_length} symbol(s), got {words.shape[1]}")
        if words.numel() and (int(words.min()) < 0 or int(words.max()) >= len(self.alphabet)):
            raise InputError(f"a symbol index is outside the alphabet of {len(self.alphabet)} symbols")
        table = torch.tensor(self.symbol_tokens, dtype=torch.int64, device=words.device)
        body = table[words.to(torch.int64)]
        batch = words.shape[0]
        parts = [torch.tensor(self.prefix, dtype=torch.int64, device=words.device).expand(batch, -1), body,
                 torch.tensor(self.suffix, dtype=torch.int64, device=words.device).expand(batch, -1)]
        return torch.cat(parts, dim=1)


def framed_encoder(vocab: Sequence[str], alphabet: Sequence[Hashable], tokens: Sequence[str],
                   prefix: Sequence[str] = (), suffix: Sequence[str] = (), min_length: int = 0) -> BatchEncoder:
    """The :class:`BatchEncoder` of ``prefix + [tokens[symbol]] + suffix`` over the vocabulary ``vocab``
    (``tokens[k]`` is the token of ``alphabet[k]``; the first index of a repeated token, as
    :meth:`~exactformer.core.architecture.Transformer.token_index` gives)."""
    index: dict[str, int] = {}
    for k, token in enumerate(vocab):
        index.setdefault(token, k)
    missing = [t for t in (*tokens, *prefix, *suffix) if t not in index]
    if missing:
        raise InputError(f"tokens {missing} are not in the vocabulary")
    if len(tokens) != len(alphabet):
        raise InputError(f"{len(alphabet)} symbols but {len(tokens)} tokens")
    return BatchEncoder(tuple(alphabet), tuple(index[t] for t in tokens), tuple(index[t] for t in prefix),
                        tuple(index[t] for t in suffix), min_length)
