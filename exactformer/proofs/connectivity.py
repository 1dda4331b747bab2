"""The certificate of the log-depth connectivity model (Merrill & Sabharwal, Theorem 2): its MLPs proven on every
local configuration, its heads and the whole run tested.

The model is built for graphs of at most ``num_vertices`` vertices (the repeat count is fixed at build time), so
"every n" here means every graph size up to that bound. Proven, exhaustively in exact arithmetic from the weights:

``base_case_mlp``
    on every token kind and every (equality bit, adjacency bit): ``B_0 = eq or A`` at adjacency tokens, 0 elsewhere,
    ``eq`` cleared, ``r = 1``.
``squaring_mlp``
    on every local configuration of both halves, for every graph size n' <= num_vertices: with ``r = 1`` a padding
    token's ``C`` becomes ``B(i, k) and B(k, j)``; with ``r = 0`` an adjacency token's ``B`` becomes
    ``[h >= 1/(2n')]`` for ``h = c/n'``, c = 0..n' (some midpoint exists); every other cell is unchanged; ``r`` flips.
``loop_same_layer``, ``enough_levels``
    the loop's two layers have the same weights; the loop runs ``ceil(log2 num_vertices)`` levels, enough for every
    graph the encoding accepts.

Tested only: the heads (quadratic pointers matching cells and triples, the collecting average, the self-clearing
head, the answer head) and the run as a whole, against BFS on random graphs of every size up to ``num_vertices``
(``heads_and_run_tested``). Each printed erratum fails a proven lemma: ``printed_base_case`` ->
``base_case_mlp``, ``printed_flip`` and ``printed_threshold`` -> ``squaring_mlp``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import networkx as nx
import torch

from ..constructions.log_depth_connectivity import ConnectivityParameters
from ..core.architecture import MLP
from ..core.construction import Construction
from ..core.space import Space
from ..verify.certificate import Certificate, Lemma, exhaustive, induction, register_prover, symbolic, tested
from .weight_forms import bias_of, entries_of, mlp_of, same_weights

__all__ = ["prove_connectivity"]

_FINITE = ("one", "tok:adj", "tok:bit", "tok:pad", "tok:a", "tok:b", "eq", "B", "C", "r", "x:bik", "x:bkj", "x:h",
           "x:half", "ans")
Case = tuple[str, Mapping[str, Any], Mapping[str, Any]]


def _step_mlp_check(space: Space, mlp: MLP, cases: Sequence[Case], name: str, statement: str, scope: str) -> Lemma:
    """``x + MLP(x)`` (step units ``1[z >= threshold]``) on every case, exactly; the units may read only the
    finite cells (not the coordinates or counts, which the cases leave unspecified)."""
    names = space.names
    reads = entries_of(mlp.W_in)
    outputs = entries_of(mlp.W_out)
    unread = [names[r] for r in reads if names[r] not in _FINITE]
    kind = mlp.activation

    def holds(case: Case) -> bool | str:
        label, before, after = case
        if unread:
            return f"the MLP reads {unread[0]}, which no finite configuration fixes"
        x = [Fraction(before.get(c, 0)) if c != "one" else Fraction(1) for c in names]
        pre = [Fraction(b) for b in bias_of(mlp.b_in)]
        for r, cols in reads.items():
            for u, w in cols:
                pre[u] += w * x[r]
        act = [(Fraction(1) if z >= mlp.threshold else Fraction(0)) if kind == "step" else max(z, Fraction(0))
               for z in pre]
        y = [v + Fraction(b) for v, b in zip(x, bias_of(mlp.b_out))]
        for u, cols in outputs.items():
            for col, w in cols:
                y[col] += w * act[u]
        for k, cell in enumerate(names):
            want = Fraction(after.get(cell, 0)) if cell in _FINITE and cell != "one" else x[k]
            if y[k] != want:
                return f"{cell} becomes {y[k]}, not {want}"
        return True

    return exhaustive(name, statement, cases, holds, describe=lambda case: case[0], scope=scope)


def _base_cases() -> list[Case]:
    cases: list[Case] = []
    for eq in (0, 1):
        for bit in (0, 1):
            tok = {"tok:adj": 1, "tok:bit": bit}
            cases.append((f"adjacency eq={eq} bit={bit}", {**tok, "eq": eq}, {**tok, "B": eq | bit, "r": 1}))
    for kind in ("pad", "a", "b"):
        cases.append((kind, {f"tok:{kind}": 1}, {f"tok:{kind}": 1, "r": 1}))
    return cases


def _square_cases(largest: int) -> list[Case]:
    cases: list[Case] = []
    for b in (0, 1):
        for c in (0, 1):
            for bkj in (0, 1):
                pad = {"tok:pad": 1, "x:bik": b, "x:bkj": bkj}
                cases.append((f"C half, padding B(i,k)={b} B(k,j)={bkj} C={c}", {**pad, "C": c, "r": 1},
                              {**pad, "C": b & bkj}))
                cases.append((f"B half, padding B(i,k)={b} B(k,j)={bkj} C={c}", {**pad, "C": c},
                              {**pad, "C": c, "r": 1}))
    for n in range(1, largest + 1):
        for count in range(0, n + 1):
            for b in (0, 1):
                adj = {"tok:adj": 1, "x:h": Fraction(count, n), "x:half": Fraction(1, 2 * n)}
                for bit in (0, 1):
                    cell = {**adj, "tok:bit": bit, "B": b}
                    cases.append((f"C half, adjacency n={n} c={count} B={b} bit={bit}", {**cell, "r": 1}, cell))
                    cases.append((f"B half, adjacency n={n} c={count} B={b} bit={bit}", cell,
                                  {**cell, "B": int(count >= 1), "r": 1}))
    for kind in ("a", "b"):
        cases.append((f"C half, {kind}", {f"tok:{kind}": 1, "r": 1}, {f"tok:{kind}": 1}))
        cases.append((f"B half, {kind}", {f"tok:{kind}": 1}, {f"tok:{kind}": 1, "r": 1}))
    return cases


def _run_tested(construction: Construction, largest: int) -> Lemma:
    rng = random.Random(0)
    inputs = []
    for n in range(1, largest + 1):
        graphs = [nx.path_graph(n, create_using=nx.DiGraph)]
        graphs += [nx.gnp_random_graph(n, p, seed=rng.randrange(2**31), directed=True) for p in (0.15, 0.3)]
        for g in graphs:
            pairs = [(s, t) for s in range(n) for t in range(n)]
            inputs += [(g, s, t) for s, t in rng.sample(pairs, min(len(pairs), 3))]
    wrong, error = None, ""
    groups: dict[int, list[tuple[nx.DiGraph, int, int]]] = {}
    for x in inputs:
        groups.setdefault(len(construction.encode(x)), []).append(x)
    try:
        for batch in groups.values():
            for x, got in zip(batch, construction.answer_batch(batch, dtype=torch.float64)):
                if wrong is None and bool(got) != nx.has_path(x[0], x[1], x[2]):
                    wrong = x
    except Exception as err:  # noqa: BLE001 - a model that cannot run fails the test
        error = f"{type(err).__name__}: {err}"
    if error:
        return tested("heads_and_run_tested", "the model answers s-t reachability as BFS does", False, error,
                      scope=f"n <= {largest}, sampled")
    detail = (f"wrong on the graph {sorted(wrong[0].edges)} with s = {wrong[1]}, t = {wrong[2]}" if wrong else
              f"{len(inputs)} (graph, s, t) inputs, n = 1..{largest} (paths and G(n, p) digraphs), torch float64 "
              "against BFS")
    return tested("heads_and_run_tested", "the pointer heads select the intended cells and triples, the collecting "
                  "head averages C(i, ., j), and the model answers s-t reachability as BFS does", wrong is None,
                  detail, scope=f"n <= {largest}, sampled")


def prove_connectivity(construction: Construction) -> Certificate:
    """The certificate of a :func:`~exactformer.constructions.log_depth_connectivity` model."""
    params: ConnectivityParameters = construction.parameters
    model = construction.model
    largest = params.num_vertices
    space = model.space
    lemmas: list[Lemma] = []
    base = model.layers[1].mlp if len(model.layers) == 2 else None
    if base is None or not isinstance(base.block, MLP):
        lemmas.append(symbolic("base_case_mlp", "the second layer is the base case", lambda: (False, "no MLP there")))
    else:
        lemmas.append(_step_mlp_check(space, base.block, _base_cases(), "base_case_mlp",
                                      "on every token kind and (eq, adjacency bit): B_0 = eq or A at adjacency "
                                      "tokens and 0 elsewhere, eq cleared, r = 1, nothing else changes", "every n"))
    loop = model.loop
    if loop is not None:
        first, second = loop.block[0], loop.block[1] if len(loop.block) > 1 else None

        def same() -> tuple[bool, str]:
            if second is None or len(loop.block) != 2:
                return False, "the loop block is not two layers"
            for (kind, a), (_, b) in zip(first.sublayers(), second.sublayers()):
                for param in a.block.WEIGHTS:
                    if not same_weights(getattr(a.block, param), getattr(b.block, param)):
                        return False, f"{kind}.{param} differs between the two applications"
            return True, "one squaring layer, applied twice per level"

        lemmas.append(symbolic("loop_same_layer", "the loop's two layers are the same squaring layer", same))
        if first.mlp is not None:
            lemmas.append(_step_mlp_check(
                space, mlp_of(first), _square_cases(largest), "squaring_mlp",
                f"for every graph size n' <= {largest}: with r = 1 a padding token's C becomes B(i,k) and B(k,j); "
                "with r = 0 an adjacency token's B becomes [h >= 1/(2n')] (h = c/n': some midpoint exists); r flips; "
                "nothing else changes", f"n <= {largest}"))
    levels = loop.count(0) if loop is not None else 0

    def enough() -> tuple[bool, str]:
        needed = (largest - 1).bit_length() if largest > 1 else 0
        return levels >= needed, f"{levels} levels run, ceil(log2 {largest}) = {needed} needed"

    lemmas.append(symbolic("enough_levels", f"the loop runs at least ceil(log2 n) levels for every n <= {largest}",
                           enough, scope=f"n <= {largest}"))
    lemmas.append(_run_tested(construction, min(largest, 5)))
    lemmas.append(induction("reachable_iff_path", "after level l, B(i, j) = 1 iff a path of length <= 2^l leads from i "
                            "to j; the answer head reads B(s, t)", lemmas, scope=f"n <= {largest}"))
    return Certificate(
        construction=construction.name,
        conclusion=f"for every graph on n <= {largest} vertices and every (s, t), the model answers whether t is "
                   "reachable from s (the MLPs proven on every configuration; the heads tested)",
        lemmas=lemmas, scope=f"n <= {largest}", tested_to=f"n = {min(largest, 5)} (sampled graphs)",
        assumptions=("exact rational arithmetic for the proven lemmas; the tested lemma ran torch float64",
                     f"graphs on at most {largest} vertices (the build's bound)"),
    )


register_prover(ConnectivityParameters, prove_connectivity)
