"""Constructions: exact weights realising published theorems, one module per paper.

Every module here imports the core (and the input types it is built from: DFAs, machines, graphs), never a
reference's checker: the pairing of each construction with its reference is :mod:`exactformer.catalog`. The
registry's functions (:func:`get`, :func:`build`, :func:`names`, :data:`REGISTRY`) are re-exported here from
:mod:`exactformer.constructions.registry`; the catalog fills the registry when :mod:`exactformer` is imported.
"""

from .demo import copy_first
from .log_depth import log_depth_recognizer
from .log_depth_connectivity import log_depth_connectivity
from .log_depth_paper import paper_tree_recognizer
from .parity_first import first, parity
from .pointer_jumping import pointer_jumping_recognizer
from .post_machine import post_machine
from .registry import REGISTRY, Entry, build, get, names, register
from .superposition import superposition_reachability
from .turing_tag import run_turing_machine, run_turing_machines, tag_system, turing_machine, turing_machines

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
