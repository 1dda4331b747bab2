"""Everything beyond the weights that running them in plain torch needs, as typed data (:class:`ModelSpec`).

:meth:`Construction.state_dict <exactformer.core.construction.Construction.state_dict>` returns the weights by
TransformerLens-style name; its :class:`StateDict` carries the :class:`ModelSpec` as ``.spec``, and
``exactformer export NAME -o FILE`` writes it to the safetensors metadata (key ``"spec"``, JSON). With it, a forward
pass is (the docs' export page runs one in ~40 lines of torch):

* **embedding**: ``h[i] = W_E[token_i] + W_pos[i]``; token ``t`` is row ``vocab.index(t)`` (``vocab`` is the token
  order), ``W_pos`` is materialised for the spec's ``tokens`` (a spec without ``n`` lists the features instead);
* **sublayers**, in ``sublayers`` order (the loop unrolled for ``n``):
  ``h <- output_norm((h if residual else 0) + block(input_norm(h)))``, each tensor named ``{prefix}.{W_Q...}``;
* **attention** (head ``k``): ``q = h W_Q[k] + b_Q[k]`` (likewise ``k``, ``v``); the score of query ``i`` and key
  ``j`` is ``scale * <q_i, k_j> + bias_k(i - j)`` with ``scale = coefficient * sqrt(sqrt_of) * (ln N if
  log_length)`` (N the number of tokens; ``scale_at_n`` is its float64 value), over the keys the mask allows
  (``none``: all; ``causal``: j <= i; ``strict_causal``: j < i, a query with no key outputs 0; ``window``:
  i - width < j <= i). ``softmax`` weights them by the softmax; ``hard`` reads the one maximal key (at a tie the
  leftmost or rightmost by ``tie_rule``, or an error); ``average_hard`` averages the maximal keys. The output is
  ``sum_k (pattern_k v_k) W_O[k] + b_O``;
* **MLP**: ``act(h W_in + b_in) W_out + b_out``, ``act`` = ReLU or the step ``1[x >= threshold]``;
* **norms**: ``layernorm`` = ``(x - mean x) / sqrt(mean((x - mean x)^2) + eps)``, ``rmsnorm`` = ``x / sqrt(mean(x^2)
  + eps)``, ``l2`` = ``x / sqrt(sum(x^2) + eps)``, no gain or bias, means over all ``d_model`` coordinates; a masked
  norm first zeroes every coordinate not in ``mask``;
* **readout**: ``logits = h[position] W_U + b_U``; ``sign``: the one label if its logit is > 0; ``argmax``: the
  label of the unique largest logit (a tie is an error).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .architecture import MLP, Attention, Norm, Sublayer, Transformer

__all__ = ["ModelSpec", "SublayerSpec", "AttentionSpec", "MLPSpec", "NormSpec", "ReadoutSpec", "EncodingSpec",
           "model_spec", "StateDict", "FORMAT"]

#: The spec's format name, written in its JSON.
FORMAT = "exactformer.model_spec/1"


@dataclass(frozen=True)
class NormSpec:
    """A norm: ``kind`` (``layernorm``, ``rmsnorm``, ``l2``), ``eps`` (exact, as a string), ``mask``."""

    kind: str
    eps: str
    mask: tuple[str, ...] | None = None

    @classmethod
    def of(cls, norm: Norm) -> NormSpec | None:
        return None if norm.is_identity else cls(norm.kind, str(norm.eps), norm.mask)


@dataclass(frozen=True)
class AttentionSpec:
    """An attention block's options (see the module docstring); exact values are strings (``"1/3"``)."""

    kind: str
    n_heads: int
    scale_coefficient: str
    scale_sqrt_of: str
    scale_log_length: bool
    scale_at_n: float | None
    mask: str
    window: int | None
    tie_rule: str
    relative_bias: tuple[dict[str, Any] | None, ...] | None

    @classmethod
    def of(cls, att: Attention, tokens: int | None) -> AttentionSpec:
        biases = None
        if att.relative_bias is not None:
            biases = tuple(None if b is None else {"default": str(b.default),
                                                   "values": {str(k): str(v) for k, v in b.values.items()}}
                           for b in att.relative_bias)
        scale = att.scale.value(tokens) if tokens is not None and att.kind == "softmax" else None
        return cls(att.kind, att.n_heads, str(att.scale.coefficient), str(att.scale.sqrt_of), att.scale.log_length,
                   scale, att.mask.kind, att.mask.width, att.tie_rule, biases)


@dataclass(frozen=True)
class MLPSpec:
    """An MLP block: ``activation`` (``relu`` or ``step``) and the step's ``threshold`` (exact, as a string)."""

    activation: str
    threshold: str


@dataclass(frozen=True)
class SublayerSpec:
    """One sublayer in execution order: its label (``"L0.attn"``), tensor ``prefix`` (``"blocks.0.attn"``), the
    block, the residual switch and the norms before the block (``input_norm``) and after the residual sum
    (``output_norm``)."""

    label: str
    prefix: str
    residual: bool
    input_norm: NormSpec | None
    output_norm: NormSpec | None
    attention: AttentionSpec | None = None
    mlp: MLPSpec | None = None


