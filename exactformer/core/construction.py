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
from .evaluate import Arithmetic, Item, arithmetic_for
from .rational import to_float_array
from .runners import Output, classify

__all__ = ["Citation", "Probe", "Invariant", "Resources", "RunResult", "Construction", "model_weights"]


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


@dataclass(frozen=True)
class Probe:
    """Where to read an intermediate quantity: the residual after ``site`` (a trace label such as ``"L0.mlp"``,
    or ``"embed"`` / ``"final"``), at ``positions`` (``None`` = every position; negatives count from the end),
    in ``coordinates`` (names of the residual space)."""

    site: str
    coordinates: tuple[str, ...]
    positions: tuple[int, ...] | None = None

    def read(self, trace: Any, space_index: Callable[[str], int], batch: int = 0) -> np.ndarray:
        """The probed values ``[positions, coordinates]`` of one sequence, as an object or float array."""
        x = trace.final if self.site == "final" else trace[self.site]
        rows = x[batch]
        if isinstance(rows, torch.Tensor):
            rows = rows.detach().to(torch.float64).cpu().numpy()
        cols = [space_index(c) for c in self.coordinates]
        picked = rows[:, cols] if self.positions is None else rows[list(self.positions)][:, cols]
        return np.asarray(picked)


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
    """One input's run: the decoded answer, the raw readout, and the residual stream by coordinate name."""

    answer: Any
    label: Any
    logits: Any
    margin: float
    certified: bool
    output: Output
    batch_index: int = 0

    @property
    def residuals(self) -> dict[str, dict[str, Any]]:
        """Per sublayer label, the residual at the readout position by coordinate name."""
        trace = self.output.trace
        pos = -1
        return {label: trace.named(label, self.batch_index, pos) for label in trace.labels}

    def residual(self, site: str, position: int) -> dict[str, Any]:
        """The residual after ``site`` at ``position``, by coordinate name."""
        return self.output.trace.named(site, self.batch_index, position)


