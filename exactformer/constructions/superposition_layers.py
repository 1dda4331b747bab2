"""The weights of Zhu et al.'s continuous-thought reachability transformer: constants, the lemmas' heads and MLPs,
and the prompt encoding. :mod:`exactformer.constructions.superposition` assembles them (its docstring is the proof
sketch) and runs the thoughts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..core.architecture import MLP, Attention, Mask, Readout
from ..core.construction import Citation
from ..core.errors import InputError
from ..core.space import Block, Space, linear_map

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
    "encode_query",
    "tokens_for",
]

CITATION = Citation(authors="Hanlin Zhu, Shibo Hao, Zhiting Hu, Jiantao Jiao, Stuart Russell, Yuandong Tian",
                    title="Reasoning by Superposition: A Theoretical Perspective on Chain of Continuous Thought",
                    venue="NeurIPS 2025", arxiv="2505.12514",
                    theorem="Theorem 1 (a 2-layer transformer with C continuous thoughts decides graph reachability), "
                            "App. B")

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
    """Prop. B.3: Q = content, K = ``tau (buf1 + <u_<R>, content> u_<A>)``, V = buf2, O into content.

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

