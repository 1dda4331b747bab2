"""Zhu, Hao, Hu, Jiao, Russell, Tian (NeurIPS 2025, arXiv 2505.12514): graph reachability by continuous thoughts
held in superposition, with a two-layer transformer (Theorem 1, Appendix B).

The input is ``<s> (s t <e>)* <Q> c1 c2 <R> r``; the model then "thinks": the last position's final residual is fed
back as the next input vector (continuous chain of thought), and after C thoughts the token ``<A>`` is appended and
the tied readout's argmax is the reachable candidate. Thought c is the uniform superposition
``(1/sqrt|V_c|) sum_{v in V_c} u_v`` of the nodes within c hops of the root: one BFS expansion per thought.

Proof sketch (the lemmas are the functions below; notation of ``shared/notes/superposition.md``).

* :func:`residual_space` - d = 3 d_TE + d_PE: ``content`` / ``buf1`` / ``buf2`` token blocks (U = I, orthonormal
  token embeddings) and a ``pos`` block holding the sinusoidal encoding, added to every input, thoughts included.
* :func:`positional_constants` - Lemma 5: ``eps_T = d_PE/2 - max_{0 < D <= T} sum_k cos(D w_k) > 0``; the chooser
  constants ``xi = 2 d_PE / eps_T`` and ``eta`` (so that a chooser head leaks less than ``delta * eps1``).
* :func:`chooser_head` - Lemma 3: a head that, at a position holding token x, attends to ``i - l``, and elsewhere to
  the sink ``<s>`` (position 0); the value is the content block minus the ``<s>`` direction, so the sink copies 0.
* :func:`layer1_heads` - the five choosers: ``<e>`` -> its source (buf1) and target (buf2), ``<R>`` -> both
  candidates (buf2), ``<A>`` -> the last thought (buf1).
* :func:`noise_filter_mlp` - Prop. B.2: step units at ``eps1`` on content, buf1, buf2 turn each block into the
  indicator of its support; no residual; L2 norm.
* :func:`expansion_head` - Prop. B.3: query = content, key = tau (buf1 + <u_<R>, content> u_<A>), value = buf2: a
  thought attends uniformly to the ``<e>`` of every edge whose source it holds and adds those edges' targets.
* :func:`expansion_mlp` - Prop. B.4: step units at ``eps2`` on content and buf1 written back into content; L2 norm.
  The printed ``eps2 = 1/(4n)`` is too large on dense graphs (a new node receives weight
  ``k/(sqrt3 |I_c|)`` with ``|I_c|`` counting *edges*); the default is ``eps2 = 1/(4 max(m_max, n_max))``.
* :func:`tied_readout` - ``W_O = U^T``: at ``<A>`` the reachable candidate has logit ``2/sqrt(|V_C|+5)``, every
  other reached node, the unreachable candidate and ``<A>`` have ``1/sqrt(|V_C|+5)``.

Precision. Weights are exact rationals, but the model is not rational: sinusoidal positions, softmax and the L2 norm
are irrational. The rotations R^(l) in the chooser keys are the float64 values of cos/sin as exact Fractions (error
<= 2^-53 per entry, absorbed by the margin eta*eps_T); ``eps1`` is the rational ``1/(2 ceil(sqrt n))`` <= the
paper's ``1/(2 sqrt n)``. Run it with ``backend="torch"`` (float64 by default); the certified evaluator also works
but is slow (mpmath intervals at d = 172).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from ..core.architecture import MLP, Attention, Embedding, Layer, Mask, Norm, Readout, Sublayer, Transformer
from ..core.arith import Arithmetic, arithmetic_for
from ..core.construction import Citation, Construction, Invariant, Probe, RunResult
from ..core.errors import InputError
from ..core.positions import Sinusoid
from ..core.runners import Thoughts, think
from ..core.space import Block, Space, linear_map
from .registry import Entry

__all__ = [
    "CITATION",
    "DEVIATIONS",
    "SPECIALS",
    "SuperpositionParameters",
    "residual_space",
    "positional_constants",
    "chooser_head",
    "layer1_heads",
    "noise_filter_mlp",
    "expansion_head",
    "expansion_mlp",
    "tied_readout",
    "superposition_reachability",
    "encode_query",
    "tokens_for",
    "ThoughtRun",
    "ThinkingConstruction",
    "num_thoughts_for",
    "BFSReachabilityReference",
    "run_thoughts",
    "expected_thought",
    "ENTRIES",
]

CITATION = Citation(
    authors="Hanlin Zhu, Shibo Hao, Zhiting Hu, Jiantao Jiao, Stuart Russell, Yuandong Tian",
    title="Reasoning by Superposition: A Theoretical Perspective on Chain of Continuous Thought",
    venue="NeurIPS 2025",
    theorem="Theorem 1 (a 2-layer transformer with C continuous thoughts decides graph reachability), App. B",
    arxiv="2505.12514",
)

SPECIALS = ("<s>", "<e>", "<Q>", "<R>", "<A>")
BOS, EDGE, QUERY, ROOT, ANSWER = SPECIALS

DEVIATIONS = (
    "eps2 = 1/(4 max(m_max, n_max)) instead of the printed 1/(4 n_max) (printed_eps2=True restores it; it fails on "
    "dense graphs, see the note's counterexample)",
    "the second row block of the layer-2 W1 reads buf1 (the printed matrix is dimensionally inconsistent)",
    "k_<R> keeps the 1/sqrt3 factor the paper drops (tau is derived with it)",
    "positions are 0-indexed: the attention sink <s> is at position 0, whose encoding (1, 0, 1, 0, ...) is rational",
    "R^(l) entries are float64 cos/sin values taken as exact Fractions; eps1 = 1/(2 ceil(sqrt n)) (rational) <= "
    "1/(2 sqrt n)",
    "<e> after every edge, the last one included (the paper's format; the authors' code omits the last one)",
    "a root with no out-edge is outside the theorem: its thought attends uniformly to every position (no key "
    "matches) and the invariant fails; the encoder refuses such queries",
)


# ---------------------------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuperpositionParameters:
    """The constants of the construction, derived from (max_nodes, max_edges, max_length) and d_PE."""

    max_nodes: int
    max_edges: int
    max_length: int
    d_pe: int
    base: int
    eps_T: Fraction
    xi: Fraction
    eta: Fraction
    tau: Fraction
    eps1: Fraction
    eps2: Fraction
    printed_eps2: bool
    activation: str

    def as_dict(self) -> dict[str, Any]:
        return {k: (float(v) if isinstance(v, Fraction) else v) for k, v in self.__dict__.items()}


def _up(x: float, den: int = 10**6) -> Fraction:
    """A rational >= x (x > 0), with denominator ``den``."""
    return Fraction(math.ceil(x * den), den)


def _down(x: float, den: int = 10**9) -> Fraction:
    """A rational <= x, with denominator ``den``."""
    return Fraction(math.floor(x * den), den)


def positional_constants(d_pe: int, base: int, max_length: int) -> tuple[Fraction, Fraction]:
    """Lemma 5 and the chooser's xi.

    Proof sketch: ``<p_i, p_j> = sum_k cos((i - j) w_k)`` depends only on ``D = |i - j|``; it equals d_PE/2 at
    D = 0 and is ``<= d_PE/2 - eps_T`` for ``0 < D <= T`` (frequencies ``w_k = base^(-2k/d_PE)``, k = 1..d_PE/2, are
    not all commensurable with 2 pi at these D). The chooser keys reach position ``j + l <= T + 1`` (l <= 2), so the
    max runs over D <= max_length + 2. ``xi = 2 d_PE / min_j (<p_0, p_0> - <p_0, p_j>) = 2 d_PE / eps_T``.

    Returns
    -------
    (eps_T, xi)
        eps_T rounded down and xi rounded up to rationals.
    """
    k = np.arange(1, d_pe // 2 + 1, dtype=np.float64)
    omega = float(base) ** (-2.0 * k / d_pe)
    deltas = np.arange(1, max_length + 3, dtype=np.float64)
    inner = np.cos(deltas[:, None] * omega[None, :]).sum(axis=1)
    eps_t = d_pe / 2 - float(inner.max())
    if eps_t <= 1e-6:
        raise InputError(
            f"d_PE={d_pe}, base={base}: positions up to {max_length + 2} are not separated (eps_T={eps_t})"
        )
    eps_T = _down(eps_t - 1e-9)
    return eps_T, _up(2 * d_pe / float(eps_T))


def _parameters(
    max_nodes: int,
    max_edges: int,
    max_length: int,
    d_pe: int,
    base: int,
    printed_eps2: bool,
    tau: Fraction | None,
    eta: Fraction | None,
    leak: float,
    activation: str,
) -> SuperpositionParameters:
    eps_T, xi = positional_constants(d_pe, base, max_length)
    eps1 = Fraction(1, 2 * (math.isqrt(max_nodes - 1) + 1))  # 1/(2 ceil(sqrt n)) <= 1/(2 sqrt n)
    eps2 = Fraction(1, 4 * max_nodes) if printed_eps2 else Fraction(1, 4 * max(max_edges, max_nodes))
    # chooser: the wrong keys trail by at least eta*min(eps_T, d_PE); leaked mass <= T e^{-gap} <= leak * eps1 / 5
    gap = min(float(eps_T), d_pe)
    eta_value = eta if eta is not None else _up(math.log(5 * max_length / (leak * float(eps1))) / gap)
    # expansion: matching keys lead by tau/sqrt(3(n+1)); leaked mass times |value| <= leak * eps2 / 4
    tau_value = tau if tau is not None else _up(
        math.sqrt(3 * (max_nodes + 1)) * math.log(8 * max_length / (math.sqrt(3) * leak * float(eps2)))
    )
    return SuperpositionParameters(
        max_nodes=max_nodes,
        max_edges=max_edges,
        max_length=max_length,
        d_pe=d_pe,
        base=base,
        eps_T=eps_T,
        xi=xi,
        eta=Fraction(eta_value),
        tau=Fraction(tau_value),
        eps1=eps1,
        eps2=eps2,
        printed_eps2=printed_eps2,
        activation=activation,
    )


# ---------------------------------------------------------------------------------------------------------------
# the lemmas
# ---------------------------------------------------------------------------------------------------------------


def residual_space(vocab: Sequence[str], d_pe: int) -> Space:
    """content / buf1 / buf2 (one coordinate per token: U = I, orthonormal) and pos (cos_k, sin_k, k = 1..d_PE/2).

    Proof sketch: with U = I every token embedding is a unit coordinate vector of ``content``, so ``U^T U = I``
    and the readout ``U^T`` reads token coordinates directly.
    """
    pos = [f"{f}{k}" for k in range(1, d_pe // 2 + 1) for f in ("cos", "sin")]
    return Space.of(Block("content", vocab), Block("buf1", vocab), Block("buf2", vocab), Block("pos", pos))


def _pos_names(d_pe: int) -> list[tuple[int, str, str]]:
    return [(k, f"cos{k}", f"sin{k}") for k in range(1, d_pe // 2 + 1)]


def chooser_head(
    space: Space, vocab: Sequence[str], token: str, offset: int, params: SuperpositionParameters, write: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lemma 3: (W_Q, W_K, W_V, W_O) of the head that sends ``token`` at position i to position ``i - offset``.

    Proof sketch: ``q_i = [p_i ; xi <u_xbar, h_i> p_0]``, ``k_j = [eta R^(l) p_j ; eta p_j] = [eta p_{j+l}; eta p_j]``,
    so ``<q_i, k_j> = eta (<p_i, p_{j+l}> + xi lambda_i <p_0, p_j>)`` with ``lambda_i = <u_xbar, h_i>`` (the content
    mass off ``token``). If position i holds ``token``, lambda = 0 and the score is maximal (d_PE/2) at j = i - l,
    every other j trailing by >= eta eps_T. Otherwise lambda >= 1 (a non-negative unit combination of tokens has
    coordinate sum >= 1) and j = 0 leads every j > 0 by >= eta (xi lambda eps_T - d_PE) >= eta d_PE. The value
    (content minus the ``<s>`` direction) makes the sink copy nothing; the output lands in block ``write``.
    """
    d_pe = params.d_pe
    head = Space.of(Block("top", [c for _, c, s in _pos_names(d_pe) for c in (c, s)]),
                    Block("bot", [c for _, c, s in _pos_names(d_pe) for c in (c, s)]))
    eta, xi = params.eta, params.xi
    q_action: dict[str, dict[str, Fraction]] = {}
    k_action: dict[str, dict[str, Fraction]] = {}
    for k, c, s in _pos_names(d_pe):
        q_action[f"pos:{c}"] = {f"top:{c}": Fraction(1)}
        q_action[f"pos:{s}"] = {f"top:{s}": Fraction(1)}
        omega = float(params.base) ** (-2.0 * k / d_pe)
        cos_l, sin_l = Fraction(math.cos(offset * omega)), Fraction(math.sin(offset * omega))
        # p_{j+l} = R^(l) p_j: cos' = cos*cos_l - sin*sin_l, sin' = sin*cos_l + cos*sin_l
        k_action[f"pos:{c}"] = {f"top:{c}": eta * cos_l, f"top:{s}": eta * sin_l, f"bot:{c}": eta}
        k_action[f"pos:{s}"] = {f"top:{c}": -eta * sin_l, f"top:{s}": eta * cos_l, f"bot:{s}": eta}
    for v in vocab:
        if v != token:
            # p_0 = (cos 0, sin 0, ...) = (1, 0, 1, 0, ...): only the cos coordinates
            q_action[f"content:{v}"] = {f"bot:{c}": xi for _, c, _s in _pos_names(d_pe)}
    value = Space.of(Block("v", vocab))
    W_V = linear_map(space, value, {f"content:{v}": {f"v:{v}": 1} for v in vocab if v != BOS})
    W_O = linear_map(value, space, {f"v:{v}": {f"{write}:{v}": 1} for v in vocab})
    return linear_map(space, head, q_action), linear_map(space, head, k_action), W_V, W_O


