"""Probe sites are structured values: each names one residual stream, round-trips through its trace label, and has
the TransformerLens hook name under which the export records the same stream."""

from __future__ import annotations

import pytest

import exactformer as ef
from exactformer.core.errors import InputError
from exactformer.core.sites import Site


def test_every_site_of_every_registered_model_round_trips_through_its_label():
    for name in ef.constructions.names():
        c = ef.constructions.build(name)
        length = c.tokens_for(4) if name not in ("post-machine", "turing-machine") else c.tokens_for(0)
        sites = Site.every(c.model, length)
        assert sites[0] == Site.embed() and sites[-1] == Site.final()
        assert len(set(sites)) == len(sites), name
        for site in sites:
            assert Site.parse(site.label) == site, (name, site)


def test_the_trace_records_every_site_under_its_label():
    c = ef.constructions.build("log-depth-parity")
    result = c.run("0110", backend="exact")
    length = len(c.encode("0110"))
    labels = [s.label for s in Site.every(c.model, length)][:-1]  # "final" is the last sublayer's stream
    assert result.output.trace.labels == labels


@pytest.mark.parametrize(
    ("site", "label"),
    [
        (Site.layer(0, "attn"), "L0.attn"),
        (Site.layer(12, "mlp"), "L12.mlp"),
        (Site.loop(repeat=3, layer=1, sublayer="mlp"), "loop3.B1.mlp"),
        (Site.suffix(0, "attn"), "S0.attn"),
        (Site.embed(), "embed"),
        (Site.final(), "final"),
    ],
)
def test_labels(site, label):
    assert site.label == label == str(site)
    assert Site.parse(label) == site


@pytest.mark.parametrize(
    "bad",
    ["L0", "L0.ffn", "loop.B1.mlp", "embed.attn", "Lx.attn", "", "loop1.B0"],
)
def test_a_string_that_is_no_site_is_refused_naming_the_forms(bad):
    with pytest.raises(InputError, match="is not a site"):
        Site.parse(bad)


def test_malformed_values_are_refused():
    with pytest.raises(InputError, match="sublayer"):
        Site("prefix", 0)
    with pytest.raises(InputError, match="no layer"):
        Site("embed", 1)
    with pytest.raises(InputError, match="non-negative"):
        Site("prefix", -1, 0, "attn")
    with pytest.raises(InputError, match="repetition"):
        Site("prefix", 0, 2, "attn")
    with pytest.raises(InputError, match="part"):
        Site("middle")  # type: ignore[arg-type]


def test_hook_names_follow_the_unrolled_blocks():
    c = ef.constructions.build("log-depth-parity")  # prefix, a looped block, a suffix
    length = c.tokens_for(8)
    layers = [label for label, _ in c.model.named_layers(length)]
    assert any(label.startswith("loop1.") for label in layers)
    for site in Site.every(c.model, length)[1:-1]:
        block = layers.index(site.label.rsplit(".", 1)[0])
        want = "hook_resid_mid" if site.sublayer == "attn" else "hook_resid_post"
        assert site.hook_name(c.model, length) == f"blocks.{block}.{want}"
    assert Site.embed().hook_name(c.model, length) == "blocks.0.hook_resid_pre"
    assert Site.final().hook_name(c.model, length) == f"blocks.{len(layers) - 1}.hook_resid_post"


def test_a_site_the_model_does_not_reach_is_refused():
    c = ef.constructions.build("log-depth-parity")
    with pytest.raises(InputError, match="not in this model"):
        Site.loop(repeat=40, layer=0, sublayer="attn").hook_name(c.model, c.tokens_for(4))


def test_hook_names_are_the_transformer_lens_exports():
    from exactformer.export.transformer_lens import to_transformer_lens

    c = ef.constructions.build("parity")
    length = c.tokens_for(5)
    export = to_transformer_lens(c, length=length)
    for hook, label in export.labels.items():
        assert Site.parse(label).hook_name(c.model, length) == hook


def test_a_probe_holds_a_site_and_parses_a_label():
    from exactformer.core.construction import Probe

    assert Probe(site="L1.mlp", coordinates=("answer",)).site == Site.layer(1, "mlp")
    assert Probe(site=Site.final(), coordinates=("answer",)).site == Site.final()
    c = ef.constructions.build("parity")
    (probe, *_) = [inv.probe for inv in c.invariants]
    assert isinstance(probe.site, Site)
    assert probe.hook_name(c.model, c.tokens_for(4)).startswith("blocks.")
    with pytest.raises(InputError, match="is not a site"):
        Probe(site="L1", coordinates=("answer",))


def test_the_forward_schedule_is_the_unrolled_sublayers_and_is_kept_per_repetition_count():
    from exactformer.core.forward import schedule

    c = ef.constructions.build("log-depth-parity")
    for n in (1, 2, 5, 9, 33):
        length = c.tokens_for(n)
        sublayers, last = schedule(c.model, length)
        assert [s.label for s in Site.every(c.model, length)[1:-1]] == [where for where, _ in sublayers]
        attention = [k for k, (where, _) in enumerate(sublayers) if where.endswith(".attn")]
        assert last == (attention[-1] if attention else -1)
        assert schedule(c.model, length)[0] is sublayers  # remembered, not rebuilt per call
    assert len(schedule(c.model, c.tokens_for(2))[0]) < len(schedule(c.model, c.tokens_for(33))[0])
