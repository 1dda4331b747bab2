"""PARITY with layer norm: the readout's lemmas, for every n, from the pass of :mod:`.parity_ln`.

That pass leaves layer 2's answer at CLS as ``A = +-omega`` (omega > 0); :mod:`.parity_ln` proves A's sign. Here the
rest of the pass (layer norms, the eraser, the readout's own weights) gives z: its sign for every omega > 0, and at
eps = 0 the note's ``z = +-c sqrt(10)`` exactly (omega cancels), hence a cross-entropy that is the same for every n.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import sympy as sp

from ..core.construction import Construction
from ..verify.certificate import Lemma, symbolic
from .parity_first_cases import Case
from .parity_ln import MU, RHO, LayerTwo, claimed_sign
from .symbolic_forward import decide_sign, same_value, to_sympy

__all__ = ["readout_lemmas", "cls_logit"]


def _at_a_point(expr: Any, case: Case) -> tuple[dict[Any, int], Any]:
    """``expr`` at one point of the case's domain (every parameter 1, omega = 1), to 30 digits."""
    e = sp.sympify(expr).xreplace(dict(case.domain))
    point = {s: 1 for s in e.free_symbols}
    point.update({s: 0 for s in (RHO, MU) if s in point})
    return {str(s): v for s, v in point.items()}, sp.N(e.xreplace({s: sp.Integer(v) for s, v in point.items()}), 30)


def cls_logit(model: Any, row: Any) -> sp.Expr:
    """The model's output logit from CLS's final residual ``row``: row times W_U plus b_U (the readout's weights)."""
    W_U, b_U = to_sympy(model.readout.W_U), to_sympy(model.readout.b_U)
    return sp.cancel(sp.together(sp.Add(*(row * W_U[:, 0])) + b_U[0]))


def readout_lemmas(construction: Construction, data: list[LayerTwo]) -> list[Lemma]:
    """z from the pass with A = +-omega: its sign; at eps = 0, z = +-c sqrt(10) and the cross-entropy constant."""
    params = construction.parameters
    c = sp.Rational(str(params.output_scale))
    target = c * sp.sqrt(params.half_width)
    eps = Fraction(params.eps)
    logits: list[Any] = []
    for d in data:
        reached = d.trace is not None and "L1.mlp" in d.trace.labels
        logits.append(cls_logit(construction.model, d.trace["L1.mlp"][0][0]) if reached else None)

    def signs() -> tuple[bool, str]:
        for d, z in zip(data, logits):
            if z is None:
                return False, f"case {d.case.name}: the pass did not reach the readout: {d.error}"
            want = "positive" if d.case.parity_k else "negative"
            got = decide_sign(z, d.case.domain)
            if got != want:
                return False, f"case {d.case.name}: z should be {want}, found {got}: {z}"
        return True, "z > 0 exactly when k is odd, decided from the model's z with A = +-omega for every omega > 0"

    def identity() -> tuple[bool, str]:
        for d, z in zip(data, logits):
            if z is None:
                return False, f"case {d.case.name}: the pass did not reach the readout: {d.error}"
            want = target * claimed_sign(d.case)
            point, value = _at_a_point(z, d.case)
            if abs(value - sp.N(want, 30)) > sp.Float(1e-20):  # refuted at one point: no symbolic work needed
                return False, f"case {d.case.name}: z = {sp.N(value, 12)} at {point}, not {want}"
            if not same_value(z, want, d.case.domain):
                return False, f"case {d.case.name}: z = {z}, not shown equal to {want}"
        return True, f"z = +-{target} in all {len(data)} cases, whatever A's size omega"

    def limit() -> tuple[bool, str]:
        ok, detail = identity()
        if not ok:
            return ok, detail
        ce = sp.log(1 + sp.exp(-target)) / sp.log(2)
        return True, f"|z| = {target} for every n, so CE = log2(1 + e^-{target}) = {float(ce):.7g} bits for every n"

    lemmas = [symbolic("readout.sign", "for every n >= 1 and every word, z > 0 exactly when the word has an odd "
                       "number of 1s (given L1.attn.answer_sign)", signs)]
    if eps == 0:
        lemmas.append(symbolic("readout.closed_form", f"at eps = 0, for every n >= 1 and every word, z = +-c "
                               f"sqrt({params.half_width}) (Section 7.3)", identity))
        lemmas.append(symbolic("cross_entropy.limit", "at eps = 0 the cross-entropy log2(1 + e^(-|z|)) is the same "
                               "for every n, so its limit as n -> oo is that constant", limit))
    return lemmas
