"""Where in a forward pass: structured probe sites, their trace labels and their TransformerLens hook names.

A :class:`Site` names one residual stream of a forward pass: after the embedding, after one sublayer (attention or
MLP) of one layer, or the final one. A layer is found by its part of the model (the prefix ``layers``, the looped
``block``, the ``suffix``), its index within that part and, inside the loop, the repetition. Written as a value, a
site is checked when it is made and compared structurally; its :attr:`~Site.label` is the trace label the forward
pass records (``"embed"``, ``"L0.attn"``, ``"loop3.B1.mlp"``, ``"S0.mlp"``, ``"final"``).

TransformerLens names the residual stream of the ``l``-th unrolled block ``blocks.{l}.hook_resid_pre`` (before it),
``blocks.{l}.hook_resid_mid`` (between attention and MLP) and ``blocks.{l}.hook_resid_post`` (after it).
:meth:`Site.hook_name` gives that name for a model and an input length (the loop unrolled), as the TransformerLens
export lays the layers out (one block per layer; a missing sublayer is a zero one): after an attention sublayer
``hook_resid_mid``, after an MLP ``hook_resid_post``; the embedding is ``blocks.0.hook_resid_pre``; the final
residual is the last block's ``hook_resid_post``.

Examples
--------
>>> Site.layer(1, "mlp").label
'L1.mlp'
>>> Site.loop(repeat=3, layer=1, sublayer="attn").label
'loop3.B1.attn'
>>> Site.parse("S0.mlp") == Site.suffix(0, "mlp")
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .errors import InputError

if TYPE_CHECKING:
    from .architecture import Transformer

__all__ = ["Site", "SitePart", "SublayerKind"]

SitePart = Literal["embed", "prefix", "loop", "suffix", "final"]
SublayerKind = Literal["attn", "mlp"]

_LABEL = re.compile(r"^(?:L(?P<prefix>\d+)|loop(?P<repeat>\d+)\.B(?P<block>\d+)|S(?P<suffix>\d+))\.(?P<sub>attn|mlp)$")


@dataclass(frozen=True)
class Site:
    """One residual stream of a forward pass (see the module docstring).

    Parameters
    ----------
    part
        ``"embed"``, ``"prefix"`` (the model's ``layers``), ``"loop"`` (the looped block), ``"suffix"`` or
        ``"final"``.
    index
        The layer's index within its part (within the loop block for ``"loop"``); 0 for embed and final.
    repeat
        The loop's repetition (0-based) for ``"loop"``; 0 elsewhere.
    sublayer
        ``"attn"`` or ``"mlp"``: the residual after that sublayer; ``None`` for embed and final.
    """

    part: SitePart
    index: int = 0
    repeat: int = 0
    sublayer: SublayerKind | None = None

    def __post_init__(self) -> None:
        if self.part not in ("embed", "prefix", "loop", "suffix", "final"):
            raise InputError(f"a site's part is embed, prefix, loop, suffix or final, not {self.part!r}")
        ends = self.part in ("embed", "final")
        if ends and (self.index or self.repeat or self.sublayer is not None):
            raise InputError(f"the {self.part} site has no layer, repetition or sublayer")
        if not ends and self.sublayer not in ("attn", "mlp"):
            raise InputError(f"a layer's site names its sublayer, 'attn' or 'mlp', not {self.sublayer!r}")
        for name in ("index", "repeat"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"a site's {name} is a non-negative integer, not {value!r}")
        if self.repeat and self.part != "loop":
            raise InputError("only a loop site has a repetition")

    # -- constructors ------------------------------------------------------------------------------------------
    @classmethod
    def embed(cls) -> Site:
        """The residual stream after the embedding (token and positions)."""
        return cls("embed")

    @classmethod
    def final(cls) -> Site:
        """The last residual stream, the one the readout reads."""
        return cls("final")

    @classmethod
    def layer(cls, index: int, sublayer: SublayerKind) -> Site:
        """After ``sublayer`` of the prefix layer ``index`` (the model's ``layers[index]``)."""
        return cls("prefix", index, 0, sublayer)

    @classmethod
    def loop(cls, *, repeat: int, layer: int, sublayer: SublayerKind) -> Site:
        """After ``sublayer`` of layer ``layer`` of the looped block, in repetition ``repeat``."""
        return cls("loop", layer, repeat, sublayer)

    @classmethod
    def suffix(cls, index: int, sublayer: SublayerKind) -> Site:
        """After ``sublayer`` of the suffix layer ``index``."""
        return cls("suffix", index, 0, sublayer)

    @classmethod
    def parse(cls, label: str | Site) -> Site:
        """The site of a trace label (``"embed"``, ``"L0.attn"``, ``"loop3.B1.mlp"``, ``"S0.mlp"``, ``"final"``).

        Raises
        ------
        InputError
            For a string that is not a trace label, naming the accepted forms.
        """
        if isinstance(label, Site):
            return label
        if label in ("embed", "final"):
            return cls(label)  # type: ignore[arg-type]
        m = _LABEL.match(label) if isinstance(label, str) else None
        if m is None:
            raise InputError(f"{label!r} is not a site: use 'embed', 'final', 'L<k>.attn|mlp', "
                             "'loop<r>.B<k>.attn|mlp' or 'S<k>.attn|mlp', or a Site value")
        sub: SublayerKind = "attn" if m["sub"] == "attn" else "mlp"
        if m["prefix"] is not None:
            return cls.layer(int(m["prefix"]), sub)
        if m["suffix"] is not None:
            return cls.suffix(int(m["suffix"]), sub)
        return cls.loop(repeat=int(m["repeat"]), layer=int(m["block"]), sublayer=sub)

    # -- names -------------------------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The trace label of this site (what :class:`~exactformer.core.forward.Trace` records it under)."""
        if self.part in ("embed", "final"):
            return self.part
        layer = {"prefix": f"L{self.index}", "loop": f"loop{self.repeat}.B{self.index}", "suffix": f"S{self.index}"}
        return f"{layer[self.part]}.{self.sublayer}"

    def __str__(self) -> str:
        return self.label

    def block_index(self, model: Transformer, length: int) -> int:
        """The index of this site's layer among the model's layers unrolled for ``length`` tokens (TransformerLens's
        ``blocks.{l}``); for embed 0, for final the last layer's.

        Raises
        ------
        InputError
            If the model has no such layer at this length (a prefix or suffix index past the end, a repetition the
            loop does not reach for ``length``).
        """
        labels = [label for label, _ in model.named_layers(length)]
        if self.part == "embed":
            return 0
        if self.part == "final":
            return max(len(labels) - 1, 0)
        layer_label = self.label.rsplit(".", 1)[0]
        try:
            return labels.index(layer_label)
        except ValueError:
            raise InputError(f"site {self.label} is not in this model at {length} tokens (its layers: "
                             f"{', '.join(labels) or 'none'})") from None

    def hook_name(self, model: Transformer, length: int) -> str:
        """This site's TransformerLens hook name for ``model`` unrolled for ``length`` tokens (module docstring)."""
        block = self.block_index(model, length)
        if self.part == "embed":
            return "blocks.0.hook_resid_pre"
        if self.part == "final" or self.sublayer == "mlp":
            return f"blocks.{block}.hook_resid_post"
        return f"blocks.{block}.hook_resid_mid"

    @classmethod
    def every(cls, model: Transformer, length: int) -> list[Site]:
        """Every site of a forward pass of ``model`` on ``length`` tokens, in execution order (embed, each
        sublayer, final)."""
        out = [cls.embed()]
        for label, layer in model.named_layers(length):
            for kind, _ in layer.sublayers():
                out.append(cls.parse(f"{label}.{kind}"))
        return [*out, cls.final()]
