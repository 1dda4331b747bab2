"""PARITY with layer norm (Chiang & Cholak, Section 7.3): layer 2 and the readout, for every n.

Layer 2's keys carry each position's own LayerNorm factor: at CLS, head h's score on the key at position j is
``S_h(j)``, a function of j (through j/N) and not only of j's class, so the class calculus of
:mod:`~exactformer.proofs.symbolic_forward` cannot sum a class in closed form. What it can do is read, from the
weights, each class's score and value as an explicit function of its position, and the proof then argues about the
sums over positions ``Z_h = sum_(j=0..n) e^(S_h(j))``:

``L1.attn.per_position``
    For each case, head 0's scores are ``(-1)^j T(j)`` at every position j != k, with one function T of (j, n, k)
    for every class; head 1's are their negatives. Every value is 0 except at the hat (position k).
``L1.attn.hat_value``
    At the hat the two heads' values are opposite vectors ``V_1 = -V_0`` whose answer coordinate ``v0`` is < 0; so
    the attention adds ``b_O + u A`` at CLS with u = V_0 / v0 and ``A = v0 (e^(t_k)/Z_0 - e^(-t_k)/Z_1)``.
``L1.attn.key_factor_decreasing``
    T(j) > 0 and ``T(j)^2 >= T(j+1)^2`` for every j >= 0 (the LN factor shrinks as j/N grows).
``L1.attn.hat_below_curve``
    The hat's own factor ``T_k = (-1)^k t_k`` (its LN factor also sees the hat) satisfies ``0 < T_k <= T(k)``.
``L1.attn.odd_k_pairing`` (k odd)
    ``Z_0 - Z_1 = 2 D``, ``D = sum_j (-1)^j sinh T_j``. Pairing (2m, 2m+1), each pair is >= 0 (T decreasing, sinh
    increasing), an unpaired last even term is > 0, and the hat's odd term only shrinks (T_k <= T(k)): D >= 0, so
    ``e^(2 T_k) Z_0 > Z_1`` and A > 0.
``L1.attn.factor_bounds``
    Constants ``T_lo^2 <= T_k^2`` and ``T(0)^2 <= T_hi^2`` for every n and k, proven by the sign criterion.
``L1.attn.even_k_tail`` (k even, n > n_0)
    Pairing (2m-1, 2m) instead, ``D <= sinh T(0) <= sinh T_hi`` while ``Z_1 >= (n + 1) e^(-T_hi)``; so
    ``2 D < (e^(2 T_k) - 1) Z_1``, i.e. A < 0, as soon as ``n + 1 > R = 2 sinh(T_hi) e^(T_hi) / (e^(2 T_lo) - 1)``
    (R in outward-rounded interval arithmetic).
``L1.attn.even_k_small_n`` (k even, n <= n_0)
    Every (case, n, k) below the tail: A's sign from the per-position sums, in certified interval arithmetic.

With A's sign proven, the rest of the pass runs symbolically with ``A = +-omega`` (omega > 0 a symbol): the layer
norms, the eraser and the readout give z, whose sign is decided, and at eps = 0 ``z = +-c sqrt(10)`` exactly,
omega cancelling (LayerNorm of ``[u, -u]`` with only the answer left is ``sign(u) sqrt(10)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..verify.certificate import Lemma, exhaustive, induction, symbolic
from .parity_first_cases import Case, k, n
from .symbolic_forward import SymbolicArithmetic, Undecided, decide_sign, same_value

__all__ = ["LayerTwoArithmetic", "LayerTwo", "layer_two", "parity_ln_lemmas", "interval", "claimed_sign"]

#: The site whose CLS row the pass leaves to the lemmas (its per-position sums have no class closed form).
SITE = "L1.attn"
#: A position j, the argument of the per-position score function T.
J = sp.Symbol("j", integer=True, nonnegative=True)
#: |A|, the size of the answer layer 2's attention adds at CLS, as (1 + rho) / (1 + mu) with rho, mu >= 0: every
#: positive real, written so that the sign criterion (symbols are nonnegative parameters) sees it is positive.
RHO, MU = sp.symbols("rho mu", nonnegative=True)
OMEGA = (1 + RHO) / (1 + MU)
_iv = mpmath.iv


def claimed_sign(case: Case) -> int:
    """The answer's sign the proof establishes: + when k (the number of 1s) is odd."""
    return 1 if case.parity_k else -1


