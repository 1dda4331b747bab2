"""TransformerLens export: every layer's residual in the HookedTransformer equals our evaluator's.

The comparison is against ``backend="torch"`` in float64. The two compute the same sums in different orders
(TransformerLens folds the softmax scale into ``W_Q`` and uses its own einsums), so they agree to rounding, not to
the bit: the tolerance is 1e-12 relative to the largest residual entry, about 4500 float64 ulps.
"""

from __future__ import annotations

import pytest
import torch

from exactformer.core.arith import TorchArithmetic
from exactformer.core.errors import AttentionTieError
from exactformer.core.forward import forward
from exactformer.export.transformer_lens import ExportError, exportable, to_transformer_lens

TOLERANCE = 1e-12


def assert_same_residuals(construction, words):
    """Export at each word's token length and compare every residual stream and the readout logits."""
    for word in words:
        tokens = list(construction.encode(word))
        export = to_transformer_lens(construction, length=len(tokens))
        ours = forward(construction.model, [tokens], TorchArithmetic(dtype=torch.float64))
        theirs = export.residuals([tokens])
        assert set(theirs) == set(ours.labels), (sorted(theirs), ours.labels)
        scale = max(float(ours[label].abs().max()) for label in ours.labels) or 1.0
        for label in ours.labels:
            diff = float((theirs[label] - ours[label]).abs().max())
            assert diff <= TOLERANCE * scale, f"{word!r}: residual after {label} differs by {diff}"
        row = ours.final[:, construction.model.readout.position]
        logits = row @ torch.tensor(construction.model.readout.W_U.astype(float))
        logits = logits + torch.tensor(construction.model.readout.b_U.astype(float))
        assert torch.allclose(export.readout([tokens]), logits, rtol=0, atol=TOLERANCE * scale)


def test_demo_copy_first_hard_attention_through_pattern_hook():
    from exactformer.constructions import copy_first

    c = copy_first()
    assert_same_residuals(c, ["a", "ab", "ba", "abba", "bbbbbba"])


def test_post_machine_window_and_relative_bias_through_score_hook():
    from exactformer.constructions.post_machine import post_machine, token_name

    pm = {
        "symbols": ("0", "1"), "states": ("A", "B", "H"), "start": "A", "halting": ("H",),
        "transitions": {("A", "0"): ("1", "B"), ("A", "1"): ("0", "A"), ("B", "0"): ("1", "A"),
                        ("B", "1"): ("1", "H")},
    }
    c = post_machine(pm, queue_length=3)
    run = c.simulate(("0", "0", "0"), max_tokens=12)
    prompt = list(c.encode(("0", "0", "0")))
    generated = [token_name(b, p) for b, p in run.tokens]
    tokens = prompt + generated[:-1]
    export = to_transformer_lens(c, length=len(tokens))
    ours = forward(c.model, [tokens], TorchArithmetic(dtype=torch.float64))
    theirs = export.residuals([tokens])
    for label in ours.labels:
        assert torch.allclose(theirs[label], ours[label], rtol=0, atol=1e-12), label
    # teacher-forced on the model's own generation, the exported logits predict each next token
    logits, _ = export.run_with_cache([tokens])
    predicted = [c.model.readout.labels[i] for i in logits[0].argmax(-1).tolist()]
    assert predicted[len(prompt) - 1 :] == generated


def test_a_tie_under_the_error_rule_is_raised_not_resolved():
    """Zero queries make every score equal; with tie rule "error" both our evaluator and the export refuse."""
    from dataclasses import replace

    from exactformer.constructions import copy_first
    from exactformer.core.rational import rational_zeros

    model = copy_first().model
    layer = model.layers[0]
    att = layer.attention.block
    blind = replace(att, W_Q=rational_zeros(att.W_Q.shape), tie_rule="error")
    model = replace(model, layers=(replace(layer, attention=replace(layer.attention, block=blind)),))
    tokens = list(copy_first().encode("abb"))
    with pytest.raises(AttentionTieError):
        forward(model, [tokens], TorchArithmetic(dtype=torch.float64))
    export = to_transformer_lens(model, length=len(tokens))
    with pytest.raises(AttentionTieError, match="tie"):
        export.readout([tokens])


def test_refusals_name_the_sublayer_and_the_reason():
    from exactformer.constructions.parity_first import parity

    c = parity(layer_norm=True)
    reason = exportable(c, 4)
    assert reason is not None and "norm" in reason and "L" in reason
    with pytest.raises(ExportError, match="norm"):
        to_transformer_lens(c, length=5)


def test_length_mismatch_and_unknown_tokens_are_errors():
    from exactformer.constructions import copy_first

    export = to_transformer_lens(copy_first(), length=3)
    with pytest.raises(ExportError, match="3 tokens"):
        export.tokens([["a", "b"]])
    with pytest.raises(ExportError, match="'z'"):
        export.tokens([["a", "b", "z"]])


@pytest.mark.parametrize("variant", ["parity", "first", "first_scaled"])
def test_chiang_cholak_without_layer_norm_exports_per_length(variant):
    """Softmax attention, i/N and (-1)^i positions tabulated per length, log N folded into W_Q for FIRST-scaled."""
    from exactformer.constructions.parity_first import first, parity

    c = {"parity": lambda: parity(), "first": lambda: first(), "first_scaled": lambda: first(scaled=True)}[variant]()
    assert exportable(c) is None
    assert_same_residuals(c, ["1", "0", "10", "1011", "0110100", "1" * 13, "0" + "1" * 20])


def test_cli_writes_a_loadable_hooked_transformer_state_dict(tmp_path):
    import json

    from safetensors import safe_open
    from typer.testing import CliRunner

    from exactformer.cli import app

    out = tmp_path / "demo_tl.safetensors"
    result = CliRunner().invoke(app, ["export", "demo", "--to", "transformer-lens", "--n", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    cfg = json.loads(meta["config"])
    assert cfg["n_ctx"] == 4 and cfg["use_attn_scale"] is False
    assert "blocks.0.attn.hook_pattern" in json.loads(meta["hooks"])
    assert {"embed.W_E", "pos_embed.W_pos", "unembed.W_U", "blocks.0.attn.W_Q"} <= keys


# Every registered construction either exports (and its residuals match ours, layer by layer, on its example input)
# or is refused with the reason the docs' table gives. The expected refusals are read off the architecture by hand:
# post-LN is not a TransformerLens block, nor are step activations or an L2 norm.
REFUSED = {
    "parity-ln": "post-norm layernorm",
    "first-ln": "post-norm layernorm",
    "connectivity": "step activation",
    "superposition": "L2 norm",
    "log-depth-paper-parity": "masked layernorm",  # TransformerLens has no per-sublayer norm mask
}


# the A5 recognizers export through the same path as their parity versions, only bigger (minutes under load)
HEAVY = {"log-depth-a5", "pointer-jumping-a5"}


def _registered():
    from exactformer.constructions import REGISTRY

    return [pytest.param(name, marks=pytest.mark.slow) if name in HEAVY else name for name in sorted(REGISTRY)]


@pytest.mark.parametrize("name", _registered())
def test_every_registered_construction_exports_or_says_why(name):
    from exactformer.constructions import REGISTRY

    entry = REGISTRY[name]
    construction = entry.builder()
    example = entry.example
    tokens = list(construction.encode(example))
    if name in REFUSED:
        with pytest.raises(ExportError, match=REFUSED[name]):
            to_transformer_lens(construction, length=len(tokens))
        return
    assert exportable(construction, len(tokens)) is None
    assert_same_residuals(construction, [example])
