"""Token embeddings from one table per length give the gather-and-add embedding's floats.

Row ``t * n + i`` of the table is ``W_E[t] + pe[i]``, the one addition the general embedding makes for token ``t``
at position ``i``; so a batch of vocabulary indices embeds to the same bits (``torch.equal`` on the integer view),
at every start position and length, in every dtype; the table is made once per length and remade when ``W_E``
changes in place; an index outside the vocabulary is refused as the general gather refuses it.
"""

from __future__ import annotations

import pytest
import torch

from exactformer.constructions import registry
from exactformer.core.arith import TorchArithmetic
from exactformer.core.arith.torch import PlainTorchArithmetic


def _bits(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous().view({8: torch.int64, 4: torch.int32, 2: torch.int16}[x.element_size()])


@pytest.mark.parametrize("name", ["parity", "first", "parity-ln", "superposition"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_the_table_embedding_equals_the_gather_and_add(name, dtype):
    model = registry.build(name).model
    generator = torch.Generator().manual_seed(3)
    vocabulary = len(model.embedding.vocab)
    fast, plain = TorchArithmetic(dtype=dtype), PlainTorchArithmetic(dtype=dtype)
    for start, n in [(0, 1), (0, 7), (3, 5), (0, 33)]:
        index = torch.randint(0, vocabulary, (6, n), generator=generator)
        want = plain.embed(model, [[model.embedding.vocab[t] for t in row] for row in index.tolist()], start)
        got = fast.embed(model, index, start)
        assert torch.equal(_bits(got), _bits(want)), (start, n)
    assert len(fast.__dict__["_token_tables"]) == 4  # one table per (start, length)


def test_a_changed_embedding_is_read_again_and_a_bad_index_is_refused():
    model = registry.build("parity").model
    arith = TorchArithmetic()
    index = torch.tensor([[0, 1, 2], [2, 1, 0]])
    before = arith.embed(model, index)
    W_E = arith.weights(model.embedding.W_E)
    with torch.no_grad():
        W_E.mul_(2)  # in place: the version counter moves, the table is made again
    after = arith.embed(model, index)
    assert torch.equal(after - arith._positional_rows(model, 0, 3), 2 * (before - arith._positional_rows(model, 0, 3)))
    with pytest.raises(IndexError):
        arith.embed(model, torch.tensor([[0, 3, 1]]))  # no token 3: the general gather's error

