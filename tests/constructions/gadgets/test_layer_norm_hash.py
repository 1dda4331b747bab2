"""The layer-norm hash (App. A) against closed forms: the storage psi / phi, the scale-invariant read, the hash's
exact argmax, its gap ~1/(2 q^4) and its float frontiers."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from exactformer.constructions.gadgets.layer_norm_hash import (
    hash_argmax,
    hash_frontier,
    hash_gap,
    layer_norm_hash,
    layer_norm_read,
    phi,
    psi,
)


def test_psi_phi_storage():
    assert psi(3) == (3, 1, -3, -1) and sum(psi(Fraction(7, 2))) == 0
    v = phi(3)
    assert math.isclose(sum(x * x for x in v), 1.0)
    assert math.isclose(v[0], 3 / math.sqrt(20))


@pytest.mark.parametrize("x,i", [(0, 1), (3, 7), (5, 5), (12, 40)])
def test_scale_invariance_of_the_read(x, i):
    read = layer_norm_read(Fraction(x, i), Fraction(1, i))
    assert all(math.isclose(a, b, abs_tol=1e-15) for a, b in zip(read, phi(x)))


def test_hash_is_maximal_exactly_at_equality():
    for q in range(0, 30):
        assert hash_argmax(q, list(range(0, 40))) == [q]
        assert math.isclose(layer_norm_hash(q, q), 1.0)
        assert layer_norm_hash(q, q + 1) < 1.0


@pytest.mark.parametrize("q", [10, 100, 1000])
def test_hash_gap_is_about_one_over_2q4(q):
    assert math.isclose(hash_gap(q), 1 / (2 * q**4), rel_tol=5 / q)


def test_hash_frontier_float32_and_float64():
    f32 = hash_frontier(torch.float32)
    f64 = hash_frontier(torch.float64)
    # the note predicts ~50 (float32) and ~8,000 (float64): the gap 1/(2 q^4) falls below machine epsilon
    assert 10 <= f32 <= 200, f32
    assert 2_000 <= f64 <= 20_000, f64
