"""Every construction states its theorem's resources as functions of n, and the verifier holds it to them.

A claim is checked against what the model measures (``Construction.resources(n)``), never against itself: a model
given one layer more than its theorem allows fails ``check`` with a ``"resources"`` failure naming the claim, even
when every answer is right.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import exactformer as ef
from exactformer.catalog import ENTRIES
from exactformer.core.architecture import Layer
from exactformer.core.claims import ceil_log2
from exactformer.verify import FunctionReference, check
from exactformer.verify.claims import claim_results

FIRST_SYMBOL = FunctionReference(lambda w: w[0], "ab", name="first symbol")


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_registered_construction_keeps_its_claims_over_its_default_sizes(entry):
    c = entry.builder(**entry.options)
    assert any(claim.resource == "layers" for claim in c.claims.claims), "every theorem bounds the depth"
    for n in entry.default_lengths(c):
        results, failures = claim_results(c, n)
        assert results and not failures, [f.reason for f in failures]
        assert all(r.holds and r.n == n for r in results)


def test_the_log_depth_builds_state_their_exact_depth_and_keep_the_theorems():
    """Merrill & Sabharwal Thm 1 allows 8⌈log2 n⌉ + 9 layers on words of n letters; the builds use fewer."""
    tree = ef.catalog.build("log-depth-parity")
    paper = ef.catalog.build("log-depth-paper-parity")
    jumping = ef.catalog.build("pointer-jumping-parity")
    for n in (0, 1, 2, 3, 16, 17, 64):
        k = ceil_log2(n)
        assert tree.resources(n).layers == 3 * k + 3 <= 8 * k + 9
        assert jumping.resources(n).layers == k <= 8 * k + 9
        if n <= 32:
            assert paper.resources(n).layers == 3 + 5 * (k + 1) <= 8 * k + 9
    connectivity = ef.catalog.build("connectivity")  # 8 vertices: 3 squaring levels fixed at build time
    assert {connectivity.resources(n).layers for n in range(1, 9)} == {2 * 3 + 3}
    assert [c.describe() for c in connectivity.claims.claims] == ["layers <= 2⌈log2 n⌉ + 18",
                                                                  "layers == 2 levels + 3 (levels = 3)"]


def test_a_model_with_an_extra_layer_fails_check_naming_the_claim():
    demo = ef.constructions.copy_first()
    deeper = dataclasses.replace(demo, model=dataclasses.replace(demo.model, layers=demo.model.layers * 2))
    assert check(demo, FIRST_SYMBOL, lengths=[3], backend="exact").passed
    report = check(deeper, FIRST_SYMBOL, lengths=[3], backend="exact")
    assert not report.passed and report.lengths[0].failed == 0  # every answer is right, the depth is not
    broken = [f for f in report.failures if f.kind == "resources"]
    assert [f.where for f in broken] == ["claim layers == 1", "claim heads == 1"]
    assert broken[0].reason == "layers = 2 != 1 at n = 3" and (broken[0].got, broken[0].expected) == (2, 1)


def test_a_model_past_theorem_1s_depth_fails_with_the_bound_in_the_message():
    """Pointer jumping with 38 extra jump layers in front of its loop: 42 layers at n = 16, where Theorem 1
    allows 8⌈log2 16⌉ + 9 = 41."""
    c = ef.catalog.build("pointer-jumping-parity")
    jump = c.model.loop.block[0]
    deep = dataclasses.replace(c, model=dataclasses.replace(c.model, layers=(jump,) * 38))
    assert deep.resources(16).layers == 42
    report = check(deep, ef.languages.parity(), lengths=[16], samples_per_length=2, backend="torch", shrink=False,
                   check_invariants=False)
    reasons = [f.reason for f in report.failures if f.kind == "resources"]
    assert "layers = 42 > 8⌈log2 n⌉ + 9 = 41 at n = 16" in reasons
    assert "layers = 42 != ⌈log2 n⌉ = 4 at n = 16 (this build's claim)" in reasons
    assert not report.passed


def test_a_model_with_another_attention_kind_fails_the_attention_claim():
    """The softmax variant of the Post-machine decoder, held to the hard-attention construction's claims."""
    hard = ef.catalog.build("post-machine")
    soft = ef.constructions.tag_system(hard.parameters.system, hard.parameters.queue_length, attention="softmax",
                                       beta=64)
    assert soft.claims.attention == ("softmax",) and claim_results(soft, 9)[1] == []
    results, failures = claim_results(dataclasses.replace(soft, claims=hard.claims), 9)
    assert [r.claim for r in results if not r.holds] == ["attention hard"]
    (failure,) = failures
    assert failure.kind == "resources" and failure.reason == "attention = softmax, not hard as claimed, at n = 9"


def test_the_claims_checked_show_in_every_rendering():
    demo = ef.constructions.copy_first()
    deeper = dataclasses.replace(demo, model=dataclasses.replace(
        demo.model, layers=demo.model.layers + (Layer(mlp=None, attention=demo.model.layers[0].attention),)))
    report = check(deeper, FIRST_SYMBOL, lengths=[2, 3], backend="exact")
    data = json.loads(report.to_json())
    claims = data["lengths"][0]["claims"]
    assert [(c["claim"], c["measured"], c["bound"], c["holds"]) for c in claims] == [
        ("layers == 1", "2", "1", False), ("heads == 1", "2", "1", False), ("attention hard", "hard", "hard", True)]
    markdown = report.to_markdown()
    assert "claims checked: layers == 1 (n = 2..3); heads == 1 (n = 2..3); attention hard (n = 2..3)" in markdown
    assert "- resources failure: layers = 2 != 1 at n = 2" in markdown
    assert "| 1/3 |" in markdown
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(report.render())
    text = console.export_text()
    assert "claims checked: layers == 1" in text and "resources failure: heads = 2 != 1 at n = 3" in text


def test_constructions_describe_their_claims_in_one_line():
    c = ef.catalog.build("log-depth-parity")
    (line,) = [s for s in repr(c).splitlines() if s.strip().startswith("claims:")]
    assert line.strip() == "claims: layers <= 8⌈log2 n⌉ + 9; layers == 3(⌈log2 n⌉ + 1) (this build); attention hard"
    assert "O(" not in line and c.claims.precision  # the precision claim is kept, not printed in the repr


def test_the_docs_state_every_registered_constructions_claims():
    docs = "\n".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "docs").glob("*.md"))
    for entry in ENTRIES:
        line = entry.builder(**entry.options).claims.describe(precision=False)
        assert f"`{line}`" in docs, f"{entry.name}: no docs page states its claims `{line}`"
