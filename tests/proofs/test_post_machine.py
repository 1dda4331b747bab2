"""The Post-machine certificate (exactformer.proofs.post_machine): proven on the registered Post and Turing machines,
on every busy-beaver champion and a spread of the listed machines, for every window length; and failed, by the
right lemma, on models broken in their weights or checked against another machine."""

from __future__ import annotations

import dataclasses
import json

import pytest

import exactformer as ef
from exactformer.constructions.post_machine import post_machine, token_name
from exactformer.constructions.turing_tag import tag_system, turing_machine, turing_machines
from exactformer.core.errors import InputError
from exactformer.languages import data_dir
from exactformer.languages.post import PostMachine
from exactformer.languages.tag import collatz_tag_system
from exactformer.languages.turing import TuringMachine
from exactformer.verify.certificate import prove
from exactformer.verify.mutants import Mutation, apply_mutation

DATA = data_dir() / "busy_beaver"

LEMMAS = ["one_layer_window_decoder", "tokens_are_machine_pairs", "factored_embedding", "window_selects_queue_front",
          "transition_lookup", "undefined_pairs_tie", "runner_stops_at_halting_states",
          "every_token_is_the_references"]


def sizes(pm: PostMachine) -> tuple[int, int, int]:
    """(tokens, defined last/front token pairs, undefined ones), counted from the machine: the last token carries
    any symbol and a working state, the front token any state."""
    tokens = len(pm.symbols) * len(pm.states)
    working = [p for p in pm.states if p not in pm.halting]
    defined = sum(1 for p in working for a in pm.symbols if (p, a) in pm.transitions)
    undefined = len(working) * len(pm.symbols) - defined
    return tokens, defined * len(pm.states) * len(pm.symbols), undefined * len(pm.states) * len(pm.symbols)


def assert_proven(construction, pm: PostMachine) -> None:
    c = prove(construction)
    assert c.proven and c.status == "proven for every L and every step", c.to_markdown()
    assert [lm.name for lm in c.lemmas] == LEMMAS
    tokens, defined, undefined = sizes(pm)
    assert c.lemma("tokens_are_machine_pairs").cases == tokens
    assert c.lemma("transition_lookup").cases == defined
    assert c.lemma("undefined_pairs_tie").cases == undefined
    assert c.lemma("window_selects_queue_front").method == "symbolic"
    assert c.lemma("every_token_is_the_references").method == "induction"


@pytest.mark.parametrize("name", ["post-machine", "turing-machine"])
def test_the_registered_machines_are_proven_for_every_window_and_step(name):
    construction = ef.constructions.build(name)
    assert_proven(construction, construction.parameters.machine)


def test_the_window_lemma_has_margin_one_for_every_L_and_every_offset():
    lemma = prove(ef.constructions.build("post-machine")).lemma("window_selects_queue_front")
    assert lemma.detail.startswith("s(L-1) - s(k) >= 1 for every L >= 2, 0 <= k <= L-2 (k generic: 1;")
    assert lemma.detail.endswith("needed >= 0 (a tie goes to the leftmost key, the front))")


@pytest.mark.parametrize("ring_length", [3, 9, 40])
def test_the_tag_system_certificate_is_the_same_at_every_ring_length(ring_length):
    construction = tag_system(collatz_tag_system(), ring_length)
    assert_proven(construction, construction.parameters.ring.machine)


def champions() -> list[str]:
    return [ch["tm"] for ch in json.loads((DATA / "champions.json").read_text())["champions"]]


def test_every_busy_beaver_champion_is_proven_without_running_it():
    """BB(5) runs 47 million steps; its certificate covers every step of every tape length from the 88 tokens of
    its compiled Post machine. The 3- and 4-symbol champions too."""
    texts = champions()
    assert len(texts) >= 8
    for text in texts:
        construction = turing_machine(text, 8)
        assert_proven(construction, construction.parameters.compiled.machine)


