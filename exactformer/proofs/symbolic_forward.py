"""A sympy arithmetic for the one forward pass: a sequence of symbolic length, as classes of positions.

:func:`exactformer.core.forward.forward` evaluates a model in any :class:`~exactformer.core.arith.base.Arithmetic`.
:class:`SymbolicArithmetic` is one whose numbers are sympy expressions in the length n, a count k and positions, and
whose *rows* are not single positions but :class:`PositionClass` es: a set of positions that share a token and a
residual vector written as a function of the class's position symbol, with a symbolic multiplicity (e.g. "the ones
at even positions below k", ``o`` of them). The forward pass is unchanged; only the arithmetic knows that a row
stands for many positions.

Why this is exact. Every operation but attention acts position by position, so computing it once on a class's
representative (a function of its position symbol) computes it for every member. Attention sums over keys; a
class contributes ``multiplicity * exp(score) * value`` to a query's sum, which is its members' total exactly when
the score and the value are the same for every member. The arithmetic *checks* that: a score or a value that
depends on the key class's private position symbol raises :class:`Undecided` (the sum would depend on where the
members are). Multiplicities may hold arrangement symbols (how many ones sit in each class); a result free of them
holds for every arrangement. Nonlinear steps decide signs: a ReLU's (or step's) argument on a class, and a norm's
denominator, must have a sign proven on the class's whole domain (:func:`decide_sign`), or the pass raises
:class:`Undecided`. Softmax stays exact: ``exp`` of the exact score, never a float.

:func:`decide_sign` proves signs by a sufficient criterion: after writing n, k and the positions through
nonnegative integer parameters (the class's ``domain``), numerator and denominator are polynomials in those
parameters and in positive atoms (``exp(.)``, ``x**r`` of a positive base) whose numeric coefficients all have one
sign. It never guesses: what it cannot show is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from ..core.architecture import MLP, Attention, Norm, Transformer
from ..core.arith.base import Arithmetic, Item, check_exact_weight
from ..core.attention_rules import norm_parts
from ..core.positions import AlternatingSign, Index, IndexOverLength, IndicatorAt, ScaledFeature
from ..core.sparse import SparseRationalMatrix

__all__ = ["PositionClass", "SymbolicSequence", "SymbolicArithmetic", "Undecided", "decide_sign", "same_value",
           "to_sympy", "class_sign"]


class Undecided(Exception):  # noqa: N818 - a proof step that does not go through, not a program error
    """A step of the symbolic pass whose outcome the prover cannot establish (a sign, a class-dependent sum)."""


@dataclass(frozen=True)
class PositionClass:
    """A set of positions the symbolic pass treats as one row.

    Attributes
    ----------
    name
        What the class is, for messages ("ones below k, even").
    token
        The token every member holds.
    position
        The members' position i: a symbol private to the class (listed in ``private``) or an expression in n, k.
    multiplicity
        How many positions the class holds (may contain arrangement symbols).
    parity
        ``i mod 2`` for every member, if known (needed by ``(-1)^i``).
    domain
        Substitutions writing n, k, the position symbol and any other symbol through nonnegative integer
        parameters, so that every sign on this class can be decided for all of them at once (a superset of the
        true domain is fine: a sign proven there holds on it).
    private
        The position symbol, when the class has several members (their positions differ).
    """

    name: str
    token: str
    position: sp.Expr
    multiplicity: sp.Expr
    parity: int | None
    domain: Mapping[sp.Symbol, sp.Expr]
    private: sp.Symbol | None = None


@dataclass(frozen=True)
class SymbolicSequence:
    """A sequence of N = ``length`` tokens (symbolic) as classes of positions; the multiplicities add up to N."""

    length: sp.Expr
    classes: tuple[PositionClass, ...]
    description: str = ""

    def tokens(self) -> list[str]:
        return [c.token for c in self.classes]


def to_sympy(arr: Any) -> np.ndarray:
    """An exact weight (rational array or sparse matrix) as an object array of sympy Rationals."""
    if isinstance(arr, SparseRationalMatrix):
        arr = arr.toarray()
    a = np.asarray(arr, dtype=object)
    out = np.empty(a.shape, dtype=object)
    for index, v in np.ndenumerate(a):
        f = Fraction(v)
        out[index] = sp.Rational(f.numerator, f.denominator)
    return out


# ---------------------------------------------------------------------------------------------------------------
# signs
# ---------------------------------------------------------------------------------------------------------------


def _positive_atom(atom: sp.Expr) -> bool:
    """Whether a non-polynomial atom is positive wherever it is defined: ``exp(.)``, or a power of a positive
    base with a non-integer exponent (the base's sign proven by :func:`decide_sign`)."""
    if isinstance(atom, sp.exp):
        return True
    if isinstance(atom, sp.Pow):
        return decide_sign(atom.base, {}) == "positive"
    return False


_STRICT = {"positive": 1, "negative": -1}
_WEAK = {"positive": "nonnegative", "negative": "nonpositive", "nonnegative": "nonnegative",
         "nonpositive": "nonpositive", "zero": "zero"}


def _structural_sign(expr: sp.Expr) -> str | None:
    """The sign of ``expr`` read from its structure, every symbol being >= 0: numbers, even powers (squares),
    ``exp``, products, and sums whose terms share a sign (what expanding would hide, e.g. ``(k - 1 - t)**2``)."""
    if expr.is_number:
        if expr.is_zero:
            return "zero"
        return "positive" if expr.is_positive else ("negative" if expr.is_negative else None)
    if isinstance(expr, sp.Symbol):
        return "nonnegative"
    if isinstance(expr, sp.exp):
        return "positive"
    if isinstance(expr, sp.Pow):
        base = _structural_sign(expr.base)
        if expr.exp.is_Integer and expr.exp % 2 == 0:
            return "positive" if base in _STRICT else ("zero" if base == "zero" else "nonnegative")
        if expr.exp.is_Integer or base == "positive":
            return base if base in ("positive", "negative") or expr.exp > 0 else None
        return None
    if isinstance(expr, sp.Mul):
        sign = "positive"
        for factor in expr.args:
            f = _structural_sign(factor)
            if f is None:
                return None
            if f == "zero":
                return "zero"
            flip = f in ("negative", "nonpositive")
            weak = f in ("nonnegative", "nonpositive") or sign in ("nonnegative", "nonpositive")
            positive = (sign in ("positive", "nonnegative")) != flip
            sign = ("nonnegative" if positive else "nonpositive") if weak else ("positive" if positive else "negative")
        return sign
    if isinstance(expr, sp.Add):
        signs = [_structural_sign(t) for t in expr.args]
        if None in signs:
            return None
        nonzero = [x for x in signs if x != "zero"]
        if not nonzero:
            return "zero"
        if all(x in ("positive", "nonnegative") for x in nonzero):
            return "positive" if "positive" in nonzero else "nonnegative"
        if all(x in ("negative", "nonpositive") for x in nonzero):
            return "negative" if "negative" in nonzero else "nonpositive"
    return None


def _polynomial_sign(expr: sp.Expr) -> str | None:
    """The sign of ``expr`` for every nonnegative value of its symbols: from its structure, or else by the signs of
    its expanded coefficients (or None)."""
    structural = _structural_sign(expr)
    if structural in ("positive", "negative", "zero"):
        return structural
    expr = sp.expand(expr)
    if expr == 0:
        return "zero"
    if expr.is_number:
        return "positive" if expr.is_positive else ("negative" if expr.is_negative else None)
    symbols = sorted(expr.free_symbols, key=str)
    atoms = sorted((a for a in expr.atoms(sp.exp, sp.Pow)
                    if not a.is_number and not (isinstance(a, sp.Pow) and a.exp.is_Integer)), key=str)
    if not all(_positive_atom(a) for a in atoms):
        return None
    try:
        poly = sp.Poly(expr, *symbols, *atoms)
    except sp.PolynomialError:
        return None
    signs = set()
    strict = False
    for monomial, coeff in poly.terms():
        if not coeff.is_number:
            return None
        if coeff.is_positive:
            s = 1
        elif coeff.is_negative:
            s = -1
        else:
            if coeff.is_zero:
                continue
            return None
        signs.add(s)
        # a monomial without a (possibly zero) parameter is strictly positive
        strict |= all(e == 0 for e in monomial[: len(symbols)])
    if len(signs) != 1:
        return None
    if signs == {1}:
        return "positive" if strict else "nonnegative"
    return "negative" if strict else "nonpositive"


_PRODUCT = {("positive", "positive"): "positive", ("negative", "negative"): "positive",
            ("positive", "negative"): "negative", ("negative", "positive"): "negative",
            ("nonnegative", "positive"): "nonnegative", ("nonpositive", "positive"): "nonpositive",
            ("nonnegative", "negative"): "nonpositive", ("nonpositive", "negative"): "nonnegative",
            ("zero", "positive"): "zero", ("zero", "negative"): "zero"}


def decide_sign(expr: Any, domain: Mapping[sp.Symbol, sp.Expr]) -> str | None:
    """The sign of ``expr`` on the whole domain: ``"positive"``, ``"negative"``, ``"zero"``, ``"nonnegative"``,
    ``"nonpositive"``, or ``None`` when the criterion (see the module docstring) cannot show one.

    ``domain`` rewrites n, k and positions through nonnegative integer parameters; every symbol left after it is
    such a parameter.
    """
    e = sp.together(sp.sympify(expr).xreplace(dict(domain)))
    num, den = sp.fraction(e)
    sd = _polynomial_sign(den)
    if sd not in ("positive", "negative"):
        return None
    sn = _polynomial_sign(num)
    if sn is None:
        return None
    return _PRODUCT[(sn, sd)]


def _exp_as_powers(expr: sp.Expr) -> sp.Expr:
    """``expr`` with its exponentials of numbers rewritten as integer powers of one positive symbol per family of
    commensurable arguments (``exp(2a)`` and ``exp(-a)`` become ``X**2`` and ``X**-1``), so that ``cancel`` sees
    the relations between them."""
    atoms = sorted((a for a in expr.atoms(sp.exp) if a.args[0].is_number), key=str)
    replace: dict[sp.Expr, sp.Expr] = {}
    for atom in atoms:
        if atom in replace:
            continue
        base = atom.args[0]
        family = [a for a in atoms if a not in replace and (a.args[0] / base).is_Rational]
        denominator = sp.ilcm(1, 1, *[sp.Rational(a.args[0] / base).q for a in family])
        x = sp.Dummy("X", positive=True)
        for a in family:
            replace[a] = x ** int(sp.Rational(a.args[0] / base) * denominator)
    return expr.xreplace(replace)


def _is_zero(expr: sp.Expr) -> bool:
    return sp.cancel(sp.together(_exp_as_powers(sp.expand(expr)))) == 0


def same_value(a: Any, b: Any, domain: Mapping[sp.Symbol, sp.Expr], c: PositionClass | None = None) -> bool:
    """Whether ``a == b`` identically on the domain (n, k and positions substituted by ``domain``): their difference
    cancels to 0, or (for values with square roots) their squares agree and their signs, proven by
    :func:`decide_sign` (on class ``c``: by :func:`class_sign`), are the same."""
    a, b = sp.sympify(a), sp.sympify(b)
    full = dict(domain)
    if _is_zero((a - b).xreplace(full)):
        return True
    if not _is_zero((a * a - b * b).xreplace(full)):
        return False
    sa, sb = (decide_sign(a, full), decide_sign(b, full)) if c is None else (class_sign(a, c), class_sign(b, c))
    nonnegative, nonpositive = {"positive", "nonnegative", "zero"}, {"negative", "nonpositive", "zero"}
    return {sa, sb} <= nonnegative or {sa, sb} <= nonpositive  # equal squares, same side of 0


def class_sign(expr: Any, c: PositionClass) -> str | None:
    """The sign of ``expr`` on every member of class ``c``: proven on the class's domain, or else with its position
    symbol left free (a position is a nonnegative integer), whichever the criterion of :func:`decide_sign` shows."""
    sign = decide_sign(expr, c.domain)
    if sign is None and c.private is not None:
        sign = decide_sign(expr, {s: v for s, v in c.domain.items() if s != c.private})
    return sign


# ---------------------------------------------------------------------------------------------------------------
# the arithmetic
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class SymbolicArithmetic(Arithmetic):
    """The forward pass in sympy, on a :class:`SymbolicSequence` (see the module docstring).

    Pass ``sequence.tokens()`` as the one input of :func:`~exactformer.core.forward.forward`; row r of every
    residual is then the class ``sequence.classes[r]``. Supports what Chiang & Cholak's models use: unmasked
    softmax attention (scale with ``sqrt`` and ``ln N``), ReLU and step MLPs, layer/RMS/L2 norms without a mask,
    and the positional features ``i/N``, ``(-1)^i``, ``[i = p]``, ``i`` (and their rational multiples).
    """

    sequence: SymbolicSequence
    _weights: dict[int, tuple[Any, np.ndarray]] = field(default_factory=dict, repr=False)

    name = "symbolic"

    def __post_init__(self) -> None:
        super().__init__()

    # -- weights ----------------------------------------------------------------------------------------------
    def _check_weight(self, name: str, arr: Any) -> None:
        check_exact_weight(name, arr, "the symbolic evaluator")

    def w(self, arr: Any) -> np.ndarray:
        """``arr`` as sympy Rationals (converted once per array)."""
        hit = self._weights.get(id(arr))
        if hit is None or hit[0] is not arr:
            hit = self._weights[id(arr)] = (arr, to_sympy(arr))
        return hit[1]

    @property
    def classes(self) -> tuple[PositionClass, ...]:
        return self.sequence.classes

    # -- set-up -----------------------------------------------------------------------------------------------
    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]], start: int = 0) -> np.ndarray:
        if start or len(inputs) != 1 or list(inputs[0]) != self.sequence.tokens():
            raise ValueError("the symbolic pass takes exactly one input, sequence.tokens(), without a cache")
        W_E = self.w(model.embedding.W_E)
        out = np.empty((1, len(self.classes), model.d_model), dtype=object)
        for r, c in enumerate(self.classes):
            out[0, r] = W_E[model.token_index(c.token)].copy()
            for coord, feature in model.embedding.positional:
                j = model.space.index(coord)
                out[0, r, j] = out[0, r, j] + self.feature(feature, c)
        return out

    def feature(self, feature: Any, c: PositionClass) -> sp.Expr:
        """A positional feature at the class's position, symbolically."""
        if isinstance(feature, ScaledFeature):
            f = Fraction(feature.factor)
            return sp.Rational(f.numerator, f.denominator) * self.feature(feature.feature, c)
        if isinstance(feature, IndexOverLength):
            return c.position / self.sequence.length
        if isinstance(feature, Index):
            return c.position
        if isinstance(feature, AlternatingSign):
            if c.parity is None:
                raise Undecided(f"(-1)^i on class {c.name!r}, whose parity is not fixed")
            return sp.Integer(-1 if c.parity else 1)
        if isinstance(feature, IndicatorAt):
            target = feature.position if feature.position >= 0 else self.sequence.length + feature.position
            sign = decide_sign(c.position - target, c.domain)
            if sign == "zero":
                return sp.Integer(1)
            if sign in ("positive", "negative"):
                return sp.Integer(0)
            raise Undecided(f"{feature.describe()} on class {c.name!r}: cannot decide whether i = {target}")
        raise Undecided(f"the symbolic pass has no closed form for the positional feature {feature.describe()}")

    # -- sublayers --------------------------------------------------------------------------------------------
    def norm(self, x: np.ndarray, norm: Norm, model: Transformer, where: str) -> np.ndarray:
        if norm.is_identity:
            return x
        if norm.mask is not None:
            raise Undecided(f"{where}: masked norms are outside the symbolic pass")
        d = x.shape[-1]

        def total(a: np.ndarray) -> np.ndarray:
            return np.array([[[sp.Add(*row)] for row in batch] for batch in a], dtype=object)

        eps = Fraction(norm.eps)
        numerator, denominator = norm_parts(x, norm, lambda a: total(a) / d, total,
                                            sp.Rational(eps.numerator, eps.denominator))
        out = np.empty(x.shape, dtype=object)
        for r, c in enumerate(self.classes):
            den = sp.cancel(sp.together(denominator[0, r, 0]))
            if class_sign(den, c) != "positive":
                raise Undecided(f"{norm.describe()} in {where}: cannot show the norm at {c.name!r} is nonzero "
                                f"(denominator {den})")
            root = sp.sqrt(den)
            out[0, r] = [sp.cancel(sp.together(v)) / root for v in numerator[0, r]]
        return out

    def _activation(self, value: sp.Expr, mlp: MLP, c: PositionClass, where: str, unit: int) -> sp.Expr:
        if mlp.activation == "relu":
            sign = class_sign(value, c)
            if sign in ("positive", "nonnegative", "zero"):
                return value
            if sign in ("negative", "nonpositive"):
                return sp.Integer(0)
            raise Undecided(f"{where}: the sign of hidden unit {unit} at {c.name!r} is not decided ({value})")
        t = Fraction(mlp.threshold)
        sign = class_sign(value - sp.Rational(t.numerator, t.denominator), c)
        if sign in ("positive", "nonnegative", "zero"):
            return sp.Integer(1)
        if sign == "negative":
            return sp.Integer(0)
        raise Undecided(f"{where}: step unit {unit} at {c.name!r} is not decided ({value} vs {t})")

    def mlp(self, x: np.ndarray, mlp: MLP, where: str) -> np.ndarray:
        pre = x @ self.w(mlp.W_in) + self.w(mlp.b_in)
        hidden = np.empty(pre.shape, dtype=object)
        for r, c in enumerate(self.classes):
            for u in range(pre.shape[-1]):
                hidden[0, r, u] = self._activation(sp.cancel(sp.together(pre[0, r, u])), mlp, c, where, u)
        return hidden @ self.w(mlp.W_out) + self.w(mlp.b_out)

    def _scale(self, att: Attention) -> sp.Expr:
        s = att.scale
        coefficient, root = Fraction(s.coefficient), Fraction(s.sqrt_of)
        out = sp.Rational(coefficient.numerator, coefficient.denominator) * sp.sqrt(
            sp.Rational(root.numerator, root.denominator))
        return out * sp.log(self.sequence.length) if s.log_length else out

    def attend(self, xq: np.ndarray, xk: np.ndarray, query_pos: Any, key_pos: Any, att: Attention, length: int,
               where: str) -> np.ndarray:
        if att.kind != "softmax" or att.mask.kind != "none" or att.relative_bias is not None:
            raise Undecided(f"{where}: the symbolic pass covers unmasked softmax attention without position bias")
        queries = [self.classes[int(p)] for p in query_pos]
        keys = [self.classes[int(p)] for p in key_pos]
        scale = self._scale(att)
        out = np.empty(xq.shape, dtype=object)
        totals = [self.w(att.b_O).copy() for _ in queries]
        for h in range(att.n_heads):
            # each key class's key and (output-space) value, once per head
            key_rows = [xk[0, b] @ self.w(att.W_K)[h] + self.w(att.b_K)[h] for b in range(len(keys))]
            values = []
            for b, kc in enumerate(keys):
                value = (xk[0, b] @ self.w(att.W_V)[h] + self.w(att.b_V)[h]) @ self.w(att.W_O)[h]
                value = np.array([sp.cancel(sp.together(v)) for v in value], dtype=object)
                if kc.private is not None and any(kc.private in v.free_symbols for v in value):
                    raise Undecided(f"{where} head {h}: the value of key class {kc.name!r} depends on the key's "
                                    "position, so its sum depends on where its members are")
                values.append(value)
            for a, qc in enumerate(queries):
                q = xq[0, a] @ self.w(att.W_Q)[h] + self.w(att.b_Q)[h]
                numerator = np.zeros(xq.shape[-1], dtype=object)
                weight_sum = sp.Integer(0)
                for kc, key, value in zip(keys, key_rows, values):
                    score = sp.expand(scale * sp.Add(*(q * key)))
                    if kc.private is not None and kc.private in score.free_symbols:
                        raise Undecided(f"{where} head {h}: the score of query {qc.name!r} on key class {kc.name!r} "
                                        f"depends on the key's position ({score})")
                    weight = kc.multiplicity * sp.exp(score)
                    weight_sum += weight
                    numerator = numerator + value * weight
                totals[a] = totals[a] + numerator / weight_sum
        for a in range(len(queries)):
            out[0, a] = [sp.cancel(sp.together(v)) for v in totals[a]]
        return out