#: (token, offset, block written) of the five layer-1 heads [P Sec. 4.2, Fig. 2].
LAYER1_HEADS = ((EDGE, 2, "buf1"), (EDGE, 1, "buf2"), (ROOT, 2, "buf2"), (ROOT, 1, "buf2"), (ANSWER, 1, "buf1"))


def layer1_heads(space: Space, vocab: Sequence[str], params: SuperpositionParameters) -> Attention:
    """The five chooser heads of layer 1, summed, causal softmax with no 1/sqrt(d) scale.

    Proof sketch: at ``<e>`` of edge i heads 0/1 copy s_i into buf1 and t_i into buf2; at ``<R>`` heads 2/3 copy
    c1 + c2 into buf2; at ``<A>`` head 4 copies the last thought's content into buf1; elsewhere every head attends
    to the sink and adds ~0.
    """
    parts = [chooser_head(space, vocab, x, offset, params, write) for x, offset, write in LAYER1_HEADS]
    return Attention(
        W_Q=np.stack([p[0] for p in parts]),
        W_K=np.stack([p[1] for p in parts]),
        W_V=np.stack([p[2] for p in parts]),
        W_O=np.stack([p[3] for p in parts]),
        kind="softmax",
        mask=Mask("causal"),
    )


def _filter(space: Space, blocks: Sequence[str], writes: Sequence[str], vocab: Sequence[str], threshold: Fraction,
            activation: str) -> MLP:
    """Units ``act(x_{block:v})`` written into ``write:v``; step at ``threshold`` or the ReLU ramp reaching 1 there."""
    units = [f"{b}:{v}" for b in blocks for v in vocab]
    if activation == "step":
        hidden = Space.of(Block("u", units))
        W_in = linear_map(space, hidden, {u: {f"u:{u}": 1} for u in units})
        out = {f"u:{b}:{v}": {f"{w}:{v}": 1} for b, w in zip(blocks, writes) for v in vocab}
        W_out = linear_map(hidden, space, out)
        return MLP(W_in=W_in, W_out=W_out, activation="step", threshold=threshold)
    # ramp(x) = (relu(x - t/2) - relu(x - t)) * 2/t: 0 below t/2, 1 from t on
    hidden = Space.of(Block("lo", units), Block("hi", units))
    W_in = linear_map(space, hidden, {u: {f"lo:{u}": 1, f"hi:{u}": 1} for u in units})
    b_in = np.array([-threshold / 2] * len(units) + [-threshold] * len(units), dtype=object)
    action: dict[str, dict[str, Fraction]] = {}
    for b, w in zip(blocks, writes):
        for v in vocab:
            action[f"lo:{b}:{v}"] = {f"{w}:{v}": 2 / threshold}
            action[f"hi:{b}:{v}"] = {f"{w}:{v}": -2 / threshold}
    return MLP(W_in=W_in, W_out=linear_map(hidden, space, action), b_in=b_in, activation="relu")


