"""Independent references: regular languages (DFAs), graph reachability and machines.

Nothing here knows about transformers; constructions are checked against these objects.

* :class:`DFA` (immutable, validated; counting, exact uniform sampling, minimization, equivalence, transition monoid;
  readers for regular expressions, OpenFst/AT&T acceptors and Graphviz DOT) and the named languages
  :func:`parity`, :func:`first`, :func:`tomita`, :func:`modular_count`, :func:`word_problem`, :func:`dyck1`,
  :func:`flip_flop`;
* finite permutation groups (:func:`cyclic`, :func:`symmetric`, :func:`alternating`) and :class:`TransitionMonoid`;
* graphs: :class:`ReachabilityQuery`, :func:`bfs_layers`, :func:`load_prosqa` and random generators;
* machines: :class:`TuringMachine` (busy-beaver notation).

Every error is a :class:`LanguagesError` (a :class:`ValueError`) naming what is wrong.
"""

from __future__ import annotations

from . import errors as _errors
from . import turing as _turing
from ._common import data_dir
from .dfa import DFA
from .errors import *  # noqa: F403  (LanguagesError and its subclasses)
from .formats import parse_att, parse_dot
from .graphs import (
    ReachabilityQuery,
    bfs_layers,
    load_prosqa,
    query_from_edges,
    random_cyclic_digraph,
    random_dag,
    random_dense_digraph,
    random_reachability_query,
    reachable_from,
)
from .groups import ELEMENT_SYMBOLS, PermutationGroup, alternating, cyclic, group, symmetric
from .monoid import TransitionMonoid
from .named import dyck1, first, flip_flop, modular_count, parity, tomita, word_problem
from .turing import *  # noqa: F403  (TuringMachine, TMAction, TMResult, TMConfiguration, and whatever Task F adds)

__all__ = [
    # automata
    "DFA",
    "TransitionMonoid",
    "parse_att",
    "parse_dot",
    # named languages
    "parity",
    "first",
    "tomita",
    "modular_count",
    "word_problem",
    "dyck1",
    "flip_flop",
    # groups
    "PermutationGroup",
    "cyclic",
    "symmetric",
    "alternating",
    "group",
    "ELEMENT_SYMBOLS",
    # graphs
    "ReachabilityQuery",
    "bfs_layers",
    "reachable_from",
    "load_prosqa",
    "query_from_edges",
    "random_dag",
    "random_cyclic_digraph",
    "random_dense_digraph",
    "random_reachability_query",
    # data
    "data_dir",
]

# errors: LanguagesError and its subclasses (errors.py); machines: everything turing.py exports (TuringMachine,
# TMAction, TMResult, TMConfiguration, ...)
__all__ += _errors.__all__
__all__ += [name for name in _turing.__all__ if name not in __all__]