@dataclass
class LayerTwoArithmetic(SymbolicArithmetic):
    """The symbolic pass, except at CLS in layer 2's attention: there it records the layer's inputs and adds
    ``b_O + u * A`` with ``A = claimed sign * omega``, omega > 0 (see the module docstring; the lemmas prove the
    sign and the form). Every other query of that layer goes through the ordinary class calculus."""

    sign: int = 1
    answer: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)
    answered: tuple[Any, ...] | None = None

    @property
    def classes(self) -> tuple[Any, ...]:
        """The classes of the rows: every class, and after layer 2's attention only the queried ones."""
        return self.answered if self.answered is not None else self.sequence.classes

    def attend(self, xq: np.ndarray, xk: np.ndarray, query_pos: Any, key_pos: Any, att: Any, length: int,
               where: str) -> np.ndarray:
        if where != SITE:
            return super().attend(xq, xk, query_pos, key_pos, att, length, where)
        self.inputs.update(xq=xq, xk=xk, query_pos=list(query_pos), key_pos=list(key_pos), att=att)
        cls = [a for a, p in enumerate(query_pos) if self.classes[int(p)].token == "CLS"]
        rest = [a for a in range(len(query_pos)) if a not in cls]
        out = np.empty(xq.shape, dtype=object)
        if rest:
            out[:, rest] = super().attend(xq[:, rest], xk, np.asarray(query_pos)[rest], key_pos, att, length, where)
        hat, value = self.hat_value(xk, key_pos, att, 0)
        answer = self.answer
        if value[answer] == 0:
            raise Undecided(f"{where}: head 0's value at the hat {hat.name!r} has no answer coordinate")
        u = value / value[answer]
        for a in cls:
            out[0, a] = [sp.cancel(sp.together(b + v * self.sign * OMEGA)) for b, v in zip(self.w(att.b_O), u)]
        self.answered = tuple(self.classes[int(p)] for p in query_pos)
        return out

    def terms(self, xq_row: np.ndarray, xk: np.ndarray, key_pos: Any, att: Any, h: int) -> list[tuple[Any, Any]]:
        """Head h's (score, output-space value) on every key class, for the query row ``xq_row``, from the weights."""
        scale = self._scale(att)
        q = xq_row @ self.w(att.W_Q)[h] + self.w(att.b_Q)[h]
        out = []
        for b in range(len(key_pos)):
            key = xk[0, b] @ self.w(att.W_K)[h] + self.w(att.b_K)[h]
            value = (xk[0, b] @ self.w(att.W_V)[h] + self.w(att.b_V)[h]) @ self.w(att.W_O)[h]
            out.append((sp.cancel(sp.together(sp.expand(scale * sp.Add(*(q * key))))),
                        np.array([sp.cancel(sp.together(v)) for v in value], dtype=object)))
        return out

    def hat_value(self, xk: np.ndarray, key_pos: Any, att: Any, h: int) -> tuple[Any, np.ndarray]:
        """The one key class with a nonzero value (the hat) and that value; Undecided if there is not exactly one."""
        found = []
        for b, p in enumerate(key_pos):
            value = (xk[0, b] @ self.w(att.W_V)[h] + self.w(att.b_V)[h]) @ self.w(att.W_O)[h]
            value = np.array([sp.cancel(sp.together(v)) for v in value], dtype=object)
            if any(v != 0 for v in value):
                found.append((self.classes[int(p)], value))
        if len(found) != 1 or found[0][0].private is not None:
            raise Undecided(f"{SITE}: head {h} has a nonzero value on {[c.name for c, _ in found] or 'no'} key "
                            f"class(es); the proof needs exactly one, at a single position (the hat)")
        return found[0]