def noise_filter_mlp(space: Space, vocab: Sequence[str], params: SuperpositionParameters) -> MLP:
    """Prop. B.2: ``W2 step_eps1(W1 h)`` with W1 = blockdiag(U^T, U^T, U^T) (PE dropped), W2 = W1^T.

    Proof sketch: every true coordinate is >= (1 - eps1/5) * min(1/sqrt n, 1) >= eps1 and the chooser leak is
    < eps1/5, so each of content/buf1/buf2 becomes the indicator of its support; no residual, then L2 norm.
    """
    blocks = ("content", "buf1", "buf2")
    return _filter(space, blocks, blocks, vocab, params.eps1, params.activation)


def expansion_head(space: Space, vocab: Sequence[str], params: SuperpositionParameters) -> Attention:
    """Prop. B.3: Q = content, K = tau (buf1 + <u_<R>, content> u_<A>), V = buf2, O into content.

    Proof sketch: a thought holding ``(1/sqrt|V_c|) sum_{V_c} u_v`` scores ``tau/sqrt(3|V_c|)`` on the ``<e>`` of each
    edge with source in V_c and 0 on every other key, so it averages ``u_{t_j}/sqrt3`` over those edges I_c; ``<A>``
    (content ``u_<A>``) matches only ``<R>``'s key ``(tau/sqrt3) u_<A>`` and copies ``(u_c1 + u_c2)/sqrt3``.
    """
    tau = params.tau
    head = Space.of(Block("k", vocab))
    W_Q = linear_map(space, head, {f"content:{v}": {f"k:{v}": 1} for v in vocab})
    k_action: dict[str, dict[str, Fraction]] = {f"buf1:{v}": {f"k:{v}": tau} for v in vocab}
    k_action[f"content:{ROOT}"] = {f"k:{ANSWER}": tau}
    W_K = linear_map(space, head, k_action)
    W_V = linear_map(space, head, {f"buf2:{v}": {f"k:{v}": 1} for v in vocab})
    W_O = linear_map(head, space, {f"k:{v}": {f"content:{v}": 1} for v in vocab})
    return Attention(W_Q=W_Q[None], W_K=W_K[None], W_V=W_V[None], W_O=W_O[None], kind="softmax", mask=Mask("causal"))


