"""The paper's closed forms for Chiang & Cholak's PARITY and FIRST models, written from the note, not the weights.

Each function gives, for a case and a position class, the first half of the residual stream (the whole stream
without layer norm) after a site, as sympy expressions in n, k and the class's position i. They use only the
construction's parameters (``big``, ``d_head``, ``scaled``, ``eps``) and the formulas of the note
(docs/notes/parity_first.md, Sections 5, 6, 7.3, 7.5): the prover checks the model's symbolic pass against them.
"""

from __future__ import annotations

import sympy as sp

from .parity_first_cases import Case, k, n
from .symbolic_forward import PositionClass

__all__ = ["parity_row", "parity_ln_row", "first_row", "normalised", "parity_answer", "first_answer", "logit_scale"]

N = n + 1

PARITY_SITES = ("embed", "L0.attn", "L0.mlp", "L1.attn", "L1.mlp")


def logit_scale(big: object, d_head: int, scaled: bool) -> sp.Expr:
    """The layer-2 logit of the attended position: b = big / sqrt(d_head), times ln N when scaled."""
    b = sp.Rational(str(big)) / sp.sqrt(d_head)
    return b * sp.log(N) if scaled else b


def parity_answer(case: Case, big: object, d_head: int) -> sp.Expr:
    """Section 5: at CLS, z / c = (a2_k - a1_k) / N, with a1_j = e^{b(-1)^j} / Z1, a2_j = e^{-b(-1)^j} / Z2,
    Z1 = E e^b + O e^-b, Z2 = E e^-b + O e^b, E = ceil(N/2) even and O = floor(N/2) odd positions."""
    b = logit_scale(big, d_head, False)
    length_parity = 1 - (case.parity_n or 0)  # N = n + 1
    even, odd = (N + length_parity) / 2, (N - length_parity) / 2
    z1 = even * sp.exp(b) + odd * sp.exp(-b)
    z2 = even * sp.exp(-b) + odd * sp.exp(b)
    sign = -1 if case.parity_k else 1
    return (sp.exp(-b * sign) / z2 - sp.exp(b * sign) / z1) / N


def parity_row(site: str, case: Case, c: PositionClass, big: object, d_head: int) -> dict[str, sp.Expr]:
    """PARITY's stream at ``site`` on class ``c`` (Section 5): tokens, i/N, (-1)^i; then k/N and 1/N; then the
    hat [i = k]/N; then at CLS the answer."""
    i = c.position
    row: dict[str, sp.Expr] = {f"tok:{c.token}": sp.Integer(1), "pos:i/N": i / N,
                               "pos:(-1)^i": sp.Integer(-1 if c.parity else 1)}
    stage = PARITY_SITES.index(site)
    if stage >= 1:
        row.update({"count:k/N": k / N, "count:1/N": 1 / N})
    if stage >= 2 and c.private is None and sp.simplify((i - k).xreplace(c.domain)) == 0:
        row["hat:[i=k]/N"] = 1 / N
    if stage >= 3 and c.token == "CLS":
        row["answer"] = parity_answer(case, big, d_head)
    return row


def first_answer(case: Case, big: object, d_head: int, scaled: bool, scale: sp.Expr = sp.S.One,
                 value_scale: sp.Expr = sp.S.One) -> sp.Expr:
    """Section 6 / 7.5: at CLS, z / c = a_1 ([w_1 = 1] - 1/2), a_1 = e^b / (e^b + n) (N^b / (N^b + n) scaled).

    ``scale`` multiplies the logit and ``value_scale`` the value: the layer-norm model's per-position rescaling.
    """
    beta = logit_scale(big, d_head, scaled) * scale
    a1 = sp.exp(beta) / (sp.exp(beta) + n)
    return a1 * (sp.Integer(case.first_bit or 0) - sp.Rational(1, 2)) * value_scale


FIRST_SITES = ("embed", "L0.attn", "L0.mlp", "L1.attn", "L1.mlp")