@dataclass(frozen=True)
class ReadoutSpec:
    """``logits = h[position] W_U + b_U``, decided by ``decision`` (a tie of an argmax is an error)."""

    position: int
    decision: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class EncodingSpec:
    """How an input becomes tokens, read off one example: the example, its tokens, and (when the tokens are the
    input's symbols framed by fixed tokens) the tokens before (``prefix``, e.g. a BOS) and after (``suffix``)."""

    example: str
    tokens: tuple[str, ...]
    prefix: tuple[str, ...] | None
    suffix: tuple[str, ...] | None

    @classmethod
    def of(cls, example: Any, tokens: list[Any]) -> EncodingSpec:
        names = tuple(str(t) for t in tokens)
        prefix = suffix = None
        if isinstance(example, (str, tuple, list)):
            symbols = tuple(str(s) for s in example)
            for k in range(len(names) - len(symbols) + 1):
                if names[k: k + len(symbols)] == symbols:
                    prefix, suffix = names[:k], names[k + len(symbols):]
                    break
        return cls(str(example), names, prefix, suffix)


@dataclass(frozen=True)
class ModelSpec:
    """What running the weights of :meth:`Construction.state_dict` in plain torch needs besides them.

    ``n`` is the input size and ``tokens`` the sequence length the weights were materialised for (``None``: the
    loop is not unrolled and ``W_pos`` is not in the weights; ``positional`` lists the features).
    """

    n: int | None
    tokens: int | None
    d_model: int
    coordinates: tuple[str, ...]
    vocab: tuple[str, ...]
    positional: tuple[tuple[str, str], ...]
    sublayers: tuple[SublayerSpec, ...]
    readout: ReadoutSpec
    max_length: int | None
    encoding: EncodingSpec | None = None
    format: str = FORMAT

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON-ready data (tuples become lists)."""
        return _plain(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelSpec:
        """The spec of :meth:`to_json`'s data."""
        subs = tuple(SublayerSpec(**{**s, "input_norm": _norm(s["input_norm"]), "output_norm": _norm(s["output_norm"]),
                                     "attention": None if s["attention"] is None else _attention(s["attention"]),
                                     "mlp": None if s["mlp"] is None else MLPSpec(**s["mlp"])})
                     for s in data["sublayers"])
        readout = ReadoutSpec(**{**data["readout"], "labels": tuple(data["readout"]["labels"])})
        enc = data.get("encoding")
        frame = [None if enc is None or enc[k] is None else tuple(enc[k]) for k in ("prefix", "suffix")]
        encoding = None if enc is None else EncodingSpec(enc["example"], tuple(enc["tokens"]), frame[0], frame[1])
        return cls(data["n"], data["tokens"], data["d_model"], tuple(data["coordinates"]), tuple(data["vocab"]),
                   tuple((c, f) for c, f in data["positional"]), subs, readout, data["max_length"], encoding,
                   data.get("format", FORMAT))


def _norm(data: dict[str, Any] | None) -> NormSpec | None:
    return None if data is None else NormSpec(data["kind"], data["eps"], None if data["mask"] is None
                                              else tuple(data["mask"]))


def _attention(data: dict[str, Any]) -> AttentionSpec:
    bias = data["relative_bias"]
    return AttentionSpec(**{**data, "relative_bias": None if bias is None else tuple(bias)})


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _sublayer(label: str, prefix: str, sub: Sublayer, tokens: int | None) -> SublayerSpec:
    block = sub.block
    return SublayerSpec(
        label=label, prefix=prefix, residual=sub.residual, input_norm=NormSpec.of(sub.input_norm),
        output_norm=NormSpec.of(sub.output_norm),
        attention=AttentionSpec.of(block, tokens) if isinstance(block, Attention) else None,
        mlp=MLPSpec(block.activation, str(block.threshold)) if isinstance(block, MLP) else None,
    )


def model_spec(model: Transformer, tokens: int | None = None, *, n: int | None = None,
               encoding: EncodingSpec | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of ``model`` for sequences of ``tokens`` tokens (``None``: any length, the loop not
    unrolled), its sublayers named as :func:`~exactformer.core.weights.model_weights` names their tensors."""
    named = model.named_layers(tokens)
    unrolled = tokens is not None or model.loop is None
    subs = []
    for k, (label, layer) in enumerate(named):
        for kind, sub in layer.sublayers():
            subs.append(_sublayer(f"{label}.{kind}", f"blocks.{k if unrolled else label}.{kind}", sub, tokens))
    readout = ReadoutSpec(model.readout.position, model.readout.decision, tuple(model.readout.labels))
    return ModelSpec(n=n, tokens=tokens, d_model=model.d_model, coordinates=tuple(model.space.names),
                     vocab=tuple(model.embedding.vocab),
                     positional=tuple((c, f.describe()) for c, f in model.embedding.positional),
                     sublayers=tuple(subs), readout=readout, max_length=model.max_length, encoding=encoding)


class StateDict(dict):  # type: ignore[type-arg]
    """A ``dict`` of tensors by name that carries the :class:`ModelSpec` of its weights as ``.spec`` (as torch's
    own state dicts carry ``._metadata``)."""

    spec: ModelSpec
