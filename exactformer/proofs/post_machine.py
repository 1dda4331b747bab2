"""The certificate of Li & Wang's window decoder (:mod:`exactformer.constructions.post_machine`): every token of every
run is the reference Post machine's, for every window length L and every step.

Post machines, Turing machines (compiled to Post machines,
:class:`~exactformer.constructions.turing_tag.TuringParameters`) and tag systems (on a ring Post machine) are one
family: their parameters are
:class:`~exactformer.constructions.post_machine.PostMachineParameters`, and ``parameters.machine`` is the Post
machine the decoder must follow (the reference, a :class:`~exactformer.languages.post.PostMachine`).

The proof (``docs/notes/post_machine.md`` §2.2), lemma by lemma, each read from the model's weights:

``one_layer_window_decoder``
    The model is one layer (attention, then MLP, both with residuals and no norms), one hard-attention head under a
    causal window of L = the queue length, no positional features, and an argmax readout at the last position.
``tokens_are_machine_pairs``
    The vocabulary and the readout's labels are the same, and are the (symbol, state) pairs of the machine.
``factored_embedding``
    Token (b, p) embeds as ``e_sym[b] + e_state[p]`` (the width is |Sigma| + |P|, not |Sigma||P|).
``window_selects_queue_front``
    The score of a key at offset k = i - j is ``<q(x_i), k(x_j)> + bias(k)``; for every L >= 2 and every
    0 <= k <= L - 2, the key at offset L - 1 (the queue front) scores at least 1 more, for all tokens (symbolic in
    L and k with sympy; the token part is a finite table).
``transition_lookup``
    For every last token (any symbol, working state p) and every front token (symbol a, any state) with
    delta(p, a) defined, the readout's unique argmax, in exact arithmetic, is the token delta(p, a).
``undefined_pairs_tie``
    Where delta(p, a) is undefined, the readout has no unique maximum: the decoder stops stuck, as the reference.
``runner_stops_at_halting_states``
    The decoder's stop tokens (the runner stops after a token whose state is halting) are the tokens of the
    reference's halting states.
``every_token_is_the_references``
    By induction on the step, from the lemmas above.

Only the relative-position bias and the mask depend on L; the certificate reads every other weight from the model,
and the bias as a function of the offset (an entry at the window's last offset is the front, L - 1, for every L).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Hashable
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from ..constructions.post_machine import PostMachineParameters, token_name
from ..constructions.turing_tag import TagParameters, TuringBatchParameters, TuringParameters
from ..core.architecture import MLP, Attention, Transformer
from ..core.construction import Construction
from ..core.errors import InputError
from ..core.sparse import SparseRationalMatrix
from ..languages.post import machine_fields
from ..verify.certificate import Certificate, Lemma, exhaustive, induction, register_prover, symbolic

__all__ = ["prove_post_machine", "ASSUMPTIONS"]

#: What every Post-machine certificate takes for granted.
ASSUMPTIONS = (
    "exact rational arithmetic (floats are covered by the precision frontier, not by the proof)",
    "the prompt is exactly L tokens, token j = (queue symbol c_j, any state), the last one carrying the machine's "
    "current working state (what construction.encode builds)",
    "greedy decoding as simulate runs it: the next token is the readout's unique argmax at the last position, fed "
    "back; a token whose state is halting, or a readout tie, ends the run",
    "the window-L model of the family is this model with its window width and front-bias offset set to L (the only "
    "weights that depend on L); every other weight is read from this model",
)


def _dense(arr: Any) -> np.ndarray:
    return arr.toarray() if isinstance(arr, SparseRationalMatrix) else np.asarray(arr, dtype=object)


class _Machine:
    """The reference Post machine, read through its public fields, and the token names of its pairs."""

    def __init__(self, machine: Any) -> None:
        f = machine_fields(machine, error=InputError)
        self.symbols: tuple[Hashable, ...] = tuple(f["symbols"])
        self.states: tuple[Hashable, ...] = tuple(f["states"])
        self.delta: dict[tuple[Hashable, Hashable], tuple[Hashable, Hashable]] = dict(f["transitions"])
        self.halting = frozenset(f["halting"])
        self.start = f["start"]
        self.pair_of = {token_name(b, p): (b, p) for b in self.symbols for p in self.states}


# ---------------------------------------------------------------------------------------------------------------
# the lemmas
# ---------------------------------------------------------------------------------------------------------------


def _architecture(model: Transformer, window: int) -> Lemma:
    layer = model.layers[0] if len(model.layers) == 1 else None
    att_sub = layer.attention if layer is not None else None
    mlp_sub = layer.mlp if layer is not None else None
    att = att_sub.block if att_sub is not None else None
    facts: list[tuple[str, bool]] = [
        ("exactly one layer, no loop, no suffix", layer is not None and model.loop is None and not model.suffix),
        ("the layer has an attention and an MLP sublayer", att_sub is not None and mlp_sub is not None),
        ("no positional features (a token's row depends on the token alone)", not model.embedding.positional),
        ("one head", isinstance(att, Attention) and att.n_heads == 1),
        ("hard (or average-hard) attention", isinstance(att, Attention) and att.kind in ("hard", "average_hard")),
        ("score scale 1", isinstance(att, Attention) and att.scale.coefficient == 1 and att.scale.sqrt_of == 1
         and not att.scale.log_length),
        (f"causal window mask of width L = {window} (the queue length)",
         isinstance(att, Attention) and att.mask.kind == "window" and att.mask.width == window),
        ("ReLU MLP", mlp_sub is not None and getattr(mlp_sub.block, "activation", None) == "relu"),
        ("both sublayers residual, without norms",
         all(s is not None and s.residual and s.input_norm.is_identity and s.output_norm.is_identity
             for s in (att_sub, mlp_sub))),
        ("argmax readout at the last position", model.readout.decision == "argmax" and model.readout.position == -1),
    ]
    return exhaustive(
        "one_layer_window_decoder",
        "the model is one layer of one hard-attention head under a causal window of the queue length L, then a ReLU "
        "MLP (residuals, no norms, no positions), read by argmax at the last position",
        facts, lambda fact: fact[1], describe=lambda fact: f"'{fact[0]}'")


def _tokens(model: Transformer, m: _Machine) -> Lemma:
    vocab, labels = model.embedding.vocab, model.readout.labels
    names = list(m.pair_of)

    def holds(k: int) -> bool | str:
        name = names[k]
        if name not in vocab:
            return "not in the vocabulary"
        if name not in labels:
            return "not a readout label (the decoder could never emit it)"
        return True

    lemma = exhaustive(
        "tokens_are_machine_pairs",
        "the vocabulary and the readout labels are both exactly the (symbol, state) pairs of the machine, each once",
        range(len(names)), holds, describe=lambda k: f"the pair {m.pair_of[names[k]]!r} (token {names[k]!r})")
    extra = sorted((set(vocab) | set(labels)) - set(names))
    if lemma.proven and (extra or len(vocab) != len(names) or len(labels) != len(names)):
        return dataclasses.replace(lemma, status="failed",
                                   detail=f"tokens that name no pair of the machine: {extra[:5]}")
    return lemma


def _factored_embedding(model: Transformer, m: _Machine) -> Lemma:
    space, vocab, W_E = model.space, model.embedding.vocab, model.embedding.W_E
    names = [name for name in m.pair_of if name in vocab]

    def holds(name: str) -> bool | str:
        b, p = m.pair_of[name]
        want = {f"sym:{b}": 1, f"state:{p}": 1}
        try:
            index = {space.index(c): v for c, v in want.items()}
        except KeyError as err:
            return f"the residual space has no coordinate {err}"
        row = W_E[vocab.index(name)]
        bad = [(space.names[j], row[j]) for j in range(len(row)) if row[j] != index.get(j, 0)]
        return True if not bad else f"row has {', '.join(f'{c} = {v}' for c, v in bad[:3])}"

    return exhaustive(
        "factored_embedding",
        "every token (b, p) embeds as e_sym[b] + e_state[p]: the width grows with |Sigma| + |P|, not |Sigma||P|",
        names, holds, describe=lambda name: f"token {name!r}")


def _window(model: Transformer, window: int) -> Lemma:
    att = model.layers[0].attention.block  # type: ignore[union-attr]
    assert isinstance(att, Attention)
    X = _dense(model.embedding.W_E)
    q = X @ _dense(att.W_Q)[0] + _dense(att.b_Q)[0]
    k = X @ _dense(att.W_K)[0] + _dense(att.b_K)[0]
    C = q @ k.T  # C[u, v]: the token part of the score of key v for query u (a finite table, exact)
    spread = max(max(row) - min(row) for row in C)  # the most a key's token can gain on the front's, any query
    bias = att.bias_for(0)
    front = window - 1
    beta = bias(front) if bias is not None else Fraction(0)
    default = bias.default if bias is not None else Fraction(0)
    fixed = {o: v for o, v in (bias.values.items() if bias is not None else ()) if o != front and o >= 0}
    # the front is the leftmost key of the window: the leftmost tie rule of hard attention gives it every tie
    ties_to_front = att.kind == "hard" and att.tie_rule == "leftmost"

    def check() -> tuple[bool, str]:
        L, j = sympy.symbols("L k", integer=True)
        b = sympy.Piecewise((sympy.Rational(beta), sympy.Eq(j, L - 1)),
                            *((sympy.Rational(v), sympy.Eq(j, o)) for o, v in sorted(fixed.items())),
                            (sympy.Rational(default), True))
        # the margin of the front over the key at offset k, the token parts at their worst
        margin = sympy.piecewise_fold(b.subs(j, L - 1) - b - sympy.Rational(spread))
        # every k in [0, L - 2] is either none of the listed offsets (generic) or one listed offset o <= L - 2;
        # no listed offset other than the front's equals L - 1 for every L, so those are all the cases
        # (L = first + s, s >= 0 an integer: sympy then decides each branch's condition for every such L)
        s = sympy.Symbol("s", integer=True, nonnegative=True)
        cases = {"k generic": margin.subs(j, -1).subs(L, 2 + s)}  # -1: none of the listed offsets (all >= 0)
        for o in sorted(fixed):
            cases[f"k = {o} (L >= {o + 2})"] = margin.subs(j, o).subs(L, o + 2 + s)
        values = {name: sympy.simplify(expr) for name, expr in cases.items()}
        free = {name: v for name, v in values.items() if v.free_symbols}
        if free:
            return False, f"the margin still depends on {free}"
        worst = min(values, key=lambda name: values[name])
        form = "; ".join(f"{name}: {v}" for name, v in values.items())
        ok = values[worst] >= 0 if ties_to_front else values[worst] > 0
        need = ">= 0 (a tie goes to the leftmost key, the front)" if ties_to_front else "> 0"
        return bool(ok), (f"s(L-1) - s(k) >= {values[worst]} for every L >= 2, 0 <= k <= L-2 ({form}; token-part "
                          f"spread {spread} over {len(C)}x{len(C)} token pairs; needed {need})") if ok else (
            f"margin {values[worst]} at {worst}, needed {need} ({form}; bias {beta} at the front, token-part spread "
            f"{spread})")

    return symbolic(
        "window_selects_queue_front",
        "for every window length L >= 2, every offset 0 <= k <= L - 2 and all tokens, the hard head selects the key "
        "at offset L - 1 (the oldest in the window: the queue front): its score exceeds the key at offset k's by the "
        "margin in the detail (1 as built), or ties it under the leftmost tie rule",
        check)


class _Q:
    """An exact rational array as integers over one denominator: ``num / den``. The integers are int64 where no
    result can overflow (checked from the operands' largest entries before each operation), Python ints otherwise, so
    every operation is exact and the table of :func:`_logit_table` costs numpy integer arithmetic, not Fractions."""

    LIMIT = 2**62

    def __init__(self, num: np.ndarray, den: int) -> None:
        self.num, self.den = num, den

    @classmethod
    def of(cls, arr: Any) -> _Q:
        flat = [Fraction(x) for x in np.asarray(_dense(arr), dtype=object).reshape(-1)]
        den = math.lcm(*(x.denominator for x in flat)) if flat else 1
        ints = np.array([x.numerator * (den // x.denominator) for x in flat], dtype=object)
        return cls(cls._narrow(ints).reshape(np.shape(arr)), den)

    @classmethod
    def _narrow(cls, ints: np.ndarray) -> np.ndarray:
        big = max((abs(int(x)) for x in ints.reshape(-1)), default=0)
        return ints.astype(np.int64) if big < cls.LIMIT else ints.astype(object)

    def bound(self) -> int:
        if not self.num.size:
            return 0
        if self.num.dtype == np.int64:  # |x| of int64 entries below 2^62, as they all are here, cannot overflow
            return int(np.abs(self.num).max())
        return max(abs(int(x)) for x in self.num.reshape(-1))

    def _both(self, other: _Q, bound: int) -> tuple[np.ndarray, np.ndarray]:
        if bound < self.LIMIT:
            return self.num.astype(np.int64), other.num.astype(np.int64)
        return self.num.astype(object), other.num.astype(object)

    def __matmul__(self, other: _Q) -> _Q:
        a, b = self._both(other, self.bound() * other.bound() * max(1, self.num.shape[-1]))
        return _Q(a @ b, self.den * other.den)

    def __add__(self, other: _Q) -> _Q:
        den = math.lcm(self.den, other.den)
        left, right = _Q(self.num, self.den).scaled(den // self.den), other.scaled(den // other.den)
        a, b = left._both(right, left.bound() + right.bound())
        return _Q(a + b, den)

    def scaled(self, k: int) -> _Q:
        """The same numbers over ``k`` times the denominator."""
        a, _ = self._both(self, max(1, self.bound()) * k)  # k itself must fit too, even when every entry is 0
        return _Q(a * k, self.den * k)


def _logit_table(model: Transformer, m: _Machine) -> dict[tuple[str, str], tuple[int | None, Fraction]]:
    """For every (last token u with a working state, front token v): the readout's unique argmax label index (or
    ``None`` for a tie) and its margin, in exact arithmetic, when the attention selects v.

    The last position's residual is ``x_u + o_v`` after attention (``o_v = (x_v W_V + b_V) W_O + b_O``), then
    ``+ ReLU(. W_in + b_in) W_out + b_out``; by linearity the logits are
    ``(x_u + o_v) W_U + ReLU(x_u W_in + o_v W_in + b_in) (W_out W_U) + b_out W_U + b_U``.
    """
    layer = model.layers[0]
    att, mlp = layer.attention.block, layer.mlp.block  # type: ignore[union-attr]
    assert isinstance(att, Attention) and isinstance(mlp, MLP)
    X = _Q.of(model.embedding.W_E)
    O = (X @ _Q.of(att.W_V[0]) + _Q.of(_dense(att.b_V)[0])) @ _Q.of(att.W_O[0]) + _Q.of(att.b_O)
    W_in, W_U = _Q.of(mlp.W_in), _Q.of(model.readout.W_U)
    A, B = X @ W_in, O @ W_in + _Q.of(mlp.b_in)
    M2 = _Q.of(mlp.W_out) @ W_U
    base = O @ W_U + _Q.of(mlp.b_out) @ W_U + _Q.of(model.readout.b_U)
    XU = X @ W_U
    vocab = model.embedding.vocab
    out: dict[tuple[str, str], tuple[int | None, Fraction]] = {}
    for u, name_u in enumerate(vocab):
        if name_u not in m.pair_of or m.pair_of[name_u][1] in m.halting:
            continue
        pre = _Q(np.broadcast_to(A.num[u], B.num.shape), A.den) + B  # row v: the pre-activations for key v
        act = _Q(np.where(pre.num > 0, pre.num, 0), pre.den)  # ReLU (a positive denominator keeps the signs)
        exact = base + _Q(np.broadcast_to(XU.num[u], base.num.shape), XU.den) + act @ M2
        logits, den = exact.num, exact.den  # every logit of the table over the one denominator den
        top = logits.max(axis=1)
        ties = (logits == top[:, None]).sum(axis=1)
        second = np.where(logits == top[:, None], logits.min(axis=1)[:, None], logits).max(axis=1)
        best = logits.argmax(axis=1)
        for v, name_v in enumerate(vocab):
            unique = ties[v] == 1
            out[(name_u, name_v)] = (int(best[v]) if unique else None,
                                     Fraction(int(top[v] - second[v]), den) if unique else Fraction(0))
    return out


def _transitions(model: Transformer, m: _Machine) -> tuple[Lemma, Lemma]:
    start = time.perf_counter()
    table = _logit_table(model, m)
    labels = model.readout.labels
    seconds = time.perf_counter() - start
    defined = [(u, v) for (u, v) in table if v in m.pair_of and (m.pair_of[u][1], m.pair_of[v][0]) in m.delta]
    undefined = [(u, v) for (u, v) in table if v in m.pair_of and (m.pair_of[u][1], m.pair_of[v][0]) not in m.delta]

    def describe(uv: tuple[str, str]) -> str:
        u, v = uv
        return f"last token {u!r}, front token {v!r} (state {m.pair_of[u][1]!r}, front symbol {m.pair_of[v][0]!r})"

    def right_token(uv: tuple[str, str]) -> bool | str:
        best, _ = table[uv]
        want = token_name(*m.delta[(m.pair_of[uv[0]][1], m.pair_of[uv[1]][0])])
        if best is None:
            return f"the readout ties (no unique maximum); the machine pushes {want!r}"
        return True if labels[best] == want else f"the readout picks {labels[best]!r}, the machine {want!r}"

    def ties(uv: tuple[str, str]) -> bool | str:
        best, margin = table[uv]
        return True if best is None else (f"the readout picks {labels[best]!r} (margin {margin}) where the machine "
                                          "is stuck")

    lookup = exhaustive(
        "transition_lookup",
        "for every last token (any symbol, working state p) and every front token (symbol a, any state) with "
        "delta(p, a) = (b, p') defined, the MLP and readout's unique argmax is the token (b, p')",
        defined, right_token, describe=describe)
    if lookup.proven:
        margins = [table[uv][1] for uv in defined]
        lookup = dataclasses.replace(lookup, detail=(
            f"{len(defined):,} (last token, front token) pairs = {len(defined) // max(1, len(model.embedding.vocab))}"
            f" defined (state, front symbol) pairs x {len(model.embedding.vocab)} front tokens; smallest readout "
            f"margin {min(margins, default=0)}"))
    stuck = exhaustive(
        "undefined_pairs_tie",
        "for every last token (working state p) and front token (symbol a) with delta(p, a) undefined (the machine "
        "is stuck), the readout has no unique maximum, so the decoder stops stuck too",
        undefined, ties, describe=describe)
    if stuck.proven and not undefined:
        stuck = dataclasses.replace(stuck, detail="the machine has no undefined (working state, symbol) pair")
    return (dataclasses.replace(lookup, seconds=lookup.seconds + seconds),
            dataclasses.replace(stuck, seconds=stuck.seconds))


def _halting(parameters: PostMachineParameters, m: _Machine) -> Lemma:
    spec = parameters.spec
    cases = [(b, p) for b in m.symbols for p in m.states]

    def holds(pair: tuple[Hashable, Hashable]) -> bool | str:
        runner, reference = pair[1] in spec.halting, pair[1] in m.halting
        if runner != reference:
            return f"the runner {'stops' if runner else 'goes on'}, the reference {'halts' if reference else 'not'}"
        if reference and any(p == pair[1] for p, _ in m.delta):
            return "the reference has a transition out of this halting state"
        return True

    return exhaustive(
        "runner_stops_at_halting_states",
        "the decoder stops after a token exactly when its state is one where the reference halts (no transition "
        "leaves a halting state)",
        cases, holds, describe=lambda pair: f"token {token_name(*pair)!r}")


# ---------------------------------------------------------------------------------------------------------------
# the certificate
# ---------------------------------------------------------------------------------------------------------------


def _guarded(name: str, statement: str, method: str, compute: Any) -> Any:
    """``compute()``, or a failed lemma naming the exception when the model is too broken to evaluate the lemma."""
    try:
        return compute()
    except Exception as err:  # noqa: BLE001 - a lemma that cannot be evaluated is not proven
        return Lemma(name, statement, method, "failed", detail=f"cannot be evaluated: {type(err).__name__}: {err}")  # type: ignore[arg-type]


def _what(parameters: PostMachineParameters) -> tuple[str, tuple[str, ...]]:
    """The conclusion's subject and the extra assumptions of the Turing-machine and tag-system variants."""
    if isinstance(parameters, TuringParameters):
        return (f"the Post machine compiled from the Turing machine {parameters.tm} (tape of {parameters.tape_length} "
                "cells)", ("the Turing machine's steps and tape are read off the tokens through the TM -> Post "
                           "compiler (languages.compiler), which the certificate takes as the reference: its own "
                           "correctness is tested (tests/languages/test_compiler.py), not proven here",))
    if isinstance(parameters, TuringBatchParameters):
        return (f"the disjoint union of the Post machines compiled from {len(parameters.tms)} Turing machines",
                ("the TM -> Post compiler is the reference (tested, not proven here)",))
    if isinstance(parameters, TagParameters):
        return ("the ring Post machine of the tag system", (
            "the tag system's steps are read off the ring Post machine (languages.tag.tag_post_machine), which the "
            "certificate takes as the reference: the ring's correctness is tested, not proven here",))
    return "the Post machine", ()


