"""Reading a model's weights as algebra: residual vectors as symbolic forms, heads as polynomials in positions, and
MLPs checked on every local configuration with the positions left symbolic.

The log-depth provers (:mod:`.pointer_jumping`, :mod:`.log_depth`, :mod:`.demo`) state each token's residual vector
as a *form*: ``{coordinate: value}``, where a value is a sympy expression in the token's position quantities (``i``,
its pointer ``p``, ...) or an exact number. A head's score is then a polynomial in the query's and the key's
quantities (:func:`score_polynomial`), a head's output a form (:func:`head_output`), and an MLP sublayer is checked
by :func:`mlp_on_configurations`: its units are split into those that read only unbounded non-negative quantities
(a ReLU of a non-negative combination is the identity, so they act linearly and are checked as an identity in the
symbols) and those that read only finite-valued cells (checked on every listed configuration, in exact integer
arithmetic). A unit that mixes the two, or whose sign cannot be decided, fails the lemma: the checks are sufficient
conditions, read off the weights, never the builder's code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce
from typing import Any

import numpy as np
import sympy as sp

from ..core.architecture import MLP, Attention, Layer, Sublayer
from ..core.space import Space
from ..core.sparse import SparseRationalMatrix

__all__ = [
    "Form", "rational", "entries_of", "apply", "score_polynomial", "key_dependent_part", "head_output",
    "plain_sublayer",
    "integer_gap", "nearest_key_form", "layer_shape", "same_weights", "attention_of", "mlp_of", "bias_of",
    "MLPCheck", "mlp_on_configurations", "Configuration",
]

Form = Mapping[str, Any]
"""A residual vector by coordinate: ``{name: sympy expression or exact number}`` (absent coordinates are 0)."""


def rational(value: Any) -> sp.Expr:
    """An exact weight (Fraction, int) as a sympy Rational."""
    f = Fraction(value)
    return sp.Rational(f.numerator, f.denominator)


def entries_of(W: Any) -> dict[int, list[tuple[int, Fraction]]]:
    """The nonzero entries of a 2-d weight (dense rational array or sparse matrix), by row: ``{row: [(col, w)]}``."""
    rows: dict[int, list[tuple[int, Fraction]]] = {}
    if isinstance(W, SparseRationalMatrix):
        for r, c, v in zip(W.rows.tolist(), W.cols.tolist(), W.values):
            rows.setdefault(r, []).append((c, Fraction(v)))
        return rows
    arr = np.asarray(W)
    for r, c in zip(*np.nonzero(arr != 0)):
        rows.setdefault(int(r), []).append((int(c), Fraction(arr[r, c])))
    return rows


def apply(space: Space, form: Form, W: Any, bias: Any = None) -> list[sp.Expr]:
    """``x W + b`` for the form ``x`` (a list of sympy expressions, one per column of ``W``)."""
    out = [sp.Integer(0)] * W.shape[1]
    rows = entries_of(W)
    for coord, value in form.items():
        value = sp.sympify(value)
        if value == 0:
            continue
        for col, w in rows.get(space.index(coord), ()):
            out[col] += rational(w) * value
    if bias is not None:
        out = [o + rational(b) for o, b in zip(out, bias)]
    return [sp.expand(o) for o in out]


def score_polynomial(space: Space, attention: Attention, head: int, query: Form, key: Form) -> sp.Expr:
    """The head's score ``(x_i W_Q + b_Q) . (x_j W_K + b_K)`` for the query form ``x_i`` and the key form ``x_j``.

    The softmax scale and relative biases are not included: the callers check that the head is hard (or
    average-hard) with a positive rational scale and no relative bias, so the argmax set is that of this
    polynomial.
    """
    q = apply(space, query, attention.W_Q[head], bias_of(attention.b_Q, head))
    k = apply(space, key, attention.W_K[head], bias_of(attention.b_K, head))
    return sp.expand(sum((a * b for a, b in zip(q, k)), sp.Integer(0)))


def key_dependent_part(score: sp.Expr, key_symbols: set[sp.Symbol]) -> sp.Expr:
    """The terms of the polynomial ``score`` that contain a key symbol (what decides the argmax over keys: the
    other terms are the same for every key)."""
    if not score.free_symbols:
        return sp.Integer(0)
    poly = sp.Poly(score, *sorted(score.free_symbols, key=str))
    out = sp.Integer(0)
    for monomial, coefficient in poly.terms():
        term = coefficient * sp.prod(g**e for g, e in zip(poly.gens, monomial))
        if term.free_symbols & key_symbols:
            out += term
    return sp.expand(out)


def head_output(space: Space, attention: Attention, value_form: Form, *, head: int | None = None) -> dict[str, Any]:
    """The sublayer's output when each head (or only ``head``) attends to a token of form ``value_form`` alone:
    ``sum_h (x W_V[h] + b_V[h]) W_O[h] + b_O``, as a form over the residual space (only nonzero coordinates)."""
    heads = range(attention.n_heads) if head is None else (head,)
    total = [sp.Integer(0)] * space.dim
    for h in heads:
        v = apply(space, value_form, attention.W_V[h], bias_of(attention.b_V, h))
        o = apply(Space.from_names([f"v{k}" for k in range(len(v))]), {f"v{k}": x for k, x in enumerate(v)},
                  attention.W_O[h])
        total = [a + b for a, b in zip(total, o)]
    total = [sp.expand(t + rational(b)) for t, b in zip(total, bias_of(attention.b_O))]
    return {name: t for name, t in zip(space.names, total) if t != 0}


def bias_of(bias: np.ndarray | None, row: int | None = None) -> Any:
    """A bias array (the model sets every bias, zeros where none was given), or its ``row``."""
    if bias is None:
        raise ValueError("a bias was not set")
    return bias if row is None else bias[row]


def attention_of(layer: Layer) -> Attention:
    """The layer's attention block (a :class:`ValueError` if it has none)."""
    if layer.attention is None or not isinstance(layer.attention.block, Attention):
        raise ValueError(f"layer {layer.name!r} has no attention sublayer")
    return layer.attention.block


