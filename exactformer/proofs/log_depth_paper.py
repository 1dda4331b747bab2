"""The certificate of Merrill & Sabharwal's Theorem 1 tree in the paper's architecture (``log-depth-paper-*``):
proven for every word of at most ``N0`` letters, by a certified run of the exact weights on each.

Why a bounded range, and why this method. The model's LayerNorm reads scale by irrational square roots that the
build stores as rationals within 1e-40 (``_sqrt_ratio``), and its pointers use the layer-norm hash, whose gap between
neighbouring keys is ~1/(2 p^4): beyond p ~ 10^10 the gap is below the weights' own deviation from the ideal model,
so no lemma can hold for every n. The heads' scores are functions of the positions alone, but each masked LayerNorm
also reads the monoid blocks (``D``, ``pd``, ``qd``) and flags whose norms the exact weights fix only up to that
deviation, so a lemma per (query, key, level) would need a perturbation bound per sublayer. Instead, every word of
length 0..N0 is run through the exact rational weights in certified ball arithmetic
(:class:`~exactformer.core.arith.ball.BallArithmetic`, FLINT's ``arb``), where every value is a ball holding the
exact model's value. The model is causal and its final block is its loop block, so a token's residual after
sublayer k depends only on the tokens up to it: every prefix is computed once, through the longest run's sublayers
(:func:`~exactformer.core.arith.ball_prefix.prefix_shared_forward`; a model that is not prefix-closed, e.g. a mutant
of the loop block alone, is run one batch per length instead):

``decisions_certified``
    exhaustive over the words: every attention argmax set is separated by the balls (a unique maximum, or, for the
    zero-query averaging heads, an exact tie of point scores) and no LayerNorm divides by a ball reaching 0. So the
    exact model takes the same decisions as the ball run.
``positions``
    after the 3-layer prefix, ``pos`` and ``prev`` hold ``phi(i)`` and ``phi(i - 1)`` to within 2^-40 at every token.
``level_invariant``
    after every level l <= L(n), every token's ``A``, ``D`` and ``DS`` are within 2^-40 of the tree's values (active
    iff 1 <= i <= n and 2^l | i, the product of its dyadic block, ``$`` the tail's product).
``accepts_iff_dfa``
    the readout's sign is certified and is the DFA's answer on every word.
``enough_levels``
    symbolic, every n: the loop and the final block run at least floor(log2 n) + 1 levels.

The float64 run to n = 16 (``accepts_iff_dfa_tested``) stays beside the proof as evidence beyond its range. Each
printed erratum fails a lemma by name (``tests/proofs/test_log_depth_paper.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb

from ..constructions.gadgets.dfa import monoid_dfa
from ..constructions.gadgets.layer_norm_hash import PHI_CELLS
from ..constructions.log_depth_paper import PaperTreeParameters
from ..core.arith.ball import BallArithmetic, ball, ball_sign
from ..core.arith.ball_prefix import prefix_shared_forward
from ..core.construction import Construction
from ..core.errors import ExactformerError, InputError
from ..core.forward import forward, schedule
from ..verify.certificate import Certificate, Lemma, register_prover, tested
from .log_depth import _tested_words
from .recognizers import loop_count_lemma

__all__ = ["prove_paper_tree", "proof_range", "PROVEN_UP_TO", "PRECISION"]

#: The largest word length the certificate runs (every word of 0..PROVEN_UP_TO letters).
PROVEN_UP_TO = 11
#: The balls' working precision in bits.
PRECISION = 128
#: How close a stored value must be to the ideal tree's (the exact weights differ from the ideal by ~1e-40).
CLOSE = Fraction(1, 2**40)

_settings = {"up_to": PROVEN_UP_TO}


@contextmanager
def proof_range(up_to: int) -> Iterator[None]:
    """Prove for words of at most ``up_to`` letters inside the block (tests and the mutant measurement use a
    smaller range than :data:`PROVEN_UP_TO` to fit their time)."""
    if up_to < 0:
        raise ValueError(f"the proof range must be >= 0 letters, got {up_to}")
    saved = _settings["up_to"]
    _settings["up_to"] = up_to
    try:
        yield
    finally:
        _settings["up_to"] = saved


@dataclasses.dataclass
class _Tally:
    """One lemma's running count of checked cases and its first failure."""

    cases: int = 0
    failure: str = ""
    seconds: float = 0.0

    def fail(self, why: str) -> None:
        if not self.failure:
            self.failure = why


