"""Shared building blocks of the log-depth constructions, each written once.

* :mod:`.dfa` -- DFA setup: token strings, the ``BOS w ($)`` encoding, the transition monoid's start and accepting
  elements, the letter maps of a completed DFA, ``ceil(log2 n)`` level counts.
* :mod:`.units` -- the unit-MLP builder: an MLP as a bag of named hidden units, each by what it reads and writes.
* :mod:`.heads` -- the copy map, the quadratic pointer head, the one-score chooser head, multi-head attention as
  named actions.

The gadgets import only :mod:`exactformer.core`; the DFA they prepare is an :class:`exactformer.languages.DFA`,
used through its public methods.
"""

from __future__ import annotations

from . import dfa, heads, units

__all__ = ["dfa", "heads", "units"]