def mlp_of(layer: Layer) -> MLP:
    """The layer's MLP block (a :class:`ValueError` if it has none)."""
    if layer.mlp is None or not isinstance(layer.mlp.block, MLP):
        raise ValueError(f"layer {layer.name!r} has no MLP sublayer")
    return layer.mlp.block


def plain_sublayer(sub: Sublayer | None, what: str, kind: type) -> str | None:
    """``None`` when ``sub`` is a ``kind`` sublayer with no norm and a residual connection, else what is not."""
    if sub is None:
        return f"{what} is missing"
    if not isinstance(sub.block, kind):
        return f"{what} holds a {type(sub.block).__name__}"
    if not sub.input_norm.is_identity or not sub.output_norm.is_identity:
        return f"{what} has a norm"
    if not sub.residual:
        return f"{what} has no residual connection"
    if isinstance(sub.block, MLP) and sub.block.activation != "relu":
        return f"{what} is not a ReLU MLP"
    if isinstance(sub.block, Attention):
        att = sub.block
        if att.relative_bias is not None and any(b is not None for b in att.relative_bias):
            return f"{what} has a relative-position bias"
        if att.scale.log_length:
            return f"{what} scales its scores by ln N"
    return None


def same_weights(a: Any, b: Any) -> bool:
    """Whether two weights (dense rational arrays or sparse matrices) are equal entry by entry."""
    if isinstance(a, SparseRationalMatrix) or isinstance(b, SparseRationalMatrix):
        return isinstance(a, SparseRationalMatrix) and isinstance(b, SparseRationalMatrix) and a == b
    return bool(a.shape == b.shape and np.all(a == b))


def layer_shape(layer: Layer, *, attention: bool, mlp: bool) -> str | None:
    """``None`` when ``layer`` has (exactly) the plain sublayers asked for, else what differs."""
    for what, sub, wanted, kind in (("attention", layer.attention, attention, Attention),
                                    ("MLP", layer.mlp, mlp, MLP)):
        if not wanted:
            if sub is not None:
                return f"layer {layer.name!r} has an unexpected {what} sublayer"
            continue
        problem = plain_sublayer(sub, f"layer {layer.name!r}'s {what}", kind)
        if problem:
            return problem
    return None


# ---------------------------------------------------------------------------------------------------------------
# integer inequalities
# ---------------------------------------------------------------------------------------------------------------