def _close(value: arb, want: arb | int) -> bool:
    """Whether the whole ball lies within :data:`CLOSE` of ``want`` (a ball or an integer); call it at
    :data:`PRECISION` (``with _precision()``)."""
    return bool(abs(value - want) < _TOLERANCE)


def _precision() -> Any:
    return BallArithmetic(PRECISION).working_precision()


with _precision():
    _TOLERANCE = ball(CLOSE)


@functools.cache
def _phi_ball(z: int) -> list[arb]:
    """``phi(z) = psi(z) / ||psi(z)||`` with ``psi(z) = (z, 1, -z, -1)`` (the cells :data:`PHI_CELLS`), as balls."""
    with _precision():
        norm = (2 * arb(z) ** 2 + 2).sqrt()
        return [arb(z) / norm, 1 / norm, -arb(z) / norm, -1 / norm]


def _level_ends(labels: Sequence[str], block: int) -> list[str]:
    """The trace labels after the prefix and after each level (the level block's last sublayer)."""
    last = block - 1
    return ["L2.attn"] + [lab for lab in labels if lab.endswith(f"B{last}.mlp") or lab == f"S{last}.mlp"]


Rows = Callable[[int], Any]  # token i -> its residual row (indexable by coordinate) at one level end


def _tokens_of(x: Any, rows: list[int]) -> Rows:
    """Token i's residual row: ``x[rows[i]]``."""
    def token(i: int) -> Any:
        return x[rows[i]]

    return token


