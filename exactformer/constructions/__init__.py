"""Constructions: exact weights realising published theorems, one module per paper, and their registry."""

from . import log_depth as _log_depth
from . import log_depth_connectivity as _log_depth_connectivity
from . import log_depth_paper as _log_depth_paper
from . import parity_first as _parity_first
from . import pointer_jumping as _pointer_jumping
from . import post_machine as _post_machine
from . import superposition as _superposition
from .demo import copy_first
from .log_depth import log_depth_recognizer
from .log_depth_connectivity import log_depth_connectivity
from .log_depth_paper import paper_tree_recognizer
from .parity_first import first, parity
from .pointer_jumping import pointer_jumping_recognizer
from .post_machine import (
    post_machine,
    run_turing_machine,
    run_turing_machines,
    tag_system,
    turing_machine,
    turing_machines,
)
from .registry import REGISTRY, Entry, build, get, names, register
from .superposition import superposition_reachability


def _first_symbol_reference(construction):
    """The demo's reference: the first symbol of the word (a plain function, independent of the model)."""
    from ..verify.reference import FunctionReference

    return FunctionReference(lambda word: word[0], construction.model.embedding.vocab, name="first symbol")

register(
    Entry(
        name="demo",
        builder=copy_first,
        summary="one hard-attention layer copies the first symbol to the last position",
        example="abba",
        options={"alphabet": ("a", "b")},
        reference=lambda c: _first_symbol_reference(c),
        lengths=tuple(range(1, 17)),
    )
)

_MODULES = (_parity_first, _log_depth, _log_depth_paper, _pointer_jumping, _log_depth_connectivity, _superposition)
for _module in (*_MODULES, _post_machine):
    for _entry in _module.ENTRIES:
        register(_entry)

__all__ = [
    "copy_first",
    "parity",
    "first",
    "log_depth_recognizer",
    "paper_tree_recognizer",
    "pointer_jumping_recognizer",
    "log_depth_connectivity",
    "superposition_reachability",
    "post_machine",
    "turing_machine",
    "run_turing_machine",
    "turing_machines",
    "run_turing_machines",
    "tag_system",
    "REGISTRY",
    "Entry",
    "build",
    "get",
    "names",
    "register",
]
