"""Export a model to TransformerLens 3.x (``HookedTransformer``), with hooks for what its config cannot say.

TransformerLens is the interpretability community's standard surface (``run_with_cache``, ``hook_pattern``...).
Its ``HookedTransformer`` is a pre-norm GPT: ``resid_mid = resid_pre + attn(resid_pre)``, ``resid_post =
resid_mid + mlp(resid_mid)``, a fixed positional table ``W_pos [n_ctx, d_model]``, softmax attention, one
``d_head``, ``n_heads`` and ``d_mlp`` for all layers. An exactformer model maps onto it as follows.

========================================  =======================================================================
exactformer                               TransformerLens
========================================  =======================================================================
token table ``W_E``                       ``embed.W_E`` (the vocabulary order of the model)
positional features f(i, N)               ``pos_embed.W_pos``, tabulated for ONE length: an export is per input
                                          size n (N = ``tokens_for(n)`` tokens; ``i/N``, ``ln N``, loops fixed)
attention sublayer, residual, no norm     ``blocks.l.attn`` (heads and ``d_head`` zero-padded to the maximum)
softmax scale (incl. ``ln N``)            folded into ``W_Q``/``b_Q``; ``use_attn_scale=False``
hard / average-hard attention             a ``hook_pattern`` hook: the argmax set of the scores, one-hot (tie
                                          rule leftmost/rightmost/error) or averaged
masks other than none/causal, relative    a ``hook_attn_scores`` hook adds the bias and masks disallowed keys
position biases
ReLU MLP sublayer, residual, no norm      ``blocks.l.mlp`` (units zero-padded to the maximum ``d_mlp``)
a looped block                            unrolled: the block's weights repeated for the export's length
readout ``W_U``, ``b_U`` at a position    ``unembed`` (logits at every position; ours is the given position)
========================================  =======================================================================

The hooks are attached to the returned model as permanent hooks (they survive ``reset_hooks()`` and run under
``run_with_cache``); :mod:`exactformer.export.tl_hooks` says what each does. Not expressible, and refused with
:class:`ExportError` listing every reason at once (:func:`export_problems`): a norm of any kind (post-norm, L2,
masked, or a pre-norm on some sublayers only), a sublayer without its residual, step activations, and a model that
mixes causal and unmasked attention.

Pinned and tested against ``transformer-lens==3.9.0`` (the last release with ``HookedTransformer``; 4.x removed
it, see docs/export.md). Install it with ``pip install -e ".[transformer-lens]"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..core.architecture import MLP, Layer, Norm, Sublayer, Transformer
from ..core.construction import Construction
from ..core.rational import to_float_array
from .target import PINNED_VERSION, ExportError
from .tl_hooks import AttentionHooks, Hook

__all__ = ["ExportError", "TransformerLensExport", "to_transformer_lens", "to_hooked_transformer", "exportable",
           "export_problems", "PINNED_VERSION", "export_length"]


def _norm_problem(where: str, norm: Norm, after: bool) -> str:
    """Why a norm (``after``: the output norm, after the residual sum) is not a TransformerLens block's."""
    if norm.kind == "l2":
        place = "after the residual sum" if after else "on its input"
        return f"{where} has an L2 norm (x/||x||) {place}; TransformerLens has no L2 normalisation"
    if norm.mask is not None:
        place = "after the residual sum" if after else "on its input"
        return (f"{where} has a masked {norm.kind} {place} (a norm over {len(norm.mask)} of the residual's "
                "coordinates); TransformerLens norms read every coordinate")
    if after:
        return (f"{where} has a post-norm {norm.describe()} (x <- norm(x + f(x))); TransformerLens blocks normalise "
                "a sublayer's input only (pre-norm)")
    return (f"{where} has a pre-norm {norm.describe()} of its own; a HookedTransformer has one norm type before every "
            "sublayer and the unembed, which this export does not map")


def _sublayer_problems(where: str, sub: Sublayer) -> list[str]:
    out = []
    if not sub.input_norm.is_identity:
        out.append(_norm_problem(where, sub.input_norm, after=False))
    if not sub.output_norm.is_identity:
        out.append(_norm_problem(where, sub.output_norm, after=True))
    if not sub.residual:
        out.append(f"{where} has no residual connection (a HookedTransformer block always adds its sublayers)")
    if isinstance(sub.block, MLP) and sub.block.activation != "relu":
        out.append(f"{where} uses a {sub.block.activation} activation (TransformerLens has no step function)")
    return out


