"""The exported ``HookedTransformer``: its hooks kept, its file, and loading that file back.

:func:`exact_hooked_transformer` makes an :class:`ExactHookedTransformer`, a ``HookedTransformer`` that knows what
it exports (:class:`ExportInfo`: token order, readout, the hooks as data) and refuses weight processing that would
change what it computes. A file written by :func:`save_hooked_transformer` holds exactly the ``HookedTransformer``
state dict (so ``HookedTransformer(cfg).load_state_dict(load_file(path), strict=True)`` takes it) and, in its
safetensors metadata, the config with its dtype and the :class:`ExportInfo`; :func:`load_hooked_transformer`
rebuilds the model with its hooks from the file alone.

TransformerLens's ``load_and_process_state_dict`` (3.9.0) defaults to ``fold_ln``, ``center_writing_weights``,
``center_unembed`` and ``fold_value_biases``, and runs its processing in float32 whatever the model's dtype. On
an exported model the first two do nothing (there is no norm), but ``center_unembed`` zeroes a one-column unembed
(a sign readout: every logit becomes 0) and shifts the logits otherwise, ``fold_value_biases`` gives a query
that attends to no key the output ``b_V W_O`` instead of 0, and the float32 pass rounds float64 weights.
:meth:`ExactHookedTransformer.load_and_process_state_dict` lists every such change and refuses; when nothing
would change, it loads the weights as they are (no float32 pass).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch

from .target import PINNED_VERSION, ExportError
from .tl_hooks import AttentionHooks, Hook

__all__ = ["ExportInfo", "exact_hooked_transformer", "save_hooked_transformer", "load_hooked_transformer",
           "processing_changes"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class ExportInfo:
    """What a ``HookedTransformer`` export computes beyond its weights.

    Attributes
    ----------
    vocab:
        The tokens in ``W_E``'s row order (token id ``i`` is ``vocab[i]``).
    labels, readout_position, decision:
        The readout: the labels of the ``W_U`` columns, the position whose logits are the output, and the rule
        (``"sign"``: the one logit > 0; ``"argmax"``).
    length:
        The number of tokens every input must have (positions, ``ln N`` scales and loops are fixed to it).
    hooks:
        Each attention layer's hook needs (:class:`~exactformer.export.tl_hooks.AttentionHooks`).
    sublayers:
        Our sublayer label (``"L0.attn"``...) of each ``blocks.l.hook_resid_mid`` / ``hook_resid_post``.
    n, name:
        The input size and the registered construction's name, when known.
    """

    vocab: tuple[str, ...]
    labels: tuple[str, ...]
    readout_position: int
    decision: str
    length: int
    hooks: tuple[AttentionHooks, ...] = ()
    sublayers: dict[str, str] = field(default_factory=dict)
    n: int | None = None
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"vocab": list(self.vocab), "labels": list(self.labels), "readout_position": self.readout_position,
                "decision": self.decision, "length": self.length, "hooks": [h.to_json() for h in self.hooks],
                "sublayers": self.sublayers, "n": self.n, "name": self.name}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportInfo:
        return cls(tuple(data["vocab"]), tuple(data["labels"]), int(data["readout_position"]), str(data["decision"]),
                   int(data["length"]), tuple(AttentionHooks.from_json(h) for h in data["hooks"]),
                   dict(data["sublayers"]), data.get("n"), data.get("name"))

    def needed_hooks(self) -> dict[str, str]:
        """What each needed hook does, by TransformerLens hook name (empty when the model needs none)."""
        return {k: v for spec in self.hooks for k, v in spec.notes().items()}


def processing_changes(model: Any, state_dict: dict[str, torch.Tensor], *, fold_ln: bool = True,
                       center_writing_weights: bool = True, center_unembed: bool = True, fold_value_biases: bool = True,
                       refactor_factored_attn_matrices: bool = False) -> list[str]:
    """Every way TransformerLens 3.9.0's ``load_and_process_state_dict`` with these options would change what the
    exported ``model`` computes from ``state_dict`` (empty: nothing would change)."""
    info: ExportInfo = model.export_info
    out: list[str] = []
    W_U = state_dict["unembed.W_U"]
    b_U = state_dict.get("unembed.b_U")
    if center_unembed and (bool(W_U.mean(-1).any()) or (b_U is not None and bool(b_U.mean().item() != 0))):
        if W_U.shape[-1] == 1:
            out.append("center_unembed subtracts each row's mean over the output columns; with the one column of a "
                       "sign readout that zeroes W_U and b_U, so every logit becomes 0")
        else:
            out.append("center_unembed shifts every position's logits by their mean (the argmax is kept, the logits "
                       "the export reproduces are not)")
    biased = [spec for spec in info.hooks if bool(state_dict[f"blocks.{spec.layer}.attn.b_V"].any())]
    if fold_value_biases and biased:
        empty = [spec.layer for spec in biased if spec.has_empty_rows(info.length)]
        if empty:
            out.append(f"fold_value_biases assumes every attention row sums to 1; in blocks {empty} a query attends "
                       "to no key (strict causal mask), and its output would become b_V W_O instead of 0")
        else:
            out.append("fold_value_biases moves b_V into b_O, summing in float32 (the output changes by rounding)")
    if refactor_factored_attn_matrices:
        hard = [spec.layer for spec in info.hooks if spec.kind != "softmax"]
        out.append("refactor_factored_attn_matrices rewrites W_Q, W_K, W_V, W_O through an SVD in float32: the "
                   "scores change by rounding" + (f", and in blocks {hard} they decide hard attention's argmax and "
                                                   "its ties" if hard else ""))
    if out and model.cfg.dtype != torch.float32:
        out.append(f"TransformerLens {PINNED_VERSION} processes the weights in float32 and casts them back to "
                   f"{model.cfg.dtype}, rounding every weight that is not a float32 number")
    # fold_ln and center_writing_weights need a LayerNorm; TransformerLens skips them for an exported model
    del fold_ln, center_writing_weights
    return out


@cache
def _exact_class() -> type:
    from transformer_lens import HookedTransformer

    class ExactHookedTransformer(HookedTransformer):  # type: ignore[misc, valid-type]
        """A ``HookedTransformer`` exported from an exactformer model (see :mod:`exactformer.export.tl_file`)."""

        export_info: ExportInfo

        def attach(self, info: ExportInfo) -> list[Hook]:
            """Record ``info`` and attach its hooks as permanent hooks (they survive ``reset_hooks()``)."""
            self.export_info = info
            hooks = [hook for spec in info.hooks for hook in spec.hooks(info.length, self.cfg.n_heads)]
            for name, fn in hooks:
                self.add_hook(name, fn, dir="fwd", is_permanent=True)
            return hooks

        def tokens_of(self, sequences: Sequence[Sequence[str]]) -> torch.Tensor:
            """Token ids ``[batch, length]`` of token-string sequences (ids are ``vocab`` positions)."""
            info = self.export_info
            index = {t: i for i, t in enumerate(info.vocab)}
            rows = []
            for seq in sequences:
                if len(seq) != info.length:
                    raise ExportError(f"this export was built for {info.length} tokens, got {len(seq)}")
                unknown = [t for t in seq if t not in index]
                if unknown:
                    raise ExportError(f"token {unknown[0]!r} is not in the vocabulary {info.vocab}")
                rows.append([index[t] for t in seq])
            return torch.tensor(rows, dtype=torch.long, device=self.cfg.device)

        def load_and_process_state_dict(self, state_dict: dict[str, torch.Tensor], fold_ln: bool = True,
                                        center_writing_weights: bool = True, center_unembed: bool = True,
                                        fold_value_biases: bool = True,
                                        refactor_factored_attn_matrices: bool = False) -> None:
            """TransformerLens's loader, refusing (listing every reason) any processing that would change what the
            export computes; without such a change the weights are loaded as they are."""
            state = self.fill_missing_keys(dict(state_dict))
            changes = processing_changes(self, state, fold_ln=fold_ln, center_writing_weights=center_writing_weights,
                                         center_unembed=center_unembed, fold_value_biases=fold_value_biases,
                                         refactor_factored_attn_matrices=refactor_factored_attn_matrices)
            if changes:
                raise ExportError(
                    "this weight processing would change what the exported model computes:\n"
                    + "\n".join(f"  - {c}" for c in changes)
                    + "\nload it unprocessed: model.load_state_dict(state_dict, strict=True), or "
                    "load_and_process_state_dict(state_dict, center_unembed=False, fold_value_biases=False)")
            self.load_state_dict(state, strict=True)

    return ExactHookedTransformer


def exact_hooked_transformer(cfg: Any) -> Any:
    """An ``ExactHookedTransformer`` (a ``HookedTransformer`` subclass) of config ``cfg``."""
    return _exact_class()(cfg)


def save_hooked_transformer(model: Any, path: str | Path, *, n: int | None = None, name: str | None = None) -> None:
    """Write ``model``'s full state dict (buffers included) to safetensors, with the config (dtype included) and
    its :class:`ExportInfo` (``n`` and ``name`` added) as JSON metadata."""
    from dataclasses import replace

    from safetensors.torch import save_file

    info = replace(model.export_info, n=n if n is not None else model.export_info.n,
                   name=name if name is not None else model.export_info.name)
    cfg = {k: v for k, v in model.cfg.to_dict().items() if isinstance(v, (int, float, str, bool, type(None)))}
    cfg["dtype"] = str(model.cfg.dtype).removeprefix("torch.")
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={
        "format": f"transformer-lens=={PINNED_VERSION} HookedTransformer state dict",
        "config": json.dumps(cfg), "exactformer": json.dumps(info.to_json()),
        "hooks": json.dumps(info.needed_hooks()),
        "loading": "HookedTransformer(HookedTransformerConfig(**config)).load_state_dict(state_dict, strict=True), "
                   "then the hooks (exactformer.export.load_hooked_transformer does both); do not use "
                   "load_and_process_state_dict's defaults (center_unembed, fold_value_biases change the model)",
    })


def config_from_file(path: str | Path) -> tuple[Any, ExportInfo]:
    """The ``HookedTransformerConfig`` (dtype included) and the :class:`ExportInfo` stored in an exported file."""
    from safetensors import safe_open
    from transformer_lens import HookedTransformerConfig

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta or "exactformer" not in meta:
        raise ExportError(f"{path} is not an exactformer TransformerLens export (no 'config'/'exactformer' metadata)")
    data = json.loads(meta["config"])
    dtype = data.pop("dtype", None)
    if dtype not in _DTYPES:
        raise ExportError(f"{path}: the config's dtype {dtype!r} is not one of {sorted(_DTYPES)}")
    fields = HookedTransformerConfig.__dataclass_fields__
    cfg = HookedTransformerConfig(**{k: v for k, v in data.items() if k in fields and fields[k].init},
                                  dtype=_DTYPES[dtype])
    return cfg, ExportInfo.from_json(json.loads(meta["exactformer"]))


def load_hooked_transformer(path: str | Path, *, device: str | torch.device = "cpu") -> Any:
    """The exported ``HookedTransformer`` of a file written by :func:`save_hooked_transformer`, rebuilt from the
    file alone: config and dtype, weights (``strict=True``), and its hooks attached."""
    from safetensors.torch import load_file

    cfg, info = config_from_file(path)
    cfg.device = str(device)
    with warnings.catch_warnings():  # 3.9.0 announces HookedTransformer's removal in 4.0; we pin 3.x on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        model = exact_hooked_transformer(cfg)
    model.load_state_dict(load_file(str(path), device=str(device)), strict=True)
    model.eval()
    model.attach(info)
    return model
