"""A Construction: an exact model plus everything needed to use and check it.

A construction carries its model, how to encode an input for a given length, how to read the answer, the
invariants its proof relies on (named probes and the reference quantity each must equal), the resources it uses
(measured from the model, not asserted), and its citation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .architecture import Transformer
from .arith import Arithmetic, Item, arithmetic_for
from .budget import require_memory
from .claims import ClaimedResources
from .errors import ExactformerError, InputError
from .model_spec import EncodingSpec, ModelSpec, StateDict, model_spec
from .rational import to_float_array
from .runners import Output, classify
from .sites import Site
from .weights import forward_bytes, model_weights, weights_bytes

__all__ = ["Citation", "Probe", "Invariant", "Resources", "RunResult", "Construction", "model_weights", "weights_bytes",
           "forward_bytes", "run_results"]


@dataclass(frozen=True)
class Citation:
    """Where a construction comes from."""

    authors: str
    title: str
    venue: str
    theorem: str
    arxiv: str | None = None

    def __str__(self) -> str:
        arxiv = f", arXiv {self.arxiv}" if self.arxiv else ""
        return f'{self.authors}, "{self.title}" ({self.venue}{arxiv}), {self.theorem}'


def _take(x: Any, axis: int, index: list[int]) -> Any:
    """``x``'s entries ``index`` along ``axis`` (a tensor's or array's): a view when they are consecutive
    (coordinates next to each other, one position), else a copy; an index outside the axis raises as indexing
    does."""
    size = x.shape[axis]
    if index and all(-size <= i < size for i in index):
        first = index[0] % size
        if [i % size for i in index] == list(range(first, first + len(index))):
            return x[(slice(None),) * axis + (slice(first, first + len(index)),)]
    return x[(slice(None),) * axis + (index,)]


@dataclass(frozen=True)
class Probe:
    """Where to read an intermediate quantity: the residual after ``site`` (a
    :class:`~exactformer.core.sites.Site`, e.g. ``Site.layer(0, "mlp")``, ``Site.embed()``, ``Site.final()``; a
    trace label such as ``"L0.mlp"`` is parsed into one), at ``positions`` (``None`` = every position; negatives
    count from the end), in ``coordinates`` (names of the residual space)."""

    site: Site
    coordinates: tuple[str, ...]
    positions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "site", Site.parse(self.site))

    def hook_name(self, model: Any, length: int) -> str:
        """The TransformerLens hook name of this probe's site for ``model`` on ``length`` tokens."""
        return self.site.hook_name(model, length)

    def read(self, trace: Any, space_index: Callable[[str], int], batch: int = 0) -> np.ndarray:
        """The probed values ``[positions, coordinates]`` of one sequence, as an object or float array."""
        x = trace[self.site]  # a Trace reads "final" as its last residual
        rows = x[batch]
        if isinstance(rows, torch.Tensor):
            rows = rows.detach().to(torch.float64).cpu().numpy()
        cols = [space_index(c) for c in self.coordinates]
        held = self._rows(trace)
        picked = rows[:, cols] if held is None else rows[held][:, cols]
        return np.asarray(picked)

    def _rows(self, trace: Any) -> list[int] | None:
        """The trace rows holding this probe's positions (``None``: every row), through ``trace.rows`` for a trace
        that recorded some residuals at a few positions only (``forward(..., full_trace=True)``)."""
        if getattr(trace, "partial", None):
            return trace.rows(self.site, self.positions)
        return None if self.positions is None else list(self.positions)

    def read_batch(self, trace: Any, space_index: Callable[[str], int]) -> Any:
        """The probed values ``[batch, positions, coordinates]`` of every sequence of a torch trace, as a tensor
        (the same entries :meth:`read` gives one sequence at a time, left on the trace's device)."""
        x = trace[self.site]
        cols = [space_index(c) for c in self.coordinates]
        held = self._rows(trace)
        rows = x if held is None else _take(x, 1, held)
        return _take(rows, 2, cols)