class _Run:
    """The checks of every word, from batched ball passes: one per length, or one pass sharing every prefix."""

    def __init__(self, construction: Construction, tallies: dict[str, _Tally]) -> None:
        self.construction = construction
        self.model = construction.model
        self.dfa = construction.parameters.dfa
        self.tallies = tallies
        self.index = {name: k for k, name in enumerate(self.model.space.names)}
        self.monoid = monoid_dfa(self.dfa, "paper_tree_recognizer").monoid
        self.size = construction.parameters.monoid_size
        self.block = len(self.model.loop.block) if self.model.loop is not None else 0
        self.arith = BallArithmetic(PRECISION)
        weights = np.asarray(self.model.readout.W_U, dtype=object)[:, 0]
        with self.arith.working_precision():
            self.readout = [(k, ball(w)) for k, w in enumerate(weights) if w != 0]
            b_U = self.model.readout.b_U
            self.bias = ball(0 if b_U is None else b_U[0])
        names = self.model.space.names
        blocks = ("pos", "prev", "A", "D", "DS")
        self.read = [c for c in names if c.split(":")[0] in blocks] + [names[k] for k, _ in self.readout]

    def _decisions(self, trace: Any, seconds: float, where: str) -> None:
        decisions = self.tallies["decisions_certified"]
        decisions.cases += len(trace.decisions)
        decisions.seconds += seconds
        for d in trace.decisions:
            if not d.certified:
                decisions.fail(f"{where}: {d.where} {d.what} is not separated by the balls")
                break

    def check_length(self, words: list[tuple[Any, ...]]) -> None:
        """Every word of one length in one batched pass (any model)."""
        start = time.process_time()
        n = len(words[0])
        try:
            trace = forward(self.model, [self.construction.encode(list(w)) for w in words], self.arith)
        except ExactformerError as err:
            self.tallies["decisions_certified"].fail(f"n = {n}: {type(err).__name__}: {err}")
            return
        self._decisions(trace, time.process_time() - start, f"n = {n}")
        ends = [trace[label] for label in _level_ends(trace.labels, self.block)]
        for b, w in enumerate(words):
            self._verify(w, [_tokens_of(x[b], list(range(len(w) + 2))) for x in ends])

    def check_shared(self, words: list[tuple[Any, ...]]) -> None:
        """Every word in one pass with each prefix computed once (:mod:`~exactformer.core.arith.ball_prefix`);
        raises ``InputError`` for a model whose shorter runs are not the first sublayers of the longer ones."""
        start = time.process_time()
        seqs = [tuple(str(t) for t in self.construction.encode(list(w))) for w in words]  # tokens: strings
        longest, _ = schedule(self.model, max(len(s) for s in seqs))
        labels = ["embed"] + [where for where, _ in longest]
        ends = [labels.index(lab) - 1 for lab in _level_ends(labels, self.block)]
        try:
            run = prefix_shared_forward(self.model, seqs, self.arith, keep=ends, columns=self.read)
        except InputError:
            raise  # not a prefix-closed model: the caller runs each length
        except ExactformerError as err:
            self.tallies["decisions_certified"].fail(f"n <= {len(words[-1])}: {type(err).__name__}: {err}")
            return
        self._decisions(self.arith.trace, time.process_time() - start, f"n <= {len(words[-1])}")
        names = self.model.space.names
        self.index = {name: k for k, name in enumerate(self.read)}  # the snapshots hold these columns
        self.readout = [(self.index[names[k]], v) for k, v in self.readout]
        for w, seq in zip(words, seqs):
            own = len(schedule(self.model, len(seq))[0])
            rows = [run.row_of[seq[:i + 1]] for i in range(len(seq))]
            self._verify(w, [_tokens_of(run.snapshots[k], rows) for k in ends if k < own])

    def _verify(self, w: tuple[Any, ...], ends: list[Rows]) -> None:
        """The positions after the prefix (``ends[0]``), the tree after each level, the answer after the last."""
        with self.arith.working_precision():
            self._verify_at_precision(w, ends)

    def _verify_at_precision(self, w: tuple[Any, ...], ends: list[Rows]) -> None:
        shown = repr("".join(map(str, w)))
        n = len(w)
        positions = self.tallies["positions"]
        for i in range(n + 2):
            positions.cases += 1
            row = ends[0](i)
            for block, z in (("pos", i), ("prev", i - 1)):
                for c, cell in zip(PHI_CELLS, _phi_ball(z)):
                    if not _close(row[self.index[f"{block}:{c}"]], cell):
                        positions.fail(f"{shown} token {i}: {block}:{c} is not phi({z})")
        levels = self.tallies["level_invariant"]
        symbols = self.dfa.symbols_of(list(w))
        for level, rows in enumerate(ends):
            levels.cases += 1
            g = 2**level
            for i in range(n + 2):
                row = rows(i)
                active = 1 <= i <= n and i % g == 0
                held = {"D": self._product(symbols[i - g:i]) if active else 0,
                        "DS": self._product(symbols[g * (n // g):n]) if i == n + 1 else 0}
                want = {"A:p": 1 if active else -1, "A:m": -1 if active else 1}
                for block, element in held.items():
                    for k in range(self.size):
                        want[f"{block}:+{k}"] = int(k == element)
                        want[f"{block}:-{k}"] = -int(k == element)
                wrong = [c for c, value in want.items() if not _close(row[self.index[c]], value)]
                if wrong:
                    levels.fail(f"{shown} after level {level}, token {i}: {wrong[0]} is not {want[wrong[0]]}")
        answers = self.tallies["accepts_iff_dfa"]
        answers.cases += 1
        final = ends[-1](n + 1)
        logit: arb = sum((final[k] * v for k, v in self.readout), self.bias)
        sign = ball_sign(logit)
        want_sign = 1 if self.dfa.accepts(list(w)) else -1
        if sign != want_sign:
            read = "undecided" if sign is None else ("accept" if sign > 0 else "reject")
            answers.fail(f"{shown}: the logit {logit} reads {read}, the DFA says "
                         f"{'accept' if want_sign > 0 else 'reject'}")

    def _product(self, symbols: Sequence[Hashable]) -> int:
        return int(self.monoid.index(self.monoid.element_of(symbols)))


_STATEMENTS = {
    "decisions_certified": "for every word of n <= {N} letters, the exact model's every attention argmax set is "
                           "certified by the balls (a unique maximum, or an exact tie of point scores for the "
                           "zero-query averaging heads) and no LayerNorm divides by a norm that may be 0",
    "positions": "for every word of n <= {N} letters, after the prefix every token i holds pos = phi(i) and "
                 "prev = phi(i - 1) to within 2^-40 (Lemma 7 from BOS alone)",
    "level_invariant": "for every word of n <= {N} letters and every level l <= L(n): after level l token i is "
                       "active (A = +1) iff 1 <= i <= n and 2^l | i, an active token holds the product of "
                       "w_{{i-2^l+1}} .. w_i in D, every other token the identity, and $ holds the tail "
                       "w_{{2^l floor(n/2^l)+1}} .. w_n in DS, each cell to within 2^-40",
    "accepts_iff_dfa": "for every word w of n <= {N} letters the readout's sign at $ is certified and the model "
                       "accepts BOS w $ iff the DFA accepts w (the balls hold the exact model's values because every "
                       "decision is certified: decisions_certified)",
}


def _run_lemmas(construction: Construction, up_to: int) -> list[Lemma]:
    tallies = {name: _Tally() for name in _STATEMENTS}
    run = _Run(construction, tallies)
    alphabet = list(construction.parameters.dfa.ordered_alphabet)
    by_length = [list(itertools.product(alphabet, repeat=n)) for n in range(up_to + 1)]
    reached = up_to
    try:
        run.check_shared([w for words in by_length for w in words])
        method = "one pass sharing every prefix"
    except InputError:  # the shorter runs are not the first sublayers of the longer ones (e.g. a mutated loop)
        tallies = {name: _Tally() for name in _STATEMENTS}
        run = _Run(construction, tallies)
        method = "one pass per length"
        for n, words in enumerate(by_length):
            run.check_length(words)
            reached = n
            if any(t.failure for t in tallies.values()):
                break  # a counterexample is enough; longer words are not run
    readout = construction.model.readout
    if readout.position != -1 or readout.decision != "sign":
        tallies["accepts_iff_dfa"].failure = (f"the readout is a {readout.decision} at position {readout.position}, "
                                              "not a sign at $")
    lemmas = []
    for name, tally in tallies.items():
        status = "failed" if tally.failure else "proven"
        detail = tally.failure or _details(name, tally, reached, len(alphabet), method)
        lemmas.append(Lemma(name, _STATEMENTS[name].format(N=up_to), "exhaustive", status,  # type: ignore[arg-type]
                            cases=tally.cases, scope=f"n <= {reached}", detail=detail, seconds=tally.seconds))
    return lemmas


def _details(name: str, tally: _Tally, reached: int, letters: int, method: str) -> str:
    words = sum(letters**n for n in range(reached + 1))
    how = (f"{words:,} words (every word of 0..{reached} letters), arb balls at {PRECISION} bits on the exact "
           f"weights, {method}")
    if name == "decisions_certified":
        return f"{tally.cases:,} argmax sets certified; {how}, {tally.seconds:.1f} s CPU"
    if name == "positions":
        return f"{tally.cases:,} tokens; {how}"
    if name == "level_invariant":
        return f"{tally.cases:,} (word, level) pairs; {how}"
    return how


def prove_paper_tree(construction: Construction) -> Certificate:
    """The paper-faithful tree (layer-norm hash, average-hard attention): proven for every word of at most
    :data:`PROVEN_UP_TO` letters (module docstring), tested in float64 to n = 16 beside it."""
    up_to = _settings["up_to"]
    model = construction.model
    prefix = len(model.layers)
    loop_view = dataclasses.replace(model, layers=())  # the loop count alone; the prefix is run below
    block = len(model.loop.block) if model.loop is not None else 0
    levels = loop_count_lemma("enough_levels", "on n letters the model runs at least floor(log2 n) + 1 levels of "
                              "its level block after the prefix (after which the tail held by $ is the whole word)",
                              loop_view, extra_tokens=2, block=block or 1, suffix=len(model.suffix),
                              needed=lambda n: n.bit_length(), needed_text="floor(log2 n) + 1")
    if prefix != 3:
        levels = dataclasses.replace(levels, status="failed", detail=f"the prefix has {prefix} layers, not 3")
    lemmas = [levels, *_run_lemmas(construction, up_to)]
    longest = 16
    ok, detail = _tested_words(construction, longest)
    beside = [tested("accepts_iff_dfa_tested", "the model accepts BOS w $ iff the DFA accepts w (torch float64)", ok,
                     detail, scope=f"n <= {longest}")]
    return Certificate(
        construction=construction.name,
        conclusion=f"for every word w of n <= {up_to} letters, the exact model accepts BOS w $ iff the DFA accepts w. "
                   "No lemma holds for every n with these weights: each masked LayerNorm read is scaled by a rational "
                   "within 1e-40 of an irrational square root, and the layer-norm hash separates neighbouring keys by "
                   "only ~1/(2 p^4), which falls below that deviation near p ~ 10^10; a proof for larger n needs a "
                   "longer run (or a perturbation bound per sublayer, not written)",
        lemmas=lemmas, scope=f"n <= {up_to}", tested_to=f"n = {longest}", beside=beside,
        assumptions=(f"the exact rational weights, evaluated in certified ball arithmetic (arb, {PRECISION} bits): "
                     "each value is a ball holding the exact model's",
                     "inputs are BOS, letters of the DFA's alphabet, then $ (BOS only first, $ only last)"),
    )


register_prover(PaperTreeParameters, prove_paper_tree)
