"""Zhu, Hao, Hu, Jiao, Russell, Tian (NeurIPS 2025, arXiv 2505.12514): graph reachability by continuous thoughts
held in superposition, with a two-layer transformer (Theorem 1, Appendix B).

The input is ``<s> (s t <e>)* <Q> c1 c2 <R> r``; the model then "thinks": the last position's final residual is fed
back as the next input vector (continuous chain of thought), and after C thoughts the token ``<A>`` is appended and
the tied readout's argmax is the reachable candidate. Thought c is the uniform superposition
``(1/sqrt|V_c|) sum_{v in V_c} u_v`` of the nodes within c hops of the root: one BFS expansion per thought.

Proof sketch (the lemmas are the functions below; notation of ``docs/notes/superposition.md``).

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
* :func:`expansion_head` - Prop. B.3: query = content, key = ``tau (buf1 + <u_<R>, content> u_<A>)``, value = buf2: a
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

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from ..core.architecture import Embedding, Layer, Norm, Sublayer, Transformer
from ..core.arith import Arithmetic, Trace, arithmetic_for
from ..core.claims import Claim, ClaimedResources, constant
from ..core.construction import Construction, Invariant, Probe, RunResult, run_results
from ..core.errors import InputError
from ..core.positions import Sinusoid
from ..core.runners import Output, Thoughts, think
from ..core.space import Block, Space, linear_map
from .superposition_layers import (
    ANSWER,
    CITATION,
    DEVIATIONS,
    EDGE,
    ROOT,
    SPECIALS,
    _parameters,
    _pos_names,
    encode_query,
    expansion_head,
    expansion_mlp,
    layer1_heads,
    noise_filter_mlp,
    residual_space,
    tied_readout,
    tokens_for,
)

__all__ = [
    "superposition_reachability",
    "ThoughtRun",
    "ThinkingConstruction",
    "num_thoughts_for",
    "run_thoughts",
    "expected_thought",
]


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
        claims=ClaimedResources(
            claims=(Claim("layers", "==", constant(2), "2"),),
            precision="float64 exact to ~1e-15; float16 overflows (chooser scores ~ eta*xi*sqrt(n))",
        ),
        deviations=DEVIATIONS,
        parameters=params,
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


def _torch_arithmetic(construction: ThinkingConstruction, dtype: torch.dtype, device: str | torch.device) -> Arithmetic:
    """One torch arithmetic per (construction, dtype, device): it caches the float renderings of the weights,
    which take longer to make (~1 s for 3e5 Fractions) than a whole thought run."""
    cache = construction._torch_arithmetics
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
    #: A cache, not metadata: one torch arithmetic per (dtype, device), holding the float renderings of the weights
    #: (:func:`_torch_arithmetic`); left out of comparisons and the repr.
    _torch_arithmetics: dict[tuple[Any, str], Arithmetic] = field(default_factory=dict, init=False, compare=False,
                                                                  repr=False)

    def run_batch(self, xs: Sequence[Any], *, backend: str = "torch", dtype: torch.dtype | None = None,
                  device: str | torch.device | None = None, precision: int = 128, arith: Arithmetic | None = None,
                  keep_trace: bool = True, accumulate: str = "dtype") -> list[RunResult]:
        """Run every query with its thoughts, batching queries of equal prompt length and thought count.

        ``keep_trace=False`` keeps, as :meth:`Construction.run_batch` does, only the final residual at the readout
        position (``<A>``) in each result's trace: the same answers, logits and margins, bit for bit (every thought
        needs the full pass, so only the memory of the kept streams is saved, not time).
        """
        if arith is None and accumulate != "dtype":  # the default arithmetic is shared; this one is not
            arith = arithmetic_for(backend, dtype=dtype, device=device, precision=precision, accumulate=accumulate)
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
            output = think(self.model, [prompts[k] for k in members], arith, num_thoughts=c, then=(ANSWER,)).output
            if not keep_trace:
                output = _readout_only(output)
            for k, result in zip(members, run_results(output, self.interpret, -1)):
                out[k] = result
        return out  # type: ignore[return-value]


def _readout_only(output: Output) -> Output:
    """``output`` with a trace that keeps only the last sublayer's residual at the readout position (the last one)."""
    trace = output.trace
    kept = Trace(trace.space_names, decisions=trace.decisions)
    kept.record(trace.labels[-1], trace.final[:, -1:])
    return dataclasses.replace(output, trace=kept)