def expansion_mlp(space: Space, vocab: Sequence[str], params: SuperpositionParameters) -> MLP:
    """Prop. B.4 (with the fixed eps2): indicator(content) + indicator(buf1), written into content.

    Proof sketch: a node of V_c has content weight >= 1/sqrt n >= eps2; a new node t receives
    ``#{j in I_c: t_j = t} / (sqrt3 |I_c|) >= 1/(sqrt3 m) > eps2 = 1/(4 max(m, n))``; the leak is < eps2/4. The
    printed eps2 = 1/(4n) is larger than 1/(sqrt3 |I_c|) once |I_c| > 4n/sqrt3, and the new node is dropped.
    """
    return _filter(space, ("content", "buf1"), ("content", "content"), vocab, params.eps2, params.activation)


def tied_readout(space: Space, vocab: Sequence[str]) -> Readout:
    """``W_O = U^T``: the logit of token v is the content coordinate v; the answer is the argmax."""
    W_U = linear_map(space, Space.of(Block("out", vocab)), {f"content:{v}": {f"out:{v}": 1} for v in vocab})
    return Readout(W_U=W_U, labels=tuple(vocab), position=-1, decision="argmax")


# ---------------------------------------------------------------------------------------------------------------
# the construction
# ---------------------------------------------------------------------------------------------------------------


