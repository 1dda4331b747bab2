"""The certificate of Zhu et al.'s reachability by continuous thoughts in superposition: tested, not proven.

What this certificate does *not* prove, plainly: the construction's lemmas are inequalities between softmax
attention weights (the leaked mass of the edge-reading heads is at most ``eta``, the chooser's at most ``tau``) over
an L2-normalised residual stream; softmax and the L2 norm are irrational operations, so no exact evaluation exists
and the statement "thought c is the uniform superposition of the c-hop frontier" holds only up to those leaks. A
symbolic proof over counts (the average over k equally-scored edge tokens is ``1/k`` of their sum) would need the
leak bounds in closed form in (max_nodes, max_edges); that is not done here.

Lemmas:

``eps2_bound`` (exhaustive over the build's constants)
    the step threshold ``eps2`` is at most ``1/(4 max(m_max, n_max))``, the bound the note's erratum restores (the
    paper's ``1/(4 n_max)`` is too large on graphs with more edges than nodes); ``printed_eps2=True`` fails it.
``answers_every_3_node_query`` (tested, exhaustively over a finite set)
    on every query on 3 nodes the construction takes (every digraph, root and candidate pair: 192 of 384), the
    answer is the reachable candidate with no readout tie (torch float64); a mutant that only makes the readout
    tie on a small graph is caught here (``scripts/results/certificate_mutants.txt``).
``answers_tested``
    the model's answer is the candidate reachable from the root, on random graphs of 3 .. 12 nodes (torch float64).
"""

from __future__ import annotations

import random
from fractions import Fraction

import networkx as nx
import torch

from ..constructions.superposition_layers import SuperpositionParameters
from ..core.construction import Construction
from ..core.errors import InputError
from ..languages.graphs import ReachabilityQuery, random_reachability_query, reachable_from
from ..verify.certificate import Certificate, Lemma, exhaustive, induction, register_prover, tested

__all__ = ["prove_superposition"]


def _answers(construction: Construction, sizes: range, per_size: int) -> Lemma:
    params: SuperpositionParameters = construction.parameters
    rng = random.Random(0)
    checked, problem = 0, ""
    for n in sizes:
        for k in range(per_size):
            kind = ("dag", "cyclic", "dense")[k % 3]
            query = random_reachability_query(n, kind=kind, rng=rng)
            if query.graph.number_of_edges() > params.max_edges:
                continue
            reach = reachable_from(query.graph, query.root)
            want = [c for c in query.candidates if c in reach]
            try:
                construction.encode(query)
            except InputError:  # outside the construction's domain (e.g. a root with no out-edge): not a test
                continue
            try:
                result = construction.run(query, dtype=torch.float64)
            except Exception as err:  # noqa: BLE001 - a model that cannot run fails the test
                problem = f"{type(err).__name__} on a {kind} graph of {n} nodes: {err}"
                break
            checked += 1
            if want != [result.answer] or not result.margin > 0:  # a margin of 0 is a tie: nothing decided
                problem = (f"answers {result.answer} with margin {result.margin} on a {kind} graph of {n} nodes "
                           f"(root {query.root}, reachable {want})")
                break
        if problem:
            break
    return tested("answers_tested", "the model answers the candidate reachable from the root", not problem,
                  problem or f"{checked} random queries (dag, cyclic, dense), {sizes.start}..{sizes.stop - 1} nodes, "
                  "torch float64, against BFS", scope=f"graphs of {sizes.start}..{sizes.stop - 1} nodes, sampled")


def every_query(num_nodes: int) -> list[ReachabilityQuery]:
    """Every reachability query on the nodes ``0 .. num_nodes - 1``: each simple digraph on them (``2^(n(n-1))``),
    each root, each ordered pair of distinct candidates exactly one of which the root reaches."""
    pairs = [(a, b) for a in range(num_nodes) for b in range(num_nodes) if a != b]
    queries = []
    for subset in range(1 << len(pairs)):
        graph = nx.DiGraph()
        graph.add_nodes_from(range(num_nodes))
        graph.add_edges_from(p for k, p in enumerate(pairs) if subset >> k & 1)
        for root in range(num_nodes):
            reach = reachable_from(graph, root)
            queries += [ReachabilityQuery(graph=graph, root=root, candidates=(a, b), answer=a if a in reach else b)
                        for a, b in pairs if (a in reach) != (b in reach)]
    return queries