def export_problems(model: Transformer | Construction, length: int | None = None) -> list[str]:
    """Every reason the model cannot be exported to TransformerLens (empty if it can), one per sublayer and cause."""
    model = model.model if isinstance(model, Construction) else model
    layers = model.named_layers(length if length is not None else 1)
    out: list[str] = []
    seen: set[int] = set()
    for label, layer in layers:
        for kind, sub in layer.sublayers():
            if id(sub) not in seen:  # a looped sublayer is named once
                seen.add(id(sub))
                out.extend(_sublayer_problems(f"{label}.{kind}", sub))
    masks = {layer.attention.block.mask.kind for _, layer in layers if layer.attention is not None}
    if "none" in masks and masks - {"none"}:
        out.append("the model mixes unmasked and causal attention; a HookedTransformer has one attention direction")
    return out


def exportable(model: Transformer | Construction, length: int | None = None) -> str | None:
    """``None`` if the model can be exported to TransformerLens, else every reason it cannot, joined by ``"; "``."""
    problems = export_problems(model, length)
    return "; ".join(problems) if problems else None


def export_length(model: Transformer | Construction, n: int | None, length: int | None) -> int:
    """The number of tokens of an export: ``tokens_for(n)`` for an input size ``n`` (the CLI's ``--n``, a
    construction's), or ``length`` tokens given directly (a bare model has no encoding). Exactly one is given."""
    if (n is None) == (length is None):
        raise ExportError("give exactly one of n (the input size) and length (the number of tokens)")
    if n is not None:
        if not isinstance(model, Construction):
            raise ExportError("n (an input size) needs a Construction, whose tokens_for(n) gives the token count; "
                              "for a bare Transformer give length")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ExportError(f"n must be a non-negative integer input size, got {n!r}")
        return int(model.tokens_for(n))
    assert length is not None
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ExportError(f"length must be at least 1 token, got {length!r}")
    return length


