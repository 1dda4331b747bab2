"""Every word up to a length through a causal model at once, each shared prefix computed once, in ball arithmetic.

In a model whose attention is causal (a token sees itself and earlier tokens only) and that has no positional
feature depending on the sequence's length, the residual stream of token i after sublayer k depends only on tokens
0..i and on the first k sublayers. When the sublayers a sequence of n tokens runs are the first ones of what the
longest sequence runs (a looped model whose final block is the loop block), every prefix of every word is one row of
a trie, computed once through the longest schedule: the words of 0..N letters are 2^(N+1) - 1 trie rows (and as many
end tokens) instead of ~N 2^N token rows. :func:`prefix_shared_forward` checks those conditions and refuses a model
that breaks one (:class:`~exactformer.core.errors.InputError`); the per-row work is
:class:`~.ball.BallArithmetic`'s (its norms and MLPs act row by row, its decisions are certified the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flint import arb, arb_mat

from ..architecture import Attention, Transformer
from ..attention_rules import allowed
from ..errors import InputError
from ..forward import schedule
from .ball import BallArithmetic, _working_precision
from .base import Trace

__all__ = ["PrefixRun", "prefix_shared_forward"]


@dataclass
class PrefixRun:
    """The rows of a prefix-shared pass and what it recorded.

    ``rows[r]`` is the token sequence that ends at row r (its last token is the row's own); ``row_of[seq]`` the
    row of a sequence; ``snapshots[k]`` the residual rows (an object array ``[row, coordinate]``, the coordinates
    asked for) after sublayer k of the longest schedule, for the k asked for; ``labels`` the longest schedule's
    trace labels.
    """

    rows: list[tuple[str, ...]]
    row_of: dict[tuple[str, ...], int]
    labels: list[str]
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)


def _check(model: Transformer, sequences: Sequence[Sequence[str]]) -> list[tuple[str, Any]]:
    """The longest schedule, after checking that every shorter sequence's schedule is its first sublayers."""
    if model.embedding.positional:
        raise InputError("prefix sharing needs a model without positional features (they may read the length)")
    longest = max(len(s) for s in sequences)
    long_schedule, _ = schedule(model, longest)
    for length in sorted({len(s) for s in sequences}):
        short, _ = schedule(model, length)
        if any(a is not b for (_, a), (_, b) in zip(short, long_schedule)):
            raise InputError(f"the sublayers of a {length}-token sequence are not the first ones of a {longest}-token "
                             "sequence's (a final block that is not the loop block?): prefixes cannot be shared")
    for where, sub in long_schedule:
        if isinstance(sub.block, Attention):
            att = sub.block
            if att.mask.kind == "none":
                raise InputError(f"{where} is not causal: prefixes cannot be shared")
            if att.kind not in ("hard", "average_hard") or any(att.bias_for(h) is not None
                                                                for h in range(att.n_heads)):
                raise InputError(f"{where}: prefix sharing covers hard and average-hard heads without biases")
    return long_schedule


def prefix_shared_forward(model: Transformer, sequences: Sequence[Sequence[str]], arith: BallArithmetic,
                          keep: Sequence[int] = (), columns: Sequence[str] | None = None) -> PrefixRun:
    """Run ``model`` on every sequence in ``sequences`` (token lists) with each prefix computed once.

    Parameters
    ----------
    model, sequences, arith
        A causal model, the token sequences, the ball arithmetic (its trace records every decision, its ``what``
        naming the row's sequence).
    keep
        The indices of the longest schedule's sublayers whose output rows to keep (``PrefixRun.snapshots``).
    columns
        The coordinates of those rows to keep, in this order (``None``: all of them).
    """
    long_schedule = _check(model, sequences)
    rows: list[tuple[str, ...]] = []
    row_of: dict[tuple[str, ...], int] = {}
    for seq in sorted({tuple(s[:i]) for s in sequences for i in range(1, len(s) + 1)}, key=len):
        row_of[seq] = len(rows)
        rows.append(seq)
    chains = [[row_of[seq[:i]] for i in range(1, len(seq) + 1)] for seq in rows]  # each row's keys, by position
    run = PrefixRun(rows, row_of, [where for where, _ in long_schedule])
    arith.check_weights(model)
    arith.trace = _trace(model)
    x = arith.embed(model, [[seq[-1] for seq in rows]])
    wanted = set(keep)
    picked = None if columns is None else [model.space.index(c) for c in columns]
    for k, (where, sub) in enumerate(long_schedule):
        h = arith.norm(x, sub.input_norm, model, where + ".input_norm")
        if isinstance(sub.block, Attention):
            delta = _attend(arith, h, sub.block, chains, rows, where)
        else:
            delta = arith.mlp(h, sub.block, where)
        y = arith.add(x, delta) if sub.residual else delta
        x = arith.norm(y, sub.output_norm, model, where + ".output_norm")
        if k in wanted:
            run.snapshots[k] = x[0] if picked is None else x[0][:, picked]
    return run


def _trace(model: Transformer) -> Trace:
    return Trace(space_names=model.space.names)


def _attend(arith: BallArithmetic, h: np.ndarray, att: Attention, chains: list[list[int]],
            rows: list[tuple[str, ...]], where: str) -> np.ndarray:
    """Each row's query over the rows of its own prefix (its chain), as :meth:`BallArithmetic.attend` does for one
    sequence."""
    with _working_precision(arith.precision):
        states = arith._to_mat(h)
        total = arith._rows_plus(arb_mat(states.nrows(), states.ncols()), att.b_O)
        for head in range(att.n_heads):
            q = _rows(arith._rows_plus(states * arith._matrix(att.W_Q, head), att.b_Q, head))
            k = _rows(arith._rows_plus(states * arith._matrix(att.W_K, head), att.b_K, head))
            v = _rows(arith._rows_plus(states * arith._matrix(att.W_V, head), att.b_V, head))
            width = len(v[0]) if v else 0
            zero = arb(0)
            shares: dict[int, arb] = {}
            z: list[arb] = []
            if att.mask.kind == "causal" and _zero_query(arith, att, head):
                # every score is 0 * k = 0 exactly: an exact tie of all keys, certified; the average of a row's
                # values is its parent's sum plus its own, over the chain's length
                sums: list[list[arb]] = []
                for r, chain in enumerate(chains):
                    own = v[r]
                    sums.append(own if len(chain) == 1 else [a + b for a, b in zip(sums[chain[-2]], own)])
                    share = shares.setdefault(len(chain), 1 / arb(len(chain)))
                    z += [t * share for t in sums[r]]
                    arith.decide(where, f"argmax set of head {head} query {len(chain) - 1} ({''.join(rows[r])}): "
                                        f"all {len(chain)} keys (a zero query: every score is exactly 0)", True, 0.0)
            else:
                seen_at: dict[int, list[int]] = {}
                for r, chain in enumerate(chains):
                    position = len(chain) - 1
                    if position not in seen_at:
                        sees = np.asarray(allowed(att.mask, np.array([position]), np.arange(len(chain))))[0]
                        seen_at[position] = np.flatnonzero(sees).tolist()
                    keys = [chain[j] for j in seen_at[position]]
                    if not keys:
                        z += [zero] * width
                        continue
                    scores = [sum((a * b for a, b in zip(q[r], k[j])), zero) for j in keys]
                    what = f"head {head} query {position} ({''.join(rows[r])})"
                    chosen = arith.select(att, scores, where, what)
                    share = shares.setdefault(len(chosen), 1 / arb(len(chosen)))
                    z += [sum((v[keys[j]][c] for j in chosen), zero) * share for c in range(width)]
            if width:
                total = total + arb_mat(len(chains), width, z) * arith._matrix(att.W_O, head)
        return arith._from_mat(total, h.shape)


def _zero_query(arith: BallArithmetic, att: Attention, head: int) -> bool:
    """Whether the head's query is exactly 0 on every input (``W_Q`` and ``b_Q`` of the head all zero)."""
    return all(e.is_exact() and e.is_zero() for m in (arith._matrix(att.W_Q, head), arith._matrix(att.b_Q, head))
               for e in m.entries())


def _rows(m: arb_mat) -> list[list[arb]]:
    cols = m.ncols()
    entries = m.entries()
    return [entries[r * cols:(r + 1) * cols] for r in range(m.nrows())]
