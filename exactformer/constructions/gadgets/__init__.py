"""Shared building blocks of the log-depth constructions, each written once.

* :mod:`.dfa` -- DFA setup: token strings, the ``BOS w ($)`` encoding, the transition monoid's start and accepting
  elements, the letter maps of a completed DFA, ``ceil(log2 n)`` level counts.
* :mod:`.units` -- the unit-MLP builder: an MLP as a bag of named hidden units, each by what it reads and writes.
* :mod:`.heads` -- the copy map, the quadratic pointer head, the one-score chooser head, multi-head attention as
  named actions.
* :mod:`.lookup` -- the AND-lookup MLP: one unit per pair of monoid elements, firing iff all its 0/1 conditions
  hold, writing the product.
* :mod:`.readout` -- the one-logit sign readout of a recognizer.
* :mod:`.looped` -- the log-depth loop: a block repeated ``ceil(log2 n)`` times (plus an optional final block).
* :mod:`.layer_norm_hash` -- the paper's storage ``psi`` / ``phi`` and the layer-norm hash, with its float frontier.
* :mod:`.paper_lemmas` -- the paper's printed lemmas (1, 7, 8) and activeness tree at the algorithm level, which
  demonstrate the printed proof's errata.

The gadgets import only :mod:`exactformer.core`; the DFA they prepare is an :class:`exactformer.languages.DFA`,
used through its public methods.
"""

from __future__ import annotations

from . import dfa, heads, layer_norm_hash, lookup, looped, paper_lemmas, readout, units

__all__ = ["dfa", "heads", "layer_norm_hash", "lookup", "looped", "paper_lemmas", "readout", "units"]