def test_a_spread_of_the_listed_4_state_machines_is_proven():
    rows = [line.split()[0] for line in (DATA / "ligocki_bb_lists" / "4x2.txt").read_text().splitlines()
            if len(line.split()) >= 4 and line.split()[1] == "Halt"]
    for text in rows[:: max(1, len(rows) // 6)]:
        construction = turing_machine(text, 6)
        assert_proven(construction, construction.parameters.compiled.machine)


def test_a_batch_of_turing_machines_is_proven_as_one_union_machine():
    construction = turing_machines(["1RB1LB_1LA1RZ", "1RB1RZ_1LB0RC_1LC1LA"], 5)
    c = prove(construction)
    assert c.proven and "disjoint union of the Post machines compiled from 2 Turing machines" in c.conclusion


# -- the certificate fails where the model is broken -----------------------------------------------------------------


def mutant(construction, site: str, index: tuple[int, ...], after) -> ef.core.construction.Construction:
    from fractions import Fraction

    return apply_mutation(construction, Mutation(site, index, "planted", Fraction(0), Fraction(after)))


def coordinate(construction, name: str) -> int:
    return construction.model.space.index(name)


def failed(construction) -> list[str]:
    return [lm.name for lm in prove(construction).failed]


@pytest.fixture(scope="module")
def bb2():
    return turing_machine("1RB1LB_1LA1RZ", 4)


def test_negating_the_front_bias_fails_the_window_lemma_and_the_induction(bb2):
    broken = mutant(bb2, "L0.attn.rel_bias.h0", (bb2.parameters.queue_length - 1,), -1)
    assert failed(broken) == ["window_selects_queue_front", "every_token_is_the_references"]
    assert prove(broken).lemma("window_selects_queue_front").detail.startswith("margin -1 at k generic, needed >= 0")


def test_zeroing_the_front_bias_keeps_the_proof_through_the_leftmost_tie_rule(bb2):
    """Every score is then 0, and hard attention's leftmost tie rule picks the oldest key: still the front (the
    mutation harness's oracle finds no behaviour change either)."""
    broken = mutant(bb2, "L0.attn.rel_bias.h0", (bb2.parameters.queue_length - 1,), 0)
    assert prove(broken).proven
    assert prove(broken).lemma("window_selects_queue_front").detail.startswith("s(L-1) - s(k) >= 0 for every L")
    rightmost = dataclasses.replace(broken, model=dataclasses.replace(broken.model, layers=(dataclasses.replace(
        broken.model.layers[0], attention=dataclasses.replace(broken.model.layers[0].attention, block=(
            dataclasses.replace(broken.model.layers[0].attention.block, tie_rule="rightmost")))),)))
    assert "window_selects_queue_front" in failed(rightmost)


def test_a_bias_on_another_offset_fails_the_window_lemma_at_that_offset(bb2):
    broken = mutant(bb2, "L0.attn.rel_bias.h0", (1,), 2)
    assert "margin -1 at k = 1 (L >= 3)" in prove(broken).lemma("window_selects_queue_front").detail


def test_a_broken_transition_unit_fails_the_transition_lemma_with_its_first_counterexample(bb2):
    unit = 0
    out_row = bb2.model.layers[0].mlp.block.W_out[unit]
    target = next(j for j, v in enumerate(out_row) if v != 0)  # the unit's pushed symbol (or new state)
    broken = mutant(bb2, "L0.mlp.W_out", (unit, target), 0)
    certificate = prove(broken)
    assert [lm.name for lm in certificate.failed] == ["transition_lookup", "every_token_is_the_references"]
    detail = certificate.lemma("transition_lookup").detail
    assert detail.startswith("fails at last token ")
    assert "the readout ties" in detail or "the readout picks" in detail


def test_an_always_firing_unit_fails_the_stuck_lemma_where_the_machine_is_stuck(bb2):
    broken = mutant(bb2, "L0.mlp.b_in", (0,), 1)  # ReLU(state + read - 1 + 1) fires for the wrong pairs too
    assert "undefined_pairs_tie" in failed(broken)


def test_an_embedding_entry_fails_the_factored_embedding_lemma(bb2):
    row = 0
    broken = mutant(bb2, "embed.W_E", (row, coordinate(bb2, bb2.model.space.names[-1])), 1)
    assert failed(broken)[0] == "factored_embedding"


def test_a_readout_bias_fails_the_transition_lemma(bb2):
    broken = mutant(bb2, "unembed.b_U", (0,), 2)
    assert "transition_lookup" in failed(broken)


def test_the_weights_are_checked_against_the_machine_in_the_parameters(bb2):
    """The same weights, checked against a machine with one transition changed: the lookup lemma fails."""
    pm = bb2.parameters.machine
    (p, a), (b, q) = next(iter(pm.transitions.items()))
    other = next(s for s in pm.symbols if s != b)
    changed = PostMachine(symbols=pm.symbols, states=pm.states, start=pm.start, halting=pm.halting,
                          transitions={**pm.transitions, (p, a): (other, q)})
    construction = dataclasses.replace(bb2, parameters=dataclasses.replace(bb2.parameters, machine=changed))
    certificate = prove(construction)
    assert [lm.name for lm in certificate.failed] == ["transition_lookup", "every_token_is_the_references"]
    detail = certificate.lemma("transition_lookup").detail
    assert detail.endswith(f"the readout picks {token_name(b, q)!r}, the machine {token_name(other, q)!r}")


def test_a_runner_that_stops_elsewhere_fails_the_halting_lemma(bb2):
    spec = dataclasses.replace(bb2.parameters.spec, halting=frozenset())
    construction = dataclasses.replace(bb2, parameters=dataclasses.replace(bb2.parameters, spec=spec))
    assert failed(construction) == ["runner_stops_at_halting_states", "every_token_is_the_references"]


def test_a_machine_without_undefined_pairs_proves_the_stuck_lemma_vacuously():
    pm = PostMachine(symbols="01", states=["run", "stop"], start="run", halting=["stop"],
                     transitions={("run", "0"): ("1", "run"), ("run", "1"): ("0", "stop")})
    c = prove(post_machine(pm, queue_length=3))
    assert c.proven and c.lemma("undefined_pairs_tie").cases == 0
    assert c.lemma("undefined_pairs_tie").detail == "the machine has no undefined (working state, symbol) pair"


def test_the_softmax_variant_is_refused_with_the_reason():
    with pytest.raises(InputError, match="hard-attention construction; the 'softmax' variant needs beta ~ ln L"):
        prove(turing_machine(TuringMachine.from_standard("1RB1LB_1LA1RZ"), 4, attention="softmax", beta=4))


def test_the_lookup_is_exact_beyond_int64_a_tiny_readout_bias_shifts_the_smallest_margin_exactly(bb2):
    """A readout bias of 3^-45 (a denominator past int64) on one label: the lookup still holds with smallest margin
    exactly 1 - 3^-45 (that label is a runner-up at logit 1 for some pair), not a rounded 1; and where the machine
    is stuck the label is now the unique maximum, so the stuck lemma fails: the decoder would emit it."""
    from fractions import Fraction

    tiny = Fraction(1, 3**45)
    certificate = prove(mutant(bb2, "unembed.b_U", (0,), tiny))
    assert [lm.name for lm in certificate.failed] == ["undefined_pairs_tie", "every_token_is_the_references"]
    assert certificate.lemma("transition_lookup").detail.endswith(f"smallest readout margin {1 - tiny}")
    label = bb2.model.readout.labels[0]
    assert f"the readout picks {label!r} (margin {tiny}) where the machine is stuck" in (
        certificate.lemma("undefined_pairs_tie").detail)


@pytest.mark.parametrize("site,index,after", [
    ("L0.mlp.W_in", (0, 0), "1/7"), ("unembed.b_U", (3,), "1/3"), ("L0.attn.W_O", (0, 0, 0), "8/7"),
    ("L0.mlp.W_out", (1, 2), "-1/5"),
])
def test_the_logit_table_agrees_with_the_exact_forward_pass_on_fractional_mutants(bb2, site, index, after):
    """The lemma's table (by linearity, over common denominators) against the core's exact evaluator, run on
    prompts whose front token is v and last token u: the same decision and the same exact margin, pair by pair."""
    from fractions import Fraction

    from exactformer.core.arith import arithmetic_for
    from exactformer.core.runners import classify
    from exactformer.proofs.post_machine import _logit_table, _Machine

    broken = mutant(bb2, site, tuple(index), Fraction(after))
    model, L = broken.model, broken.parameters.queue_length
    table = _logit_table(model, _Machine(broken.parameters.machine))
    pairs = sorted(table)[:: max(1, len(table) // 40)]
    filler = model.embedding.vocab[0]
    out = classify(model, [[v] + [filler] * (L - 2) + [u] for u, v in pairs], arithmetic_for("exact"))
    for (u, v), label, logits, tied in zip(pairs, out.labels, out.logits, out.tied):
        best, want_margin = table[(u, v)]
        assert (best is None) == tied, (u, v)
        if best is not None:
            top, *rest = sorted(logits, reverse=True)  # the exact evaluator's logits are Fractions
            margin = top - rest[0]
            assert (model.readout.labels[best], want_margin) == (label, margin), (u, v)