@dataclass
class TransformerLensExport:
    """A ``HookedTransformer`` holding a model's weights for sequences of exactly ``length`` tokens.

    Attributes
    ----------
    model:
        The ``HookedTransformer`` (an :class:`~exactformer.export.tl_file.ExactHookedTransformer`, with its hooks
        attached as permanent hooks, ``use_attn_scale=False``, in the export's dtype).
    hooks:
        The attached hooks ``(hook name, function)``.
    vocab:
        The token strings, in ``W_E``'s row order.
    labels:
        Our sublayer labels (``"L0.attn"``...) of ``blocks.l.hook_resid_mid`` / ``hook_resid_post``, by hook name.
    readout_position:
        The position whose logits are the model's output.
    hook_specs:
        The attention layers' hook needs as data (written to an exported file).
    """

    model: Any
    hooks: list[Hook]
    vocab: tuple[str, ...]
    length: int
    labels: dict[str, str] = field(default_factory=dict)
    readout_position: int = -1
    hook_notes: dict[str, str] = field(default_factory=dict)
    hook_specs: tuple[AttentionHooks, ...] = ()

    def save(self, path: str, *, n: int | None = None, name: str | None = None) -> None:
        """Write a safetensors file that ``HookedTransformer.load_state_dict(..., strict=True)`` takes, with the
        config (dtype included), the hooks as data and the token order in the metadata
        (see :func:`~exactformer.export.tl_file.save_hooked_transformer`)."""
        from .tl_file import save_hooked_transformer

        save_hooked_transformer(self.model, path, n=n, name=name)

    def tokens(self, sequences: Sequence[Sequence[str]]) -> torch.Tensor:
        """Token ids ``[batch, length]`` of token-string sequences."""
        return self.model.tokens_of(sequences)

    def run_with_cache(self, sequences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, Any]:
        """``(logits [batch, length, n_out], ActivationCache)`` (the hooks are attached to the model)."""
        return self.model.run_with_cache(self.tokens(sequences))

    def residuals(self, sequences: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
        """The residual stream after each of our sublayers, by our label (``"embed"``, ``"L0.attn"``...)."""
        _, cache = self.run_with_cache(sequences)
        out = {"embed": cache["blocks.0.hook_resid_pre"]}
        for hook_name, label in self.labels.items():
            out[label] = cache[hook_name]
        return out

    def readout(self, sequences: Sequence[Sequence[str]]) -> torch.Tensor:
        """The readout logits ``[batch, n_out]`` at the model's readout position."""
        return self.model(self.tokens(sequences))[:, self.readout_position]


def _render(arr: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """A weight's float64 rendering in ``dtype`` (as :meth:`Construction.state_dict` renders it)."""
    return torch.from_numpy(to_float_array(arr)).to(dtype)


def to_transformer_lens(model: Transformer | Construction, *, length: int | None = None, n: int | None = None,
                        dtype: torch.dtype = torch.float64) -> TransformerLensExport:
    """Export ``model`` to a TransformerLens 3.x ``HookedTransformer`` for one input size.

    Parameters
    ----------
    model:
        A :class:`~exactformer.core.architecture.Transformer` or a :class:`Construction` (its model).
    n, length:
        Exactly one: ``n``, the input size (a construction's; the export runs on ``tokens_for(n)`` tokens, as the
        CLI's ``--n`` and :meth:`Construction.state_dict`'s ``n``), or ``length``, the number of tokens.
    dtype:
        The model's dtype (its config's ``dtype`` and every weight's); weights are the float64 renderings of the
        exact ones cast to it.

    Raises
    ------
    ExportError
        Listing every reason at once if a sublayer cannot be expressed (see :func:`export_problems`), or if
        ``transformer_lens`` is not installed.
    """
    length = export_length(model, n, length)
    model = model.model if isinstance(model, Construction) else model
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ExportError(f"dtype must be a floating torch dtype such as torch.float64, got {dtype!r}")
    if model.max_length is not None and length > model.max_length:
        raise ExportError(f"the model was built for at most {model.max_length} tokens, got {length}")
    problems = export_problems(model, length)
    if problems:
        raise ExportError("cannot export to TransformerLens:\n" + "\n".join(f"  - {p}" for p in problems))
    try:
        from transformer_lens import HookedTransformerConfig
    except ImportError as error:  # pragma: no cover - depends on the environment
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = f"TransformerLens {version('transformer-lens')} has no HookedTransformerConfig (4.x removed it)"
        except PackageNotFoundError:
            found = "TransformerLens is not installed"
        needed = f"pip install 'transformer-lens=={PINNED_VERSION}'"
        raise ExportError(f"{found}; the export needs {needed}: {error}") from error
    from .tl_file import ExportInfo, exact_hooked_transformer

    layers: list[tuple[str, Layer]] = model.named_layers(length)
    attns = [layer.attention.block for _, layer in layers if layer.attention is not None]
    mlps = [layer.mlp.block for _, layer in layers if layer.mlp is not None]
    n_heads = max([a.n_heads for a in attns], default=1)
    d_head = max([max(a.W_Q.shape[2], a.W_V.shape[2]) for a in attns], default=1)
    causal = any(a.mask.is_causal for a in attns)
    cfg = HookedTransformerConfig(
        n_layers=max(len(layers), 1), d_model=model.d_model, d_head=d_head, n_heads=n_heads, n_ctx=length,
        d_vocab=len(model.embedding.vocab), d_vocab_out=len(model.readout.labels),
        d_mlp=max([m.d_mlp for m in mlps], default=1), act_fn="relu", normalization_type=None,
        attention_dir="causal" if causal else "bidirectional", use_attn_scale=False,
        positional_embedding_type="standard", dtype=dtype, init_weights=False, device="cpu",
    )
    with warnings.catch_warnings():  # 3.9.0 announces HookedTransformer's removal in 4.0; we pin 3.x on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        tl = exact_hooked_transformer(cfg)
    state = _state(model, layers, tl.state_dict(), length, dtype)
    specs: list[AttentionHooks] = []
    labels: dict[str, str] = {}
    for index, (label, layer) in enumerate(layers):
        if layer.attention is not None:
            specs.append(AttentionHooks.of(index, layer.attention.block))
            labels[f"blocks.{index}.hook_resid_mid"] = f"{label}.attn"
        if layer.mlp is not None:
            labels[f"blocks.{index}.hook_resid_post"] = f"{label}.mlp"
    tl.load_state_dict(state, strict=True)
    tl.eval()
    info = ExportInfo(vocab=tuple(model.embedding.vocab), labels=tuple(model.readout.labels),
                      readout_position=model.readout.position, decision=model.readout.decision, length=length,
                      hooks=tuple(specs), sublayers=labels)
    hooks = tl.attach(info)
    notes = {k: v for spec in specs for k, v in spec.notes().items()}
    return TransformerLensExport(model=tl, hooks=hooks, vocab=info.vocab, length=length, labels=labels,
                                 readout_position=model.readout.position, hook_notes=notes, hook_specs=tuple(specs))


def to_hooked_transformer(model: Transformer | Construction, *, n: int | None = None, length: int | None = None,
                          dtype: torch.dtype = torch.float64) -> Any:
    """The ready ``HookedTransformer`` of :func:`to_transformer_lens`: weights in ``dtype``, the hooks hard and
    average-hard attention (and masks, biases) need attached, every hook point TransformerLens's own.

    Examples
    --------
    >>> import exactformer as ef
    >>> model = ef.export.to_hooked_transformer(ef.constructions.copy_first(), n=4)  # doctest: +SKIP
    >>> logits, cache = model.run_with_cache(model.tokens_of([["b", "a", "a", "b"]]))  # doctest: +SKIP
    >>> cache["blocks.0.attn.hook_pattern"].shape  # doctest: +SKIP
    torch.Size([1, 1, 4, 4])
    """
    return to_transformer_lens(model, n=n, length=length, dtype=dtype).model


def _state(model: Transformer, layers: list[tuple[str, Layer]], empty: dict[str, torch.Tensor], length: int,
           dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The ``HookedTransformer`` state dict of ``model``: its weights zero-padded, the buffers as TransformerLens
    made them."""
    state = {key: (value if key.endswith((".mask", ".IGNORE")) else torch.zeros_like(value))
             for key, value in empty.items()}
    state["embed.W_E"] = _render(model.embedding.W_E, dtype)
    positions = torch.arange(length)
    W_pos = torch.zeros(length, model.d_model, dtype=torch.float64)
    for coord, feature in model.embedding.positional:
        W_pos[:, model.space.index(coord)] += feature.torch(positions, length, torch.float64)
    state["pos_embed.W_pos"] = W_pos.to(dtype)
    state["unembed.W_U"] = _render(model.readout.W_U, dtype)
    if model.readout.b_U is not None:
        state["unembed.b_U"] = _render(model.readout.b_U, dtype)
    for index, (_, layer) in enumerate(layers):
        p = f"blocks.{index}"
        if layer.attention is not None:
            att = layer.attention.block
            scale = att.scale.value(length) if att.kind == "softmax" else 1.0
            # query/key and value widths may differ: each is zero-padded to the common d_head
            h, e, v = att.n_heads, att.W_Q.shape[2], att.W_V.shape[2]
            f64 = {name: _render(getattr(att, name), torch.float64) for name in att.WEIGHTS}
            state[f"{p}.attn.W_Q"][:h, :, :e] = (f64["W_Q"] * scale).to(dtype)
            state[f"{p}.attn.b_Q"][:h, :e] = (f64["b_Q"] * scale).to(dtype)
            state[f"{p}.attn.W_K"][:h, :, :e] = f64["W_K"].to(dtype)
            state[f"{p}.attn.b_K"][:h, :e] = f64["b_K"].to(dtype)
            state[f"{p}.attn.W_V"][:h, :, :v] = f64["W_V"].to(dtype)
            state[f"{p}.attn.b_V"][:h, :v] = f64["b_V"].to(dtype)
            state[f"{p}.attn.W_O"][:h, :v, :] = f64["W_O"].to(dtype)
            state[f"{p}.attn.b_O"] = f64["b_O"].to(dtype)
        if layer.mlp is not None:
            mlp = layer.mlp.block
            u = mlp.d_mlp
            state[f"{p}.mlp.W_in"][:, :u] = _render(mlp.W_in, dtype)
            state[f"{p}.mlp.b_in"][:u] = _render(mlp.b_in, dtype)
            state[f"{p}.mlp.W_out"][:u, :] = _render(mlp.W_out, dtype)
            state[f"{p}.mlp.b_out"] = _render(mlp.b_out, dtype)
    return state


def max_abs_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b|`` as a float (``0.0`` for empty tensors)."""
    return float((a - b).abs().max()) if a.numel() else 0.0
