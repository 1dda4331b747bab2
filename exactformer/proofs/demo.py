"""The demo's certificate: one hard head selects position 0 for every n, and the readout names the copied symbol.

Lemmas, from the weights: ``architecture`` (one layer, one hard causal head, no MLP, no norm), ``embedding``
(symbol a at position i holds ``one``, ``symbol:a`` and ``pos:first = [i = 0]``, symbolically in i),
``head_selects_first`` (the score's key-dependent part is ``c * pos:first`` with c > 0, so position 0 is the unique
maximum for every query, with gap c), ``head_copies`` (the head writes ``copy = symbol`` of the key, nothing else),
``readout`` (exhaustive over the first and the last symbol: the unique largest logit is the first symbol's), and the
conclusion ``answers_first_symbol``.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from ..constructions.demo import CopyFirstParameters
from ..core.construction import Construction
from ..verify.certificate import Certificate, Lemma, exhaustive, induction, register_prover, symbolic
from .recognizers import I, embedding_lemma
from .weight_forms import Form, apply, head_output, key_dependent_part, layer_shape, score_polynomial

__all__ = ["prove_copy_first"]

J = sp.Symbol("j", integer=True, nonnegative=True)


def _symbol_cells(alphabet: tuple[str, ...], tag: str) -> dict[str, sp.Expr]:
    return {f"symbol:{a}": sp.Symbol(f"{tag}[{a}]") for a in alphabet}


def _head_lemmas(model: Any, alphabet: tuple[str, ...]) -> list[Lemma]:
    att = model.layers[0].attention.block
    space = model.space
    first_q, first_k = sp.Symbol("first_i"), sp.Symbol("first_j")
    query: Form = {"one": 1, "pos:first": first_q, **_symbol_cells(alphabet, "q")}
    key: Form = {"one": 1, "pos:first": first_k, **_symbol_cells(alphabet, "k")}

    def selects() -> tuple[bool, str]:
        if att.n_heads != 1 or att.kind != "hard" or att.mask.kind != "causal":
            return False, "not one hard, causally masked head"
        score = score_polynomial(space, att, 0, query, key)
        key_symbols = {first_k} | set(_symbol_cells(alphabet, "k").values())
        dependent = key_dependent_part(score, key_symbols)
        c = sp.expand(dependent / first_k)
        if c.free_symbols or not c > 0:
            return False, f"the key-dependent score is {dependent}, not c * [j = 0] with a constant c > 0"
        return True, f"score = {c} [j = 0] + g(query): position 0 is the unique maximum, gap {c}"

    def copies() -> tuple[bool, str]:
        got = head_output(space, att, key)
        want = {f"copy:{a}": key[f"symbol:{a}"] for a in alphabet}
        wrong = sorted(c for c in set(got) | set(want) if sp.expand(got.get(c, 0) - want.get(c, 0)) != 0)
        if wrong:
            return False, f"the head writes {got.get(wrong[0], 0)} on {wrong[0]}, not {want.get(wrong[0], 0)}"
        return True, "copy = symbol of the attended token; nothing else written"

    return [symbolic("head_selects_first", "for every n and every query position i, the head's score over the keys "
                     "j <= i is uniquely maximal at j = 0", selects),
            symbolic("head_copies", "the head writes copy:* = symbol:* of the key it attends to, and nothing else",
                     copies)]


def prove_copy_first(construction: Construction) -> Certificate:
    """The certificate of :func:`~exactformer.constructions.copy_first`."""
    params: CopyFirstParameters = construction.parameters
    alphabet = tuple(params.alphabet)
    model = construction.model

    def shape() -> tuple[bool, str]:
        if model.loop is not None or model.suffix or len(model.layers) != 1:
            return False, "not a single layer"
        problem = layer_shape(model.layers[0], attention=True, mlp=False)
        return problem is None, problem or "one layer: one attention sublayer, no MLP, no norm"

    lemmas = [symbolic("architecture", "the model is one layer with one attention sublayer (no MLP, no norm, "
                       "residual connection)", shape)]
    lemmas.append(embedding_lemma(
        "embedding", "symbol a at position i holds one = 1, symbol:a = 1 and pos:first = [i = 0], nothing else", model,
        lambda token, i: {"one": 1, f"symbol:{token}": 1, "pos:first": sp.Piecewise((1, sp.Eq(i, 0)), (0, True))},
        lambda token: I))
    if lemmas[0].proven:
        lemmas += _head_lemmas(model, alphabet)
    readout = model.readout

    def reads(case: tuple[str, str, bool]) -> bool | str:
        first, last, alone = case
        if readout.decision != "argmax" or readout.position != -1 or tuple(readout.labels) != alphabet:
            return "the readout is not an argmax over the alphabet at the last token"
        form = {"one": 1, f"symbol:{last}": 1, "pos:first": int(alone), f"copy:{first}": 1}
        logits = apply(model.space, form, readout.W_U, readout.b_U)
        best = max(logits)
        winners = [a for a, v in zip(alphabet, logits) if v == best]
        return winners == [first] or f"logits {logits}: the largest at {winners}, not {first!r}"

    cases = [(a, b, False) for a in alphabet for b in alphabet] + [(a, a, True) for a in alphabet]
    lemmas.append(exhaustive("readout", "for every first symbol a and last symbol b (the same token when n = 1), the "
                             "unique largest logit at the last token is a's", cases, reads,
                             describe=lambda c: f"first {c[0]!r}, last {c[1]!r}"))
    lemmas.append(induction("answers_first_symbol", "for every n >= 1 and every word, the answer is its first symbol",
                            lemmas))
    return Certificate(construction=construction.name,
                       conclusion="for every n >= 1 and every word of n symbols, the model answers its first symbol",
                       lemmas=lemmas)


register_prover(CopyFirstParameters, prove_copy_first)