def model_weights(model: Transformer, n_tokens: int | None = None) -> dict[str, np.ndarray]:
    """The model's exact weights by TransformerLens-style name.

    Layers are ``blocks.{k}`` in execution order (the loop unrolled for ``n_tokens``); for a looped model with
    ``n_tokens=None`` the distinct layers are ``blocks.L0``, ``blocks.loop0.B0``, ``blocks.S0``... With
    ``n_tokens`` the positional encoding is materialised as ``pos_embed.W_pos[n_tokens, d_model]``.
    """
    out: dict[str, np.ndarray] = {"embed.W_E": model.embedding.W_E}
    if n_tokens is not None and model.embedding.positional:
        from .rational import rational_zeros

        W_pos = rational_zeros((n_tokens, model.d_model))
        for coord, feature in model.embedding.positional:
            c = model.space.index(coord)
            for i in range(n_tokens):
                W_pos[i, c] += feature.exact(i, n_tokens)
        out["pos_embed.W_pos"] = W_pos
    named = model.named_layers(n_tokens)
    unrolled = n_tokens is not None or model.loop is None
    for k, (label, layer) in enumerate(named):
        prefix = f"blocks.{k if unrolled else label}"
        if layer.attention is not None:
            att = layer.attention.block
            for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"):
                out[f"{prefix}.attn.{name}"] = getattr(att, name)
        if layer.mlp is not None:
            mlp = layer.mlp.block
            for name in ("W_in", "b_in", "W_out", "b_out"):
                out[f"{prefix}.mlp.{name}"] = getattr(mlp, name)
    out["unembed.W_U"] = model.readout.W_U
    out["unembed.b_U"] = model.readout.b_U
    return out


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
    extras
        Construction-specific data (its parameters, its precision prediction under ``"precision_prediction"``).
    simulator, answerer
        Optional runners behind :meth:`simulate` (machines) and :meth:`answer` (queries).
    """

    name: str
    model: Transformer
    encode: Callable[[Any], list[Item]]
    interpret: Callable[[Any], Any]
    tokens_for: Callable[[int], int]
    citation: Citation
    invariants: tuple[Invariant, ...] = ()
    description: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    simulator: Callable[..., Any] | None = None
    answerer: Callable[..., Any] | None = None

    # -- running -------------------------------------------------------------------------------------------
    def run_batch(
        self,
        xs: Sequence[Any],
        *,
        backend: str = "torch",
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        precision: int = 128,
        arith: Arithmetic | None = None,
        keep_trace: bool = True,
    ) -> list[RunResult]:
        """Run the model on inputs that encode to equally long sequences, in one batch.

        ``keep_trace=False`` computes the answers alone (see :func:`~exactformer.core.runners.classify`): with
        torch, the same answers, and logits and margins equal to the full pass's up to rounding (a product over
        fewer rows may round its last bit differently), and a trace holding only the readout position's final
        residual. Pass one ``arith`` to many calls to render the weights once.
        """
        arith = arith or arithmetic_for(backend, dtype=dtype, device=device, precision=precision)
        output = classify(self.model, [self.encode(x) for x in xs], arith, keep_trace=keep_trace)
        rows = output.logits.unbind(0) if isinstance(output.logits, torch.Tensor) else output.logits
        return [
            RunResult(
                answer=self.interpret(label),
                label=label,
                logits=rows[b],
                margin=output.margins[b],
                certified=output.certified[b],
                output=output,
                batch_index=b,
            )
            for b, label in enumerate(output.labels)
        ]

    def answer_batch(
        self,
        xs: Sequence[Any],
        *,
        backend: str = "torch",
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        precision: int = 128,
        arith: Arithmetic | None = None,
    ) -> list[Any]:
        """The decoded answers alone of :meth:`run_batch` with ``keep_trace=False``, one per input.

        For sweeps that only compare answers: it runs the same readout-only pass and decodes the same labels, but
        builds no :class:`RunResult` per input (at 10^6 inputs of length 20 those objects cost about as much as
        the forward pass). Pass one ``arith`` to many calls to render the weights once. A subclass that runs its
        inputs its own way (overrides :meth:`run_batch`, e.g. with continuous thoughts) gets the answers of its
        ``run_batch``.
        """
        if type(self).run_batch is not Construction.run_batch:
            options = {"backend": backend, "dtype": dtype, "device": device, "precision": precision, "arith": arith}
            return [r.answer for r in self.run_batch(xs, **options)]
        arith = arith or arithmetic_for(backend, dtype=dtype, device=device, precision=precision)
        output = classify(self.model, [self.encode(x) for x in xs], arith, keep_trace=False)
        return [self.interpret(label) for label in output.labels]

    def run(
        self,
        x: Any,
        *,
        backend: str = "torch",
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        precision: int = 128,
    ) -> RunResult:
        """Run the model on one input; ``backend`` is ``"exact"``, ``"certified"`` or ``"torch"``."""
        return self.run_batch([x], backend=backend, dtype=dtype, device=device, precision=precision)[0]

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
        """Layers (the loop unrolled), heads, widths, parameters and kinds used on inputs of size ``n``."""
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
        """Exact weights by TransformerLens-style name; with ``n`` the loop is unrolled and W_pos materialised."""
        return model_weights(self.model, None if n is None else self.tokens_for(n))

    def state_dict(self, dtype: torch.dtype = torch.float32, n: int | None = None) -> dict[str, torch.Tensor]:
        """:meth:`weights` rendered as torch tensors of ``dtype``."""
        return {k: torch.from_numpy(to_float_array(v)).to(dtype) for k, v in self.weights(n).items()}

    def __repr__(self) -> str:
        lines = [f"Construction {self.name!r}: {self.citation}"]
        lines.append(self.model.describe())
        if self.invariants:
            lines.append("  invariants: " + ", ".join(inv.name for inv in self.invariants))
        return "\n".join(lines)
