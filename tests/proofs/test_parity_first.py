"""The PARITY and FIRST certificates: proven from the weights, right at concrete words, and able to fail."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest
import sympy as sp

import exactformer as ef
from exactformer.constructions.parity_first import first, parity
from exactformer.languages import named
from exactformer.proofs.parity_first import prove_parity_first, symbolic_traces
from exactformer.proofs.parity_first_cases import first_cases, locate, parity_cases
from exactformer.proofs.parity_first_forms import first_ln_row, first_row, normalised, parity_row
from exactformer.proofs.symbolic_forward import decide_sign
from exactformer.verify.certificate_mutation import certificate_mutation_rate
from exactformer.verify.mutants import Mutation, apply_mutation
from exactformer.verify.oracle import CheckOracle

BUILDERS = {
    "parity": parity,
    "parity-ln": lambda: parity(layer_norm=True),
    "first": first,
    "first-ln": lambda: first(layer_norm=True),
    "first-scaled": lambda: first(scaled=True),
}
FAST = ("parity", "first", "first-ln", "first-scaled")
SITES = ("embed", "L0.attn", "L0.mlp", "L1.attn", "L1.mlp")


@pytest.fixture(scope="module")
def certificates() -> dict[str, ef.verify.Certificate]:
    return {name: prove_parity_first(BUILDERS[name]()) for name in FAST}


@pytest.mark.parametrize("name", FAST)
def test_the_certificate_proves_the_construction_for_every_n(certificates, name):
    cert = certificates[name]
    assert cert.proven, cert.to_markdown()
    assert cert.scope == "every n >= 1" and cert.status == "proven for every n >= 1"
    names = {lm.name for lm in cert.lemmas}
    assert {f"{s}.closed_form" for s in SITES} <= names
    assert {"readout.closed_form", "readout.sign", "cross_entropy.limit"} <= names
    assert all(lm.method in ("symbolic", "induction") for lm in cert.lemmas)


def test_prove_dispatches_to_this_prover_for_registered_constructions():
    from exactformer.catalog import build

    cert = ef.verify.prove(build("first"))
    assert cert.proven and cert.construction == "first"


def test_the_cross_entropy_limits_are_hahns_one_bit_without_and_a_constant_with_layer_norm(certificates):
    assert "lim CE = 1 bits" in certificates["parity"].lemma("cross_entropy.limit").detail
    assert "lim CE = 1 bits" in certificates["first"].lemma("cross_entropy.limit").detail
    assert "lim CE = 1 bits" in certificates["first-scaled"].lemma("cross_entropy.limit").detail
    ln = certificates["first-ln"].lemma("cross_entropy.limit").detail
    assert "|z| = sqrt(6)" in ln and "0.1194726" in ln  # log2(1 + e^-sqrt(6)), the note's Section 7.3


def test_scaled_first_decays_like_n_to_the_b_minus_1(certificates):
    lemma = certificates["first-scaled"].lemma("answer.log_length_scaling")
    assert lemma.proven and "= 1/2" in lemma.detail


@pytest.mark.slow  # ~2.5 min: the layer-norm closed forms carry nested square roots
def test_parity_ln_is_proven_for_every_n_with_z_plus_minus_sqrt_10():
    cert = prove_parity_first(parity(layer_norm=True))
    assert cert.proven, cert.to_markdown()
    assert cert.scope == "every n >= 1" and cert.status == "proven for every n >= 1"
    assert cert.lemma("L0.mlp.closed_form").scope == "every n"
    assert cert.lemma("L1.attn.answer_sign").proven and cert.lemma("L1.attn.answer_sign").scope == "every n"
    assert "z = +-sqrt(10)" in cert.lemma("readout.closed_form").detail
    assert "0.05981102 bits for every n" in cert.lemma("cross_entropy.limit").detail  # the note's Section 7.3


# ---------------------------------------------------------------------------------------------------------------
# the independent check: the symbolic pass and the closed forms, substituted at concrete words, lie in the
# certified (interval) backend's enclosure of the same model's residuals. (The exact backend refuses softmax.)
# ---------------------------------------------------------------------------------------------------------------

WORDS = {"parity": ["1", "0", "1011", "0000", "1111", "01101", "110100", "0111111"],
         "first": ["1", "0", "10", "0110", "10111", "000000"]}


def _in(value: sp.Expr, interval) -> bool:
    v = mpmath.mpf(sp.N(value, 40))
    return interval.a - mpmath.mpf(10) ** -12 <= v <= interval.b + mpmath.mpf(10) ** -12


def _closed_form(name: str, site: str, case, c):
    cons = BUILDERS[name]()
    p = cons.parameters
    if name.startswith("parity"):
        row = parity_row(site, case, c, p.big, p.d_head)
        if name == "parity-ln" and site != "embed":
            return normalised(row, p.half_width, p.eps)
        return {**row, **{"-" + k: -v for k, v in row.items()}} if name == "parity-ln" else row
    if name == "first-ln":
        return first_ln_row(site, case, c, p.big, p.d_head, p.scaled, p.eps)
    return first_row(site, case, c, p.big, p.d_head, p.scaled)


@pytest.mark.parametrize("name", ["parity", "first", "first-ln", "first-scaled",
                                  pytest.param("parity-ln", marks=pytest.mark.slow)])  # ~1 min: nested roots
def test_the_symbolic_pass_and_the_closed_forms_agree_with_the_certified_backend_at_concrete_words(name):
    cons = BUILDERS[name]()
    family = "parity" if name.startswith("parity") else "first"
    cases = parity_cases() if family == "parity" else first_cases()
    model = cons.model
    if name == "parity-ln":  # the prover's pass covers layer 1 there
        import dataclasses

        model = dataclasses.replace(model, layers=model.layers[:1])
    traces = dict(zip((c.name for c in cases), symbolic_traces(model, cases)))
    checked = 0
    for word in WORDS[family][: 4 if name == "parity-ln" else None]:
        case, where, values = locate(word, family)
        trace, error = traces[case.name]
        assert error is None, error
        run = cons.run(word, backend="certified")
        for site in trace.labels:
            for i, r in enumerate(where):
                c = case.sequence.classes[r]
                point = {**values, **({c.private: sp.Integer(i)} if c.private is not None else {})}
                enclosure = run.residual(site, i)
                form = _closed_form(name, site, case, c)
                for coord, got in zip(model.space.names, trace[site][0][r]):
                    assert _in(sp.sympify(got).xreplace(point), enclosure[coord]), (word, site, i, coord, got)
                    assert _in(sp.sympify(form.get(coord, 0)).xreplace(point), enclosure[coord]), (word, site, coord)
                    checked += 1
    assert checked > 100


def test_the_logit_closed_form_gives_the_notes_worked_example():
    cert_case, _, values = locate("1011", "parity")
    from exactformer.proofs.parity_first_forms import parity_answer

    z = parity_answer(cert_case, 1, 5).xreplace(values)
    assert abs(float(z) - 0.0405679) < 5e-8  # note, Section 5


# ---------------------------------------------------------------------------------------------------------------
# a certificate can fail
# ---------------------------------------------------------------------------------------------------------------


def _hand_mutant(cons, site: str, row: str | int, column: str | int, after: Fraction, head: int | None = None):
    names = cons.model.space.names
    index = tuple(i for i in (head,) if i is not None) + tuple(names.index(x) if isinstance(x, str) else x
                                                                for x in (row, column))
    before = Fraction(0)
    return apply_mutation(cons, Mutation(site, index, "hand", before, after))


def test_a_wrong_hat_weight_fails_the_hat_lemma_and_nothing_before_it():
    cons = parity()
    # the hat's middle unit relu((k - i)/N) enters with -2; make it -1
    mutant = _hand_mutant(cons, "L0.mlp.W_out", 1, "hat:[i=k]/N", Fraction(-1))
    cert = prove_parity_first(mutant)
    assert cert.lemma("embed.closed_form").proven and cert.lemma("L0.attn.closed_form").proven
    assert cert.lemma("L0.mlp.closed_form").failed
    assert "hat:[i=k]/N" in cert.lemma("L0.mlp.closed_form").detail
    assert not cert.proven and cert.status.startswith("failed: L0.mlp.closed_form")


def test_a_flipped_layer_2_key_fails_the_answer_lemma_and_the_readout_sign():
    cons = parity()
    mutant = _hand_mutant(cons, "L1.attn.W_K", "pos:(-1)^i", 0, Fraction(-1), head=0)  # head 1 now favours odd j
    cert = prove_parity_first(mutant)
    assert cert.lemma("L0.mlp.closed_form").proven
    assert cert.lemma("L1.attn.closed_form").failed and cert.lemma("readout.sign").failed


def test_a_biased_first_gate_fails_the_gate_lemma():
    cons = first()
    # the gate ReLU(tok:1 + pos:[i=1] - 1) loses its bias: it then fires at every 1
    mutant = apply_mutation(cons, Mutation("L0.mlp.b_in", (0,), "hand", Fraction(-1), Fraction(0)))
    cert = prove_parity_first(mutant)
    assert cert.lemma("L0.attn.closed_form").proven
    assert cert.lemma("L0.mlp.closed_form").failed and "gate" in cert.lemma("L0.mlp.closed_form").detail


def test_signs_are_not_guessed():
    n = sp.Symbol("m", integer=True, nonnegative=True)
    assert decide_sign(n - 3, {}) is None  # changes sign at 3
    assert decide_sign((n - 3) ** 2 + 1, {}) == "positive"
    assert decide_sign(sp.exp(n) - 1, {}) is None  # true (>= 0) but beyond the criterion: not claimed


@pytest.mark.parametrize("name", ["first", "first-ln", "first-scaled",
                                  pytest.param("parity", marks=pytest.mark.slow)])  # ~30 s per PARITY proof
def test_every_behaviour_changing_mutant_fails_a_lemma(name):
    cons = BUILDERS[name]()
    language = named.parity() if name.startswith("parity") else named.first()
    oracle = CheckOracle(language, range(1, 7), samples_per_length=32, exhaustive_up_to=64)
    result = certificate_mutation_rate(cons, language, 10, 1, oracle=oracle)
    for outcome in result.changing:
        caught = outcome.caught_by
        assert caught, f"{outcome.mutation} changes behaviour ({outcome.witness}) but its certificate holds"
        assert "readout.sign" in caught or any(lemma.endswith("closed_form") for lemma in caught)
    assert len(result.changing) >= 1


def test_the_certificate_catches_a_mutant_that_is_right_on_every_short_word_and_wrong_at_n_20():
    cons = first(scaled=True)
    # token 1 embedded with tok:1 = 8/7: the gate ReLU(tok:1 + pos:[i=1] - 1) is now 1/7 at every 1 of positions
    # 2..n, which layer 2's value reads; o such ones add o/7 against a first 0's -N^b/2, and win once n is large
    mutant = apply_mutation(cons, Mutation("embed.W_E", (1, 1), "+1/7", Fraction(1), Fraction(8, 7)))
    short = [format(w, f"0{length}b") for length in range(1, 9) for w in range(2 ** length)]
    assert [mutant.accepts(w) for w in short] == [w[0] == "1" for w in short]
    assert mutant.accepts("0" + "1" * 19)  # wrong
    cert = prove_parity_first(mutant)
    assert cert.lemma("readout.sign").failed and "o_rest" in cert.lemma("readout.sign").detail
