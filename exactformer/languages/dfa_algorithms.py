"""The algorithms behind :class:`~exactformer.languages.dfa.DFA`: reachability, minimization, product automata.

Each function takes transition tables or DFAs and returns plain data (state lists, transition dicts, the parts of
a new automaton); the :class:`DFA` methods wrap them and validate the result. Tables are numpy ``int64`` arrays
``table[state, symbol] = next_state`` over state and symbol indices, ``-1`` marking a missing transition.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._common import canonical_order

if TYPE_CHECKING:
    from .dfa import DFA

__all__ = ["breadth_first", "completed_arrays", "minimal_parts", "pair_search", "distinguishing_symbols",
           "product_parts"]

#: A state of a product automaton: a pair of states, ``None`` on a side that fell off (missing transition).
Pair = tuple[Any, Any]


def breadth_first(table: np.ndarray, start: int) -> list[int]:
    """The states reachable from ``start`` in breadth-first order, symbols tried left to right (``-1`` skipped)."""
    order = [start]
    seen = {start}
    i = 0
    while i < len(order):
        for j in table[order[i]]:
            j = int(j)
            if j >= 0 and j not in seen:
                seen.add(j)
                order.append(j)
        i += 1
    return order


def completed_arrays(table: np.ndarray, accept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The transition table and accepting mask with a rejecting sink appended (index n) when the table is partial."""
    if (table < 0).any():
        n, k = table.shape
        table = np.vstack([np.where(table < 0, n, table), np.full((1, k), n, dtype=np.int64)])
        accept = np.append(accept, False)
    return table, accept


def minimal_parts(table: np.ndarray, accept: np.ndarray, start: int, symbols: Sequence[Hashable], *,
                  complete: bool) -> dict[str, Any]:
    """The minimal DFA of the language of ``(table, accept, start)``: ``states``, ``transitions``, ``start``,
    ``accepting``, the states numbered ``0, 1, ...`` breadth-first from the start.

    Unreachable states are dropped and equivalent states merged by Moore's partition refinement. With
    ``complete=False`` the dead class (rejecting, every symbol loops) is removed, unless it is the start class.
    """
    table, accept = completed_arrays(table, accept)
    reach = np.array(breadth_first(table, start), dtype=np.int64)
    remap = np.full(table.shape[0], -1, dtype=np.int64)
    remap[reach] = np.arange(len(reach))
    sub = remap[table[reach]]  # (r, k) over reachable indices
    cls = accept[reach].astype(np.int64)
    n_cls = len(np.unique(cls))
    while True:
        sig = np.column_stack([cls, cls[sub]]) if sub.size else cls[:, None]
        _, inverse = np.unique(sig, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        n_new = int(inverse.max()) + 1
        cls = inverse
        if n_new == n_cls:
            break
        n_cls = n_new
    # class transition table, class acceptance
    rep = np.zeros(n_cls, dtype=np.int64)
    rep[cls] = np.arange(len(cls))
    cls_table = cls[sub[rep]] if sub.size else np.zeros((n_cls, 0), dtype=np.int64)
    cls_accept = accept[reach][rep]
    # canonical numbering: breadth-first from the start class
    start_cls = int(cls[0])
    bfs = breadth_first(cls_table, start_cls)
    number = {c: k for k, c in enumerate(bfs)}
    dead = None
    if not complete:
        for c in bfs:
            if not cls_accept[c] and all(int(x) == c for x in cls_table[c]):
                dead = c
                break
    transitions = {}
    for c in bfs:
        if c == dead:
            continue
        for j, a in enumerate(symbols):
            c2 = int(cls_table[c, j])
            if c2 != dead:
                transitions[(number[c], a)] = number[c2]
    states = [number[c] for c in bfs if c != dead or c == start_cls]
    accepting = [number[c] for c in bfs if cls_accept[c] and c != dead]
    return {"states": states, "transitions": transitions, "start": 0, "accepting": accepting}


def _step(dfa: DFA, state: Any, symbol: Hashable) -> Any:
    return None if state is None else dfa.transitions.get((state, symbol))


def pair_search(a: DFA, b: DFA, accept: Callable[[bool, bool], bool], *, stop_at_accepting: bool
                ) -> tuple[list[Pair], dict[Pair, tuple[Pair, Hashable] | None], Pair | None]:
    """Breadth-first search of the product of ``a`` and ``b`` over the union alphabet.

    Returns the pairs in visiting order, each pair's parent and the symbol leading to it, and the first pair whose
    acceptance ``accept(in a, in b)`` holds (``None`` unless ``stop_at_accepting``, or when there is none).
    """
    symbols = canonical_order(a.alphabet | b.alphabet)
    start = (a.start, b.start)
    parent: dict[Pair, tuple[Pair, Hashable] | None] = {start: None}
    order = [start]
    i = 0
    while i < len(order):
        p, q = order[i]
        i += 1
        if stop_at_accepting and accept(p in a.accepting, q in b.accepting):
            return order, parent, (p, q)
        for s in symbols:
            nxt = (_step(a, p, s), _step(b, q, s))
            if nxt not in parent:
                parent[nxt] = ((p, q), s)
                order.append(nxt)
    return order, parent, None


def distinguishing_symbols(a: DFA, b: DFA, accept: Callable[[bool, bool], bool]) -> list[Hashable] | None:
    """A shortest word (as a list of symbols) leading the product to a pair where ``accept`` holds, or ``None``."""
    _, parent, hit = pair_search(a, b, accept, stop_at_accepting=True)
    if hit is None:
        return None
    word: list[Hashable] = []
    node = hit
    while (link := parent[node]) is not None:
        node, s = link
        word.append(s)
    return word[::-1]


def product_parts(a: DFA, b: DFA, accept: Callable[[bool, bool], bool]) -> dict[str, Any]:
    """The reachable product automaton of ``a`` and ``b`` with acceptance ``accept(in a, in b)``, as DFA parts."""
    order, _, _ = pair_search(a, b, accept, stop_at_accepting=False)
    symbols = canonical_order(a.alphabet | b.alphabet)
    transitions = {((p, q), s): (_step(a, p, s), _step(b, q, s)) for p, q in order for s in symbols}
    accepting = [(p, q) for p, q in order if accept(p in a.accepting, q in b.accepting)]
    return {"states": order, "alphabet": a.alphabet | b.alphabet, "transitions": transitions,
            "start": (a.start, b.start), "accepting": accepting}