@dataclass
class LayerTwo:
    """One case's layer-2 analysis at CLS: the per-position score function and the hat's terms, read from the
    weights, or why they could not be read (``error``)."""

    case: Case
    trace: Any = None
    error: str | None = None
    scores: list[list[Any]] = field(default_factory=list)   # [head][key class] score
    values: list[list[Any]] = field(default_factory=list)   # [head][key class] value vector
    classes: list[Any] = field(default_factory=list)        # the key classes, in key order
    curve: Any = None                                       # T(J): head 0's score at an even position J != k
    hat: int | None = None                                  # index of the hat among the key classes
    answer: int = 0

    @property
    def at(self) -> int:
        """The hat's index among the key classes (the lemmas run only where it was found)."""
        if self.hat is None:
            raise Undecided(f"case {self.case.name}: no single key class with a nonzero value (the hat)")
        return self.hat

    @property
    def hat_class(self) -> Any:
        return self.classes[self.at]


def layer_two(model: Any, case: Case) -> LayerTwo:
    """Run the pass on ``case`` with :class:`LayerTwoArithmetic`, layer 2 at CLS only (the row the readout reads),
    and read layer 2's CLS terms. The trace holds every row up to layer 1 and the CLS row after layer 2."""
    from ..core.arith.base import Trace
    from ..core.forward import forward

    answer = model.space.index("answer")
    arith = LayerTwoArithmetic(case.sequence, sign=claimed_sign(case), answer=answer)
    out = LayerTwo(case, answer=answer)
    trace = Trace(space_names=model.space.names)

    def step(where: str, compute: Callable[[Any], Any], x: Any) -> Any:
        if not trace.labels:
            trace.record("embed", x)
        y = compute(x)
        trace.record(where, y)
        return y

    try:
        forward(model, [case.sequence.tokens()], arith, queries=[case.cls_index], step=step)
    except Exception as err:  # noqa: BLE001 - an undecided step is reported by the lemma that needs it
        out.error = f"{type(err).__name__}: {err}"
    out.trace = trace
    if "xk" not in arith.inputs:
        out.error = out.error or f"the pass did not reach {SITE}"
        return out
    xq, xk, qpos, kpos, att = (arith.inputs[x] for x in ("xq", "xk", "query_pos", "key_pos", "att"))
    cls_row = next(a for a, p in enumerate(qpos) if case.sequence.classes[int(p)].token == "CLS")
    out.classes = [case.sequence.classes[int(p)] for p in kpos]
    for h in range(att.n_heads):
        terms = arith.terms(xq[0, cls_row], xk, kpos, att, h)
        out.scores.append([s for s, _ in terms])
        out.values.append([v for _, v in terms])
    nonzero = [b for b, v in enumerate(out.values[0]) if any(x != 0 for x in v)]
    out.hat = nonzero[0] if len(nonzero) == 1 else None
    even = [b for b, c in enumerate(out.classes) if c.private is not None and c.parity == 0]
    if even:
        out.curve = out.scores[0][even[0]].xreplace({out.classes[even[0]].private: J})
    return out


# ---------------------------------------------------------------------------------------------------------------
# interval arithmetic on closed forms (numbers only)
# ---------------------------------------------------------------------------------------------------------------


def interval(expr: Any) -> Any:
    """A number written with +, *, integer and half-integer powers and exp, as an outward-rounded mpmath interval."""
    e = sp.sympify(expr)
    if e.is_Rational:
        return _iv.mpf(int(e.p)) / _iv.mpf(int(e.q))
    if isinstance(e, sp.Add):
        return sum((interval(a) for a in e.args), _iv.mpf(0))
    if isinstance(e, sp.Mul):
        out = _iv.mpf(1)
        for a in e.args:
            out = out * interval(a)
        return out
    if isinstance(e, sp.exp):
        return _iv.exp(interval(e.args[0]))
    if isinstance(e, sp.Pow) and e.exp.is_Rational:
        base = interval(e.base)
        p, q = int(e.exp.p), int(e.exp.q)
        if q == 1:
            return base ** p
        if q == 2:
            return _iv.sqrt(base) ** p
    if e is sp.E:
        return _iv.exp(_iv.mpf(1))
    raise ValueError(f"no interval rule for {e!r}")


def _sign_of(x: Any) -> int:
    if x.a > 0:
        return 1
    if x.b < 0:
        return -1
    return 0


# ---------------------------------------------------------------------------------------------------------------
# the lemmas
# ---------------------------------------------------------------------------------------------------------------


