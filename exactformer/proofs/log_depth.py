"""The certificate of Merrill & Sabharwal's Theorem 1 tree recognizer, rational build: proven for every n (the
paper-faithful build's, proven for a bounded n, is :mod:`.log_depth_paper`; it shares :func:`_tested_words`).

The rational build's proof (``constructions/log_depth.py``, the note's §3.3), checked on the weights: at level l the
active tokens are the multiples of ``2^l`` (BOS and ``$`` never), each holding the product of its dyadic block, and
``$`` holds the product of the leftover tail. One level is three layers:

``parity_head_nearest`` / ``parity_head_copies``
    symbolic in every position and cell: the score is ``g(x) - c (j - x/2)^2`` with c > 0 (x = i / 2^l), so the head
    picks the key nearest x/2, ties to the right, and writes ``J = j``: ``d = x - 2J`` is 0 at an even count, -1 at
    an odd one, and in [-1, 1) everywhere.
``activeness_mlp``
    case analysis over (A, d), positions symbolic: ``AN = A and (d = 0)``, ``J <- 0``, nothing else changes.
``previous_head_selects`` / ``previous_head_copies``
    symbolic: the unique maximum (gap >= 1) is the key ``i - 1``; it copies ``(A, AN, D)`` into ``(PA, PAN, PD)``.
``partner_head_selects`` / ``partner_head_copies``
    symbolic: the key-dependent score is ``c PA_k`` with c > 0 and ties go right, so the head picks the latest k <= i
    whose predecessor is active (itself if there is none); it copies ``(PA, PAN, PD)`` into ``(QA, QAN, QD)``.
``combine_mlp``
    exhaustive over every local configuration a token can be in after the partner head (survivor, loser, inactive,
    ``$``; every pair of monoid elements, 4|M|^2 + 4|M| + 1 cases), positions symbolic.
``final_level_same_weights``, ``embedding``, ``readout``, ``enough_levels``; the induction ``level_invariant`` and
the conclusion ``accepts_iff_dfa``.

Each erratum's printed form fails one of these by name: ``partner_key_fix=False`` -> ``partner_head_selects``,
``activeness_and_fix=False`` -> ``activeness_mlp``, ``gate_combine=False`` -> ``combine_mlp`` (a loser keeps a
product: the tree invariant, not the answer), ``final_level=False`` -> ``enough_levels``.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import sympy as sp
import torch

from ..constructions.log_depth import LogDepthParameters
from ..core.architecture import Attention, Layer
from ..core.construction import Construction
from ..verify.certificate import Certificate, Lemma, induction, register_prover, symbolic
from .recognizers import I, compose, embedding_lemma, loop_count_lemma, monoid_view, readout_lemma
from .weight_forms import (
    Configuration,
    Form,
    attention_of,
    entries_of,
    head_output,
    integer_gap,
    key_dependent_part,
    layer_shape,
    mlp_of,
    mlp_on_configurations,
    nearest_key_form,
    rational,
    same_weights,
    score_polynomial,
)

__all__ = ["prove_log_depth"]

J, K, D = sp.symbols("j k d", integer=True, nonnegative=True)
I2, X, X2, J2, XJ, XJ2 = sp.symbols("i2 x x2 j2 x_j xj2", nonnegative=True)
_CONTENT = ("flag:dollar", "A", "AN", "J", "PA", "PAN", "QA", "QAN")


class _Cells:
    def __init__(self, construction: Construction) -> None:
        params = construction.parameters
        self.view = monoid_view(params.dfa)
        self.space = construction.model.space
        self.index = {e: k for k, e in enumerate(self.view.elements)}
        self.labels = [str(k) for k in range(len(self.view.elements))]

    def element(self, block: str, element: Any) -> dict[str, int]:
        return {f"{block}:{self.index[element]}": 1}

    def symbols(self, tag: str) -> dict[str, sp.Expr]:
        """Every finite cell of a token as its own symbol (what the token holds, left arbitrary)."""
        cells = list(_CONTENT) + [f"{b}:{c}" for b in ("D", "DS", "PD", "QD") for c in self.labels]
        return {c: sp.Symbol(f"{tag}[{c}]") for c in cells}

    def token(self, tag: str, i: Any, i2: Any, x: Any, x2: Any, **zero: bool) -> dict[str, Any]:
        form: dict[str, Any] = {"one": 1, "pos:i": i, "pos:i2": i2, "lvl:x": x, "lvl:x2": x2, **self.symbols(tag)}
        for cell in [c for c in form if any(c == z or c.startswith(z + ":") for z in zero)]:
            form.pop(cell)
        return form


def _copy_lemma(name: str, statement: str, cells: _Cells, att: Attention, key: Form,
                copied: Sequence[tuple[str, str]]) -> Lemma:
    def check() -> tuple[bool, str]:
        got = head_output(cells.space, att, key)
        want = {dst: key[src] for src, dst in copied}
        wrong = sorted(c for c in set(got) | set(want) if sp.expand(got.get(c, 0) - want.get(c, 0)) != 0)
        if wrong:
            return False, f"the head writes {got.get(wrong[0], 0)} on {wrong[0]}, not {want.get(wrong[0], 0)}"
        return True, f"copies {len(copied)} cells of the attended token, writes nothing else"

    return symbolic(name, statement, check)


def _head_kind(att: Attention, tie_rule: str | None) -> str | None:
    if att.n_heads != 1 or att.kind != "hard" or att.mask.kind != "causal":
        return "not one hard, causally masked head"
    if tie_rule and att.tie_rule != tie_rule:
        return f"ties go {att.tie_rule}, not {tie_rule}"
    return None


def _level_heads(cells: _Cells, layers: Sequence[Layer]) -> list[Lemma]:
    parity, previous, partner = (attention_of(layer) for layer in layers)
    blank = ("AN", "J", "PA", "PAN", "QA", "QAN", "PD", "QD")
    q1, k1 = cells.token("q", I, I2, X, X2, **dict.fromkeys(blank, True)), \
        cells.token("k", J, J2, XJ, XJ2, **dict.fromkeys(blank, True))
    key_symbols1 = {J, J2, XJ, XJ2} | set(cells.symbols("k").values())

    def dependent(att: Attention, tie: str | None, query: Form, key: Form, squares: dict[sp.Symbol, sp.Expr],
                  allowed: set[sp.Symbol]) -> tuple[sp.Expr, str | None]:
        """The key-dependent part of the head's score (squares substituted), or why it is not the proof's."""
        problem = _head_kind(att, tie)
        if problem:
            return sp.Integer(0), problem
        part = key_dependent_part(score_polynomial(cells.space, att, 0, query, key), key_symbols1)
        part = sp.expand(part.subs(squares))
        extra = part.free_symbols - allowed
        return part, (f"the key-dependent score {part} reads {sorted(map(str, extra))}" if extra else None)

    def parity_selects() -> tuple[bool, str]:
        dependent_score, problem = dependent(parity, "rightmost", q1, k1, {J2: J**2, X2: X**2}, {J, X})
        if problem:
            return False, problem
        c, _ = nearest_key_form(dependent_score, J, X / 2)
        if c is None or not (c > 0):
            return False, f"the key-dependent score {sp.factor(dependent_score)} is not -c (j - x/2)^2 + g(x), c > 0"
        return True, f"score = -{c} (j - x/2)^2 + g(x): the key nearest x/2, ties to the right"

    q2 = cells.token("q", I, I2, X, X2, **dict.fromkeys(("J", "PA", "PAN", "QA", "QAN", "PD", "QD"), True))
    k2 = cells.token("k", J, J2, XJ, XJ2, **dict.fromkeys(("J", "PA", "PAN", "QA", "QAN", "PD", "QD"), True))

    def previous_selects() -> tuple[bool, str]:
        dependent_score, problem = dependent(previous, None, q2, k2, {J2: J**2, I2: I**2}, {J, I})
        if problem:
            return False, problem
        gap = sp.expand(dependent_score.subs(J, I - 1) - dependent_score.subs(J, I - 1 + D))
        ok, detail = integer_gap(gap, D)
        return ok, f"score = {sp.factor(dependent_score)} + g(i); {detail}"

    q3 = cells.token("q", I, I2, X, X2, **dict.fromkeys(("J", "QA", "QAN", "QD"), True))
    k3 = cells.token("k", J, J2, XJ, XJ2, **dict.fromkeys(("J", "QA", "QAN", "QD"), True))
    key_pa = cells.symbols("k")["PA"]

    def partner_selects() -> tuple[bool, str]:
        dependent_score, problem = dependent(partner, "rightmost", q3, k3, {}, {key_pa})
        if problem:
            return False, f"{problem}, not c * PA_k with a constant c > 0"
        c = sp.expand(dependent_score / key_pa)
        if c.free_symbols or not c > 0:
            return False, f"the key-dependent score is {dependent_score}, not c * PA_k with a constant c > 0"
        return True, f"score = {c} PA_k + g(query): the latest k with PA_k = 1, else (all tie) k = i"

    return [
        symbolic("parity_head_nearest", "for every query (x = i / 2^l, any cells) the parity head's maximisers among "
                 "the keys j <= i are the integers nearest x/2, the rightmost chosen", parity_selects),
        _copy_lemma("parity_head_copies", "the parity head writes J = j of the key it picks, nothing else", cells,
                    parity, k1, [("pos:i", "J")]),
        symbolic("previous_head_selects", "for every query position i >= 1 and all cells, the previous-token head's "
                 "score is uniquely maximal at the key i - 1, with a gap >= 1", previous_selects),
        _copy_lemma("previous_head_copies", "the previous-token head writes (PA, PAN, PD) = (A, AN, D) of the key, "
                    "nothing else", cells, previous, k2,
                    [("A", "PA"), ("AN", "PAN")] + [(f"D:{c}", f"PD:{c}") for c in cells.labels]),
        symbolic("partner_head_selects", "for every query and all cells, the partner head picks the latest key k <= i "
                 "whose predecessor was active (PA_k = 1), or the query itself if there is none", partner_selects),
        _copy_lemma("partner_head_copies", "the partner head writes (QA, QAN, QD) = (PA, PAN, PD) of the key, "
                    "nothing else", cells, partner, k3,
                    [("PA", "QA"), ("PAN", "QAN")] + [(f"PD:{c}", f"QD:{c}") for c in cells.labels]),
    ]


def _activeness(cells: _Cells, mlp: Any) -> Lemma:
    """AN = A and (d = 0), J <- 0: the units read (A, x, J) with x and J only through d = x - 2J."""
    space = cells.space
    names = space.names
    idx = {c: k for k, c in enumerate(names)}
    unbounded = {idx[c] for c in ("pos:i", "pos:i2", "lvl:x", "lvl:x2", "J")}
    one, a, x, j = idx["one"], idx["A"], idx["lvl:x"], idx["J"]
    W_in, W_out = entries_of(mlp.W_in), entries_of(mlp.W_out)
    reads: list[dict[int, Fraction]] = [{} for _ in range(mlp.W_in.shape[1])]
    for r, cols in W_in.items():
        for c, w in cols:
            reads[c][r] = w

    def check() -> tuple[bool, str]:
        values = {"pos:i": I, "pos:i2": I2, "lvl:x": X, "lvl:x2": X2, "J": J}
        out: dict[int, sp.Expr] = {}
        # per case (A, d): the finite units' output; d in [-1, 1) when A = 0 (checked at both ends: linear)
        cases = {"active, even count": (1, [0]), "active, odd count": (1, [-1]), "inactive": (0, [-1, 1])}
        finite_out = {case: [Fraction(0)] * space.dim for case in cases}
        for u, read in enumerate(reads):
            variable = set(read) - {one}
            bias = Fraction(mlp.b_in[u]) + read.get(one, Fraction(0))
            if variable <= unbounded:  # a ReLU of a one-signed combination of non-negative quantities
                coefs = list(read.values()) + [Fraction(mlp.b_in[u])]
                if all(w >= 0 for w in coefs):
                    pre = sum((rational(w) * (values[names[r]] if r != one else 1) for r, w in read.items()),
                              rational(mlp.b_in[u]))
                    for c, w in W_out.get(u, ()):
                        out[c] = out.get(c, 0) + rational(w) * pre
                elif not all(w <= 0 for w in coefs):
                    return False, f"unit {u} reads {sorted(names[r] for r in read)} with weights of both signs"
                continue
            if variable - {a, x, j}:
                return False, f"unit {u} reads {sorted(names[r] for r in variable - {a, x, j})} beside A, x, J"
            if read.get(j, 0) != -2 * read.get(x, 0):
                return False, f"unit {u} reads x and J other than through x - 2J: ReLU({read.get(x, 0)} x + " \
                              f"{read.get(j, 0)} J + ...) is not decided for every n"
            for case, (alpha, ds) in cases.items():
                pres = [read.get(a, 0) * alpha + read.get(x, 0) * d + bias for d in ds]
                if len(ds) > 1 and any(p > 0 for p in pres):
                    return False, f"unit {u} fires at an inactive token (A = 0, d = x - 2J in [-1, 1))"
                if pres[0] > 0:
                    for c, w in W_out.get(u, ()):
                        finite_out[case][c] += w * pres[0]
        for c in range(space.dim):
            before = values.get(names[c], 0) if c in unbounded else 0
            want = 0 if names[c] == "J" else before
            got = sp.expand(before + out.get(c, 0) + (rational(mlp.b_out[c]) if c in unbounded else 0))
            if sp.expand(got - want) != 0:
                return False, f"{names[c]} becomes {got}, not {want}"
            if c not in unbounded and out.get(c, 0) != 0:
                return False, f"the position units write {out[c]} on {names[c]}"
        for case in cases:
            want_an = 1 if case == "active, even count" else 0
            for c in range(space.dim):
                if c in unbounded:
                    if finite_out[case][c] != 0:
                        return False, f"{case}: the A-units write {names[c]}"
                    continue
                got = finite_out[case][c] + Fraction(mlp.b_out[c])
                want = want_an if names[c] == "AN" else 0
                if got != want:
                    return False, f"{case}: {names[c]} changes by {got}, not {want}"
        return True, "cases (A, d) in {(1, 0), (1, -1)} and A = 0 with d in [-1, 1); positions symbolic"

    lemma = symbolic("activeness_mlp", "for every token, with d = x - 2J as the parity head leaves it: after the MLP, "
                     "AN = 1 iff A = 1 and d = 0 (an even count at an active token), J = 0, nothing else changes",
                     check)
    return Lemma(lemma.name, lemma.statement, "exhaustive", lemma.status, cases=3, detail=lemma.detail,
                 seconds=lemma.seconds)


def _combine(cells: _Cells, mlp: Any) -> Lemma:
    els = cells.view.elements
    el = cells.element
    confs: list[Configuration] = []
    for a in els:
        for b in els:
            confs.append(Configuration(f"survivor QD = {a}, D = {b}", {"A": 1, "AN": 1, "QA": 1, **el("QD", a),
                                       **el("D", b)}, {"A": 1, **el("D", compose(a, b))}))
            confs.append(Configuration(f"loser QD = {a}, D = {b}", {"A": 1, "QA": 1, "QAN": 1, **el("QD", a),
                                                                      **el("D", b)}, {}))
            for survives in (0, 1):
                confs.append(Configuration(f"$ QD = {a}, QAN = {survives}, DS = {b}", {
                    "flag:dollar": 1, "QA": 1, "QAN": survives, **el("QD", a), **el("DS", b)},
                    {"flag:dollar": 1, **el("DS", b if survives else compose(a, b))}))
        confs.append(Configuration(f"first loser D = {a}", {"A": 1, **el("D", a)}, {}))
        confs.append(Configuration(f"$ alone, DS = {a}", {"flag:dollar": 1, **el("DS", a)},
                                   {"flag:dollar": 1, **el("DS", a)}))
        for survives in (0, 1):
            confs.append(Configuration(f"inactive QD = {a}, QAN = {survives}",
                                       {"QA": 1, "QAN": survives, **el("QD", a)}, {}))
    confs.append(Configuration("inactive, no active token before", {}, {}))
    unbounded = {"pos:i": I, "pos:i2": I2, "lvl:x": X, "lvl:x2": X2,
                 **{c: sp.Symbol(c, nonnegative=True) for c in ["PA", "PAN"] + [f"PD:{k}" for k in cells.labels]}}
    after = {"pos:i": I, "pos:i2": I2, "lvl:x": X / 2, "lvl:x2": X2 / 4}

    def check() -> tuple[bool, str]:
        result = mlp_on_configurations(cells.space, mlp, unbounded=unbounded, unbounded_after=after,
                                       configurations=confs)
        return result.ok, result.detail

    lemma = symbolic("combine_mlp", "on every local configuration after the partner head (a survivor: A = AN = 1 and "
                     "the partner's block QD = a; a loser: AN = 0; an inactive token; $ with or without a latest "
                     "active token that is deactivated), for all monoid elements a, b: a survivor's D becomes a * b, "
                     "losers and inactive tokens hold nothing, $'s DS becomes a * DS exactly when its latest active "
                     "token is deactivated, A <- AN, x <- x/2, x2 <- x2/4 and every scratch cell is cleared", check)
    return Lemma(lemma.name, lemma.statement, "exhaustive", lemma.status, cases=len(confs), detail=lemma.detail,
                 seconds=lemma.seconds)


def _same_layers(block: Sequence[Layer], suffix: Sequence[Layer]) -> Lemma:
    def check() -> tuple[bool, str]:
        if len(block) != len(suffix):
            return False, f"the suffix has {len(suffix)} layers, the loop block {len(block)}"
        for lb, ls in zip(block, suffix):
            for (kind, sb), (_, ss) in zip(lb.sublayers(), ls.sublayers()):
                for param in sb.block.WEIGHTS:
                    if not same_weights(getattr(sb.block, param), getattr(ss.block, param)):
                        return False, f"{ls.name}.{kind}.{param} differs from the loop block's"
        return True, "the suffix's weights are the loop block's"

    return symbolic("final_level_same_weights", "the final block (suffix) is one more level with the loop block's "
                    "weights", check)


def _level_lemmas(cells: _Cells, layers: Sequence[Layer], prefix: str) -> list[Lemma]:
    """The lemmas of one level (three layers), their names prefixed by ``prefix``."""
    shape_ok = len(layers) == 3 and all(layer_shape(layer, attention=True, mlp=k != 1) is None
                                        for k, layer in enumerate(layers))
    if not shape_ok:
        return [symbolic(prefix + "architecture", "one level is three plain layers: (head, MLP), (head), (head, MLP)",
                         lambda: (False, "the level is not (head + MLP, head, head + MLP), no norms"))]
    lemmas = _level_heads(cells, layers)
    lemmas.insert(2, _activeness(cells, mlp_of(layers[0])))
    lemmas.append(_combine(cells, mlp_of(layers[2])))
    return [dataclasses.replace(lm, name=prefix + lm.name) for lm in lemmas] if prefix else lemmas


def prove_log_depth(construction: Construction) -> Certificate:
    """The certificate of a rational :func:`~exactformer.constructions.log_depth_recognizer` model."""
    cells = _Cells(construction)
    model = construction.model
    view = cells.view
    tokens = {view.tokens[a]: a for a in view.letters}
    vocab = model.embedding.vocab

    def wanted(token: str, i: Any) -> Form:
        if token == vocab[0]:  # BOS at 0
            return {"one": 1}
        base = {"one": 1, "pos:i": i, "pos:i2": i**2, "lvl:x": i, "lvl:x2": i**2}
        if token in tokens:
            return {**base, "A": 1, **cells.element("D", view.letters[tokens[token]])}
        return {**base, "flag:dollar": 1, **cells.element("DS", view.identity)}

    lemmas = [embedding_lemma("embedding", "BOS at position 0 holds only one; letter a at i >= 1 holds pos = lvl = "
                              "(i, i^2), A = 1, D = the letter's element; $ at i >= 1 holds pos = lvl = (i, i^2), the "
                              "flag and DS = the identity", model, wanted,
                              lambda token: sp.Integer(0) if token == vocab[0] else I + 1)]
    block = model.loop.block if model.loop is not None else ()
    lemmas += _level_lemmas(cells, block, "")
    if model.suffix:
        same = _same_layers(block, model.suffix)
        # the final level reuses the loop block's weights (then the level lemmas cover it); if it does not, its own
        # level lemmas are checked, so that a change of the final level fails the lemma it breaks there
        lemmas += [same] if same.proven else _level_lemmas(cells, model.suffix, "final_level.")
    level = induction("level_invariant", "for every n and level l <= L(n): token i is active iff 1 <= i <= n and 2^l "
                      "| i; an active token holds the product of w_{i-2^l+1} .. w_i, an inactive one nothing; $ holds "
                      "the tail w_{2^l floor(n/2^l)+1} .. w_n (the note's §3.3 step: the parity head and activeness "
                      "MLP compute alpha^{l+1}, the two heads fetch the partner's block, the combine multiplies "
                      "survivors' blocks and absorbs the deactivated leftover block into $)", lemmas)
    finals = [(f"DS = {e}", {"one": 1, "pos:i": I, "pos:i2": I**2, "lvl:x": X, "lvl:x2": X2, "flag:dollar": 1,
                             **cells.element("DS", e)}, view.accepts(e)) for e in view.elements]
    readout = readout_lemma("readout", "for every monoid element f held in DS at $ and every n, the logit is positive "
                            "iff f(q0) is accepting", model, finals)
    levels = loop_count_lemma("enough_levels", "on n letters the model runs at least floor(log2 n) + 1 levels (after "
                              "which the tail held by $ is the whole word)", model, extra_tokens=2, block=3,
                              suffix=len(model.suffix), needed=lambda n: n.bit_length(),
                              needed_text="floor(log2 n) + 1")
    lemmas += [level, readout, levels]
    lemmas.append(induction("accepts_iff_dfa", "for every n >= 0 and every word of n letters the model accepts iff "
                            "the DFA does", [level, readout, levels]))
    return Certificate(
        construction=construction.name,
        conclusion="for every n >= 0 and every word w of n letters, the model accepts BOS w $ iff the DFA accepts w",
        lemmas=lemmas,
        assumptions=("exact rational arithmetic (floats are covered by the precision frontier)",
                     "inputs are BOS, letters of the DFA's alphabet, then $ (BOS only first, $ only last)"),
    )


def _tested_words(construction: Construction, longest: int) -> tuple[bool, str]:
    """The model against its DFA in torch float64: every word while a length has at most 16, else 4 random ones."""
    dfa = construction.parameters.dfa
    alphabet = list(dfa.ordered_alphabet)
    rng = random.Random(0)
    words: list[tuple[Any, ...]] = [()]
    for n in range(1, longest + 1):
        if len(alphabet) ** n <= 16:
            words += list(itertools.product(alphabet, repeat=n))
        else:
            words += [tuple(rng.choice(alphabet) for _ in range(n)) for _ in range(4)]
    by_length: dict[int, list[tuple[Any, ...]]] = {}
    for w in words:
        by_length.setdefault(len(w), []).append(w)
    for group in by_length.values():
        answers = construction.answer_batch([list(w) for w in group], backend="torch", dtype=torch.float64)
        for w, got in zip(group, answers):
            if bool(got) != dfa.accepts(list(w)):
                return False, f"wrong on {''.join(map(str, w))!r}"
    return True, f"{len(words)} words, n = 0..{longest} (all words while there are at most 16), torch float64"


register_prover(LogDepthParameters, prove_log_depth)
