"""A sparse rational matrix is the matrix its entries say, everywhere a weight is read.

The claims, each a test: ``x @ W`` is exactly ``x @ W.toarray()``; the constructor refuses malformed input and keeps
one canonical form (zeros dropped, row-major order) so equality is equality of matrices; ``linear_map(...,
sparse=True)`` is the dense ``linear_map``; and a model whose MLP matrices are stored sparse computes what the same
model stored dense computes, in exact arithmetic (equal values), certified arithmetic (equal intervals) and torch
(bit for bit, through the dense and the compressed sparse product alike), saves and loads with its weights still
sparse, and refuses a file whose sparse indices are out of range.
"""

from __future__ import annotations

import dataclasses
import json
import random
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

import exactformer.core.sparse_products as sparse_products
from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.core.architecture import MLP, Embedding, Layer, Readout, Sublayer, Transformer
from exactformer.core.arith import CertifiedArithmetic, ExactArithmetic, TorchArithmetic, interval_bounds
from exactformer.core.errors import ModelFormatError
from exactformer.core.rational import rational_array, to_float_array
from exactformer.core.runners import classify
from exactformer.core.serialize import load_model, save_model
from exactformer.core.space import Block, Space, linear_map
from exactformer.core.sparse import SparseRationalMatrix
from exactformer.languages.dfa import DFA
from exactformer.languages.named import tomita

from .random_models import transformers
from .random_models import words as random_words

torch.set_num_threads(1)

VALUES = st.fractions(min_value=-3, max_value=3, max_denominator=5)


@st.composite
def sparse_matrices(draw, max_side: int = 6) -> SparseRationalMatrix:
    rows, cols = draw(st.integers(0, max_side)), draw(st.integers(0, max_side))
    positions = st.tuples(st.integers(0, max(rows - 1, 0)), st.integers(0, max(cols - 1, 0)))
    entries = draw(st.dictionaries(positions, VALUES, max_size=rows * cols)) if rows and cols else {}
    return SparseRationalMatrix.from_entries(shape=(rows, cols), entries=entries)


# -- the matrix ----------------------------------------------------------------------------------------------------
@given(W=sparse_matrices(), batch=st.lists(st.integers(1, 3), min_size=0, max_size=2), data=st.data())
@settings(max_examples=80, deadline=None)
def test_the_product_is_the_dense_product_exactly(W, batch, data):
    x = np.array(data.draw(st.lists(VALUES, min_size=int(np.prod(batch)) * W.shape[0],
                                    max_size=int(np.prod(batch)) * W.shape[0])), dtype=object)
    x = x.reshape(*batch, W.shape[0])
    sparse, dense = x @ W, x @ W.toarray()
    assert sparse.shape == dense.shape == (*batch, W.shape[1])
    assert all(isinstance(v, Fraction) and v == d for v, d in zip(sparse.flat, dense.flat))


@given(W=sparse_matrices())
@settings(max_examples=60, deadline=None)
def test_dense_and_entry_forms_describe_the_same_matrix(W):
    dense = W.toarray()
    assert SparseRationalMatrix.from_dense(dense) == W
    assert W.nnz == sum(v != 0 for v in dense.flat)
    assert W.entries() == {(i, j): v for (i, j), v in np.ndenumerate(dense) if v != 0}
    assert np.array_equal(to_float_array(W), np.array([[float(v) for v in row] for row in dense]).reshape(W.shape))
    assert W.size == W.shape[0] * W.shape[1] and W.ndim == 2


def test_the_canonical_form_drops_zeros_and_sorts_row_major():
    W = SparseRationalMatrix(shape=(3, 3), rows=[2, 0, 1, 0], cols=[0, 2, 1, 1], values=["1/3", 0, -2, 5])
    assert W.nnz == 3
    assert (W.rows.tolist(), W.cols.tolist()) == ([0, 1, 2], [1, 1, 0])  # (0, 2) held the 0
    assert W.values.tolist() == [Fraction(5), Fraction(-2), Fraction(1, 3)]
    same = SparseRationalMatrix.from_entries(shape=(3, 3), entries={(1, 1): -2, (2, 0): Fraction(1, 3), (0, 1): 5})
    assert W == same
    assert W != SparseRationalMatrix.from_entries(shape=(3, 4), entries=same.entries())  # another shape