def tokens_for(num_edges: int, num_thoughts: int = 0) -> int:
    """Tokens of ``<s> (s t <e>)^m <Q> c1 c2 <R> r [thoughts] <A>``: 3m + 7 + C."""
    return 3 * num_edges + 7 + num_thoughts


def _node_token(v: Any) -> str:
    return str(v)


def encode_query(query: Any, max_nodes: int, max_edges: int) -> list[str]:
    """The prompt ``<s> (s t <e>)* <Q> c1 c2 <R> r`` of a :class:`~exactformer.languages.graphs.ReachabilityQuery`
    (nodes must be the integers 0..max_nodes-1; edges in the query's stable order).

    Raises
    ------
    InputError
        On a node outside 0..max_nodes-1, too many edges, a self-loop-free check failing, or a root without out-edges.
    """
    for name in ("graph", "root", "candidates"):
        if not hasattr(query, name):
            raise InputError(
                f"expected a ReachabilityQuery (graph, root, candidates, answer), got {type(query).__name__}"
            )
    graph = query.graph
    if not (hasattr(graph, "is_multigraph") and hasattr(graph, "is_directed")) or graph.is_multigraph() \
            or not graph.is_directed():
        raise InputError(f"the query's graph must be a simple networkx.DiGraph, not {type(graph).__name__} (a "
                         "multigraph's parallel edges would be encoded twice: pass networkx.DiGraph(graph))")
    for v in graph.nodes:
        if not isinstance(v, (int, np.integer)) or not 0 <= int(v) < max_nodes:
            raise InputError(
                f"node {v!r} is not an integer in 0..{max_nodes - 1} (the model has {max_nodes} node tokens)"
            )
    edges = list(query.edges) if hasattr(query, "edges") else sorted(graph.edges)
    if len(edges) > max_edges:
        raise InputError(f"the graph has {len(edges)} edges; the model is built for at most {max_edges}")
    if graph.out_degree(query.root) == 0:
        raise InputError(f"root {query.root!r} has no out-edge: outside the construction (no key matches its thought)")
    seq = [BOS]
    for s, t in edges:
        seq += [_node_token(s), _node_token(t), EDGE]
    c1, c2 = query.candidates
    return seq + [QUERY, _node_token(c1), _node_token(c2), ROOT, _node_token(query.root)]