def first_row(site: str, case: Case, c: PositionClass, big: object, d_head: int, scaled: bool) -> dict[str, sp.Expr]:
    """FIRST's stream at ``site`` on class ``c`` (Section 6): tokens and [i = 1]; then the gate [i = 1, w_1 = 1];
    then the answer: a_1 (w_1 - 1/2) at CLS and the uniform average (w_1 - 1/2) / N elsewhere."""
    at_one = c.private is None and c.position == 1
    row: dict[str, sp.Expr] = {f"tok:{c.token}": sp.Integer(1), "pos:[i=1]": sp.Integer(1 if at_one else 0)}
    stage = FIRST_SITES.index(site)
    if stage >= 2:
        row["gate:[i=1,w_i=1]"] = sp.Integer(1 if at_one and case.first_bit == 1 else 0)
    if stage >= 3:
        if c.token == "CLS":
            row["answer"] = first_answer(case, big, d_head, scaled)
        else:
            row["answer"] = (sp.Integer(case.first_bit or 0) - sp.Rational(1, 2)) / N
    return row


def normalised(row: dict[str, sp.Expr], half: int, eps: object) -> dict[str, sp.Expr]:
    """Section 7.3: LayerNorm (no gain or bias) of the doubled vector [u, -u] (mean 0) is [u, -u] times
    1 / sqrt(|u|^2 / half + eps), half = d_model / 2; returned as the first half's map with the copies ``-name``."""
    norm2 = sp.Add(*(v * v for v in row.values()))
    factor = 1 / sp.sqrt(sp.cancel(norm2 / half + sp.Rational(str(eps))))
    out = {name: v * factor for name, v in row.items()}
    out.update({"-" + name: -v * factor for name, v in row.items()})
    return out


def doubled(row: dict[str, sp.Expr]) -> dict[str, sp.Expr]:
    """[u, -u] without normalisation (the layer-norm models' embedding)."""
    return {**row, **{"-" + name: -v for name, v in row.items()}}


def _scale_of(row: dict[str, sp.Expr], half: int, eps: object) -> sp.Expr:
    """LayerNorm's factor 1 / sqrt(|u|^2 / half + eps) on [u, -u]."""
    return 1 / sp.sqrt(sp.cancel(sp.Add(*(v * v for v in row.values())) / half + sp.Rational(str(eps))))


def parity_ln_row(site: str, case: Case, c: PositionClass, big: object, d_head: int, half: int,
                  eps: object) -> dict[str, sp.Expr]:
    """PARITY with layer norm through layer 1 (Section 7.3): the embedding doubled, then each sublayer's output
    normalised. The hat FFN is positively homogeneous, so after L0.mlp the stream is LN(lambda (u + hat)), lambda
    the L0.attn normalisation factor: at eps = 0 that is LN(u + hat); at eps > 0 the two factors do not merge."""
    row = parity_row(site, case, c, big, d_head)
    if site == "embed":
        return doubled(row)
    if site == "L0.mlp" and sp.Rational(str(eps)) != 0:
        lam = _scale_of(parity_row("L0.attn", case, c, big, d_head), half, eps)
        return normalised({name: v * lam for name, v in row.items()}, half, eps)
    return normalised(row, half, eps)


def first_ln_row(site: str, case: Case, c: PositionClass, big: object, d_head: int, scaled: bool,
                 eps: object) -> dict[str, sp.Expr]:
    """FIRST with layer norm (Section 7.3): every sublayer's output is normalised; layer 2's logit at position 1 is
    scaled by the two positions' LN factors and its value by position 1's; the eraser leaves only the answer, which
    the last LN maps to +-sqrt(6) (eps = 0)."""
    half = 6
    if site == "embed":
        return doubled(first_row(site, case, c, big, d_head, scaled))
    if site in ("L0.attn", "L0.mlp"):
        return normalised(first_row(site, case, c, big, d_head, scaled), half, eps)
    one = next(x for x in case.sequence.classes if x.private is None and x.position == 1)
    cls = next(x for x in case.sequence.classes if x.token == "CLS")
    lam = {name: _scale_of(first_row("L0.mlp", case, x, big, d_head, scaled), half, eps)
           for name, x in (("one", one), ("cls", cls), ("c", c))}
    before = {name: v * lam["c"] for name, v in first_row("L0.mlp", case, c, big, d_head, scaled).items()}
    if c.token == "CLS":
        answer = first_answer(case, big, d_head, scaled, lam["cls"] * lam["one"], lam["one"])
    else:
        answer = (sp.Integer(case.first_bit or 0) - sp.Rational(1, 2)) * lam["one"] / N
    after_attention = normalised({**before, "answer": answer}, half, eps)
    if site == "L1.attn":
        return after_attention
    return normalised({"answer": after_attention["answer"]}, half, eps)
