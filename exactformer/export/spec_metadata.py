"""The metadata of a weights export: the construction, its citation and its :class:`~exactformer.core.model_spec.
ModelSpec` (JSON under ``"spec"``), so that a safetensors file alone says how to run its weights in plain torch."""

from __future__ import annotations

import json

from ..core.construction import Construction
from ..core.errors import ExactformerError

__all__ = ["spec_metadata"]


def spec_metadata(construction: Construction, name: str, n: int | None, example: object = None) -> dict[str, str]:
    """``{"construction", "citation", "spec"}`` for a file of ``construction.state_dict(n=n)``; ``example`` (an
    input) adds its encoding to the spec, and is left out if the construction refuses it."""
    try:
        spec = construction.spec(n, example=example)
    except ExactformerError:  # an example of the default build that these builder options do not accept
        spec = construction.spec(n)
    return {"construction": name, "citation": str(construction.citation), "spec": json.dumps(spec.to_json())}