def superposition_reachability(
    max_nodes: int = 31,
    max_edges: int = 60,
    max_length: int | None = None,
    *,
    d_pe: int = 64,
    base: int = 10_000,
    printed_eps2: bool = False,
    activation: str = "step",
    tau: Fraction | int | str | None = None,
    eta: Fraction | int | str | None = None,
    leak: float = 1e-12,
    thoughts: int | str = "eccentricity",
) -> Construction:
    """The two-layer continuous-thought reachability transformer of Zhu et al. (Theorem 1).

    Parameters
    ----------
    max_nodes
        n_max: node tokens ``"0" .. str(max_nodes - 1)``.
    max_edges
        m_max: the most edges a graph may have.
    max_length
        T_max: the longest sequence, thoughts and ``<A>`` included; default ``3 m_max + 7 + max_nodes`` (enough
        thoughts for any root eccentricity).
    d_pe, base
        The sinusoidal encoding's width (even) and base M.
    printed_eps2
        Use the paper's ``eps2 = 1/(4 n_max)`` (wrong on dense graphs) instead of ``1/(4 max(m_max, n_max))``.
    activation
        ``"step"`` (the paper's) or ``"ramp"``: every step replaced by the ReLU ramp ``(relu(x - e/2) - relu(x - e))
        * 2/e`` (a standard ReLU MLP with biases).
    tau, eta
        Override the derived layer-2 key scale and chooser scale (for precision frontiers).
    thoughts
        How many continuous thoughts a query gets before ``<A>``: ``"eccentricity"`` (hops until the BFS ball from
        the root stops growing; enough for any candidate), ``"distance"`` (dist(root, answer): the fewest that
        work, as in the authors' evaluation) or a fixed int.
    leak
        The leaked attention mass the derived eta and tau allow, relative to eps1/5 and eps2/4.
    """
    if not isinstance(max_nodes, int) or max_nodes < 2:
        raise InputError(f"max_nodes must be an integer >= 2, got {max_nodes!r}")
    if not isinstance(max_edges, int) or max_edges < 1:
        raise InputError(f"max_edges must be an integer >= 1, got {max_edges!r}")
    if d_pe < 2 or d_pe % 2:
        raise InputError(f"d_pe must be a positive even integer, got {d_pe!r}")
    if activation not in ("step", "ramp"):
        raise InputError(f"activation must be 'step' or 'ramp', got {activation!r}")
    if max_length is None:
        max_length = tokens_for(max_edges, max_nodes)
    if max_length < tokens_for(1, 1):
        raise InputError(f"max_length {max_length} is below the shortest input ({tokens_for(1, 1)} tokens)")
    params = _parameters(
        max_nodes, max_edges, max_length, d_pe, base, printed_eps2,
        None if tau is None else Fraction(tau), None if eta is None else Fraction(eta), leak, activation,
    )
    vocab = tuple(str(v) for v in range(max_nodes)) + SPECIALS
    space = residual_space(vocab, d_pe)
    W_E = linear_map(Space.of(Block("tok", vocab)), space, {f"tok:{v}": {f"content:{v}": 1} for v in vocab})
    positional = []
    for k, c, s in _pos_names(d_pe):
        positional.append((f"pos:{c}", Sinusoid(k=k, d=d_pe, base=base, function="cos")))
        positional.append((f"pos:{s}", Sinusoid(k=k, d=d_pe, base=base, function="sin")))
    l2 = Norm("l2")
    layers = (
        Layer(
            attention=Sublayer(layer1_heads(space, vocab, params)),
            mlp=Sublayer(noise_filter_mlp(space, vocab, params), residual=False, output_norm=l2),
            name="choosers",
        ),
        Layer(
            attention=Sublayer(expansion_head(space, vocab, params)),
            mlp=Sublayer(expansion_mlp(space, vocab, params), residual=False, output_norm=l2),
            name="expansion",
        ),
    )
    model = Transformer(
        space=space,
        embedding=Embedding(W_E=W_E, vocab=vocab, positional=tuple(positional)),
        layers=layers,
        readout=tied_readout(space, vocab),
        max_length=max_length,
    )
    block_coords = tuple(f"{b}:{v}" for b in ("content", "buf1", "buf2") for v in vocab)
    content_coords = tuple(f"content:{v}" for v in vocab)
    invariants = (
        Invariant(
            name="layer1.filter",
            statement="after layer 1 (filter + L2 norm), every position is the normalised indicator of its blocks' "
            "supports: <e> of edge i = (1/sqrt3)[u_<e>; u_s_i; u_t_i], <R> = (1/sqrt3)[u_<R>; 0; u_c1 + u_c2], "
            "thought c = (1/sqrt|V_c|) sum_{V_c} u_v (V_c: BFS ball of radius c), <A> = [u_<A>; sum_{V_C} u_v] / "
            "sqrt(|V_C| + 1), any other token = its own embedding (float values)",
            probe=Probe("L0.mlp", block_coords, None),
            expected=lambda x, n: _expected_layer1(x, vocab, block_coords, max_nodes, max_edges, thoughts),
        ),
        Invariant(
            name="answer.superposition",
            statement="the output at <A> is (u_c1 + u_c2 + u_<A> + sum_{V_C} u_v)/sqrt(|V_C| + 5): the reachable "
            "candidate has logit 2/sqrt(|V_C|+5), the other reached nodes, <A> and the other candidate 1/sqrt(...)",
            probe=Probe("final", content_coords, (-1,)),
            expected=lambda x, n: _expected_answer(x, content_coords, thoughts),
        ),
    )
    construction = ThinkingConstruction(
        name="superposition" + ("-ramp" if activation == "ramp" else "") + ("-printed" if printed_eps2 else ""),
        model=model,
        encode=lambda q: encode_query(q, max_nodes, max_edges),  # type: ignore[arg-type]
        interpret=lambda label: int(label) if str(label).isdigit() else label,
        tokens_for=lambda m: tokens_for(m, 0),
        citation=CITATION,
        invariants=invariants,
        description=(
            "Two layers (5 chooser heads + 1 expansion head), d = 3 d_TE + d_PE; thought c is the uniform "
            "superposition of the nodes within c hops of the root, and <A> reads the reachable candidate."
        ),
        extras={"parameters": params, "vocab": vocab, "deviations": DEVIATIONS,
                "precision_prediction": "float64 exact to ~1e-15; float16 overflows (chooser scores ~ eta*xi*sqrt(n))"},
        thoughts_for=lambda x: num_thoughts_for(x, thoughts),
    )
    return construction


# ---------------------------------------------------------------------------------------------------------------
# thinking, expected values
# ---------------------------------------------------------------------------------------------------------------


def _bfs_balls(query: Any, hops: int) -> list[frozenset]:
    """V_0 .. V_hops (cumulative), by plain breadth-first search on the query's graph (used only for the default
    number of thoughts and the expected values)."""
    graph = query.graph
    ball = {query.root}
    out = [frozenset(ball)]
    for _ in range(hops):
        ball = ball | {t for s in ball for t in graph.successors(s)}
        out.append(frozenset(ball))
    return out


