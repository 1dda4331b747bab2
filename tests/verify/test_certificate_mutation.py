"""A certificate must be able to fail: certificate_mutation_rate proves each behaviour-changing mutant (as the mutation
harness's oracle classifies it) and counts the broken certificates; scripts/certificate_mutation.py tabulates it."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pytest

import exactformer as ef
from exactformer.verify.certificate_mutation import certificate_mutation_rate
from exactformer.verify.mutants import Mutation

from ..scripts import import_script


@pytest.fixture(scope="module")
def post():
    c = ef.constructions.build("post-machine")
    return c, ef.constructions.get("post-machine").reference(c)


def front_bias_negated(c) -> Mutation:
    return Mutation("L0.attn.rel_bias.h0", (c.parameters.queue_length - 1,), "negate", Fraction(1), Fraction(-1))


def embedding_off_layout(c) -> Mutation:
    """An embedding entry of a coordinate the model never reads at a key (out_state of the last state): behaviour
    is unchanged, but the embedding is no longer the factored one-hot layout."""
    return Mutation("embed.W_E", (0, c.model.space.dim - 1), "+1/7", Fraction(0), Fraction(1, 7))


def test_a_behaviour_changing_mutant_breaks_the_certificate_by_the_oracle_and_the_lemma_that_fails(post):
    c, ref = post
    result = certificate_mutation_rate(c, ref, mutations=[front_bias_negated(c)], lengths=[9])
    (outcome,) = result.outcomes
    assert outcome.behaviour == "changing" and outcome.witness  # the real oracle saw a wrong answer
    assert outcome.caught_by == ("window_selects_queue_front", "every_token_is_the_references")
    assert result.rate == 1.0 and not result.unbroken
    assert result.caught_by()["window_selects_queue_front"] == 1


@dataclass
class PlantedOracle:
    """Says every mutant in ``changing`` changes behaviour, and no other."""

    changing: set[str]

    def witness(self, construction) -> str | None:
        site = construction.model.embedding.W_E[0, construction.model.space.dim - 1]
        return "planted" if ("W_E" in self.changing and site != 0) else None


def test_a_certificate_that_survives_a_behaviour_changing_mutant_is_a_hole_and_lowers_the_rate(post):
    """An oracle that (falsely) calls the off-layout embedding behaviour-changing: its certificate still fails
    (factored_embedding), so the rate stays 1; an oracle calling it equivalent leaves it unproven unless asked."""
    c, ref = post
    changing = certificate_mutation_rate(c, ref, mutations=[embedding_off_layout(c)], oracle=PlantedOracle({"W_E"}))
    assert changing.rate == 1.0 and changing.outcomes[0].caught_by == ("factored_embedding",)
    quiet = certificate_mutation_rate(c, ref, mutations=[embedding_off_layout(c)], oracle=PlantedOracle(set()))
    assert quiet.outcomes[0].status is None and quiet.rate == 1.0 and not quiet.changing
    strict = certificate_mutation_rate(c, ref, mutations=[embedding_off_layout(c)], oracle=PlantedOracle(set()),
                                       prove_equivalent=True)
    assert [o.caught_by for o in strict.strict] == [("factored_embedding",)]


def test_a_surviving_certificate_counts_against_the_rate(post, monkeypatch):
    """With a prover that ignores the weights (a certificate that cannot fail), every behaviour-changing mutant is
    a hole: the rate is 0."""
    from exactformer.constructions.post_machine import PostMachineParameters
    from exactformer.proofs.post_machine import prove_post_machine
    from exactformer.verify import certificate

    c, ref = post
    blind = prove_post_machine(c)
    monkeypatch.setitem(certificate._PROVERS, PostMachineParameters, lambda construction: blind)
    result = certificate_mutation_rate(c, ref, mutations=[embedding_off_layout(c)], oracle=PlantedOracle({"W_E"}))
    assert result.rate == 0.0 and len(result.unbroken) == 1


def test_a_construction_whose_own_certificate_fails_is_refused(post, monkeypatch):
    from exactformer.constructions.post_machine import PostMachineParameters
    from exactformer.proofs.post_machine import prove_post_machine
    from exactformer.verify import certificate
    from exactformer.verify.mutants import apply_mutation

    c, ref = post
    monkeypatch.setitem(certificate._PROVERS, PostMachineParameters,
                        lambda construction: prove_post_machine(apply_mutation(construction, front_bias_negated(c))))
    with pytest.raises(ValueError, match="own certificate fails \\(failed: window_selects_queue_front"):
        certificate_mutation_rate(c, ref, samples=1)


def test_the_script_prints_a_row_per_construction_and_no_prover_for_families_without_one(tmp_path, capsys):
    script = import_script("scripts", "certificate_mutation")
    out = tmp_path / "table.txt"
    assert script.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| `demo` | no prover |" in text or "| `demo` | one_layer" not in text
    row = next(line for line in text.splitlines() if line.startswith("| `post-machine`"))
    assert "transition_lookup (exhaustive: 1,872)" in row and "proven for every L and every step" in row
    cells = [cell.strip() for cell in row.split("|")]
    mutants, changing, broken = int(cells[4]), int(cells[5]), int(cells[6])
    assert mutants == 3 and broken == changing
