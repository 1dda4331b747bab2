"""What a TransformerLens ``HookedTransformer`` needs hooked to compute an exactformer attention sublayer.

A ``HookedTransformer`` (3.x) has softmax attention with no mask or a causal one. Everything else an exactformer
attention sublayer may use is realised by hooks on TransformerLens's own hook points:

* ``blocks.{l}.attn.hook_attn_scores`` adds the relative-position biases and sets disallowed keys (a strict causal
  or sliding-window mask) to ``-inf``; TransformerLens then turns a query with no allowed key into a zero row;
* ``blocks.{l}.attn.hook_pattern`` replaces the softmax by hard attention (the argmax set of the scores, one key by
  the tie rule) or average-hard attention (the argmax set averaged), reading the scores the first hook recorded.

A layer's needs are data (:class:`AttentionHooks`), written to an exported file as JSON and rebuilt from it, so a
file alone gives the hooks back (:func:`~exactformer.export.tl_file.load_hooked_transformer`). A softmax layer with
no mask or a causal one, no relative bias, needs no hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..core import attention_rules
from ..core.attention import Attention, Mask
from ..core.errors import AttentionTieError

__all__ = ["AttentionHooks", "Hook"]

Hook = tuple[str, Callable[..., Any]]


@dataclass(frozen=True)
class AttentionHooks:
    """The hooks one attention layer of an export needs, as data.

    Attributes
    ----------
    layer:
        The ``HookedTransformer`` block index.
    kind:
        ``"softmax"``, ``"hard"`` or ``"average_hard"``.
    tie_rule:
        Hard attention's tie rule (``"error"``, ``"leftmost"``, ``"rightmost"``).
    mask, window:
        The mask kind and a sliding window's width.
    heads:
        The layer's own heads; heads beyond them are zero padding (zero ``W_O``), left as TransformerLens computes.
    biases:
        Per own head, ``None`` or ``(default, {offset i - j: value})``: the relative-position score bias, as
        float64 renderings of its exact values.
    """

    layer: int
    kind: str
    tie_rule: str
    mask: str
    window: int | None
    heads: int
    biases: tuple[tuple[float, dict[int, float]] | None, ...]

    @classmethod
    def of(cls, layer: int, att: Attention) -> AttentionHooks:
        """The needs of ``att``, exported as block ``layer``."""
        biases: list[tuple[float, dict[int, float]] | None] = []
        for h in range(att.n_heads):
            bias = att.bias_for(h)
            if bias is None or (bias.default == 0 and not any(bias.values.values())):
                biases.append(None)
            else:
                biases.append((float(bias.default), {int(k): float(v) for k, v in bias.values.items()}))
        return cls(layer, att.kind, att.tie_rule, att.mask.kind, att.mask.width, att.n_heads, tuple(biases))

    # -- what is needed ---------------------------------------------------------------------------------------
    @property
    def needs_scores_hook(self) -> bool:
        """Whether the scores need a bias or a mask TransformerLens cannot apply, or must be read (hard kinds)."""
        return self.mask not in ("none", "causal") or any(self.biases) or self.kind != "softmax"

    @property
    def needs_pattern_hook(self) -> bool:
        """Whether the softmax must be replaced (hard and average-hard attention)."""
        return self.kind != "softmax"

    def notes(self) -> dict[str, str]:
        """What each needed hook does, by hook name (empty when none is needed)."""
        prefix = f"blocks.{self.layer}.attn"
        out = {}
        if self.needs_scores_hook:
            what = []
            if any(self.biases):
                what.append("add the relative-position biases")
            if self.mask not in ("none", "causal"):
                what.append(f"mask to {Mask(self.mask, self.window).describe()}")  # type: ignore[arg-type]
            if self.kind != "softmax":
                what.append("record the scores for hook_pattern")
            out[f"{prefix}.hook_attn_scores"] = ", ".join(what)
        if self.needs_pattern_hook:
            out[f"{prefix}.hook_pattern"] = (f"{self.kind} attention: replace the softmax by the argmax set of the "
                                             f"scores (tie rule {self.tie_rule})")
        return out

    # -- the file form ----------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        biases = [None if b is None else {"default": b[0], "values": {str(k): v for k, v in b[1].items()}}
                  for b in self.biases]
        return {"layer": self.layer, "kind": self.kind, "tie_rule": self.tie_rule, "mask": self.mask,
                "window": self.window, "heads": self.heads, "biases": biases}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttentionHooks:
        biases = tuple(None if b is None else (float(b["default"]), {int(k): float(v) for k, v in b["values"].items()})
                       for b in data["biases"])
        return cls(int(data["layer"]), str(data["kind"]), str(data["tie_rule"]), str(data["mask"]),
                   None if data["window"] is None else int(data["window"]), int(data["heads"]), biases)

    # -- the hooks --------------------------------------------------------------------------------------------
    def hooks(self, length: int, n_heads: int) -> list[Hook]:
        """The needed hook functions for sequences of ``length`` tokens in a model of ``n_heads`` (padded) heads."""
        pos = torch.arange(length)
        allowed = attention_rules.allowed(Mask(self.mask, self.window), pos, pos)  # type: ignore[arg-type]
        any_key = allowed.any(dim=-1)[None, None, :, None]
        bias = torch.zeros(n_heads, length, length, dtype=torch.float64)
        offset = pos[:, None] - pos[None, :]
        for h, spec in enumerate(self.biases):
            if spec is not None:
                bias[h] = spec[0]
                for k, value in spec[1].items():
                    bias[h][offset == k] = value
        real = torch.zeros(n_heads, dtype=torch.bool)
        real[: self.heads] = True
        rewrite = self.mask not in ("none", "causal") or any(self.biases)
        state: dict[str, torch.Tensor] = {}
        layer, kind, tie_rule = self.layer, self.kind, self.tie_rule

        def scores_hook(scores: torch.Tensor, hook: Any) -> torch.Tensor:
            # scores [batch, head, query, key]; TransformerLens has set the keys after a causal query to -inf
            if rewrite:
                scores = scores + bias.to(scores.dtype)[None]
                scores = scores.masked_fill(~allowed[None, None], float("-inf"))
            state["scores"] = scores
            return scores

        def pattern_hook(pattern: torch.Tensor, hook: Any) -> torch.Tensor:
            scores = state["scores"]
            best = scores.max(dim=-1, keepdim=True).values
            winners = (scores == best) & allowed[None, None] & any_key
            count = winners.sum(dim=-1, keepdim=True)
            if kind == "average_hard":
                hard = winners.to(pattern.dtype) / count.clamp(min=1).to(pattern.dtype)
            else:
                tied = (count > 1) & real[None, :, None, None]
                if tied.any() and tie_rule == "error":
                    b, h, q, _ = tied.nonzero()[0].tolist()
                    raise AttentionTieError(f"hard attention tie in blocks.{layer} head {h} query {q} (batch {b})")
                hard = attention_rules.chosen_keys(winners, kind, tie_rule).to(pattern.dtype)
            # padded heads (zero W_O) keep TransformerLens's pattern: their output is 0 either way
            return torch.where(real[None, :, None, None], hard, pattern)

        prefix = f"blocks.{self.layer}.attn"
        out: list[Hook] = []
        if self.needs_scores_hook:
            out.append((f"{prefix}.hook_attn_scores", scores_hook))
        if self.needs_pattern_hook:
            out.append((f"{prefix}.hook_pattern", pattern_hook))
        return out

    def has_empty_rows(self, length: int) -> bool:
        """Whether some query of ``length`` tokens attends to no key (its attention output is 0, not ``b_V W_O``)."""
        pos = torch.arange(length)
        allowed = attention_rules.allowed(Mask(self.mask, self.window), pos, pos)  # type: ignore[arg-type]
        return not bool(allowed.any(dim=-1).all())