@dataclass(frozen=True)
class Invariant:
    """A statement of the proof, checkable at every input.

    Parameters
    ----------
    name
        Short identifier, e.g. ``"layer1.fraction_of_ones"``.
    statement
        The lemma in words, e.g. ``"after layer 1, coordinate k/N equals k/N at every position"``.
    probe
        What to read.
    expected
        ``expected(x, length)`` gives the exact values ``[positions, coordinates]`` the probe must equal on input
        ``x`` (computed from the input by the proof's formula, not by running the model).
    scale
        The magnitude of the residual entries the probed sublayer computes with (1 by default; e.g. ``sqrt(d)``
        after a layer norm with unit gain). Float evaluators round relative to the operands, so a coordinate that
        should be 0 in a residual of entries ~ ``scale`` is checked to ``tol * (scale + |expected|)``.

    Notes
    -----
    ``expected`` may carry a batched form for the verifier's tensor path (:func:`~exactformer.core.batch_encoding.
    with_batch`): ``expected.batch(words, length)``, a float64 tensor ``[batch, positions, coordinates]`` of the
    exact values rounded to float64, for ``words`` a ``[batch, n]`` tensor of indices into the encoder's batch
    alphabet. An invariant whose ``expected`` is replaced (``dataclasses.replace``) loses it with the function.
    """

    name: str
    statement: str
    probe: Probe
    expected: Callable[[Any, int], Any]
    scale: float = 1.0


@dataclass(frozen=True)
class Resources:
    """What a model uses on inputs of one length, measured from the model itself."""

    n: int
    tokens: int
    layers: int
    heads: int
    max_heads_per_layer: int
    d_model: int
    d_mlp: int
    params: int
    attention_kinds: tuple[str, ...]
    norm_kinds: tuple[str, ...]
    masks: tuple[str, ...]
    activations: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunResult:
    """One input's run: the decoded answer, the raw readout, and the residual stream by coordinate name.

    ``position`` is where the readout reads in ``output.trace`` (the model's :attr:`Readout.position
    <exactformer.core.architecture.Readout.position>`; -1 for a readout-only trace, which holds that one row).
    """

    answer: Any
    label: Any
    logits: Any
    margin: float
    certified: bool
    output: Output
    batch_index: int = 0
    position: int = -1

    @property
    def residuals(self) -> dict[str, dict[str, Any]]:
        """Per sublayer label, the residual at the readout position by coordinate name."""
        trace = self.output.trace
        return {label: trace.named(label, self.batch_index, self.position) for label in trace.labels}

    def residual(self, site: str, position: int) -> dict[str, Any]:
        """The residual after ``site`` at ``position``, by coordinate name."""
        return self.output.trace.named(site, self.batch_index, position)


def run_results(output: Output, interpret: Callable[[Any], Any], position: int = -1) -> list[RunResult]:
    """One :class:`RunResult` per sequence of a classification pass's ``output``, answers by ``interpret``; the
    readout reads ``position`` of the trace."""
    rows = output.logits.unbind(0) if isinstance(output.logits, torch.Tensor) else output.logits
    return [
        RunResult(answer=interpret(label), label=label, logits=rows[b], margin=output.margins[b],
                  certified=output.certified[b], output=output, batch_index=b, position=position)
        for b, label in enumerate(output.labels)
    ]


