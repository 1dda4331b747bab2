"""The certificate of Chiang & Cholak's PARITY and FIRST transformers: their closed forms, for every n.

The model's weights go through the one forward pass (:func:`exactformer.core.forward.forward`) in
:class:`~exactformer.proofs.symbolic_forward.SymbolicArithmetic`, on the finitely many cases of
:mod:`~exactformer.proofs.parity_first_cases` that together cover every word of every length n >= 1. Each
sublayer's residual, on every class of positions of every case, must equal the note's closed form
(:mod:`~exactformer.proofs.parity_first_forms`), written from the parameters, not the weights; the readout's sign
is then decided for every n from the model's own logit. A mutated weight changes a residual, a sign, or makes a
step of the pass undecidable, and the lemma of that sublayer fails.

What is proven for every n, and what is not:

* ``parity``, ``first``, ``first-scaled``, ``first-ln``: every sublayer and the readout, for every n >= 1 and
  every word (every arrangement of the ones).
* ``parity-ln``: layer 1's closed forms likewise. Layer 2 rescales each key by its own LayerNorm factor, which
  depends on the key's position i (through i/N), so the scores at CLS differ inside a class of positions and the
  class sum has no closed form: :mod:`~exactformer.proofs.parity_ln` reads each score as a function of the position
  and proves the answer's sign from the sums over positions (a pairing argument, bounds, and an exhaustive check of
  the lengths the bound leaves out); the rest of the pass then gives z's sign and, at eps = 0, z = +-c sqrt(10),
  for every n >= 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy as sp

from ..constructions.parity_first import ParityFirstParameters
from ..core.construction import Construction
from ..core.forward import forward
from ..verify.certificate import Certificate, Lemma, induction, register_prover, symbolic
from .parity_first_cases import Case, first_cases, k, n, parity_cases
from .parity_first_forms import first_ln_row, first_row, parity_answer, parity_ln_row, parity_row
from .parity_ln import layer_two, parity_ln_lemmas
from .parity_ln_readout import cls_logit, readout_lemmas
from .symbolic_forward import SymbolicArithmetic, decide_sign, same_value

__all__ = ["prove_parity_first", "symbolic_traces"]

SITES = ("embed", "L0.attn", "L0.mlp", "L1.attn", "L1.mlp")

Row = Callable[[str, Case, Any], dict[str, sp.Expr]]


def symbolic_traces(model: Any, cases: list[Case]) -> list[tuple[Any, str | None]]:
    """The symbolic pass of ``model`` on each case: its trace (as far as it got) and why it stopped, if it did."""
    out = []
    for case in cases:
        arith = SymbolicArithmetic(case.sequence)
        trace: Any
        try:
            trace = forward(model, [case.sequence.tokens()], arith)
            error = None
        except Exception as err:  # noqa: BLE001 - an undecided step is the lemma's failure, reported by name
            trace, error = arith.trace, f"{type(err).__name__}: {err}"
        out.append((trace, error))
    return out


def _site_check(site: str, cases: list[Case], traces: list[tuple[Any, str | None]], names: tuple[str, ...],
                expected: Row) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        classes = 0
        for case, (trace, error) in zip(cases, traces):
            if trace is None or site not in trace.labels:
                return False, f"case {case.name}: the symbolic pass stopped before {site}: {error}"
            rows = trace[site][0]
            for c, row in zip(case.sequence.classes, rows):
                want = expected(site, case, c)
                unknown = set(want) - set(names)
                if unknown:
                    raise KeyError(f"closed form names unknown coordinates {sorted(unknown)}")
                for name, got in zip(names, row):
                    target = want.get(name, sp.Integer(0))
                    if not same_value(got, target, c.domain, c):
                        return False, (f"case {case.name}, class {c.name}: {name} is {sp.simplify(got)}, the closed "
                                       f"form {sp.simplify(target)}")
                classes += 1
        return True, f"{len(cases)} cases, {classes} position classes, every coordinate"
    return check


def _logit(model: Any, case: Case, trace: Any) -> sp.Expr:
    """The model's output logit at CLS (the readout's own weights on CLS's final residual)."""
    return cls_logit(model, trace["L1.mlp"][0][case.cls_index])


