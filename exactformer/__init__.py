"""exactformer: hand-built exact transformer weights for theorems about what transformers compute, checked by an
independent property-based verifier.

Subpackages: :mod:`exactformer.core` (the one transformer), :mod:`exactformer.languages` (independent references),
:mod:`exactformer.constructions` (weights from papers), :mod:`exactformer.verify` (the verifier), and
:mod:`exactformer.catalog` (each registered construction paired with its reference; imported here, so the registry
``ef.constructions.get/build/names`` is filled whenever the package is).
"""

from __future__ import annotations

import importlib
from typing import Any

from . import catalog, constructions, core, languages, verify

__version__ = "0.1.0"
__all__ = ["core", "constructions", "catalog", "languages", "verify", "export", "__version__"]


def __getattr__(name: str) -> Any:
    # export is imported on first use (languages and verify come with the catalog)
    if name == "export":
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'exactformer' has no attribute {name!r}")