def test_a_column_with_no_entries_is_zero():
    W = SparseRationalMatrix.from_entries(shape=(2, 3), entries={(1, 0): 2})
    out = rational_array([[3, 4]]) @ W
    assert out.tolist() == [[Fraction(8), Fraction(0), Fraction(0)]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": (2, 2), "rows": [0, 2], "cols": [0, 0], "values": [1, 1]}, r"entry \(2, 0\) is outside a 2 x 2"),
        ({"shape": (2, 2), "rows": [0], "cols": [-1], "values": [1]}, r"entry \(0, -1\) is outside"),
        ({"shape": (2, 2), "rows": [1, 1], "cols": [0, 0], "values": [1, 2]}, r"entry \(1, 0\) is given twice"),
        ({"shape": (2, 2), "rows": [0, 1], "cols": [0], "values": [1, 2]}, "2 row indices, 1 column indices"),
        ({"shape": (2, -1), "rows": [], "cols": [], "values": []}, "non-negative sizes"),
        ({"shape": (2,), "rows": [], "cols": [], "values": []}, r"shape \(rows, cols\)"),
    ],
)
def test_malformed_input_is_refused_naming_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SparseRationalMatrix(**kwargs)


def test_floats_and_other_shapes_are_refused():
    with pytest.raises(TypeError, match="float 0.5 is not accepted"):
        SparseRationalMatrix.from_entries(shape=(1, 1), entries={(0, 0): 0.5})
    with pytest.raises(ValueError, match="2-d"):
        SparseRationalMatrix.from_dense(rational_array([1, 2]))
    W = SparseRationalMatrix.from_entries(shape=(2, 3), entries={(0, 0): 1})
    with pytest.raises(ValueError, match=r"shape \(4,\) by a 2 x 3 matrix"):
        rational_array([1, 2, 3, 4]) @ W


def test_it_is_immutable():
    W = SparseRationalMatrix.from_entries(shape=(2, 2), entries={(0, 1): 1})
    with pytest.raises(AttributeError, match="immutable"):
        W._shape = (3, 3)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        W.values[0] = Fraction(2)
    with pytest.raises(TypeError, match="unhashable"):
        hash(W)


def test_the_float_rendering_rounds_each_entry_once():
    thirds = [Fraction(1, 3), Fraction(-2, 3), Fraction(10**20 + 1, 7)]
    W = SparseRationalMatrix(shape=(3, 1), rows=[0, 1, 2], cols=[0, 0, 0], values=thirds)
    assert W.to_scipy().toarray()[:, 0].tolist() == [float(v) for v in thirds]


# -- built from named directions --------------------------------------------------------------------------------
SPACE = Space.of(Block("x", ["a", "b", "c"]), Block("y"))
HIDDEN = Space.of(Block("u", ["0", "1"]))


@given(st.dictionaries(st.sampled_from(SPACE.names), st.dictionaries(st.sampled_from(HIDDEN.names), VALUES)))
@settings(max_examples=60, deadline=None)
def test_a_sparse_linear_map_is_the_dense_one(action):
    sparse = linear_map(SPACE, HIDDEN, action, sparse=True)
    assert isinstance(sparse, SparseRationalMatrix)
    assert sparse == SparseRationalMatrix.from_dense(linear_map(SPACE, HIDDEN, action))


def test_contributions_that_cancel_leave_no_entry():
    # two names for one coordinate: "y" is the one-coordinate block; its contributions add up to 0
    W = linear_map(SPACE, HIDDEN, {"y": {"u:0": 1, "u:1": 2}, "x:a": {"u:0": "1/2"}}, sparse=True)
    assert W.entries() == {(0, 0): Fraction(1, 2), (3, 0): Fraction(1), (3, 1): Fraction(2)}