def _member(case: Case) -> bool:
    return bool(case.parity_k) if case.first_bit is None else case.first_bit == 1


def _readout_lemmas(construction: Construction, cases: list[Case], traces: list[tuple[Any, str | None]],
                    closed: Callable[[Case], sp.Expr], closed_text: str) -> list[Lemma]:
    """z equals c times the closed form; z's sign is the language's for every n >= 1; the cross-entropy limit."""
    params: ParityFirstParameters = construction.parameters
    c = sp.Rational(str(params.output_scale))
    model = construction.model
    logits: list[sp.Expr | None] = []
    for case, (trace, _) in zip(cases, traces):
        logits.append(_logit(model, case, trace) if trace is not None and "L1.mlp" in trace.labels else None)

    def equals() -> tuple[bool, str]:
        for case, z in zip(cases, logits):
            if z is None:
                return False, f"case {case.name}: the symbolic pass did not reach the readout"
            if not same_value(z, c * closed(case), case.domain):
                return False, f"case {case.name}: z = {sp.simplify(z)}, the closed form {sp.simplify(c * closed(case))}"
        return True, f"z = c * {closed_text} in all {len(cases)} cases"

    def signs() -> tuple[bool, str]:
        for case, z in zip(cases, logits):
            if z is None:
                return False, f"case {case.name}: the symbolic pass did not reach the readout"
            want = "positive" if _member(case) else "negative"
            got = decide_sign(z, case.domain)
            if got != want:
                return False, f"case {case.name}: z should be {want} for every n, the prover finds {got}: {z}"
        return True, "z > 0 exactly on members, decided from the model's z with n written through nonnegative " \
                     "integer parameters (every coefficient of z's numerator and denominator has one sign)"

    def limit() -> tuple[bool, str]:
        limits = []
        for case, z in zip(cases, logits):
            if z is not None and case.hat_token == "CLS":
                z = z.xreplace({k: n})  # this case is k = n
            if z is None or z.free_symbols - {n}:
                return False, f"case {case.name}: z is not a function of n alone: {z}"
            sign = 1 if _member(case) else -1
            limits.append(sp.simplify(sp.limit(sign * z, n, sp.oo)))
        if len(set(limits)) != 1:
            return False, f"the limits of |z| differ between cases: {limits}"
        margin = limits[0]
        ce = sp.simplify(sp.log(1 + sp.exp(-margin)) / sp.log(2))
        return True, (f"lim_(n -> oo) |z| = {margin} in every case, so (log2(1 + e^-x) being continuous) "
                      f"lim CE = {ce} bits (= {float(ce):.7g})")

    return [
        symbolic("readout.closed_form", f"for every n >= 1 and every word, the logit at CLS is z = c * {closed_text}",
                 equals),
        symbolic("readout.sign", "for every n >= 1 and every word, z > 0 exactly when the word is in the language",
                 signs),
        symbolic("cross_entropy.limit", "the cross-entropy of every word, log2(1 + e^(-|z|)), has a limit as "
                 "n -> oo (Hahn: 1 bit without layer norm; constant with layer norm at eps = 0)", limit),
    ]


def _names(model: Any) -> tuple[str, ...]:
    return tuple(model.space.names)


def _expected(row: Callable[..., dict[str, sp.Expr]], params: ParityFirstParameters,
              site_form: Callable[[str, dict[str, sp.Expr]], dict[str, sp.Expr]]) -> Row:
    return lambda site, case, c: site_form(site, row(site, case, c))