def _every_small_query(construction: Construction, num_nodes: int) -> Lemma:
    """Every query on ``num_nodes`` nodes that the construction takes (its encoder refuses the rest, e.g. a root
    without an out-edge), run in batches of equal prompt length: the answer, with a positive margin (no tie)."""
    groups: dict[int, list[ReachabilityQuery]] = {}
    outside = 0
    for query in every_query(num_nodes):
        try:
            groups.setdefault(len(construction.encode(query)), []).append(query)
        except InputError:
            outside += 1
    checked, problem = 0, ""
    for batch in groups.values():
        try:
            results = construction.run_batch(batch, dtype=torch.float64)
        except Exception as err:  # noqa: BLE001 - a readout tie or a model that cannot run fails the lemma
            problem = f"{type(err).__name__} on a batch of {len(batch)} queries on {num_nodes} nodes: {err}"
            break
        # a margin of 0 is a tie: the model decided nothing, whatever label the tie rule returned
        wrong = [(q, r) for q, r in zip(batch, results) if r.answer != q.answer or not r.margin > 0]
        if wrong:
            q, r = wrong[0]
            problem = (f"answers {r.answer} with margin {r.margin} on {sorted(q.graph.edges)} (root {q.root}, "
                       f"candidates {q.candidates}, reachable {q.answer})")
            break
        checked += len(batch)
    return tested(f"answers_every_{num_nodes}_node_query", f"on every query on {num_nodes} nodes the model answers "
                  "the reachable candidate, with no readout tie", not problem,
                  problem or f"{checked} queries (every digraph, root and candidate pair on {num_nodes} nodes the "
                  f"encoder takes; {outside} refused by it), torch float64, against BFS",
                  scope=f"every graph of {num_nodes} nodes")


def prove_superposition(construction: Construction) -> Certificate:
    """The (tested) certificate of :func:`~exactformer.constructions.superposition_reachability`."""
    params: SuperpositionParameters = construction.parameters
    bound = Fraction(1, 4 * max(params.max_edges, params.max_nodes))

    def small(eps2: Fraction) -> bool | str:
        return eps2 <= bound or f"eps2 = {eps2} > 1/(4 max(m_max, n_max)) = {bound}"

    lemmas = [exhaustive("eps2_bound", "the frontier threshold eps2 is at most 1/(4 max(m_max, n_max)), so a node "
                         "reached by one of up to m_max edges is still above it", [Fraction(params.eps2)], small,
                         scope=f"graphs of <= {params.max_nodes} nodes, <= {params.max_edges} edges",
                         describe=lambda e: f"eps2 = {e}")]
    largest = min(12, params.max_nodes)
    if params.max_nodes >= 3 and params.max_edges >= 6:
        lemmas.append(_every_small_query(construction, 3))
    lemmas.append(_answers(construction, range(3, largest + 1), 3))
    lemmas.append(induction("thoughts_are_frontiers", "thought c is (up to the leaked attention mass) the uniform "
                            "superposition of the nodes within c hops of the root, and the answer is the reachable "
                            "candidate", lemmas, scope=f"n <= {largest}, sampled"))
    return Certificate(
        construction=construction.name,
        conclusion="the model answers the reachable candidate (tested; softmax and L2 norms put the construction's "
                   "lemmas outside exact arithmetic)",
        lemmas=lemmas, scope=f"n <= {largest}", tested_to=f"n = {largest} (sampled graphs)",
        assumptions=("torch float64 evaluation for the tested lemma", "the build's constants (parameters) for "
                     "eps2_bound"),
    )


register_prover(SuperpositionParameters, prove_superposition)
