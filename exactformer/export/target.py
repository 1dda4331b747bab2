"""What the exports target: the pinned TransformerLens version, and the error an impossible export raises."""

from __future__ import annotations

from ..core.errors import ExactformerError

__all__ = ["ExportError", "PINNED_VERSION"]

#: The TransformerLens release the export is built and tested against (the 3.x line, which has ``HookedTransformer``).
PINNED_VERSION = "3.9.0"


class ExportError(ExactformerError):
    """The model uses an architecture option the export target cannot express (or a load would change it)."""
