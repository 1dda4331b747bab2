"""``to_hooked_transformer`` and the exported file, the way TransformerLens users load a model.

The expected values come from outside the export: our own evaluator (``forward`` in torch), TransformerLens's own
``HookedTransformer`` and its own loaders, and the construction's ``tokens_for`` and ``state_dict``.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import exactformer as ef
from exactformer.core.arith import TorchArithmetic
from exactformer.core.forward import forward
from exactformer.export import (
    ExportError,
    export_problems,
    load_hooked_transformer,
    to_hooked_transformer,
    to_transformer_lens,
)


def library_logits(construction, tokens, dtype=torch.float64):
    """The readout logits of our torch evaluator (the reference the export is compared with)."""
    trace = forward(construction.model, [tokens], TorchArithmetic(dtype=dtype))
    row = trace.final[:, construction.model.readout.position]
    W_U = torch.tensor(construction.model.readout.W_U.astype(float), dtype=dtype)
    return row @ W_U + torch.tensor(construction.model.readout.b_U.astype(float), dtype=dtype)


def plain_hooked_transformer(path):
    """A plain TransformerLens ``HookedTransformer`` from the file's config, loaded with ``strict=True``."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    with safe_open(str(path), "pt") as f:
        config = json.loads(f.metadata()["config"])
    dtype = getattr(torch, config.pop("dtype"))
    fields = HookedTransformerConfig.__dataclass_fields__
    cfg = HookedTransformerConfig(**{k: v for k, v in config.items() if k in fields and fields[k].init}, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = HookedTransformer(cfg)
    model.load_state_dict(load_file(str(path)), strict=True)
    return model


def test_n_is_the_input_size_as_in_state_dict():
    c = ef.constructions.build("parity")
    model = to_hooked_transformer(c, n=6)
    assert model.cfg.n_ctx == c.tokens_for(6) == c.state_dict(n=6)["pos_embed.W_pos"].shape[0] == 7
    with pytest.raises(ExportError, match="exactly one"):
        to_transformer_lens(c, n=6, length=7)
    with pytest.raises(ExportError, match="needs a Construction"):
        to_transformer_lens(c.model, n=6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_dtype_is_kept_in_the_config_and_every_weight(dtype):
    model = to_hooked_transformer(ef.constructions.build("parity"), n=4, dtype=dtype)
    assert model.cfg.dtype == dtype
    assert {p.dtype for p in model.parameters()} == {dtype}


def test_hard_attention_hooks_are_attached_and_survive_reset_hooks():
    """log-depth-parity on "1" (the issue's example): right with the hooks, wrong in plain softmax TransformerLens."""
    c = ef.constructions.build("log-depth-parity")
    tokens = list(c.encode("1"))
    model = to_hooked_transformer(c, n=1)
    assert model.export_info.needed_hooks()
    model.reset_hooks()  # a TransformerLens user's habit; the export's hooks are permanent
    ids = model.tokens_of([tokens])
    ours = library_logits(c, tokens)
    with torch.no_grad():
        theirs = model(ids)[:, model.export_info.readout_position]
        model.reset_hooks(including_permanent=True)
        softmax = model(ids)[:, model.export_info.readout_position]
    assert torch.allclose(theirs, ours, rtol=0, atol=1e-12)
    assert torch.sign(softmax) != torch.sign(ours)  # the hooks are needed, not decoration


def test_every_hook_point_is_transformer_lens_own():
    model = to_hooked_transformer(ef.constructions.build("log-depth-parity"), n=3)
    names = set(model.hook_dict)
    for spec in model.export_info.hooks:
        assert set(spec.notes()) <= names


def test_softmax_models_need_no_hook_and_the_cli_says_none(tmp_path):
    from typer.testing import CliRunner

    from exactformer.cli import app

    assert to_transformer_lens(ef.constructions.build("parity"), n=4).hook_notes == {}
    out = tmp_path / "parity.safetensors"
    result = CliRunner().invoke(app, ["export", "parity", "--to", "transformer-lens", "--n", "4", "-o", str(out)])
    assert result.exit_code == 0 and "hooks needed" not in result.output, result.output
    out = tmp_path / "demo.safetensors"
    result = CliRunner().invoke(app, ["export", "demo", "--to", "transformer-lens", "--n", "4", "-o", str(out),
                                      "--dtype", "float64"])
    assert result.exit_code == 0 and "2 hooks needed" in result.output, result.output
    assert plain_hooked_transformer(out).cfg.dtype == torch.float64


@pytest.mark.parametrize("name, word", [("demo", "abba"), ("parity", "10110"), ("log-depth-parity", "1101"),
                                        ("first-scaled", "0111")])
def test_the_file_loads_strict_into_plain_transformer_lens_and_rebuilds_its_hooks(tmp_path, name, word):
    c = ef.constructions.build(name)
    n = len(word)
    export = to_transformer_lens(c, n=n)
    path = tmp_path / f"{name}.safetensors"
    export.save(str(path), n=n, name=name)
    plain = plain_hooked_transformer(path)  # strict=True: every key TransformerLens expects, nothing else
    loaded = load_hooked_transformer(path)
    ids = loaded.tokens_of([list(c.encode(word))])
    with torch.no_grad():
        assert torch.equal(loaded(ids), export.model(ids))  # the file alone gives the same model, hooks included
        for name_, fn in export.hooks:
            plain.add_hook(name_, fn)
        assert torch.equal(plain(ids), export.model(ids))
    assert loaded.export_info.n == n and loaded.export_info.length == c.tokens_for(n)


def test_default_weight_processing_is_refused_with_every_reason():
    c = ef.constructions.build("parity")
    model = to_hooked_transformer(c, n=4)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ExportError) as caught:
        model.load_and_process_state_dict(state)
    message = str(caught.value)
    assert "center_unembed" in message and "every logit becomes 0" in message and "float32" in message
    # the refusal is right: TransformerLens's own loader with its defaults makes every PARITY logit 0
    from transformer_lens import HookedTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = HookedTransformer(model.cfg)
        plain.load_and_process_state_dict(dict(state))  # a copy: TransformerLens rewrites the dict it is given
    ids = model.tokens_of([list(c.encode("1011"))])
    with torch.no_grad():
        assert bool((plain(ids) == 0).all())
        before = model(ids)
        # processing that changes nothing is done, without TransformerLens's float32 pass: the same floats
        model.load_and_process_state_dict(state, center_unembed=False)
        assert torch.equal(model(ids), before)


def test_fold_value_biases_is_refused_where_a_query_attends_to_no_key():
    """A strict causal mask leaves query 0 with no key: its attention output is 0, not b_V W_O."""
    from dataclasses import replace

    from exactformer.core.architecture import Mask
    from exactformer.core.rational import rational_zeros

    c = ef.constructions.copy_first()
    layer = c.model.layers[0]
    att = layer.attention.block
    b_V = rational_zeros(att.b_V.shape)
    b_V[0, 0] = 1
    strict = replace(att, mask=Mask("strict_causal"), b_V=b_V)
    model = replace(c.model, layers=(replace(layer, attention=replace(layer.attention, block=strict)),))
    tl = to_hooked_transformer(model, length=3)
    with pytest.raises(ExportError, match="attends to no key"):
        tl.load_and_process_state_dict(tl.state_dict(), center_unembed=False)


def test_a_refusal_lists_every_reason_each_named_for_what_it_is():
    superposition = ef.constructions.build("superposition")
    problems = export_problems(superposition)
    text = "\n".join(problems)
    assert "L2 norm" in text and "no residual" in text and "step activation" in text
    assert "pre-LN only" not in text and "post-norm" not in text
    with pytest.raises(ExportError) as caught:
        to_transformer_lens(superposition, length=4)
    assert all(p in str(caught.value) for p in problems)
    parity_ln = "\n".join(export_problems(ef.constructions.build("parity-ln")))
    assert "post-norm layernorm" in parity_ln and parity_ln.count("post-norm") == 4  # both layers, both sublayers