def integer_gap(gap: sp.Expr, d: sp.Symbol, *, at_least: Any = 1) -> tuple[bool, str]:
    """Whether the univariate polynomial ``gap(d)`` is ``>= at_least`` at every nonzero integer d.

    A complete decision: outside the real roots of ``gap - at_least`` the sign is that of the leading term (so the
    degree must be even and the leading coefficient positive), and the finitely many integers between the roots are
    evaluated exactly.
    """
    poly = sp.Poly(sp.expand(gap), d)
    if poly.free_symbols - {d}:
        return False, f"the gap {sp.factor(gap)} depends on {sorted(map(str, poly.free_symbols - {d}))}"
    shifted = poly - sp.Poly(at_least, d)
    if shifted.is_zero:
        return True, "gap identically equal to the bound"
    degree, lead = shifted.degree(), shifted.LC()
    if degree % 2 or lead < 0:
        far = next(x for x in (10**k * s for k in range(1, 40) for s in (1, -1)) if shifted.eval(x) < 0)
        return False, f"gap {sp.factor(gap)} < {at_least} at d = {far}"
    roots = [r for r in sp.real_roots(shifted)] if degree else []
    lo = math.floor(min(roots)) - 1 if roots else -1
    hi = math.ceil(max(roots)) + 1 if roots else 1
    for x in range(lo, hi + 1):
        if x != 0 and shifted.eval(x) < 0:
            return False, f"gap {sp.factor(gap)} = {poly.eval(x)} < {at_least} at d = {x}"
    return True, f"gap {sp.factor(gap)} >= {at_least} for every integer d != 0"


def nearest_key_form(score: sp.Expr, key: sp.Symbol, target: sp.Expr) -> tuple[sp.Expr | None, sp.Expr]:
    """Write ``score = g - c (key - target)^2`` with ``g`` free of ``key``: returns ``(c, g)``, or ``(None, score)``
    when the score is not of that form (so its maximiser is not "the key nearest ``target``")."""
    poly = sp.Poly(sp.expand(score), key)
    if poly.degree() != 2:
        return None, score
    c = -poly.coeff_monomial(key**2)
    rest = sp.expand(score + c * (key - target) ** 2)
    if key in rest.free_symbols:
        return None, score
    return c, rest


# ---------------------------------------------------------------------------------------------------------------
# an MLP on every local configuration
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    """One local configuration of a token: its finite-valued cells before and after the MLP (absent = 0)."""

    label: str
    before: Mapping[str, int]
    after: Mapping[str, int]


@dataclass(frozen=True)
class MLPCheck:
    """The outcome of :func:`mlp_on_configurations`."""

    ok: bool
    cases: int
    detail: str


def _scaled_int(values: Iterable[Fraction]) -> int:
    return reduce(math.lcm, (Fraction(v).denominator for v in values), 1)


