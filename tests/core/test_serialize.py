"""Save/load: safetensors plus JSON metadata, exact weights stored losslessly, bad files refused clearly."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from safetensors.torch import load_file, save_file

from exactformer.constructions import copy_first
from exactformer.core.arith import ExactArithmetic, TorchArithmetic
from exactformer.core.errors import ModelFormatError
from exactformer.core.forward import forward
from exactformer.core.serialize import load_model, model_to_json, save_model
from exactformer.core.sparse import SparseRationalMatrix

from .random_models import transformers


def same_model(a, b) -> None:
    meta_a, tensors_a = model_to_json(a)
    meta_b, tensors_b = model_to_json(b)
    assert meta_a == meta_b
    assert tensors_a.keys() == tensors_b.keys()
    for name in tensors_a:
        a, b = tensors_a[name], tensors_b[name]
        assert type(a) is type(b) and a.shape == b.shape, name  # a sparse weight comes back sparse
        if isinstance(a, SparseRationalMatrix):
            a, b = a.toarray(), b.toarray()
        assert all(x == y and type(x) is type(y) for x, y in zip(a.flat, b.flat)), name


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(model=transformers(rational_only=False))
def test_round_trip_is_exact_for_every_architecture_option(model, tmp_path):
    path = save_model(model, tmp_path / "m.safetensors")
    same_model(model, load_model(path))


def test_round_trip_is_bit_exact_in_torch(tmp_path):
    model = copy_first().model
    loaded = load_model(save_model(model, tmp_path / "demo.safetensors"))
    word = [list("abba")]
    assert torch.equal(forward(model, word, TorchArithmetic()).final, forward(loaded, word, TorchArithmetic()).final)
    assert np.array_equal(forward(model, word, ExactArithmetic()).final, forward(loaded, word, ExactArithmetic()).final)


def test_the_file_holds_numerators_denominators_and_a_float_rendering(tmp_path):
    tensors = load_file(str(save_model(copy_first().model, tmp_path / "demo.safetensors")))
    assert tensors["embed.W_E.num"].dtype == torch.int64
    assert tensors["embed.W_E.den"].dtype == torch.int64
    assert tensors["embed.W_E"].dtype == torch.float64


def _rewrite(path, tensors=None, metadata=None):
    original = load_file(str(path))
    with open(path, "rb") as fh:
        header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
    save_file(tensors if tensors is not None else original, str(path),
              metadata=metadata if metadata is not None else header["__metadata__"])


@pytest.fixture
def saved(tmp_path):
    return save_model(copy_first().model, tmp_path / "demo.safetensors")


def test_a_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="not a readable safetensors file"):
        load_model(saved)


def test_a_missing_tensor_is_refused(saved):
    tensors = load_file(str(saved))
    del tensors["layers.L0.attn.W_Q.num"]
    _rewrite(saved, tensors=tensors)
    with pytest.raises(ModelFormatError, match="no tensor 'layers.L0.attn.W_Q.num'"):
        load_model(saved)


def test_a_wrong_shape_is_refused(saved):
    tensors = load_file(str(saved))
    for suffix in ("", ".num", ".den"):
        tensors[f"layers.L0.attn.W_K{suffix}"] = tensors[f"layers.L0.attn.W_K{suffix}"][:, :-1]
    _rewrite(saved, tensors=tensors)
    with pytest.raises(ModelFormatError, match="W_K has shape"):
        load_model(saved)


def test_a_float_rendering_that_disagrees_with_the_exact_weights_is_refused(saved):
    tensors = load_file(str(saved))
    tensors["embed.W_E"] = tensors["embed.W_E"] + 1
    _rewrite(saved, tensors=tensors)
    with pytest.raises(ModelFormatError, match="float64 rendering does not match"):
        load_model(saved)


def test_a_zero_denominator_is_refused(saved):
    tensors = load_file(str(saved))
    tensors["embed.W_E.den"] = torch.zeros_like(tensors["embed.W_E.den"])
    _rewrite(saved, tensors=tensors)
    with pytest.raises(ModelFormatError, match="denominator is not positive"):
        load_model(saved)


def test_an_unknown_option_is_refused(saved):
    with open(saved, "rb") as fh:
        header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
    meta = json.loads(header["__metadata__"]["exactformer"])
    meta["layers"][0]["attn"]["attention"]["kind"] = "sparsemax"
    _rewrite(saved, metadata={"exactformer": json.dumps(meta)})
    with pytest.raises(ModelFormatError, match="unknown attention kind 'sparsemax'"):
        load_model(saved)


def test_a_file_without_metadata_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFormatError, match="no exactformer metadata"):
        load_model(path)


def test_extra_tensors_are_refused(saved):
    tensors = load_file(str(saved))
    tensors["stowaway"] = torch.zeros(1)
    _rewrite(saved, tensors=tensors)
    with pytest.raises(ModelFormatError, match="does not use"):
        load_model(saved)


def test_no_pickle_in_the_package():
    import pathlib

    import exactformer

    root = pathlib.Path(exactformer.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "torch.load(" not in text, path


def test_weights_beyond_int64_are_stored_as_limbs_and_come_back_exactly(tmp_path):
    """A numerator of 2**200 + 1 and a denominator of 3**90 do not fit in int64; they round-trip through limbs."""
    from fractions import Fraction

    from exactformer.core.architecture import Transformer

    model = copy_first().model
    big = Fraction(-(2**200) - 1, 3**90)
    W_E = model.embedding.W_E.copy()
    W_E[0, 0] = big
    bigger = Transformer(space=model.space, embedding=type(model.embedding)(W_E=W_E, vocab=model.embedding.vocab,
                                                                           positional=model.embedding.positional),
                         layers=model.layers, readout=model.readout, loop=model.loop, suffix=model.suffix,
                         max_length=model.max_length)
    path = save_model(bigger, tmp_path / "big.safetensors")
    tensors = load_file(str(path))
    assert tensors["embed.W_E.num"].dim() == W_E.ndim + 1  # limbs
    loaded = load_model(path)
    assert loaded.embedding.W_E[0, 0] == big
    same_model(bigger, loaded)


def test_limbs_of_mixed_sign_are_refused(tmp_path):
    model = copy_first().model
    path = save_model(model, tmp_path / "m.safetensors")
    tensors = load_file(str(path))
    num = tensors["embed.W_E.num"]
    limbs = torch.stack([num, -torch.ones_like(num)], dim=-1)
    limbs[0, 0, 0] = 1
    tensors["embed.W_E.num"] = limbs
    _rewrite(path, tensors=tensors)
    with pytest.raises(ModelFormatError, match="different signs"):
        load_model(path)
