"""Every registered construction saves to safetensors and loads back to the same model, and its plain
``torch.nn.Module`` export computes what ``backend="torch"`` computes, sublayer by sublayer, on its example input."""

from __future__ import annotations

import pytest
import torch

from exactformer.constructions import REGISTRY
from exactformer.core.arith import TorchArithmetic
from exactformer.core.forward import forward
from exactformer.core.serialize import load_model, save_model
from exactformer.export import to_torch_module

from ..core.test_serialize import same_model

# the A5 recognizers have thousands of MLP units; they take the same code path as their parity versions
HEAVY = {"log-depth-a5", "pointer-jumping-a5"}
NAMES = [pytest.param(name, marks=pytest.mark.slow) if name in HEAVY else name for name in sorted(REGISTRY)]


def _built(name):
    entry = REGISTRY[name]
    construction = entry.builder()
    return construction, list(construction.encode(entry.example))


@pytest.mark.parametrize("name", NAMES)
def test_safetensors_round_trip_is_exact(name, tmp_path):
    construction, tokens = _built(name)
    loaded = load_model(save_model(construction.model, tmp_path / f"{name}.safetensors"))
    same_model(construction.model, loaded)
    ours = forward(construction.model, [tokens], TorchArithmetic(torch.float64))
    theirs = forward(loaded, [tokens], TorchArithmetic(torch.float64))
    assert torch.equal(ours.final, theirs.final)


@pytest.mark.parametrize("name", NAMES)
def test_torch_module_matches_the_evaluator_at_every_sublayer(name):
    construction, tokens = _built(name)
    if construction.model.max_length is not None and len(tokens) > construction.model.max_length:
        pytest.fail(f"{name}: the registered example is longer than the model")
    trace = forward(construction.model, [tokens], TorchArithmetic(torch.float64))
    module = to_torch_module(construction.model, dtype=torch.float64, length=len(tokens))
    residuals = module.residuals([tokens])
    assert list(residuals) == trace.labels
    for label, x in zip(trace.labels, trace.residuals):
        assert torch.equal(residuals[label], x), f"{name}: {label}"
