"""exactformer: hand-built exact transformer weights for theorems about what transformers compute, checked by an
independent property-based verifier.

Subpackages: :mod:`exactformer.core` (the one transformer), :mod:`exactformer.languages` (independent references),
:mod:`exactformer.constructions` (weights from papers), :mod:`exactformer.verify` (the verifier).
"""

from __future__ import annotations

import importlib
from typing import Any

from . import constructions, core

__version__ = "0.1.0"
__all__ = ["core", "constructions", "languages", "verify", "export", "__version__"]


def __getattr__(name: str) -> Any:
    # languages, verify and export are imported on first use, keeping `import exactformer` light
    if name in ("languages", "verify", "export"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'exactformer' has no attribute {name!r}")