def _eccentricity(query: Any) -> int:
    """Hops until the BFS ball from the root stops growing."""
    balls = _bfs_balls(query, query.graph.number_of_nodes())
    return next(c for c in range(len(balls)) if c + 1 == len(balls) or balls[c + 1] == balls[c])


def expected_thought(space: Space, ball: frozenset) -> np.ndarray:
    """``(1/sqrt|V|) sum_{v in V} u_v`` as a float64 vector of the residual space."""
    out = np.zeros(space.dim)
    for v in ball:
        out[space.index(f"content:{v}")] = 1 / math.sqrt(len(ball))
    return out


def _torch_arithmetic(construction: Construction, dtype: torch.dtype, device: str | torch.device) -> Arithmetic:
    """One torch arithmetic per (construction, dtype, device): it caches the float renderings of the weights,
    which take longer to make (~1 s for 3e5 Fractions) than a whole thought run."""
    cache = construction.extras.setdefault("_torch_arithmetics", {})
    key = (dtype, str(device))
    if key not in cache:
        cache[key] = arithmetic_for("torch", dtype=dtype, device=device)
    return cache[key]


@dataclass
class ThoughtRun:
    """One batch of queries run through :func:`~exactformer.core.runners.think`, with the thoughts as float64."""

    thoughts: list[np.ndarray]  # per query, [C, d]
    final: list[np.ndarray]  # per query, the output at <A>, [d]
    labels: list[Any]
    margins: list[float]
    raw: Thoughts


def run_thoughts(
    construction: Construction,
    queries: Sequence[Any],
    num_thoughts: int,
    *,
    arith: Arithmetic | None = None,
    dtype: torch.dtype | None = None,
) -> ThoughtRun:
    """Run equally long queries (same edge count) with ``num_thoughts`` continuous thoughts, then ``<A>``."""
    arith = arith or _torch_arithmetic(construction, dtype or torch.float64, "cpu")
    prompts = [construction.encode(q) for q in queries]
    if len({len(p) for p in prompts}) != 1:
        raise InputError("run_thoughts needs queries with the same number of edges (equally long prompts)")
    length = len(prompts[0]) + num_thoughts + 1
    if construction.model.max_length is not None and length > construction.model.max_length:
        raise InputError(f"{length} tokens exceed the model's max_length {construction.model.max_length}")
    result = think(construction.model, prompts, arith, num_thoughts=num_thoughts, then=(ANSWER,))

    def _f(v: Any) -> np.ndarray:
        if isinstance(v, torch.Tensor):
            return v.detach().to(torch.float64).cpu().numpy()
        return np.array([float(getattr(x, "mid", x)) for x in np.asarray(v).ravel()])

    thoughts = [np.stack([_f(t) for t in th]) if th else np.zeros((0, construction.model.d_model))
                for th in result.thoughts]
    final = result.output.trace.final
    finals = [_f(final[b, -1]) for b in range(len(queries))]
    return ThoughtRun(thoughts, finals, list(result.output.labels), list(result.output.margins), result)


def num_thoughts_for(query: Any, policy: int | str) -> int:
    """The number of thoughts ``policy`` gives ``query`` (see :func:`superposition_reachability`)."""
    if policy == "eccentricity":
        return _eccentricity(query)
    if policy == "distance":
        return int(query.distance)
    if isinstance(policy, int) and not isinstance(policy, bool) and policy >= 0:
        return policy
    raise InputError(f"thoughts must be an int >= 0, 'eccentricity' or 'distance', got {policy!r}")


def _expected_layer1(query: Any, vocab: Sequence[str], coords: Sequence[str], max_nodes: int, max_edges: int,
                     policy: int | str) -> np.ndarray:
    """The proof's layer-1 output at every position of prompt + thoughts + <A> (Prop. B.2)."""
    seq = encode_query(query, max_nodes, max_edges)
    C = num_thoughts_for(query, policy)
    balls = _bfs_balls(query, C)
    index = {c: k for k, c in enumerate(coords)}
    rows = []

    def row(entries: dict[str, float]) -> list[float]:
        out = [0.0] * len(coords)
        norm = math.sqrt(sum(v * v for v in entries.values()))
        for name, v in entries.items():
            out[index[name]] = v / norm
        return out

    for i, tok in enumerate(seq):
        if tok == EDGE:
            rows.append(row({f"content:{EDGE}": 1.0, f"buf1:{seq[i - 2]}": 1.0, f"buf2:{seq[i - 1]}": 1.0}))
        elif tok == ROOT:
            rows.append(row({f"content:{ROOT}": 1.0, f"buf2:{seq[i - 2]}": 1.0, f"buf2:{seq[i - 1]}": 1.0}))
        else:
            rows.append(row({f"content:{tok}": 1.0}))
    for c in range(1, C + 1):
        rows.append(row({f"content:{v}": 1.0 for v in balls[c]}))
    rows.append(row({f"content:{ANSWER}": 1.0, **{f"buf1:{v}": 1.0 for v in balls[C]}}))
    return np.array(rows)