# -- models with sparse MLP matrices -----------------------------------------------------------------------------
def with_sparse_mlps(model: Transformer) -> Transformer:
    """The same model with every MLP's ``W_in`` and ``W_out`` stored as sparse matrices."""

    def layer(old: Layer) -> Layer:
        if old.mlp is None:
            return old
        m = old.mlp.block
        block = dataclasses.replace(m, W_in=SparseRationalMatrix.from_dense(m.W_in),
                                    W_out=SparseRationalMatrix.from_dense(m.W_out))
        return dataclasses.replace(old, mlp=dataclasses.replace(old.mlp, block=block))

    loop = None if model.loop is None else dataclasses.replace(model.loop, block=tuple(map(layer, model.loop.block)))
    return dataclasses.replace(model, layers=tuple(map(layer, model.layers)), loop=loop,
                               suffix=tuple(map(layer, model.suffix)))


def run(model, word, arith):
    return classify(model, [word], arith)


@given(transformers(rational_only=True), random_words)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_exact_and_certified_runs_agree_with_the_dense_model(model, word):
    sparse = with_sparse_mlps(model)
    dense_exact, sparse_exact = run(model, word, ExactArithmetic()), run(sparse, word, ExactArithmetic())
    for label in dense_exact.trace.labels:
        assert np.array_equal(dense_exact.trace[label], sparse_exact.trace[label]), label
    assert dense_exact.labels == sparse_exact.labels
    dense_iv, sparse_iv = run(model, word, CertifiedArithmetic(64)), run(sparse, word, CertifiedArithmetic(64))
    for label in dense_iv.trace.labels:
        bounds = [[interval_bounds(v) for v in trace[label].flat] for trace in (dense_iv.trace, sparse_iv.trace)]
        assert bounds[0] == bounds[1], label


@pytest.mark.parametrize("every_product_sparse", [False, True])
@given(model=transformers(rational_only=True), word=random_words)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
def test_torch_runs_agree_with_the_dense_model_bit_for_bit(model, word, every_product_sparse, monkeypatch):
    """Stored sparse or dense, a matrix is multiplied the same way (dense product for a small matrix, compressed
    sparse product under :func:`~exactformer.core.sparse_products.compress`'s rule), so the floats are identical."""
    if every_product_sparse:
        monkeypatch.setattr(sparse_products, "SPARSE_MIN_ENTRIES", 0)
        monkeypatch.setattr(sparse_products, "SPARSE_DENSITY", 1)
    exact = run(model, word, ExactArithmetic())
    assume(min(exact.margins, default=1.0) > 1e-9)  # no tie that float rounding may break either way
    for dtype in (torch.float64, torch.float32, torch.bfloat16):
        dense = run(model, word, TorchArithmetic(dtype=dtype))
        sparse = run(with_sparse_mlps(model), word, TorchArithmetic(dtype=dtype))
        for label in dense.trace.labels:
            assert torch.equal(dense.trace[label], sparse.trace[label]), (dtype, label)


def test_an_mlp_refuses_a_sparse_matrix_of_the_wrong_shape():
    W_in = SparseRationalMatrix.from_entries(shape=(4, 2), entries={(0, 0): 1})
    with pytest.raises(ModelFormatError, match=r"W_out has shape \(3, 4\), expected \(2, 4\)"):
        MLP(W_in=W_in, W_out=SparseRationalMatrix.from_entries(shape=(3, 4), entries={}))


def test_weights_other_than_an_mlps_matrices_refuse_a_sparse_matrix():
    W = SparseRationalMatrix.from_entries(shape=(3, 2), entries={(0, 0): 1})
    with pytest.raises(TypeError, match="only an MLP's W_in and W_out may be sparse"):
        Embedding(W_E=W, vocab=("a", "b", "c"))


@pytest.fixture(scope="module")
def recognizer():
    return pointer_jumping_recognizer(tomita(5))