def mlp_on_configurations(space: Space, mlp: MLP, *, unbounded: Mapping[str, sp.Expr],
                          unbounded_after: Mapping[str, sp.Expr], configurations: Sequence[Configuration],
                          constant: str | None = "one") -> MLPCheck:
    """Check ``x + MLP(x)`` on every configuration, the unbounded quantities left symbolic.

    Parameters
    ----------
    unbounded
        The coordinates whose values are unbounded non-negative quantities (positions, pointers, ...), with their
        symbolic values before the MLP (every symbol is non-negative).
    unbounded_after
        Their required values after the sublayer (an identity in the symbols).
    configurations
        Every local configuration of the other (finite-valued) cells, with the values they must have after.
    constant
        The coordinate that is 1 at every token (read as part of every unit's constant), or ``None``.

    The check (sufficient for correctness, read off the weights): each unit reads either only unbounded
    coordinates (and the constant) -- then all its weights and its constant must have one sign, so that the ReLU is
    the identity (all >= 0) or zero (all <= 0), and the sum of these linear units must map the unbounded values to
    ``unbounded_after`` and write nothing elsewhere -- or only finite cells (and the constant), and then it is
    evaluated exactly on every configuration; the finite cells after the sublayer must be the configuration's
    ``after`` and the finite units must write nothing on the unbounded coordinates.
    """
    names = space.names
    index = {c: k for k, c in enumerate(names)}
    W_in, W_out = entries_of(mlp.W_in), entries_of(mlp.W_out)
    b_in = [Fraction(b) for b in bias_of(mlp.b_in)]
    b_out = [Fraction(b) for b in bias_of(mlp.b_out)]
    width = mlp.W_in.shape[1]
    unb = {index[c] for c in unbounded}
    one = index[constant] if constant is not None else None
    reads: list[dict[int, Fraction]] = [{} for _ in range(width)]
    for r, cols in W_in.items():
        for c, w in cols:
            reads[c][r] = w
    linear, finite = [], []
    for u in range(width):
        variable = set(reads[u]) - {one}
        if variable and variable <= unb:
            linear.append(u)
        elif variable & unb:
            bad = sorted(names[r] for r in variable & unb)
            return MLPCheck(False, 0, f"hidden unit {u} reads unbounded {bad} together with finite cells "
                                      f"{sorted(names[r] for r in variable - unb)}")
        else:
            finite.append(u)
    # the linear units: a ReLU of a one-signed combination of non-negative quantities
    total: dict[int, sp.Expr] = {}
    for u in linear:
        coefs = [w for r, w in reads[u].items()] + [b_in[u]]
        if all(w >= 0 for w in coefs):
            pre = sum((rational(w) * (unbounded[names[r]] if r != one else 1) for r, w in reads[u].items()),
                      rational(b_in[u]))
            for c, w in W_out.get(u, ()):
                total[c] = total.get(c, sp.Integer(0)) + rational(w) * pre
        elif not all(w <= 0 for w in coefs):
            return MLPCheck(False, 0, f"hidden unit {u} reads {sorted(names[r] for r in reads[u])} with weights of "
                                      "both signs: its ReLU is not decided for every n")
    for c in range(space.dim):
        before = unbounded.get(names[c], 0) if c in unb else 0
        got = sp.expand(before + total.get(c, 0) + (rational(b_out[c]) if c in unb else 0))
        if c in unb:
            want = sp.expand(unbounded_after.get(names[c], 0))
            if sp.expand(got - want) != 0:
                return MLPCheck(False, 0, f"{names[c]} becomes {got}, not {want}")
        elif got != 0:
            return MLPCheck(False, 0, f"the position-reading units write {got} on the finite cell {names[c]}")
    # the finite units, on every configuration, in exact integer arithmetic (scaled by the denominators' lcm)
    scale_in = _scaled_int([w for u in finite for w in reads[u].values()] + [b_in[u] for u in finite])
    scale_out = _scaled_int([w for u in finite for _, w in W_out.get(u, ())] + b_out)
    dense_in = np.zeros((space.dim, len(finite)), dtype=np.int64)
    base = np.zeros(len(finite), dtype=np.int64)
    for k, u in enumerate(finite):
        base[k] = int(b_in[u] * scale_in)
        for r, w in reads[u].items():
            if r == one:
                base[k] += int(w * scale_in)
            else:
                dense_in[r, k] = int(w * scale_in)
    dense_out = np.zeros((len(finite), space.dim), dtype=np.int64)
    for k, u in enumerate(finite):
        for c, w in W_out.get(u, ()):
            dense_out[k, c] = int(w * scale_out)
    scale = scale_in * scale_out
    out_bias = np.array([int(b * scale_out) * scale_in for b in b_out], dtype=np.int64)
    bound = (int(np.abs(dense_in).sum(axis=0).max(initial=0)) + int(np.abs(base).max(initial=0))) \
        * int(np.abs(dense_out).sum(axis=0).max(initial=0)) * 4 + int(np.abs(out_bias).max(initial=0)) + scale * 4
    if bound >= 2**62:
        return MLPCheck(False, 0, "the integer bound of this MLP exceeds int64; not checked")
    finite_cells = np.array([c not in unb for c in range(space.dim)])
    for count, conf in enumerate(configurations, 1):
        pre = base.copy()
        before = np.zeros(space.dim, dtype=np.int64)
        after = np.zeros(space.dim, dtype=np.int64)
        if one is not None:
            before[one] = after[one] = scale
        for cells, vec in ((conf.before, before), (conf.after, after)):
            for cell, v in cells.items():
                if cell in unbounded:
                    return MLPCheck(False, count, f"configuration {conf.label} sets the unbounded {cell}")
                vec[index[cell]] = int(v) * scale
        for cell, v in conf.before.items():
            if v:
                pre += int(v) * dense_in[index[cell]]
        fired = np.flatnonzero(pre > 0)
        out = (pre[fired] @ dense_out[fired]) if len(fired) else np.zeros(space.dim, dtype=np.int64)
        leaked = np.flatnonzero(~finite_cells & (out != 0))
        if len(leaked):
            return MLPCheck(False, count, f"on {conf.label}: the finite units write {names[leaked[0]]}")
        got = before + out + out_bias
        wrong = np.flatnonzero(finite_cells & (got != after))
        if len(wrong):
            c = int(wrong[0])
            return MLPCheck(False, count, f"on {conf.label}: {names[c]} becomes {Fraction(int(got[c]), scale)}, "
                                          f"not {Fraction(int(after[c]), scale)}")
    return MLPCheck(True, len(configurations), f"{len(linear)} position units linear, {len(finite)} finite units "
                                               f"exact on {len(configurations)} configurations")