STATEMENTS_PARITY = {
    "embed": "every position i holds its token, i/N and (-1)^i",
    "L0.attn": "layer-1 attention averages uniformly: every position gains count:k/N = k/N and count:1/N = 1/N",
    "L0.mlp": "the hat FFN writes hat = [i = k]/N at every position i",
    "L1.attn": "at CLS the answer is (a2_k - a1_k)/N (Section 5's Z1, Z2 with E even and O odd positions); "
               "elsewhere it stays 0",
    "L1.mlp": "layer 2's FFN changes nothing (no LN) / erases all but the answer and the bit tokens (LN)",
}
STATEMENTS_FIRST = {
    "embed": "every position i holds its token and [i = 1]",
    "L0.attn": "layer-1 attention adds nothing",
    "L0.mlp": "the gate FFN writes gate = [i = 1 and w_1 = 1]",
    "L1.attn": "at CLS the answer is a_1 (w_1 - 1/2), a_1 = e^b/(e^b + n) (N^b/(N^b + n) scaled); elsewhere the "
               "uniform average (w_1 - 1/2)/N",
    "L1.mlp": "layer 2's FFN changes nothing (no LN) / erases all but the answer (LN)",
}


def _site_lemmas(construction: Construction, cases: list[Case], traces: list[tuple[Any, str | None]],
                 expected: Row, statements: dict[str, str], sites: tuple[str, ...], layer_norm: bool) -> list[Lemma]:
    names = _names(construction.model)
    out = []
    for site in sites:
        statement = f"for every n >= 1, every word and every position, after {site}: {statements[site]}"
        if layer_norm and site != "embed":
            statement += ("; with layer norm the stream is [u, -u] times 1/sqrt(|u|^2/d + eps) (Section 7.3; at "
                          "eps > 0 PARITY's L0.mlp normalises lambda u, lambda L0.attn's factor)")
        out.append(symbolic(f"{site}.closed_form", statement, _site_check(site, cases, traces, names, expected)))
    return out


def _prove_parity(construction: Construction) -> Certificate:
    params: ParityFirstParameters = construction.parameters
    big, d_head, eps, half = params.big, params.d_head, params.eps, params.half_width
    cases = parity_cases()
    ln = params.layer_norm
    if ln:  # layer 2's CLS sums are left to the per-position lemmas of proofs/parity_ln.py
        layer2 = [layer_two(construction.model, case) for case in cases]
        traces = [(d.trace, d.error) for d in layer2]
    else:
        traces = symbolic_traces(construction.model, cases)

    def form(site: str, case: Case, c: Any) -> dict[str, sp.Expr]:
        if ln:
            return parity_ln_row(site, case, c, big, d_head, half, eps)
        return parity_row(site, case, c, big, d_head)

    sites = SITES[:3] if ln else SITES
    lemmas = _site_lemmas(construction, cases, traces, form, STATEMENTS_PARITY, sites, ln)
    scope = "every n >= 1"
    conclusion = "for every n >= 1 the model accepts exactly the words with an odd number of 1s"
    if ln:
        lemmas += parity_ln_lemmas(layer2)[0] + readout_lemmas(construction, layer2)
        if eps == 0:
            conclusion += ", with z = +-c sqrt(10)"
    else:
        lemmas.append(symbolic("answer.sign_argument", "Section 5's argument: for every n >= 1, (a2_k - a1_k)/N > 0 "
                               "for k odd and < 0 for k even (E >= O >= 1)",
                               _closed_sign(cases, lambda c: parity_answer(c, big, d_head))))
        lemmas += _readout_lemmas(construction, cases, traces, lambda c: parity_answer(c, big, d_head),
                                  "(a2_k - a1_k)/N")
    lemmas.append(induction("accepts_parity", conclusion, list(lemmas), scope=scope))
    return Certificate(construction.name, conclusion, lemmas, scope=scope,
                       tested_to=None, assumptions=_ASSUMPTIONS)


