"""ScaledFeature: factor * feature(i, N), exact, certified and torch, and its JSON form (nested)."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest
import torch

from exactformer.core.positions import (
    AlternatingSign,
    IndexOverLength,
    IndicatorAt,
    ScaledFeature,
    Sinusoid,
    feature_from_json,
)


@pytest.mark.parametrize("inner", [IndexOverLength(), AlternatingSign(), IndicatorAt(-1)])
@pytest.mark.parametrize("factor", [-1, Fraction(3, 7)])
def test_scaled_feature_agrees_on_every_evaluator(inner, factor):
    f = ScaledFeature(inner, factor)
    length = 13
    i = torch.arange(length)
    want = torch.tensor([float(factor * inner.exact(k, length)) for k in range(length)], dtype=torch.float64)
    assert torch.allclose(f.torch(i, length, torch.float64), want, rtol=2**-51, atol=0)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        assert torch.allclose(f.torch(i, length, dtype).double(), want, rtol=torch.finfo(dtype).eps, atol=0)
    if factor == -1:
        for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            assert torch.equal(f.torch(i, length, dtype), -inner.torch(i, length, dtype))
    for k in range(length):
        exact = f.exact(k, length)
        assert exact == Fraction(factor) * inner.exact(k, length)
        lo, hi = f.interval(k, length).a, f.interval(k, length).b
        assert lo <= mpmath.mpf(exact.numerator) / exact.denominator <= hi
    assert f.depends_on_length == inner.depends_on_length


def test_negation_is_exact_in_every_dtype():
    f, g = IndexOverLength(), ScaledFeature(IndexOverLength())
    i = torch.arange(1001)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        assert torch.equal(g.torch(i, 1001, dtype), -f.torch(i, 1001, dtype))


def test_json_round_trip_and_description():
    f = ScaledFeature(IndicatorAt(1), "-1")
    data = f.to_json()
    assert data == {"kind": "scaled", "feature": {"kind": "indicator_at", "position": 1}, "factor": "-1"}
    assert feature_from_json(data) == f
    assert f.describe() == "-([i = 1])" and ScaledFeature(Sinusoid(), Fraction(1, 2)).describe().startswith("1/2*")
    with pytest.raises(ValueError, match="positional feature"):
        ScaledFeature("i/N")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        ScaledFeature(IndexOverLength(), -0.5)