def _each(data: list[LayerTwo], check: Callable[[LayerTwo], str | None], done: str) -> Callable[[], tuple[bool, str]]:
    """A check run on every case: the first case's complaint fails it."""
    def run() -> tuple[bool, str]:
        for d in data:
            why = d.error if d.curve is None or d.hat is None else check(d)
            if why:
                return False, f"case {d.case.name}: {why}"
        return True, done
    return run


def _position_function(d: LayerTwo, h: int, parity: int) -> Any:
    """Head h's score at a position J of the given parity, J != k: T(J) times (+1, -1, -1, +1)."""
    return d.curve * (1 if parity == 0 else -1) * (1 if h == 0 else -1)


def _per_position(d: LayerTwo) -> str | None:
    if len(d.scores) != 2:
        return f"layer 2 has {len(d.scores)} heads; the argument pairs two"
    for h in (0, 1):
        for b, c in enumerate(d.classes):
            if b == d.hat:
                continue
            if c.parity is None:
                return f"key class {c.name!r} has no fixed parity"
            want = _position_function(d, h, c.parity).xreplace({J: c.private if c.private is not None
                                                                  else c.position})
            if not same_value(d.scores[h][b], want, c.domain, c):
                return (f"head {h}'s score on {c.name!r} is {d.scores[h][b]}, not "
                        f"{'+' if want == _position_function(d, h, c.parity) else '+-'}T(j) = {want}")
            if any(v != 0 for v in d.values[h][b]):
                return f"head {h}'s value on {c.name!r} is not 0"
    if not same_value(d.scores[1][d.at], -d.scores[0][d.at], d.case.domain):
        return "the heads' scores at the hat are not opposite"
    return None


def _hat_value(d: LayerTwo) -> str | None:
    v0, v1 = d.values[0][d.at], d.values[1][d.at]
    if any(not same_value(a, -b, d.case.domain) for a, b in zip(v0, v1)):
        return "the heads' values at the hat are not opposite vectors"
    sign = decide_sign(v0[d.answer], d.hat_class.domain)
    if sign != "negative":
        return f"head 0's answer value at the hat should be negative for every n, found {sign}: {v0[d.answer]}"
    return None


def _decreasing(d: LayerTwo) -> str | None:
    t = d.curve
    if decide_sign(t, d.case.domain) != "positive":
        return f"T(j) = {t} is not shown positive for every j"
    step = sp.cancel(sp.together(t ** 2 - t.xreplace({J: J + 1}) ** 2))
    if decide_sign(step, d.case.domain) not in ("positive", "nonnegative"):
        return f"T(j)^2 - T(j+1)^2 = {step} is not shown >= 0"
    return None


def _hat_factor(d: LayerTwo) -> sp.Expr:
    """T_k = (-1)^k t_k, the hat's own factor."""
    return d.scores[0][d.at] * (1 if d.hat_class.parity == 0 else -1)


def _below_curve(d: LayerTwo) -> str | None:
    tk, dom = _hat_factor(d), d.hat_class.domain
    if decide_sign(tk, dom) != "positive":
        return f"T_k = {tk} is not shown positive"
    gap = sp.cancel(sp.together(d.curve.xreplace({J: d.hat_class.position}) ** 2 - tk ** 2))
    if decide_sign(gap, dom) not in ("positive", "nonnegative", "zero"):
        return f"T(k)^2 - T_k^2 = {gap} is not shown >= 0"
    return None


def _sample_points(case: Case, limit: int) -> list[tuple[int, int]]:
    """The (n, k) of ``case`` with n <= limit (its domain's parameters enumerated)."""
    params = sorted(set().union(*(sp.sympify(v).free_symbols for v in case.domain.values())), key=str)
    points = set()
    for values in np.ndindex(*([limit + 1] * len(params))):
        sub = dict(zip(params, map(sp.Integer, values)))
        nv, kv = int(case.domain[n].xreplace(sub)), int(case.domain[k].xreplace(sub))
        if nv <= limit:
            points.add((nv, kv))
    return sorted(points)


def _rational_bound(x: float, up: bool) -> sp.Rational:
    return sp.Rational(math.ceil(x * 64) if up else math.floor(x * 64), 64)