def prove_post_machine(construction: Construction) -> Certificate:
    """The certificate of a Post-machine, Turing-machine or tag-system decoder, from its weights (module docstring).

    Raises
    ------
    InputError
        For the softmax variant: the proof is the hard-attention construction's (softmax puts weight
        ``1 / (1 + (L - 1) e^-beta)`` on the front, so its correctness needs beta to grow like ln L; the precision
        frontier measures it).
    """
    parameters: PostMachineParameters = construction.parameters
    if parameters.attention != "hard":
        raise InputError(f"{construction.name}: the certificate proves the hard-attention construction; the "
                         f"{parameters.attention!r} variant needs beta ~ ln L and is measured by verify.frontier")
    model, window = construction.model, parameters.queue_length
    m = _Machine(parameters.machine)
    subject, extra = _what(parameters)
    lemmas: list[Lemma] = [_architecture(model, window), _tokens(model, m), _factored_embedding(model, m)]
    lemmas.append(_guarded("window_selects_queue_front", "the attention selects the queue front", "symbolic",
                           lambda: _window(model, window)))
    pair = _guarded("transition_lookup", "the MLP and readout produce delta", "exhaustive",
                    lambda: _transitions(model, m))
    lemmas += list(pair) if isinstance(pair, tuple) else [pair]
    lemmas.append(_halting(parameters, m))
    used = [lm for lm in lemmas if lm.name != "factored_embedding"]
    lemmas.append(induction(
        "every_token_is_the_references",
        "for every L >= 2, every prompt and every step t: the window holds the reference queue front to back and the "
        "last token its state (true of the prompt); the head reads the front a, the readout emits delta(p, a), "
        "which shifts the window exactly as the machine's step shifts its queue; the run stops when the reference's "
        "does (halting state or stuck pair)",
        used))
    lemmas = [dataclasses.replace(lm, scope="every L") for lm in lemmas]  # none depends on L (the module docstring)
    return Certificate(
        construction=construction.name,
        conclusion=(f"for every window length L >= 2 and every step t, the decoder's t-th token is the t-th step "
                    f"(pushed symbol, new state) of {subject}, and it stops exactly when that machine halts or is "
                    "stuck"),
        lemmas=lemmas,
        scope="every L and every step",
        assumptions=ASSUMPTIONS + extra,
    )


register_prover(PostMachineParameters, prove_post_machine)

