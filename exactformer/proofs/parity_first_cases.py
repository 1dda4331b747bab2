"""Chiang & Cholak's inputs of every length at once: the finitely many cases, each a sequence of position classes.

A word of n bits is N = n + 1 positions. For PARITY (``b_0 ... b_{n-1} CLS``) a case fixes the parities of n and
of k (the number of 1s) and what sits at position k, where the hat will be: a 0, a 1, or CLS (k = n, every bit a
1). Its classes are: the position k; CLS; and the bits below and above k, split by token and by parity, each with
a private position symbol and a multiplicity written with *arrangement symbols* ``o`` (how many of the ones sit in
that cell). The multiplicities of each (region, parity) cell add up to the cell's size, and the ones add up to k,
so every word of every length n >= 1 falls in exactly one case, for some value of the symbols. For FIRST
(``CLS b_1 ... b_n``) a case fixes the first bit; its classes are CLS, position 1, and the zeros and ones at
positions 2..n.

Each class carries a ``domain``: n, k and its position written through nonnegative integer parameters, on which
:func:`~exactformer.proofs.symbolic_forward.decide_sign` decides signs (the parities of the bits below and above
k are not encoded there: the domain is a superset, which is sound for a proof).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .symbolic_forward import PositionClass, SymbolicSequence

__all__ = ["n", "k", "Case", "parity_cases", "first_cases", "locate"]

n, k = sp.symbols("n k", integer=True, nonnegative=True)


@dataclass(frozen=True)
class Case:
    """One case of the proof: a symbolic sequence, the domain of (n, k), and where CLS and the hat are."""

    name: str
    sequence: SymbolicSequence
    domain: dict[sp.Symbol, sp.Expr]
    parity_n: int | None = None
    parity_k: int | None = None
    hat_token: str | None = None
    first_bit: int | None = None

    @property
    def cls_index(self) -> int:
        return next(r for r, c in enumerate(self.sequence.classes) if c.token == "CLS")

    def index_of(self, position: sp.Expr) -> int | None:
        """The class holding exactly the one position ``position`` (None if none)."""
        for r, c in enumerate(self.sequence.classes):
            if c.private is None and sp.simplify(c.position - position) == 0:
                return r
        return None


def _nonneg(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, nonnegative=True)


def _count(length: sp.Expr, length_parity: int, first_parity: int, p: int) -> sp.Expr:
    """How many of ``length`` consecutive integers starting at one of parity ``first_parity`` have parity p."""
    if p == first_parity:
        return (length + length_parity) / 2
    return (length - length_parity) / 2


def parity_cases() -> list[Case]:
    """The ten cases of PARITY: parities of n and k, and the token at position k (0, 1, or CLS when k = n)."""
    cases = []
    kappa, gamma = _nonneg("kappa"), _nonneg("gamma")
    for pn in (0, 1):
        for pk in (0, 1):
            for hat in ("0", "1", "CLS"):
                if hat == "CLS" and pk != pn:
                    continue
                k_min_bump = 2 if pk == 0 and hat != "0" else 0  # k >= 1 when a 1 sits at k or k = n >= 1
                k_expr = 2 * kappa + pk + k_min_bump
                if hat == "CLS":
                    n_expr = k_expr
                else:
                    r = (pn - pk) % 2
                    n_expr = k_expr + 2 * gamma + r + (2 if r == 0 else 0)  # n - k >= 1 with the right parity
                domain = {n: n_expr, k: k_expr}
                cases.append(_parity_case(pn, pk, hat, domain))
    return cases


def _parity_case(pn: int, pk: int, hat: str, domain: dict[sp.Symbol, sp.Expr]) -> Case:
    classes: list[PositionClass] = []
    name = f"n {'odd' if pn else 'even'}, k {'odd' if pk else 'even'}, " + (
        "k = n (the hat at CLS)" if hat == "CLS" else f"a {hat} at position k")
    parity_name = ("even", "odd")
    if hat == "CLS":
        classes.append(PositionClass("CLS = position k", "CLS", n, sp.Integer(1), pn, domain))
        for p in (0, 1):
            j, t = _nonneg(f"j_below_{p}_1"), _nonneg(f"t_below_{p}_1")
            mult = _count(k, pk, 0, p)
            classes.append(PositionClass(f"ones below k, {parity_name[p]}", "1", j, mult, p,
                                         {**domain, j: (k - 1 - t).xreplace(domain)}, private=j))
        return Case(name, SymbolicSequence(n + 1, tuple(classes), name), domain, pn, pk, hat)
    classes.append(PositionClass(f"position k (a {hat})", hat, k, sp.Integer(1), pk, domain))
    classes.append(PositionClass("CLS", "CLS", n, sp.Integer(1), pn, domain))
    sizes = {("below", p): _count(k, pk, 0, p) for p in (0, 1)}
    sizes.update({("above", p): _count(n - k - 1, (pn - pk - 1) % 2, 1 - pk, p) for p in (0, 1)})
    ones = {cell: _nonneg(f"o_{cell[0]}_{cell[1]}") for cell in sizes}
    other_ones = k - (1 if hat == "1" else 0)
    first_cell = ("below", 0)
    ones[first_cell] = other_ones - sum((o for cell, o in ones.items() if cell != first_cell), sp.Integer(0))
    for (region, p), size in sizes.items():
        for token in ("0", "1"):
            j, t = _nonneg(f"j_{region}_{p}_{token}"), _nonneg(f"t_{region}_{p}_{token}")
            where = k - 1 - t if region == "below" else k + 1 + t
            mult = ones[(region, p)] if token == "1" else size - ones[(region, p)]
            classes.append(PositionClass(f"{'ones' if token == '1' else 'zeros'} {region} k, {parity_name[p]}",
                                         token, j, mult, p, {**domain, j: where.xreplace(domain)}, private=j))
    return Case(name, SymbolicSequence(n + 1, tuple(classes), name), domain, pn, pk, hat)


def first_cases() -> list[Case]:
    """The two cases of FIRST: the first bit is 0 or 1 (n >= 1; positions 2..n hold o ones, in any order)."""
    nu, o = _nonneg("nu"), _nonneg("o_rest")
    domain = {n: 1 + nu}
    cases = []
    for f in (0, 1):
        classes = [PositionClass("CLS", "CLS", sp.Integer(0), sp.Integer(1), 0, domain),
                   PositionClass(f"position 1 (a {f})", str(f), sp.Integer(1), sp.Integer(1), 1, domain)]
        for token in ("0", "1"):
            j, t = _nonneg(f"j_rest_{token}"), _nonneg(f"t_rest_{token}")
            mult = o if token == "1" else n - 1 - o
            classes.append(PositionClass(f"{'ones' if token == '1' else 'zeros'} at positions 2..n", token, j, mult,
                                         None, {**domain, j: 2 + t}, private=j))
        name = f"first bit {f}"
        cases.append(Case(name, SymbolicSequence(n + 1, tuple(classes), name), domain, first_bit=f))
    return cases


def locate(word: str, family: str) -> tuple[Case, list[int], dict[sp.Symbol, sp.Expr]]:
    """Where a concrete word falls: its case, the class of each of its positions (in the encoder's order), and
    the values of n, k and the arrangement symbols (a class's position symbol is the position itself).

    This is how the tests substitute concrete words into the symbolic pass; ``family`` is ``"parity"`` or
    ``"first"``.
    """
    bits = [int(b) for b in word]
    length = len(bits)
    if family == "first":
        case = first_cases()[bits[0]]
        values: dict[sp.Symbol, sp.Expr] = {n: sp.Integer(length), _nonneg("o_rest"): sp.Integer(sum(bits[1:]))}
        names = [c.name for c in case.sequence.classes]
        where = [0, 1] + [names.index(f"{'ones' if b else 'zeros'} at positions 2..n") for b in bits[1:]]
        return case, where, values
    ones = sum(bits)
    hat = "CLS" if ones == length else str(bits[ones])
    case = next(c for c in parity_cases() if c.parity_n == length % 2 and c.parity_k == ones % 2
                and c.hat_token == hat)
    values = {n: sp.Integer(length), k: sp.Integer(ones)}
    values.update({_nonneg(f"o_{region}_{p}"): sp.Integer(0) for region in ("below", "above") for p in (0, 1)})
    names = [c.name for c in case.sequence.classes]
    where = []
    parity_name = ("even", "odd")
    for i, b in enumerate(bits):
        if i == ones:
            where.append(0)
            continue
        region = "below" if i < ones else "above"
        where.append(names.index(f"{'ones' if b else 'zeros'} {region} k, {parity_name[i % 2]}"))
        if b and hat != "CLS":
            key = _nonneg(f"o_{region}_{i % 2}")
            values[key] += 1
    where.append(0 if hat == "CLS" else names.index("CLS"))
    return case, where, values