def random_dfa(seed: int, n_states: int) -> DFA:
    rng = random.Random(seed)
    transitions = {(q, a): rng.randrange(n_states) for q in range(n_states) for a in "ab"}
    return DFA(states=range(n_states), alphabet="ab", transitions=transitions, start=0,
               accepting={q for q in range(n_states) if rng.random() < 0.5})


@pytest.mark.parametrize("dfa", [tomita(5), random_dfa(3, 8)], ids=["tomita5-lookup", "random8-function"])
def test_the_composition_mlp_is_stored_sparse_with_a_few_entries_per_unit(dfa):
    """A unit reads two coordinates and writes a few (a product and the clean-ups), whatever d_model is: at most 8
    stored entries per unit where the dense form has 2 d_model."""
    model = pointer_jumping_recognizer(dfa).model
    mlps = [sub.block for _, layer in model.named_layers(None) for _, sub in layer.sublayers()
            if isinstance(sub.block, MLP)]
    widest = max(mlps, key=lambda m: m.d_mlp)
    assert isinstance(widest.W_in, SparseRationalMatrix) and isinstance(widest.W_out, SparseRationalMatrix)
    assert widest.W_in.nnz + widest.W_out.nnz <= 8 * widest.d_mlp < 2 * widest.d_model * widest.d_mlp


def test_a_saved_recognizer_loads_with_sparse_weights_and_the_same_answers(recognizer, tmp_path):
    path = save_model(recognizer.model, tmp_path / "tomita5.safetensors")
    loaded = load_model(path)
    words = [recognizer.encode(w) for w in ("", "0110", "10101", "0000", "1111011")]
    for word in words:
        a, b = run(recognizer.model, word, ExactArithmetic()), run(loaded, word, ExactArithmetic())
        assert np.array_equal(a.trace.final, b.trace.final)
    stored = load_file(str(path))
    sparse_names = sorted(k[: -len(".rows")] for k in stored if k.endswith(".rows"))
    assert sparse_names and all(stored[f"{n}.num"].dim() == 1 for n in sparse_names)


def test_a_file_with_an_out_of_range_sparse_index_is_refused(recognizer, tmp_path):
    path = save_model(recognizer.model, tmp_path / "m.safetensors")
    tensors = load_file(str(path))
    with open(path, "rb") as fh:
        metadata = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))["__metadata__"]
    name = next(k[: -len(".rows")] for k in tensors if k.endswith(".rows"))
    tensors[f"{name}.rows"] = tensors[f"{name}.rows"].clone()
    tensors[f"{name}.rows"][0] = int(tensors[f"{name}.shape"][0])
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(ModelFormatError, match=rf"{name}: entry \(\d+, \d+\) is outside"):
        load_model(path)


def test_sparse_entries_too_large_for_int64_are_saved_as_limbs(tmp_path):
    space = Space.of(Block("x", ["0", "1"]))
    big = Fraction(2**70 + 1, 3)
    W_in = SparseRationalMatrix.from_entries(shape=(2, 3), entries={(0, 2): big, (1, 0): Fraction(-1, 2**65)})
    W_out = SparseRationalMatrix.from_entries(shape=(3, 2), entries={(2, 1): 1})
    model = Transformer(
        space=space,
        embedding=Embedding(W_E=rational_array([[1, 0], [0, 1]]), vocab=("a", "b")),
        layers=(Layer(mlp=Sublayer(MLP(W_in=W_in, W_out=W_out))),),
        readout=Readout(W_U=rational_array([[0], [1]]), b_U=rational_array([0]), labels=("yes",), decision="sign"),
    )
    loaded = load_model(save_model(model, tmp_path / "big.safetensors"))
    mlp = loaded.layers[0].mlp.block
    assert isinstance(mlp.W_in, SparseRationalMatrix) and mlp.W_in == W_in and mlp.W_out == W_out
    assert run(loaded, ["a"], ExactArithmetic()).trace.final[0, 0, 1] == big
