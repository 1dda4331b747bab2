"""What the log-depth recognizers' provers share: the DFA's monoid as the proof sees it, positional features as
sympy expressions, the embedding and the readout lemmas, and the loop-count lemma.

Everything here reads the *reference* side (the DFA, its transition monoid from :mod:`exactformer.languages`) and the
model's weights; none of it calls a construction's builder.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy as sp

from ..core.architecture import Transformer
from ..core.positions import Index, IndexSquared, IndicatorAt, PositionalFeature, ScaledFeature
from ..verify.certificate import Lemma, exhaustive, symbolic
from .weight_forms import Form, apply

__all__ = ["MonoidView", "monoid_view", "feature_expression", "embedding_lemma", "readout_lemma",
           "loop_count_lemma", "compose", "I"]

#: The position of a token (a non-negative integer).
I = sp.Symbol("i", integer=True, nonnegative=True)

Element = tuple[int, ...]


def compose(a: Sequence[int], b: Sequence[int]) -> Element:
    """"First a, then b": ``q -> b[a[q]]`` (the proof's own product, not the construction's table)."""
    return tuple(b[x] for x in a)


@dataclass(frozen=True)
class MonoidView:
    """The DFA as the proofs use it: its transition monoid's elements (maps on state indices), the letter maps,
    the start state's index and the accepting indices (the sink, if any, is the last index and rejects)."""

    elements: tuple[Element, ...]
    letters: Mapping[Hashable, Element]
    tokens: Mapping[Hashable, str]
    start: int
    accepting: frozenset[int]
    identity: Element

    def accepts(self, element: Sequence[int]) -> bool:
        return element[self.start] in self.accepting


def monoid_view(dfa: Any) -> MonoidView:
    monoid = dfa.transition_monoid()
    order = list(dfa.ordered_states)
    letters = {a: tuple(monoid.generators[a]) for a in dfa.ordered_alphabet}
    return MonoidView(elements=tuple(monoid.elements), letters=letters,
                      tokens={a: str(a) for a in dfa.ordered_alphabet}, start=order.index(dfa.start),
                      accepting=frozenset(order.index(q) for q in dfa.accepting),
                      identity=tuple(range(len(monoid.states))))


def feature_expression(feature: PositionalFeature, i: sp.Expr) -> sp.Expr:
    """The feature as a sympy expression in the position (features of the sequence length are refused)."""
    if isinstance(feature, Index):
        return i
    if isinstance(feature, IndexSquared):
        return i**2
    if isinstance(feature, ScaledFeature):
        f = Fraction(feature.factor)
        return sp.Rational(f.numerator, f.denominator) * feature_expression(feature.feature, i)
    if isinstance(feature, IndicatorAt) and feature.position >= 0:
        return sp.Piecewise((1, sp.Eq(i, feature.position)), (0, True))
    raise ValueError(f"no symbolic form for the positional feature {feature.describe()}")


def embedded_form(model: Transformer, token: str, i: sp.Expr) -> dict[str, sp.Expr]:
    """The residual vector of ``token`` at position ``i`` (a symbol or a number): its row plus the features."""
    row = model.embed_vector(token)
    names = model.space.names
    form: dict[str, sp.Expr] = {names[k]: sp.Rational(Fraction(v).numerator, Fraction(v).denominator)
                                for k, v in enumerate(row) if v != 0}
    for coord, feature in model.embedding.positional:
        form[coord] = sp.expand(form.get(coord, 0) + feature_expression(feature, i))
    return form


def same_form(got: Form, want: Form, *, assume: Callable[[sp.Expr], sp.Expr] = lambda e: e) -> str | None:
    """``None`` when the two forms agree coordinate by coordinate (after ``assume``), else the first difference."""
    for coord in sorted(set(got) | set(want)):
        diff = sp.simplify(assume(sp.sympify(got.get(coord, 0)) - sp.sympify(want.get(coord, 0))))
        if diff != 0:
            return f"{coord} is {got.get(coord, 0)}, not {want.get(coord, 0)}"
    return None


def embedding_lemma(name: str, statement: str, model: Transformer, wanted: Callable[[str, sp.Expr], Form],
                    positions: Callable[[str], sp.Expr]) -> Lemma:
    """Every token's embedding (row + positional features) at the positions ``positions(token)`` (a symbol, or a
    number for a token with a fixed position) is the form ``wanted(token, position)``, symbolically in the
    position."""
    def check() -> tuple[bool, str]:
        for token in model.embedding.vocab:
            at = positions(token)
            problem = same_form(embedded_form(model, token, at), wanted(token, at))
            if problem:
                return False, f"token {token!r} at position {at}: {problem}"
        return True, f"all {len(model.embedding.vocab)} tokens, symbolically in the position"

    return symbolic(name, statement, check)


def readout_lemma(name: str, statement: str, model: Transformer, forms: Sequence[tuple[str, Form, bool]]) -> Lemma:
    """The readout is a sign readout at the last token and, for every listed final form (which may hold the
    symbol ``i`` for the position), its logit is positive exactly when the form's expected answer is True, for
    every position (the logit must not depend on the position)."""
    readout = model.readout

    def holds(case: tuple[str, Form, bool]) -> bool | str:
        label, form, accept = case
        if readout.decision != "sign" or readout.position != -1:
            return f"the readout is {readout.decision} at position {readout.position}, not a sign at the last token"
        logit = apply(model.space, form, readout.W_U, readout.b_U)[0]
        if logit.free_symbols:
            return f"the logit {logit} depends on {sorted(map(str, logit.free_symbols))}"
        if logit == 0 or (logit > 0) != accept:
            return f"logit {logit} but the answer is {'accept' if accept else 'reject'}"
        return True

    return exhaustive(name, statement, forms, holds, describe=lambda case: case[0])


def loop_count_lemma(name: str, statement: str, model: Transformer, *, extra_tokens: int, block: int,
                     suffix: int, needed: Callable[[int], int], needed_text: str) -> Lemma:
    """The model is the loop alone (no prefix), a block of ``block`` layers and ``suffix`` suffix layers, and on n
    letters it runs at least ``needed(n)`` blocks (``ceil_log2`` counts compared with the need in closed form)."""
    def check() -> tuple[bool, str]:
        loop = model.loop
        if loop is None or model.layers or len(loop.block) != block or len(model.suffix) != suffix:
            return False, "the model is not a looped block of the expected shape"
        count = loop.count
        if count.extra_tokens != extra_tokens:
            return False, f"the loop counts letters as N - {count.extra_tokens}, not N - {extra_tokens}"

        def runs(n: int) -> int:
            return count(n + extra_tokens) + (1 if suffix else 0)

        if count.function not in ("ceil_log2", "floor_log2_plus_1") or count.multiplier < 1:
            return False, f"the loop runs {count.describe()} times"
        # ceil(log2 n) and floor(log2 n) + 1 are non-decreasing in n and equal on each dyadic block
        # (2^(k-1), 2^k] resp. [2^k, 2^(k+1)); so comparing them on the block ends covers every n
        for k in range(0, 64):
            for n in {2**k - 1, 2**k, 2**k + 1} - {-1}:
                if runs(n) < needed(n):
                    return False, f"n = {n}: {runs(n)} blocks run, {needed_text} = {needed(n)} needed"
        return True, f"blocks run: {count.describe()}{' + 1 (suffix)' if suffix else ''} >= {needed_text} for every n"

    return symbolic(name, statement, check)
