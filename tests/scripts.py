"""Importing the repository's command-line scripts (``scripts/``, ``benchmarks/``) as modules, for the tests that
check their functions and results files."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def import_script(folder: str, name: str) -> ModuleType:
    """Import ``<folder>/<name>.py`` of the repository once (its folder on ``sys.path``, as when it runs, so it
    finds the modules it shares with its neighbours)."""
    path = ROOT / folder / f"{name}.py"
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"_{folder}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