_ASSUMPTIONS = (
    "exact real arithmetic (softmax kept as exact exp, norms as exact square roots; floats are covered by the "
    "precision frontier)",
    "inputs are non-empty words over {0, 1} with CLS where the encoder puts it",
)


def _closed_sign(cases: list[Case], closed: Callable[[Case], sp.Expr]) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        for case in cases:
            want = "positive" if _member(case) else "negative"
            got = decide_sign(closed(case), case.domain)
            if got != want:
                return False, f"case {case.name}: the closed form should be {want}, found {got}"
        return True, f"sign decided in all {len(cases)} cases"
    return check


def _prove_first(construction: Construction) -> Certificate:
    params: ParityFirstParameters = construction.parameters
    big, d_head, eps, scaled, ln = params.big, params.d_head, params.eps, params.scaled, params.layer_norm
    cases = first_cases()
    traces = symbolic_traces(construction.model, cases)

    def form(site: str, case: Case, c: Any) -> dict[str, sp.Expr]:
        if ln:
            return first_ln_row(site, case, c, big, d_head, scaled, eps)
        return first_row(site, case, c, big, d_head, scaled)

    def closed(case: Case) -> sp.Expr:
        cls = case.sequence.classes[case.cls_index]
        return form("L1.mlp", case, cls)["answer"]

    lemmas = _site_lemmas(construction, cases, traces, form, STATEMENTS_FIRST, SITES, ln)
    text = "+-sqrt(6)" if ln and eps == 0 else ("a_1 (w_1 - 1/2)" if not ln else "the normalised answer")
    lemmas.append(symbolic("answer.sign_argument", "Section 6's argument: for every n >= 1 the closed-form answer has "
                           "the sign of w_1 - 1/2", _closed_sign(cases, closed)))
    lemmas += _readout_lemmas(construction, cases, traces, closed, text)
    if scaled:
        lemmas.append(_log_scaling(construction, traces, cases))
    conclusion = "for every n >= 1 the model accepts exactly the words whose first bit is 1"
    lemmas.append(induction("accepts_first", conclusion, list(lemmas)))
    return Certificate(construction.name, conclusion, lemmas, scope="every n >= 1", assumptions=_ASSUMPTIONS)


def _log_scaling(construction: Construction, traces: list[tuple[Any, str | None]], cases: list[Case]) -> Lemma:
    """Section 7.5: with logits times ln N, |z| ~ (1/2) n^(b - 1) for b < 1, -> 1/2 for b > 1."""
    params: ParityFirstParameters = construction.parameters
    b = sp.Rational(str(params.big)) / sp.sqrt(params.d_head)

    def check() -> tuple[bool, str]:
        case, (trace, _) = cases[1], traces[1]
        if trace is None or "L1.mlp" not in trace.labels:
            return False, "the symbolic pass did not reach the readout"
        z = _logit(construction.model, case, trace) / sp.Rational(str(params.output_scale))
        rate = sp.Integer(1) - b if b < 1 else sp.Integer(0)
        value = sp.limit(z * n ** rate, n, sp.oo)
        want = sp.Rational(1, 2)
        return bool(sp.simplify(value - want) == 0), f"lim_(n -> oo) z n^({rate}) = {value} (b = {b})"

    return symbolic("answer.log_length_scaling", "with logits times ln N, the answer decays like (1/2) n^(b - 1) "
                    "(b < 1) or tends to 1/2 (b > 1), b = big/sqrt(d_head), instead of (1/2) e^b / n", check)


def prove_parity_first(construction: Construction) -> Certificate:
    """The certificate of a PARITY or FIRST construction (see the module docstring)."""
    names = construction.model.space.names
    if "count:k/N" in names:
        return _prove_parity(construction)
    if "gate:[i=1,w_i=1]" in names:
        return _prove_first(construction)
    raise TypeError(f"{construction.name!r} has ParityFirstParameters but neither PARITY's nor FIRST's stream")


register_prover(ParityFirstParameters, prove_parity_first)