@dataclass
class Bounds:
    """``T_lo^2 <= T_k^2`` and ``T(0)^2 <= T_hi^2`` over every case, and the tail's threshold R."""

    low: sp.Rational | None = None
    high: sp.Rational | None = None
    why: str = ""

    @property
    def threshold(self) -> Any:
        lo, hi = _iv.sqrt(interval(self.low)), _iv.sqrt(interval(self.high))
        return (_iv.exp(hi) - _iv.exp(-hi)) * _iv.exp(hi) / (_iv.exp(2 * lo) - 1)

    @property
    def small_n(self) -> int:
        """The largest n the tail does not cover: the tail needs n + 1 > R."""
        return max(int(math.ceil(float(self.threshold.b))) - 1, 1)


def factor_bounds(data: list[LayerTwo]) -> Bounds:
    """Candidate constants from a numerical look at a few lengths, then each proven by the sign criterion on every
    case's whole domain (halved or doubled until proven, at most 6 times)."""
    try:
        return _factor_bounds(data)
    except Exception as err:  # noqa: BLE001 - a mutated model's forms may defeat the search: no bounds, no proof
        return Bounds(why=f"{type(err).__name__}: {err}")


def _factor_bounds(data: list[LayerTwo]) -> Bounds:
    if any(d.curve is None or d.hat is None for d in data):
        return Bounds(why="a case's layer 2 was not read")
    tk2 = [sp.cancel(sp.together(_hat_factor(d) ** 2)) for d in data]
    t02 = [sp.cancel(sp.together(d.curve.xreplace({J: 0}) ** 2)) for d in data]
    lows, highs = [], []
    for d, a, b in zip(data, tk2, t02):
        points = _sample_points(d.case, 6) + [(10 ** 6 + (d.case.parity_n or 0), v) for v in (0, 1, 10 ** 6)]
        for nv, kv in points:
            if nv % 2 != d.case.parity_n or kv % 2 != d.case.parity_k or kv > nv:
                continue
            lows.append(float(a.xreplace({n: nv, k: kv})))
            highs.append(float(b.xreplace({n: nv, k: kv})))
    if not lows:
        return Bounds(why="no sample point")
    low, high = _rational_bound(0.95 * min(lows), False), _rational_bound(1.05 * max(highs), True)
    for _ in range(6):
        if low > 0 and all(decide_sign(a - low, d.hat_class.domain) in ("positive", "nonnegative", "zero")
                           for d, a in zip(data, tk2)):
            break
        low /= 2
    else:
        return Bounds(why=f"T_k^2 >= {low} not shown")
    for _ in range(6):
        if all(decide_sign(high - b, d.case.domain) in ("positive", "nonnegative", "zero") for d, b in zip(data, t02)):
            break
        high *= 2
    else:
        return Bounds(why=f"T(0)^2 <= {high} not shown")
    return Bounds(low, high)


def _small_n_cases(data: list[LayerTwo], bounds: Bounds) -> list[tuple[LayerTwo, int, int] | None]:
    """Every (case, n, k) with k even and n at most the tail's start; [None] when there are no bounds (a failure)."""
    if bounds.low is None:
        return [None]
    return [(d, nv, kv) for d in data if not d.case.parity_k for nv, kv in _sample_points(d.case, bounds.small_n)]


def _negative_at(point: tuple[LayerTwo, int, int] | None) -> bool | str:
    if point is None:
        return "no constant bounds (L1.attn.factor_bounds), so no range to check"
    try:
        return answer_sign_at(*point) == -1 or "A is not shown negative"
    except Exception as err:  # noqa: BLE001 - an expression the interval rules do not cover proves nothing
        return f"{type(err).__name__}: {err}"


def answer_sign_at(d: LayerTwo, nv: int, kv: int) -> int:
    """A's sign at a concrete (n, k) of d's case, from the per-position sums in interval arithmetic:
    ``sign(v0) * sign(e^(t_k)/Z_0 - e^(s1_k)/Z_1)``, every position's score from the classes' functions."""
    sub = {n: sp.Integer(nv), k: sp.Integer(kv)}
    hat = d.hat_class
    hat_j = int(sp.sympify(hat.position).xreplace(sub))
    sums = []
    for h in (0, 1):
        total = _iv.mpf(0)
        for j in range(nv + 1):
            score = d.scores[h][d.at] if j == hat_j else _position_function(d, h, j % 2).xreplace({J: j})
            total += _iv.exp(interval(sp.sympify(score).xreplace(sub)))
        sums.append(total)
    t = [interval(sp.sympify(d.scores[h][d.at]).xreplace(sub)) for h in (0, 1)]
    w = _iv.exp(t[0]) / sums[0] - _iv.exp(t[1]) / sums[1]
    v0 = interval(sp.sympify(d.values[0][d.at][d.answer]).xreplace(sub))
    return _sign_of(v0) * _sign_of(w)