def _count(n: Any, what: str) -> int:
    """``n`` as a non-negative integer (an input size), or an :class:`InputError` naming ``what``."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise InputError(f"{what}: the input size n must be a non-negative integer, got {type(n).__name__} {n!r}")
    if n < 0:
        raise InputError(f"{what}: the input size n must be a non-negative integer, got {n}")
    return int(n)


@dataclass(frozen=True, eq=False)
class Construction:
    """An exact transformer that realises a theorem, with its encoder, readout, invariants and citation.

    Parameters
    ----------
    name
        Registry name, e.g. ``"parity"``.
    model
        The exact :class:`~exactformer.core.architecture.Transformer`.
    encode
        ``encode(x)`` turns an input (a word, a query, a machine configuration) into the model's input sequence,
        validating it (raising :class:`~exactformer.core.errors.InputError` on a bad input).
    interpret
        ``interpret(label)`` maps the readout's decided label to the answer (e.g. ``True`` for "accept").
    tokens_for
        ``tokens_for(n)``: the number of tokens of the sequence encoding an input of size ``n``.
    invariants
        The proof's checkable statements.
    citation
        The paper and theorem.
    description
        One paragraph for ``exactformer list`` and the docs.
    claims
        The theorem's resource bounds as functions of the input size n (layers, heads...), the attention kinds it
        allows and its precision claim (:class:`~exactformer.core.claims.ClaimedResources`); the verifier sets
        them against :meth:`resources` at every size it checks.
    relations
        Proof statements that are not equalities with exact values (sign and negation relations), checked by
        :mod:`exactformer.verify.relations`.
    deviations
        The stated departures from the paper (errata fixed, choices the paper leaves open), one sentence each.
    parameters
        The family's own build parameters: a frozen dataclass defined by the construction's module (e.g.
        ``PostMachineParameters``), ``None`` for none.
    simulator, answerer
        Optional runners behind :meth:`simulate` (machines) and :meth:`answer` (queries).

    Notes
    -----
    ``encode`` may carry a batched form, ``encode.batch``: a :class:`~exactformer.core.batch_encoding.BatchEncoder`
    that encodes a batch of words given as symbol indices into vocabulary indices in one gather (attached by
    :func:`~exactformer.core.batch_encoding.with_batch`); the verifier's tensor path
    (:mod:`exactformer.verify.tensor_check`) needs it. Replacing ``encode`` drops it with the function.
    """

    name: str
    model: Transformer
    encode: Callable[[Any], list[Item]]
    interpret: Callable[[Any], Any]
    tokens_for: Callable[[int], int]
    citation: Citation
    invariants: tuple[Invariant, ...] = ()
    description: str = ""
    claims: ClaimedResources = field(default_factory=ClaimedResources)
    relations: tuple[Any, ...] = ()
    deviations: tuple[str, ...] = ()
    parameters: Any = None
    simulator: Callable[..., Any] | None = None
    answerer: Callable[..., Any] | None = None

    # -- running -------------------------------------------------------------------------------------------
    def run_batch(self, xs: Sequence[Any], *, backend: str = "torch", dtype: torch.dtype | None = None,
                  device: str | torch.device | None = None, precision: int = 128, arith: Arithmetic | None = None,
                  keep_trace: bool = True, accumulate: str = "dtype") -> list[RunResult]:
        """Run the model on inputs that encode to equally long sequences, in one batch.

        ``keep_trace=False`` computes the answers alone (see :func:`~exactformer.core.runners.classify`): with
        torch, the same answers, and logits and margins equal to the full pass's up to rounding (a product over
        fewer rows may round its last bit differently), and a trace holding only the readout position's final
        residual. Pass one ``arith`` to many calls to render the weights once. ``accumulate`` (torch):
        ``"dtype"`` (the default) computes every operation in ``dtype``, as PyTorch does; ``"float64"`` sums the
        values of attention with all-equal scores in float64 and rounds once (see
        :class:`~exactformer.core.arith.TorchArithmetic`).
        """
        seqs = self._encode_batch(xs, backend, dtype, keep_trace)
        arith = arith or arithmetic_for(backend, dtype=dtype, device=device, precision=precision,
                                        accumulate=accumulate)
        output = classify(self.model, seqs, arith, keep_trace=keep_trace, on_tie="raise")
        return run_results(output, self.interpret, self.model.readout.position if keep_trace else -1)

    def answer_batch(self, xs: Sequence[Any], *, backend: str = "torch", dtype: torch.dtype | None = None,
                     device: str | torch.device | None = None, precision: int = 128,
                     arith: Arithmetic | None = None, accumulate: str = "dtype") -> list[Any]:
        """The decoded answers alone of :meth:`run_batch` with ``keep_trace=False``, one per input.

        For sweeps that only compare answers: it runs the same readout-only pass and decodes the same labels, but
        builds no :class:`RunResult` per input (at 10^6 inputs of length 20 those objects cost about as much as
        the forward pass). Pass one ``arith`` to many calls to render the weights once. A subclass that runs its
        inputs its own way (overrides :meth:`run_batch`, e.g. with continuous thoughts) gets the answers of its
        ``run_batch``.
        """
        if accumulate != "dtype" and arith is None:
            arith = arithmetic_for(backend, dtype=dtype, device=device, precision=precision, accumulate=accumulate)
        if type(self).run_batch is not Construction.run_batch:
            results = self.run_batch(xs, backend=backend, dtype=dtype, device=device, precision=precision,
                                     arith=arith, keep_trace=False)
            return [r.answer for r in results]
        seqs = self._encode_batch(xs, backend, dtype, False)
        arith = arith or arithmetic_for(backend, dtype=dtype, device=device, precision=precision)
        output = classify(self.model, seqs, arith, keep_trace=False, on_tie="raise")
        return [self.interpret(label) for label in output.labels]

    def _encode_batch(self, xs: Sequence[Any], backend: str, dtype: torch.dtype | None,
                      keep_trace: bool) -> list[list[Item]]:
        """Encode a batch, with clear errors: no input or ``None``, an input ``encode`` cannot read (its
        ``TypeError``/``AttributeError``/``KeyError``/``IndexError`` becomes an :class:`InputError` naming the
        construction and the input), and a forward pass over the memory budget."""
        if isinstance(xs, (str, bytes)) or not hasattr(xs, "__iter__"):
            raise InputError(f"{self.name}: run_batch takes a list of inputs, got {type(xs).__name__} {_short(xs)}"
                             "; for one input use run()")
        seqs = []
        for x in xs:
            try:
                seqs.append(self.encode(x))
            except ExactformerError:
                raise
            except (TypeError, AttributeError, KeyError, IndexError) as exc:
                if x is None:
                    raise InputError(f"{self.name}: the input is None; pass an input the construction encodes (a "
                                     "word, a query, a queue: see its docs or `exactformer list`)") from exc
                raise InputError(f"{self.name} cannot encode the input {type(x).__name__} {_short(x)}: "
                                 f"{type(exc).__name__}: {exc}") from exc
        floating = isinstance(dtype, torch.dtype) and dtype.is_floating_point
        if backend == "torch" and dtype is not None and not floating:
            raise InputError(f"dtype must be a floating torch dtype (torch.float16, bfloat16, float32, float64), got "
                             f"{dtype!r}")
        if seqs:
            lengths = [len(q) for q in seqs]
            itemsize = torch.finfo(dtype or torch.float64).bits // 8 if backend == "torch" else 8
            require_memory(forward_bytes(self.model, len(seqs), max(lengths), itemsize, keep_trace=keep_trace),
                           f"{self.name}: a forward pass over {len(seqs)} input(s) of {max(lengths):,} tokens")
        return seqs

    def run(
        self,
        x: Any,
        *,
        backend: str = "torch",
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        precision: int = 128,
        accumulate: str = "dtype",
    ) -> RunResult:
        """Run the model on one input; ``backend`` is ``"exact"``, ``"certified"`` or ``"torch"``.

        ``accumulate`` (torch): ``"dtype"`` (the default: every operation in ``dtype``, PyTorch's arithmetic) or
        ``"float64"`` (attention with all-equal scores sums its values in float64; see :meth:`run_batch`).

        A model that decides nothing raises rather than answer by accident: a readout tie (two equal largest
        logits, or a sign logit of exactly 0) raises :class:`~exactformer.core.errors.ReadoutTieError`, a hard
        attention tie without a tie rule :class:`~exactformer.core.errors.AttentionTieError`, and a NaN or an
        infinity in a weight, a residual, an attention score or a logit
        :class:`~exactformer.core.errors.NonFiniteError` (so do :meth:`run_batch` and :meth:`answer_batch`). A
        certified run whose decisions the intervals do not separate returns ``certified=False``.
        """
        arith = None if accumulate == "dtype" else arithmetic_for(backend, dtype=dtype, device=device,
                                                                  precision=precision, accumulate=accumulate)
        return self.run_batch([x], backend=backend, dtype=dtype, device=device, precision=precision, arith=arith)[0]

    def simulate(self, *args: Any, **kwargs: Any) -> Any:
        """For machine simulators: run the machine through the model (see the construction's docs)."""
        if self.simulator is None:
            raise TypeError(f"construction {self.name!r} does not simulate a machine")
        return self.simulator(self, *args, **kwargs)

    def answer(self, query: Any, **kwargs: Any) -> Any:
        """For query answerers (e.g. reachability): the model's answer to ``query``."""
        if self.answerer is None:
            return self.run(query, **kwargs).answer
        return self.answerer(self, query, **kwargs)

    def accepts(self, word: Any, **kwargs: Any) -> bool:
        """For recognisers: whether the model accepts ``word`` (see :meth:`run` for the keyword arguments)."""
        return bool(self.run(word, **kwargs).answer)

    # -- description ---------------------------------------------------------------------------------------
    def resources(self, n: int) -> Resources:
        """Layers (the loop unrolled), heads, widths, parameters and kinds used on inputs of size ``n``.

        Raises
        ------
        InputError
            If ``n`` is not a non-negative integer.
        """
        n = _count(n, f"{self.name}.resources(n)")
        tokens = self.tokens_for(n)
        layers = self.model.named_layers(tokens)
        heads = [layer.attention.block.n_heads for _, layer in layers if layer.attention is not None]  # type: ignore
        mlps = [layer.mlp.block.d_mlp for _, layer in layers if layer.mlp is not None]  # type: ignore[union-attr]
        weights = model_weights(self.model, None)
        params = sum(int(w.size) for w in weights.values())
        atts = [layer.attention for _, layer in layers if layer.attention is not None]
        subs = [s for _, layer in layers for _, s in layer.sublayers()]
        norms = sorted({n.describe() for s in subs for n in (s.input_norm, s.output_norm) if not n.is_identity})
        return Resources(
            n=n,
            tokens=tokens,
            layers=len(layers),
            heads=sum(heads),
            max_heads_per_layer=max(heads, default=0),
            d_model=self.model.d_model,
            d_mlp=max(mlps, default=0),
            params=params,
            attention_kinds=tuple(sorted({a.block.kind for a in atts})),  # type: ignore[union-attr]
            norm_kinds=tuple(norms),
            masks=tuple(sorted({a.block.mask.describe() for a in atts})),  # type: ignore[union-attr]
            activations=tuple(sorted({layer.mlp.block.activation for _, layer in layers if layer.mlp})),  # type: ignore
        )

    def weights(self, n: int | None = None) -> dict[str, np.ndarray]:
        """Exact weights by TransformerLens-style name; with ``n`` the loop is unrolled and W_pos materialised.

        Raises
        ------
        InputError
            If ``n`` is not ``None`` or a non-negative integer.
        MemoryBudgetError
            If ``W_pos`` for ``n`` would take more than :data:`~exactformer.core.budget.MEMORY_BUDGET` (the message
            says how much it needs).
        """
        if n is None:
            return model_weights(self.model, None)
        return model_weights(self.model, self.tokens_for(_count(n, f"{self.name}.weights(n)")))

    def spec(self, n: int | None = None, *, example: Any = None) -> ModelSpec:
        """Everything running :meth:`state_dict`'s weights in plain torch needs besides them, as typed data
        (attention kinds, scales and ``ln N`` factors, masks, tie rules, norms and their placement, the readout,
        the token order; with ``example``, its encoding: BOS and other framing tokens). See
        :mod:`exactformer.core.model_spec`."""
        tokens = None if n is None else self.tokens_for(_count(n, f"{self.name}.spec(n)"))
        encoding = None if example is None else EncodingSpec.of(example, self.encode(example))
        return model_spec(self.model, tokens, n=n, encoding=encoding)

    def state_dict(self, dtype: torch.dtype = torch.float32, n: int | None = None) -> StateDict:
        """:meth:`weights` rendered as torch tensors of ``dtype`` (refused like :meth:`weights` over the memory
        budget, counting the rendered tensors too), carrying :meth:`spec` as ``.spec``."""
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise InputError(f"state_dict needs a floating torch dtype such as torch.float32, got {dtype!r}")
        tokens = None if n is None else self.tokens_for(_count(n, f"{self.name}.state_dict(n)"))
        require_memory(weights_bytes(self.model, tokens, torch.finfo(dtype).bits // 8),
                       f"{self.name}.state_dict({dtype}, n={n})")
        out = StateDict((k, torch.from_numpy(to_float_array(v)).to(dtype)) for k, v in self.weights(n).items())
        out.spec = self.spec(n)
        return out

    def __repr__(self) -> str:
        lines = [f"Construction {self.name!r}: {self.citation}"]
        lines.append(self.model.describe())
        lines.append("  claims: " + self.claims.describe(precision=False))
        if self.invariants:
            lines.append("  invariants: " + ", ".join(inv.name for inv in self.invariants))
        return "\n".join(lines)


def _short(x: Any, limit: int = 60) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."