def _expected_answer(query: Any, coords: Sequence[str], policy: int | str) -> np.ndarray:
    """The proof's output at <A> (Thm 1, B.4), content coordinates."""
    ball = _bfs_balls(query, num_thoughts_for(query, policy))[-1]
    counts = dict.fromkeys(coords, 0.0)
    for v in [*ball, *query.candidates, ANSWER]:
        counts[f"content:{v}"] += 1.0
    norm = math.sqrt(sum(v * v for v in counts.values()))
    return np.array([[counts[c] / norm for c in coords]])


@dataclass(frozen=True, eq=False)
class ThinkingConstruction(Construction):
    """A :class:`Construction` whose run is a continuous chain of thought: ``thoughts_for(x)`` thoughts through
    :func:`~exactformer.core.runners.think`, then ``<A>``, then the readout. The verifier's ``check`` and
    ``frontier`` call :meth:`run_batch`, so they check the answer and the invariants on the whole thought run
    (the trace covers prompt, thoughts and ``<A>``)."""

    thoughts_for: Any = None

    def run_batch(
        self,
        xs: Sequence[Any],
        *,
        backend: str = "torch",
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        precision: int = 128,
        arith: Arithmetic | None = None,
    ) -> list[RunResult]:
        """Run every query with its thoughts, batching queries of equal prompt length and thought count."""
        if arith is None:
            arith = (_torch_arithmetic(self, dtype or torch.float64, device or "cpu") if backend == "torch"
                     else arithmetic_for(backend, dtype=dtype, device=device, precision=precision))
        prompts = [self.encode(x) for x in xs]
        counts = [int(self.thoughts_for(x)) for x in xs]
        groups: dict[tuple[int, int], list[int]] = {}
        for k, (p, c) in enumerate(zip(prompts, counts)):
            groups.setdefault((len(p), c), []).append(k)
        out: list[RunResult | None] = [None] * len(xs)
        for (length, c), members in groups.items():
            total = length + c + 1
            if self.model.max_length is not None and total > self.model.max_length:
                raise InputError(
                    f"{total} tokens (prompt, {c} thoughts, <A>) exceed max_length {self.model.max_length}"
                )
            result = think(self.model, [prompts[k] for k in members], arith, num_thoughts=c, then=(ANSWER,))
            output = result.output
            for b, k in enumerate(members):
                out[k] = RunResult(
                    answer=self.interpret(output.labels[b]),
                    label=output.labels[b],
                    logits=output.logits[b],
                    margin=output.margins[b],
                    certified=output.certified[b],
                    output=output,
                    batch_index=b,
                )
        return out  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------------------------


class BFSReachabilityReference:
    """The verifier's view: inputs are ReachabilityQuery objects (random digraphs, size = number of nodes), the
    answer is the candidate BFS reaches from the root (:func:`exactformer.languages.graphs.reachable_from`)."""

    name = "BFS reachability (candidate choice)"

    def __init__(self, kinds: Sequence[str] = ("dag", "cyclic", "dense"), per_kind: int = 3,
                 max_edges: int | None = None) -> None:
        self.kinds = tuple(kinds)
        self.per_kind = per_kind
        self.max_edges = max_edges

    def expected(self, x: Any) -> Any:
        from ..languages.graphs import reachable_from  # noqa: PLC0415

        reach = reachable_from(x.graph, x.root)
        found = [c for c in x.candidates if c in reach]
        return found[0] if len(found) == 1 else None

    def inputs(self, size: int, *, count: int, exhaustive_limit: int, rng: Any) -> tuple[list[Any], str]:
        from ..languages.graphs import random_reachability_query  # noqa: PLC0415

        out = []
        for kind in self.kinds:
            made = 0
            for _ in range(50 * self.per_kind):
                if made >= min(count, self.per_kind):
                    break
                q = random_reachability_query(size, kind=kind, rng=rng.randrange(2**32))
                small = self.max_edges is None or q.graph.number_of_edges() <= self.max_edges
                if q.graph.out_degree(q.root) > 0 and small:
                    out.append(q)
                    made += 1
        return out, "random"

    def shrink(self, x: Any) -> Any:
        return iter(())


def _example() -> Any:
    import networkx as nx  # noqa: PLC0415

    from ..languages.graphs import ReachabilityQuery  # noqa: PLC0415

    return ReachabilityQuery(graph=nx.DiGraph([(0, 1), (1, 2), (2, 3), (4, 3), (0, 5)]), root=0, candidates=(4, 3),
                             answer=3)


ENTRIES: list[Entry] = [
    Entry(
        name="superposition",
        builder=superposition_reachability,
        summary="Zhu et al. Thm 1: reachability by continuous thoughts in superposition (2 layers, 5+1 heads)",
        example=_example(),
        options={"max_nodes": 31, "max_edges": 60, "max_length": None, "printed_eps2": False, "activation": "step",
                 "thoughts": "eccentricity"},
        reference=lambda c: BFSReachabilityReference(max_edges=c.extras["parameters"].max_edges),
        lengths=lambda c: tuple(range(3, min(12, c.extras["parameters"].max_nodes) + 1)),  # graphs of 3..12 nodes
    ),
]
