"""Export a model to TransformerLens 3.x (``HookedTransformer``), with hooks for what its config cannot say.

TransformerLens is the interpretability community's standard surface (``run_with_cache``, ``hook_pattern``...).
Its ``HookedTransformer`` is a pre-norm GPT: ``resid_mid = resid_pre + attn(resid_pre)``, ``resid_post =
resid_mid + mlp(resid_mid)``, a fixed positional table ``W_pos [n_ctx, d_model]``, softmax attention, one
``d_head``, ``n_heads`` and ``d_mlp`` for all layers. An exactformer model maps onto it as follows.

========================================  =======================================================================
exactformer                               TransformerLens
========================================  =======================================================================
token table ``W_E``                       ``embed.W_E`` (the vocabulary order of the model)
positional features f(i, n)               ``pos_embed.W_pos``, tabulated for ONE length: an export is per length
                                          (so ``i/n`` and ``log n`` features, and loops, become constants)
attention sublayer, residual, no norm     ``blocks.l.attn`` (heads and ``d_head`` zero-padded to the maximum)
softmax scale (incl. ``log n``)           folded into ``W_Q``/``b_Q``; ``use_attn_scale=False``
hard / average-hard attention             a ``hook_pattern`` hook: the argmax set of the scores, one-hot (tie
                                          rule leftmost/rightmost/error) or averaged
masks other than none/causal, relative    a ``hook_attn_scores`` hook adds the bias and masks disallowed keys
position biases
ReLU MLP sublayer, residual, no norm      ``blocks.l.mlp`` (units zero-padded to the maximum ``d_mlp``)
a looped block                            unrolled: the block's weights repeated for the export's length
readout ``W_U``, ``b_U`` at a position    ``unembed`` (logits at every position; ours is the given position)
========================================  =======================================================================

Not expressible, and refused with :class:`ExportError` saying which sublayer and why: any norm (TransformerLens
blocks are pre-LN only, with no masked, L2 or post norm), a sublayer without its residual, step activations, and
continuous inputs (the ``think`` runner's thoughts are vectors, not tokens). This rules out the layer-norm
PARITY/FIRST variants (post-LN), the log-depth recognisers (masked pre-norm) and the superposition construction
(L2 norm, no MLP residual, step activations).

Pinned and tested against ``transformer-lens==3.9.0`` (the last release with ``HookedTransformer``; 4.x removed
it). Install it with ``pip install -e ".[transformer-lens]"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..core import attention_rules
from ..core.architecture import MLP, Attention, Layer, Sublayer, Transformer
from ..core.arith import TorchArithmetic
from ..core.construction import Construction
from ..core.errors import AttentionTieError, ExactformerError
from ..core.rational import to_float_array

__all__ = ["ExportError", "TransformerLensExport", "to_transformer_lens", "exportable", "PINNED_VERSION"]

PINNED_VERSION = "3.9.0"

Hook = tuple[str, Callable[..., Any]]


class ExportError(ExactformerError):
    """The model uses an architecture option the export target cannot express."""


def _float(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(to_float_array(arr)).to(torch.float64)


def _sublayer_problem(where: str, sub: Sublayer) -> str | None:
    if not sub.input_norm.is_identity or not sub.output_norm.is_identity:
        norm = sub.input_norm if not sub.input_norm.is_identity else sub.output_norm
        return f"{where} has a {norm.describe()} norm (TransformerLens blocks are pre-LN only)"
    if not sub.residual:
        return f"{where} has no residual connection"
    if isinstance(sub.block, MLP) and sub.block.activation != "relu":
        return f"{where} uses a {sub.block.activation} activation (TransformerLens has no step function)"
    return None


def exportable(model: Transformer | Construction, length: int | None = None) -> str | None:
    """``None`` if the model can be exported to TransformerLens, else the reason it cannot."""
    model = model.model if isinstance(model, Construction) else model
    n = length if length is not None else 1
    for label, layer in model.named_layers(n):
        for kind, sub in layer.sublayers():
            problem = _sublayer_problem(f"{label}.{kind}", sub)
            if problem:
                return problem
    return None


@dataclass
class TransformerLensExport:
    """A ``HookedTransformer`` holding a model's weights for sequences of exactly ``length`` tokens.

    Attributes
    ----------
    model:
        The ``HookedTransformer`` (float64, ``use_attn_scale=False``).
    hooks:
        Forward hooks ``(hook name, function)`` that realise what the config cannot (hard attention, masks, relative
        biases); pass them to ``run_with_hooks`` or use :meth:`run_with_cache`, which applies them.
    vocab:
        The token strings, in ``W_E``'s row order.
    labels:
        Our sublayer labels (``"L0.attn"``...) of ``blocks.l.hook_resid_mid`` / ``hook_resid_post``, by hook name.
    readout_position:
        The position whose logits are the model's output.
    """

    model: Any
    hooks: list[Hook]
    vocab: tuple[str, ...]
    length: int
    labels: dict[str, str] = field(default_factory=dict)
    readout_position: int = -1
    hook_notes: dict[str, str] = field(default_factory=dict)

    def save(self, path: str) -> None:
        """Write the ``HookedTransformer`` state dict to safetensors, with its config and the hooks it needs
        (as text: hooks are code, rebuild them with :func:`to_transformer_lens`) in the metadata."""
        import json

        from safetensors.torch import save_file

        cfg = {k: v for k, v in self.model.cfg.to_dict().items() if isinstance(v, (int, float, str, bool, type(None)))}
        tensors = {k: v.contiguous() for k, v in self.model.state_dict().items() if v.numel() > 0}
        save_file(tensors, path, metadata={
            "format": f"transformer-lens=={PINNED_VERSION} HookedTransformer state dict",
            "config": json.dumps(cfg), "hooks": json.dumps(self.hook_notes), "vocab": json.dumps(self.vocab),
            "readout_position": str(self.readout_position),
        })

    def tokens(self, sequences: Sequence[Sequence[str]]) -> torch.Tensor:
        """Token ids ``[batch, length]`` of token-string sequences."""
        index = {t: i for i, t in enumerate(self.vocab)}
        rows = []
        for seq in sequences:
            if len(seq) != self.length:
                raise ExportError(f"this export was built for {self.length} tokens, got {len(seq)}")
            unknown = [t for t in seq if t not in index]
            if unknown:
                raise ExportError(f"token {unknown[0]!r} is not in the vocabulary {self.vocab}")
            rows.append([index[t] for t in seq])
        return torch.tensor(rows, dtype=torch.long)

    def run_with_cache(self, sequences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, Any]:
        """``(logits [batch, length, n_out], ActivationCache)`` with the export's hooks applied."""
        tokens = self.tokens(sequences)
        cache: dict[str, torch.Tensor] = {}

        def save(tensor: torch.Tensor, hook: Any) -> None:
            cache[hook.name] = tensor.detach()

        names = ["hook_embed", "hook_pos_embed"] + [
            f"blocks.{l}.hook_resid_{s}" for l in range(self.model.cfg.n_layers) for s in ("pre", "mid", "post")
        ] + [f"blocks.{l}.attn.hook_pattern" for l in range(self.model.cfg.n_layers)]
        # our hooks first (they rewrite scores and patterns), then the recorders
        hooks = list(self.hooks) + [(name, save) for name in names]
        logits = self.model.run_with_hooks(tokens, fwd_hooks=hooks)
        return logits, cache

    def residuals(self, sequences: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
        """The residual stream after each of our sublayers, by our label (``"embed"``, ``"L0.attn"``...)."""
        _, cache = self.run_with_cache(sequences)
        out = {"embed": cache["blocks.0.hook_resid_pre"]}
        for hook_name, label in self.labels.items():
            out[label] = cache[hook_name]
        return out

    def readout(self, sequences: Sequence[Sequence[str]]) -> torch.Tensor:
        """The readout logits ``[batch, n_out]`` at the model's readout position."""
        logits, _ = self.run_with_cache(sequences)
        return logits[:, self.readout_position]


def _attention_hooks(
    layer_index: int, att: Attention, length: int, n_heads: int, notes: dict[str, str]
) -> list[Hook]:
    """Hooks for masks and relative biases (on the scores) and hard attention (on the pattern)."""
    arith = TorchArithmetic(dtype=torch.float64)
    pos = torch.arange(length)
    allowed = attention_rules.allowed(att.mask, pos, pos)  # [q, k]
    bias = torch.zeros(n_heads, length, length, dtype=torch.float64)
    for h in range(att.n_heads):
        b = arith.relative_bias(att, h, pos, pos)
        if b is not None:
            bias[h] = b
    needs_scores_hook = att.mask.kind not in ("none", "causal") or bool(bias.abs().sum() > 0)
    real = torch.zeros(n_heads, dtype=torch.bool)
    real[: att.n_heads] = True
    state: dict[str, torch.Tensor] = {}
    prefix = f"blocks.{layer_index}.attn"
    hooks: list[Hook] = []

    def scores_hook(scores: torch.Tensor, hook: Any) -> torch.Tensor:
        # scores: [batch, head, query, key]; TransformerLens has already put -inf above the diagonal if causal
        if needs_scores_hook:
            scores = scores + bias.to(scores.dtype)[None]
            scores = scores.masked_fill(~allowed[None, None], float("-inf"))
        state["scores"] = scores
        return scores

    hooks.append((f"{prefix}.hook_attn_scores", scores_hook))
    notes[f"{prefix}.hook_attn_scores"] = (
        f"add relative-position biases, mask to {att.mask.describe()}" if needs_scores_hook else "record scores"
    )

    def pattern_hook(pattern: torch.Tensor, hook: Any) -> torch.Tensor:
        scores = state["scores"]
        any_key = allowed.any(dim=-1)[None, None, :, None]
        if att.kind == "softmax":
            # a query with no allowed key (strict causal at position 0) attends to nothing, as in our evaluator
            return torch.where(any_key, torch.nan_to_num(pattern, nan=0.0), torch.zeros_like(pattern))
        best = scores.max(dim=-1, keepdim=True).values
        winners = (scores == best) & allowed[None, None] & any_key
        count = winners.sum(dim=-1, keepdim=True)
        if att.kind == "average_hard":
            hard = winners.to(pattern.dtype) / count.clamp(min=1).to(pattern.dtype)
        else:
            tied = (count > 1) & real[None, :, None, None]
            if tied.any() and att.tie_rule == "error":
                b, h, q, _ = tied.nonzero()[0].tolist()
                raise AttentionTieError(f"hard attention tie in blocks.{layer_index} head {h} query {q} (batch {b})")
            hard = attention_rules.chosen_keys(winners, att.kind, att.tie_rule).to(pattern.dtype)
        # padded heads (zero W_O) keep TransformerLens's pattern: their output is 0 either way
        return torch.where(real[None, :, None, None], hard, pattern)

    hooks.append((f"{prefix}.hook_pattern", pattern_hook))
    notes[f"{prefix}.hook_pattern"] = (
        f"{att.kind} attention: replace the softmax by the argmax set of the scores (tie rule {att.tie_rule})"
        if att.kind != "softmax" else "zero the rows of queries with no allowed key"
    )
    return hooks


def to_transformer_lens(model: Transformer | Construction, *, length: int) -> TransformerLensExport:
    """Export ``model`` to a TransformerLens 3.x ``HookedTransformer`` for sequences of ``length`` tokens.

    Parameters
    ----------
    model:
        A :class:`~exactformer.core.architecture.Transformer` or a :class:`Construction` (its model).
    length:
        The number of tokens (after encoding) the export runs on: positions, loop counts and ``log n`` scales are
        fixed to this length.

    Raises
    ------
    ExportError
        If a sublayer uses a norm, drops its residual or uses a step activation (see the module docstring), or
        ``transformer_lens`` is not installed.

    Examples
    --------
    >>> from exactformer.constructions import copy_first
    >>> export = to_transformer_lens(copy_first(), length=4)  # doctest: +SKIP
    >>> export.readout([["b", "a", "a", "b"]]).argmax(-1)  # doctest: +SKIP
    tensor([1])
    """
    model = model.model if isinstance(model, Construction) else model
    if length < 1:
        raise ExportError(f"length must be at least 1, got {length}")
    if model.max_length is not None and length > model.max_length:
        raise ExportError(f"the model was built for at most {model.max_length} tokens, got {length}")
    problem = exportable(model, length)
    if problem:
        raise ExportError(f"cannot export to TransformerLens: {problem}")
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ExportError(
            f"TransformerLens is not installed (pip install 'transformer-lens=={PINNED_VERSION}'): {error}"
        ) from error

    layers: list[tuple[str, Layer]] = model.named_layers(length)
    attns = [layer.attention.block for _, layer in layers if layer.attention is not None]
    mlps = [layer.mlp.block for _, layer in layers if layer.mlp is not None]
    n_heads = max([a.n_heads for a in attns], default=1)
    d_head = max([max(a.W_Q.shape[2], a.W_V.shape[2]) for a in attns], default=1)
    d_mlp = max([m.d_mlp for m in mlps], default=1)
    d_model = model.d_model
    causal = any(a.mask.is_causal for a in attns)
    if causal and any(a.mask.kind == "none" for a in attns):
        raise ExportError("the model mixes causal and unmasked attention; HookedTransformer has one direction")
    cfg = HookedTransformerConfig(
        n_layers=max(len(layers), 1), d_model=d_model, d_head=d_head, n_heads=n_heads, n_ctx=length,
        d_vocab=len(model.embedding.vocab), d_vocab_out=len(model.readout.labels), d_mlp=d_mlp, act_fn="relu",
        normalization_type=None, attention_dir="causal" if causal else "bidirectional", use_attn_scale=False,
        positional_embedding_type="standard", dtype=torch.float64, init_weights=False, device="cpu",
    )
    with warnings.catch_warnings():  # 3.9.0 announces HookedTransformer's removal in 4.0; we pin 3.x on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        tl = HookedTransformer(cfg)
    state = {key: torch.zeros_like(value) for key, value in tl.state_dict().items()}
    for key, value in tl.state_dict().items():  # the mask / IGNORE buffers are kept as TransformerLens made them
        if key.endswith(".mask") or key.endswith(".IGNORE"):
            state[key] = value

    state["embed.W_E"] = _float(model.embedding.W_E)
    positions = torch.arange(length)
    for coord, feature in model.embedding.positional:
        state["pos_embed.W_pos"][:, model.space.index(coord)] += feature.torch(positions, length, torch.float64)
    state["unembed.W_U"] = _float(model.readout.W_U)
    if model.readout.b_U is not None:
        state["unembed.b_U"] = _float(model.readout.b_U)

    hooks: list[Hook] = []
    notes: dict[str, str] = {}
    labels: dict[str, str] = {}
    for index, (label, layer) in enumerate(layers):
        p = f"blocks.{index}"
        if layer.attention is not None:
            att = layer.attention.block
            scale = att.scale.value(length) if att.kind == "softmax" else 1.0
            # query/key and value widths may differ: each is zero-padded to the common d_head
            h, e, v = att.n_heads, att.W_Q.shape[2], att.W_V.shape[2]
            state[f"{p}.attn.W_Q"][:h, :, :e] = _float(att.W_Q) * scale
            state[f"{p}.attn.b_Q"][:h, :e] = _float(att.b_Q) * scale
            state[f"{p}.attn.W_K"][:h, :, :e] = _float(att.W_K)
            state[f"{p}.attn.b_K"][:h, :e] = _float(att.b_K)
            state[f"{p}.attn.W_V"][:h, :, :v] = _float(att.W_V)
            state[f"{p}.attn.b_V"][:h, :v] = _float(att.b_V)
            state[f"{p}.attn.W_O"][:h, :v, :] = _float(att.W_O)
            state[f"{p}.attn.b_O"] = _float(att.b_O)
            hooks.extend(_attention_hooks(index, att, length, n_heads, notes))
            labels[f"{p}.hook_resid_mid"] = f"{label}.attn"
        if layer.mlp is not None:
            mlp = layer.mlp.block
            u = mlp.d_mlp
            state[f"{p}.mlp.W_in"][:, :u] = _float(mlp.W_in)
            state[f"{p}.mlp.b_in"][:u] = _float(mlp.b_in)
            state[f"{p}.mlp.W_out"][:u, :] = _float(mlp.W_out)
            state[f"{p}.mlp.b_out"] = _float(mlp.b_out)
            labels[f"{p}.hook_resid_post"] = f"{label}.mlp"
    tl.load_state_dict(state, strict=True)
    tl.eval()
    return TransformerLensExport(
        model=tl, hooks=hooks, vocab=tuple(model.embedding.vocab), length=length, labels=labels,
        readout_position=model.readout.position, hook_notes=notes,
    )


def max_abs_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b|`` as a float (``0.0`` for empty tensors)."""
    return float((a - b).abs().max()) if a.numel() else 0.0