def parity_ln_lemmas(data: list[LayerTwo]) -> tuple[list[Lemma], Bounds]:
    """Layer 2's lemmas at CLS (module docstring), ending with ``L1.attn.answer_sign``."""
    per_position = symbolic(
        "L1.attn.per_position", "for every n >= 1 and every word, at CLS head 0's score on position j != k is "
        "(-1)^j T(j) and head 1's is -(-1)^j T(j), one function T of (j, n, k) for every class; every value is 0 off "
        "the hat (position k)", _each(data, _per_position, f"{len(data)} cases, every key class, both heads"))
    hat_value = symbolic(
        "L1.attn.hat_value", "at the hat the heads' values are opposite vectors and head 0's answer value v0 < 0, so "
        "the attention adds u A at CLS with A = v0 (e^(t_k)/Z_0 - e^(-t_k)/Z_1)",
        _each(data, _hat_value, "V_1 = -V_0 and v0 < 0 in every case"))
    decreasing = symbolic(
        "L1.attn.key_factor_decreasing", "T(j) > 0 and T(j)^2 >= T(j+1)^2 for every j >= 0, n and k",
        _each(data, _decreasing, "T > 0 and T(j)^2 - T(j+1)^2 >= 0 decided in every case"))
    below = symbolic(
        "L1.attn.hat_below_curve", "the hat's own factor T_k = (-1)^k t_k satisfies 0 < T_k <= T(k)",
        _each(data, _below_curve, "0 < T_k <= T(k) decided in every case"))
    uses = [per_position, hat_value, decreasing, below]
    odd = induction("L1.attn.odd_k_pairing", "for k odd: pairing (2m, 2m+1), D = sum_j (-1)^j sinh T_j >= 0, so "
                    "Z_0 >= Z_1, e^(2 T_k) Z_0 > Z_1 and A > 0", uses)
    bounds = factor_bounds(data)

    def bounds_check() -> tuple[bool, str]:
        if bounds.low is None:
            return False, bounds.why
        r = math.ceil(float(bounds.threshold.b) * 1e4) / 1e4
        return True, (f"T_k^2 >= {bounds.low}, T(0)^2 <= {bounds.high} in every case; R <= {r}, so the tail covers "
                      f"n >= {bounds.small_n + 1}")

    bounded = symbolic("L1.attn.factor_bounds", "constants T_lo^2 <= T_k^2 and T(0)^2 <= T_hi^2 for every n and k",
                       bounds_check)
    tail = induction("L1.attn.even_k_tail", "for k even and n + 1 > R = 2 sinh(T_hi) e^(T_hi) / (e^(2 T_lo) - 1): "
                     "pairing (2m-1, 2m), D <= sinh T(0) <= sinh T_hi < (e^(2 T_lo) - 1)(n + 1) e^(-T_hi) / 2 <= "
                     "(e^(2 T_k) - 1) Z_1 / 2, so A < 0", [*uses, bounded],
                     scope=f"n >= {bounds.small_n + 1}" if bounds.low is not None else "every n")
    small = exhaustive(
        "L1.attn.even_k_small_n", "for k even and every n the tail leaves out, A < 0: every (case, n, k), the sign "
        "of v0 (e^(t_k)/Z_0 - e^(s1_k)/Z_1) from the per-position sums in certified interval arithmetic",
        _small_n_cases(data, bounds), _negative_at, scope=f"n <= {bounds.small_n if bounds.low is not None else '?'}",
        describe=lambda c: "the range" if c is None else f"{c[0].case.name}, n = {c[1]}, k = {c[2]}")
    sign = induction("L1.attn.answer_sign", "for every n >= 1 and every word, layer 2 adds u A at CLS with A > 0 "
                     "iff k is odd", [*uses, odd, bounded, tail, small])
    return [per_position, hat_value, decreasing, below, odd, bounded, tail, small, sign], bounds
