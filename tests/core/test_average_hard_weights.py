"""The fast arithmetic's average-hard weights (:meth:`TorchArithmetic.attention_weights`: the mask in place, the
winners as the keys equal to a finite maximum, ``1 / count`` placed by one ``where``) are the plain arithmetic's
weights byte for byte, signed zeros included, for every mask, tie, query without a key and non-finite score."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from exactformer.core.architecture import Attention
from exactformer.core.arith import TorchArithmetic
from exactformer.core.arith.torch import PlainTorchArithmetic

from .test_one_hot_attention import _fractions


def _average_hard(mask: str) -> Attention:
    zeros = _fractions(np.zeros((1, 2, 1)))
    return Attention(W_Q=zeros, W_K=zeros, W_V=zeros, W_O=_fractions(np.zeros((1, 1, 2))), kind="average_hard",
                     mask=mask)  # type: ignore[arg-type]


# few distinct values, so ties are common; -inf, inf and NaN now and then
SCORES = st.sampled_from([0.0, -0.0, 1.0, 1.0, 2.5, -3.0, 1e300, float("-inf"), float("inf"), float("nan")])


@settings(max_examples=300, deadline=None)
@given(scores=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 5),
                                                st.integers(1, 5)), elements=SCORES),
       mask=st.sampled_from(["none", "causal", "strict_causal"]),
       dtype=st.sampled_from([torch.float64, torch.float32, torch.float16, torch.bfloat16]))
def test_the_fast_average_hard_weights_are_the_plain_arithmetics_bytes(scores, mask, dtype):
    att = _average_hard(mask)
    queries, keys = scores.shape[2], scores.shape[3]
    qpos, kpos = torch.arange(keys - queries, keys), torch.arange(keys)
    sees = {"none": torch.ones(queries, keys, dtype=torch.bool), "causal": kpos[None] <= qpos[:, None],
            "strict_causal": kpos[None] < qpos[:, None]}[mask][None, None]
    block = torch.from_numpy(scores).to(dtype)

    def weights(arith):
        try:
            return arith.attention_weights(block.clone(), sees, att, "L0.attn", qpos).numpy().tobytes()
        except Exception as exc:  # both must raise alike
            return f"{type(exc).__name__}: {exc}"

    assert weights(TorchArithmetic(dtype)) == weights(PlainTorchArithmetic(dtype))


def test_a_tie_of_three_keys_weighs_each_a_third_and_a_query_without_a_key_gets_zeros():
    scores = torch.tensor([[[[5.0, 5.0, 5.0], [1.0, 7.0, 7.0], [2.0, 2.0, 2.0]]]])
    qpos = torch.arange(3)
    arith = TorchArithmetic(torch.float64)
    causal = (torch.arange(3)[None] <= qpos[:, None])[None, None]
    got = arith.attention_weights(scores.clone(), causal, _average_hard("causal"), "L0.attn", qpos)
    assert got.tolist() == [[[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]]]
    strict = (torch.arange(3)[None] < qpos[:, None])[None, None]
    got = arith.attention_weights(scores.clone(), strict, _average_hard("strict_causal"), "L0.attn", qpos)
    assert got.tolist() == [[[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]]]
