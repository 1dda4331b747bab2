"""The torch.nn.Module export computes exactly what backend="torch" computes, and exposes every sublayer."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings

from exactformer.constructions import copy_first
from exactformer.core.arith import TorchArithmetic
from exactformer.core.errors import AttentionTieError, NonFiniteError
from exactformer.core.forward import forward
from exactformer.export import to_torch_module

from ..core.random_models import transformers, words


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=transformers(rational_only=False), word=words)
def test_the_module_matches_the_library_forward_at_every_sublayer(model, word):
    try:
        trace = forward(model, [word], TorchArithmetic(torch.float64))
    except (AttentionTieError, NonFiniteError):
        return
    module = to_torch_module(model, dtype=torch.float64, length=len(word))
    residuals = module.residuals([word])
    assert list(residuals) == trace.labels
    for label, x in zip(trace.labels, trace.residuals):
        assert torch.equal(residuals[label], x), label


def test_parameters_carry_transformer_lens_names():
    module = to_torch_module(copy_first().model)
    names = dict(module.named_parameters())
    assert names["blocks.0.attn.W_Q"].shape == (1, 6, 1)
    assert {"embed.W_E", "unembed.W_U", "unembed.b_U"} <= set(names)


def test_forward_hooks_see_each_sublayer():
    module = to_torch_module(copy_first().model, dtype=torch.float64)
    seen = {}
    module.blocks[0].attn.register_forward_hook(lambda m, args, out: seen.setdefault("attn", out))
    logits = module(torch.tensor([[1, 0, 0, 1]]))  # "baab"
    assert logits.argmax().item() == 1  # 'b'
    assert seen["attn"].shape == (1, 4, 6)
