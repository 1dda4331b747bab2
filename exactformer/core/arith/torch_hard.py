"""Hard attention by a gather instead of a weight matrix: a part of the fast torch arithmetic.

Hard attention (and average-hard attention without ties) gives every query one key of weight 1. The general path
(:meth:`~exactformer.core.arith.torch.PlainTorchArithmetic.attention_weights`) builds that choice as a dense
``[batch, head, query, key]`` weight block (a comparison with the maximum, two masks, a count and a conversion, each
a pass over the block) and multiplies it by the values. :class:`OneHotAttention` finds the maximum and its index in
one pass, tells a tie from a unique maximum by a second maximum (the first one set to ``-inf``), and reads the chosen
value with a gather: O(N) after the scores instead of O(N^2 d_head).

**The same floats.** Where it answers, it gives the general path's result bit for bit:

* the chosen key: ``torch.max`` over the keys returns the first maximal index, which is the general path's unique
  winner or, at a tie with ``tie_rule="leftmost"``, its leftmost winner (:func:`~exactformer.core.attention_rules.
  chosen_keys`); at a tie with ``tie_rule="rightmost"`` (the Theorem 1 tree's heads) the first maximal index of
  the keys reversed, its rightmost winner;
* ``z``: the general path computes ``sum_k w_k v_k`` with ``w`` one 1 and 0s. With finite values every product is
  exact: ``v_i`` for the chosen key and a zero carrying the sign of ``v_k`` for the others, so the sum is ``v_i``
  whenever ``v_i != 0``, in any order of summation. When ``v_i`` is +-0 the sum is a zero whose sign is +0 as soon
  as one term is +0 (round to nearest: ``-0 + +0 = +0``), whatever the order and whether the product starts from
  +0 or not; a term is +0 unless every value of that column (batch, head, coordinate) has its sign bit set. So the
  path writes ``v_i + 0`` (``-0`` becomes +0), and it answers when no column of ``v`` has every sign bit set, or
  when each column that has holds no zero (then ``v_i`` is never 0 there: a column of negative values, such as the
  ``-1`` cell of the layer-norm hash ``phi(j)``);
* a query without an allowed key gets ``z = 0`` (+0), as ``sum_k 0 * v_k`` is there when some term is +0: with a
  column of negative values the path declines at such a query;
* the projection by ``W_O`` and the accumulation into the output are the general path's own calls, on the same
  chunks of queries.

It declines (the general path runs, from the start, and reports what it reports) for values that are not all finite,
a column of values with every sign bit set, a maximum that is not finite, a tie of hard attention without a tie rule
(the general path raises there, with its message), an average-hard tie it cannot average exactly, and for
arithmetics that round intermediate results.

**Blocks.** The scores are computed as the general path's products (``chunk`` queries by every key, per sequence
and head), since the bits of a product depend on the shapes BLAS is given; a block holds as many sequences as fit in
:data:`HARD_BLOCK_ENTRIES` (at least one), which gives each sequence's product the bits it has in the general path's
batch of every sequence (tests/core/test_one_hot_attention.py compares the bytes). When every score is an exact
dyadic rational (the queries multiples of ``2^-a``, the keys of ``2^-b``, the relative biases of ``2^-(a+b)``, with
``2^(a+b) (d_head * max|q| * max|k| + max|bias|)`` below ``2^p``, ``p`` the dtype's significand bits), every product
and partial sum is exact, so every order and blocking of the products gives the same value, and the scores are
computed instead in blocks of at most :data:`HARD_BLOCK_ENTRIES` entries, over only the keys the mask can allow
(causal: up to the last query; window: its width), which keeps them in cache. The one-hot models of this library
(the demo, the Post machines, connectivity's pointer heads) have integer scores, the Theorem 1 tree's nearest-key
head dyadic ones (its query holds ``x / 2`` and ``x^2 / 4`` with ``x = i / 2^l``).

**Scores shared by the batch.** When the scores are exact and every sequence's queries and keys equal the first
sequence's (they are read from coordinates that hold the position alone, as in every head of the Theorem 1 tree),
every sequence's score block is the first one's, value for value (a -0 and a +0 are alike to the maximum and the
comparisons): the scores, the chosen keys and the tie test are computed for that one sequence, and the values of
every sequence are read by the same index. log-depth-a5 at n = 512 spends 1/200 of the score work it did.

**Heads beside uniform heads.** A sublayer that mixes heads of all-zero scores with gathered heads (the layer-norm-hash
recognizer's count sublayer) is taken by :meth:`~exactformer.core.arith.torch_uniform.UniformAttention.
_uniform_heads_beside_one_hot`, which asks :meth:`OneHotAttention._one_hot_parts` for the gathered heads only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

import torch

from ..architecture import Attention
from ..attention_rules import allowed
from ..dyadic import SIGNIFICAND as _SIGNIFICAND
from ..dyadic import fraction_bits as _fraction_bits
from ..dyadic import integer_peak as _integer_peak
from .torch import _all_finite
from .torch_cached import known_plain

__all__ = ["OneHotAttention", "HARD_BLOCK_ENTRIES", "position_only", "zero_scores"]

#: Most scores one block of exact-integer hard attention holds (8 MB in float64: it stays in the cache).
HARD_BLOCK_ENTRIES = 2**20

#: Choices of shared scores kept per sublayer (:meth:`OneHotAttention._remembered_choices`): a looped model's
#: iterations (log n of them) each call the sublayer with their own queries.
REMEMBERED_CHOICES = 32

#: Fraction bits of the values whose average-hard ties this path averages (exactly, see the module's docstring).
DYADIC_BITS = 8


#: One block's ``(sequences, queries, keys)`` slices and :meth:`OneHotAttention._chosen`'s ``(index, some, winners)``.
_Block = tuple[slice, slice, slice, torch.Tensor, torch.Tensor, "torch.Tensor | None"]
#: ``(start, stop, blocks)`` of a chunk of queries (a list when remembered).
_Chunk = tuple[int, int, list[_Block]]


class _Declined(Exception):
    """The one-hot path does not answer this call (the general path runs instead)."""


class OneHotAttention:
    """The gather path of hard attention of :class:`~exactformer.core.arith.torch_fast.TorchArithmetic`."""

    dtype: torch.dtype
    device: torch.device
    chunk: int
    rounds_intermediate_results: ClassVar[bool]

    if TYPE_CHECKING:  # provided by TorchArithmetic
        def relative_bias(self, att: Attention, head: int, query: torch.Tensor,
                          key: torch.Tensor) -> torch.Tensor | None: ...
        def _heads_out(self, z: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor: ...
        def _bias_peak(self, att: Attention) -> float: ...

    def _one_hot_attention(
        self, out: torch.Tensor, q: torch.Tensor | None, k: torch.Tensor | None, v: torch.Tensor | None,
        query_pos: torch.Tensor, key_pos: torch.Tensor, att: Attention, W_O: torch.Tensor, constant: bool,
    ) -> bool:
        """Add to ``out`` what :meth:`_general_attention` would add, and return True; or return False, with ``out``
        untouched, where this path declines (see the module's docstring). ``constant``: every ``q . k`` is +-0, so
        the scores are the relative biases, the same for every sequence (``q`` and ``k`` may be None)."""
        parts = self._one_hot_parts(q, k, v, query_pos, key_pos, att, constant, tuple(range(att.n_heads)))
        if parts is None:
            return False
        for start, z in parts:
            out[:, start : start + z.shape[2]] += self._heads_out(z, W_O)
        return True

    def _one_hot_parts(
        self, q: torch.Tensor | None, k: torch.Tensor | None, v: torch.Tensor | None, query_pos: torch.Tensor,
        key_pos: torch.Tensor, att: Attention, constant: bool, heads: tuple[int, ...],
    ) -> list[tuple[int, torch.Tensor]] | None:
        """``z`` ``[batch, len(heads), chunk, d_head]`` of each chunk of queries (with its first query's index) for
        the heads ``heads`` of ``att``, whose queries, keys and values ``q``, ``k``, ``v`` hold those heads only;
        ``[]`` when ``v`` is None (the choices made, so that a tie is reported); None where this path declines."""
        if att.kind not in ("hard", "average_hard") or self.rounds_intermediate_results:
            return None
        if att.kind == "hard" and att.tie_rule not in ("error", "leftmost", "rightmost"):
            return None
        negative = False  # a column of v with every sign bit set (and no zero): every query needs a key
        if v is not None:
            plain = _plain_values(v)
            if plain is None:
                return None
            negative = not plain
        every_q, every_k = q, k
        if not constant and _same_for_every_sequence(q) and _same_for_every_sequence(k):
            q, k = q[:1], k[:1]  # type: ignore[index]  # scores of position alone: one sequence's, if exact
        exact = not constant and self._exact_scores(q, k, att)
        if not exact:  # the general path's one block of every sequence's scores (BLAS's bits depend on shapes)
            q, k = every_q, every_k
        dyadic = att.kind == "average_hard" and v is not None and self._dyadic_values(v)
        batch = v.shape[0] if v is not None else (q.shape[0] if q is not None else 1)
        shared, remembered = False, None
        if q is not None and k is not None and q.shape[0] == 1 < batch:  # every sequence's scores: the first one's
            shared, remembered = True, self._remembered_choices(att, heads, q, k, query_pos, key_pos)
        choices: Sequence[tuple[int, int, Iterable[_Block]]] | None = remembered
        try:
            if choices is None:  # each chunk's blocks are chosen as its values are read (its scores still cached)
                chunks = [(start, min(start + self.chunk, len(query_pos)))
                          for start in range(0, len(query_pos), self.chunk)]
                choices = [(start, stop, self._choices(q, k, query_pos, key_pos, att, heads, start, stop,
                                                       1 if shared else batch, constant, exact, dyadic))
                           for start, stop in chunks]
                if shared and q is not None and k is not None:
                    kept = [(start, stop, list(blocks)) for start, stop, blocks in choices]
                    self._remember_choices(att, heads, q, k, query_pos, key_pos, kept)
                    choices = kept
            if v is None:
                for _, _, blocks in choices:
                    for _ in blocks:  # the choice itself raises at a tie without a tie rule
                        pass
                return []
            return [(start, self._chunk_values(v, start, stop, blocks, shared, negative))
                    for start, stop, blocks in choices]
        except _Declined:
            return None

    def _remembered_choices(self, att: Attention, heads: tuple[int, ...], q: torch.Tensor, k: torch.Tensor,
                            query_pos: torch.Tensor, key_pos: torch.Tensor) -> list[_Chunk] | None:
        """The chosen keys a shared call of these heads of this sublayer found for these queries, keys and positions
        (``torch.equal``), if remembered: the scores of position alone are the same in every batch of a size, so
        the next batch reads its values by the same choice. (A looped model calls one sublayer with other queries
        at each iteration: up to :data:`REMEMBERED_CHOICES` of them are kept per sublayer.)"""
        for seen in self.__dict__.get("_shared_choices", {}).get(id(att), ()):
            seen_att, seen_heads, seen_q, seen_k, seen_query_pos, seen_key_pos, chunk, choices = seen
            if seen_att is att and seen_heads == heads and chunk == self.chunk and all(
                a.shape == b.shape and torch.equal(a, b)
                for a, b in ((q, seen_q), (k, seen_k), (query_pos, seen_query_pos), (key_pos, seen_key_pos))
            ):
                return choices
        return None

    def _remember_choices(self, att: Attention, heads: tuple[int, ...], q: torch.Tensor, k: torch.Tensor,
                          query_pos: torch.Tensor, key_pos: torch.Tensor, choices: list[_Chunk]) -> None:
        """Keep a shared call's choices for the next batches, unless an average-hard tie needed the values (its
        average depends on them being dyadic)."""
        if any(winners is not None for _, _, blocks in choices for *_, winners in blocks):
            return
        kept: dict[int, list[tuple]] = self.__dict__.setdefault("_shared_choices", {})
        entries = [seen for seen in kept.get(id(att), []) if seen[0] is att][-REMEMBERED_CHOICES + 1 :]
        kept[id(att)] = [*entries, (att, heads, q.clone(), k.clone(), query_pos.clone(), key_pos.clone(), self.chunk,
                                    choices)]

    def _exact_scores(self, q: torch.Tensor | None, k: torch.Tensor | None, att: Attention) -> bool:
        """Whether every score ``q . k + bias`` is a dyadic rational that every order of summation computes exactly
        (the module's docstring, "Blocks")."""
        if q is None or k is None or not q.numel() or not k.numel():
            return False
        a, b = _fraction_bits(q), _fraction_bits(k)
        if a is None or b is None:
            return False
        scale = 2.0 ** (a + b)
        biases = [bias for bias in (att.relative_bias or ()) if bias is not None]
        values = [v for bias in biases for v in (bias.default, *bias.values.values())]
        if any(value * scale != int(value * scale) for value in values):
            return False
        q_peak, k_peak = _integer_peak(q * 2.0**a), _integer_peak(k * 2.0**b)
        bound = q.shape[-1] * q_peak * k_peak + scale * self._bias_peak(att)
        return bound < 2.0 ** _SIGNIFICAND.get(self.dtype, 0)

    def _dyadic_values(self, v: torch.Tensor) -> bool:
        """Whether every value is a multiple of ``2^-DYADIC_BITS`` so small that a sum of all of them over a power of
        two is exact in the dtype (then every order of summation of an average-hard tie gives the same float)."""
        peak = _integer_peak(v * 2.0**DYADIC_BITS)
        return v.shape[2] * peak < 2.0 ** _SIGNIFICAND.get(self.dtype, 0)

    def _choices(
        self, q: torch.Tensor | None, k: torch.Tensor | None, query_pos: torch.Tensor, key_pos: torch.Tensor,
        att: Attention, heads: tuple[int, ...], start: int, stop: int, batch: int, constant: bool, exact: bool,
        dyadic: bool,
    ) -> Iterator[_Block]:
        """The blocks of the queries ``start:stop`` (of the heads ``heads``), one at a time: its ``(sequences,
        queries, keys)`` slices and what :meth:`_chosen` found there (``batch`` sequences; 1 when the scores are
        shared); raises :class:`_Declined` where the general path must answer. Consecutive blocks of the same
        queries and keys (other sequences) share the mask's keys, computed once."""
        seen: tuple[tuple[slice, slice], tuple[torch.Tensor | None, torch.Tensor]] | None = None
        for rows, qs, ks in self._blocks(None if constant else q, query_pos, key_pos, att, start, stop, batch, exact):
            qpos, kpos = query_pos[qs], key_pos[ks]
            if seen is None or seen[0] != (qs, ks):
                sees = allowed(att.mask, qpos, kpos)
                seen = ((qs, ks), (None if bool(sees.all()) else ~sees, sees.any(dim=-1)))
            if constant:
                scores = torch.zeros((1, len(heads), len(qpos), len(kpos)), dtype=self.dtype, device=self.device)
            else:
                assert q is not None and k is not None
                scores = torch.einsum("bhqe,bhke->bhqk", q[rows, :, qs], k[rows, :, ks])
            biases = [self.relative_bias(att, h, qpos, kpos) for h in heads]
            if any(b is not None for b in biases):
                zeros = torch.zeros(len(qpos), len(kpos), dtype=self.dtype, device=self.device)
                scores = scores + torch.stack([zeros if b is None else b for b in biases])[None]
            yield (rows, qs, ks, *self._chosen(scores, *seen[1], att, dyadic))

    def _chunk_values(self, v: torch.Tensor, start: int, stop: int, blocks: Iterable[_Block], shared: bool,
                      negative: bool = False) -> torch.Tensor:
        """``z`` ``[batch, head, query, d_head]`` of the queries ``start:stop``: each block's chosen values (with
        ``shared`` the block's choice read in every sequence); raises :class:`_Declined` at an average-hard tie it
        cannot average exactly, and with ``negative`` (a column of ``v`` with every sign bit set) at a query
        without an allowed key (the general path's ``sum_k 0 * v_k`` may be -0 there)."""
        batch, d_head = v.shape[0], v.shape[-1]
        z = torch.zeros((batch, v.shape[1], stop - start, d_head), dtype=self.dtype, device=self.device)
        for rows, qs, ks, index, some, winners in blocks:
            if negative and not bool(some.all()):
                raise _Declined
            rows = slice(0, batch) if shared else rows  # a shared choice: the values of every sequence
            values = v[rows]
            if winners is not None:  # an average-hard tie: exact sums over the maximal keys, over their count
                if winners.shape[0] != values.shape[0]:  # scores shared by every sequence
                    winners = winners.expand(values.shape[0], -1, -1, -1)
                picked = _averages(winners, values[:, :, ks])
            else:
                index = index + ks.start
                if index.shape[0] != values.shape[0]:  # scores shared by every sequence
                    index = index.expand(values.shape[0], -1, -1)
                picked = torch.gather(values, 2, index[..., None].expand(-1, -1, -1, d_head))
            picked = torch.where(some[None, None, :, None], picked, 0.0) + 0.0  # -0 + 0 = +0 (module docstring)
            z[rows, :, qs.start - start : qs.stop - start] = picked
        return z

    def _chosen(self, scores: torch.Tensor, hidden: torch.Tensor | None, some: torch.Tensor, att: Attention,
                dyadic: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The chosen key of every query (``[batch, head, query]``, indices into the block's keys), whether the
        query has an allowed key (``some``, ``[query]``, returned), and for an average-hard tie the maximal keys as
        0/1 floats (else None); raises :class:`_Declined` at a non-finite maximum or a tie this path does not
        compute (see :meth:`_chunk_values`). ``hidden``: the keys the mask hides from each query (None: none).
        ``scores`` is a fresh block: it is overwritten."""
        if att.kind == "average_hard" and not _all_finite(scores):  # the general path tests these scores
            raise _Declined
        if hidden is not None:
            scores.masked_fill_(hidden, float("-inf"))
        best, index = scores.max(dim=-1)
        finite = torch.isfinite(best) | ~some
        if not bool(finite.all()):
            raise _Declined
        if att.kind == "hard" and att.tie_rule == "rightmost":  # the last maximal key: the first of the reversed keys
            maximal = (scores == best[..., None]).flip(-1).view(torch.uint8)  # (a query with no key: any index)
            return scores.shape[-1] - 1 - maximal.argmax(dim=-1), some, None
        scores.scatter_(-1, index[..., None], float("-inf"))
        tied = (scores.max(dim=-1).values == best) & some
        if not bool(tied.any()) or (att.kind == "hard" and att.tie_rule == "leftmost"):
            return index, some, None
        if att.kind != "average_hard" or not dyadic:
            raise _Declined
        scores.scatter_(-1, index[..., None], best[..., None])  # the block as it was
        winners = ((scores == best[..., None]) & some[:, None]).to(self.dtype)
        return index, some, winners

    def _blocks(
        self, q: torch.Tensor | None, query_pos: torch.Tensor, key_pos: torch.Tensor, att: Attention, start: int,
        stop: int, batch: int, exact: bool,
    ) -> Iterator[tuple[slice, slice, slice]]:
        """``(sequences, queries, keys)`` slices of the blocks of the queries ``start:stop``: with ``exact`` scores
        blocks of at most :data:`HARD_BLOCK_ENTRIES` over the keys the mask can allow; else the general path's
        ``[chunk, key]`` product of each sequence and head, for as many sequences at once as fit in
        :data:`HARD_BLOCK_ENTRIES` (at least one; BLAS gives each sequence's product the same bits in a batch of any
        size, which tests/core/test_one_hot_attention.py checks), so that the passes over a block stay in the
        cache."""
        everything = slice(0, len(key_pos))
        if q is None:  # constant scores (the relative biases): one block, its scores shared by every sequence
            yield slice(0, batch), slice(start, stop), everything
            return
        heads, n_keys = q.shape[1], len(key_pos)
        if not exact:
            step = max(1, HARD_BLOCK_ENTRIES // (heads * (stop - start) * max(1, n_keys)))
            for b in range(0, batch, step):
                yield slice(b, min(batch, b + step)), slice(start, stop), everything
            return
        per_query = heads * n_keys
        rows = max(1, HARD_BLOCK_ENTRIES // per_query)
        ordered = torch.equal(key_pos, torch.arange(n_keys, dtype=key_pos.dtype, device=key_pos.device))
        for b in range(0, batch, max(1, rows // (stop - start))):
            sequences = slice(b, min(batch, b + max(1, rows // (stop - start))))
            for s in range(start, stop, rows):
                queries = slice(s, min(stop, s + rows))
                yield sequences, queries, _key_range(att, query_pos[queries], n_keys) if ordered else everything


def _same_for_every_sequence(t: torch.Tensor | None) -> bool:
    """Whether every sequence of ``t`` (``[batch, ...]``) holds the first one's values (``==``: -0 and +0 alike, which
    no maximum, comparison or chosen key tells apart; a NaN is unequal)."""
    return t is not None and (t.shape[0] == 1 or torch.equal(t, t[:1].expand_as(t)))


def _key_range(att: Attention, query_pos: torch.Tensor, n_keys: int) -> slice:
    """The keys (positions ``0..n_keys - 1`` in order) that the mask can let the queries at ``query_pos`` see."""
    kind = att.mask.kind
    if kind == "none" or not len(query_pos):
        return slice(0, n_keys)
    last = min(n_keys, int(query_pos.max()) + 1)
    width = att.mask.width if kind == "window" and att.mask.width is not None else None
    first = 0 if width is None else max(0, int(query_pos.min()) - width + 1)
    return slice(min(first, last), last) if last > 0 else slice(0, n_keys)


def _averages(winners: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``sum_k w_k v_k / count`` over the maximal keys (``winners`` 0/1) of dyadic values: exact where the count is
    a power of two (``1 / count`` and every partial sum are exact) or every maximal value is 0 (each product is
    then a zero); a query with another count raises :class:`_Declined`."""
    counts = winners.sum(dim=-1, keepdim=True).clamp(min=1)
    whole = counts.to(torch.int64)
    if not bool(((whole & (whole - 1)) == 0).all()):
        zero = (torch.einsum("bhqk,bhke->bhqe", winners, values.abs()) == 0).all(dim=-1, keepdim=True)
        if not bool((((whole & (whole - 1)) == 0) | zero).all()):
            raise _Declined
    return torch.einsum("bhqk,bhke->bhqe", winners, values) / counts


def zero_scores(q: torch.Tensor, k: torch.Tensor, head: int) -> bool:
    """Whether every ``q . k`` of ``head`` is +-0: its queries are all 0 and its keys finite, or its keys all 0 and
    its queries finite (a 0 times an infinity or a NaN would be NaN)."""
    return ((bool((q[:, head] == 0).all()) and _all_finite(k[:, head]))
            or (bool((k[:, head] == 0).all()) and _all_finite(q[:, head])))


def position_only(q: torch.Tensor | None, k: torch.Tensor | None) -> bool:
    """Whether every ``q . k`` is +-0 in every head (:func:`zero_scores`), so that the scores are the relative
    biases alone, the same for every sequence."""
    return q is not None and k is not None and all(zero_scores(q, k, h) for h in range(q.shape[1]))


def _plain_values(v: torch.Tensor) -> bool | None:
    """How the general path's ``sum_k w_k v_k`` with one weight 1 reads the values (the module's docstring): True
    when every value is finite and no column ``[batch, head, :, coordinate]`` has every sign bit set (the sum is
    ``v_i`` exactly, its zeros +0); False when every value is finite and each column with every sign bit set holds
    no zero (the sum is still ``v_i``, which is not 0 there, but a query without a key sums -0s); None otherwise
    (the path declines)."""
    if not v.numel() or known_plain(v):  # finite, and no sign bit set at all
        return True
    if not _all_finite(v):
        return None
    negative = torch.signbit(v).all(dim=2)
    if not bool(negative.any()):
        return True
    return None if bool(((v == 0).any(dim=2) & negative).any()) else False
