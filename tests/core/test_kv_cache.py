"""A window-masked KV cache keeps exactly the keys a later query may see: the same rows and positions as selecting
them by the boolean test ``position > newest - width`` (it keeps them as a view of the last rows)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from exactformer.core.architecture import Mask
from exactformer.core.forward import KVCache


@pytest.mark.parametrize("width", [1, 2, 5])
@pytest.mark.parametrize("prompt", [1, 3, 7])
def test_the_window_cache_keeps_the_rows_the_boolean_test_selects(width, prompt):
    cache, rows, positions = KVCache(), [], []
    mask = Mask("window", width)
    new, new_pos = torch.randn(2, prompt, 3, dtype=torch.float64), torch.arange(prompt)
    previous = None  # the newest position of the step before
    for _ in range(6):
        keys, key_pos = cache.extend("L0.attn", new, new_pos, mask)
        rows.append(new)
        positions.append(new_pos)
        every, every_pos = torch.cat(rows, dim=1), torch.cat(positions)
        visible = every_pos >= 0 if previous is None else every_pos > previous - width
        assert torch.equal(key_pos, every_pos[visible]) and torch.equal(keys, every[:, visible])
        kept, kept_pos = cache.entries["L0.attn"]
        later = every_pos > int(new_pos[-1]) - width  # what a later query may still see
        assert torch.equal(kept_pos, every_pos[later]) and torch.equal(kept, every[:, later])
        previous = int(new_pos[-1])
        new, new_pos = torch.randn(2, 1, 3, dtype=torch.float64), torch.arange(previous + 1, previous + 2)


def test_the_window_cache_takes_numpy_rows_alike():
    cache = KVCache()
    mask = Mask("window", 2)
    cache.extend("a", np.arange(6.0).reshape(1, 3, 2), np.arange(3), mask)
    keys, key_pos = cache.extend("a", np.full((1, 1, 2), 9.0), np.array([3]), mask)
    assert key_pos.tolist() == [1, 2, 3] and keys.tolist() == [[[2.0, 3.0], [4.0, 5.0], [9.0, 9.0]]]
    kept, kept_pos = cache.entries["a"]
    assert kept_pos.tolist() == [2, 3] and kept.tolist() == [[[4.0, 5.0], [9.0, 9.0]]]



def _decode_projections(rows, width, W, b, arith):
    """Feed ``rows`` ([batch, n, d]) through a window cache one position at a time (after a prompt of 3); per step,
    the cached projection of the kept keys (``None`` where it declines) and the plain einsum over them."""
    from exactformer.core.arith.torch_cached import cached_per_head

    cache, mask, out = KVCache(), Mask("window", width), []
    for lo, hi in [(0, 3)] + [(p, p + 1) for p in range(3, rows.shape[1])]:
        keys, _ = cache.extend("L0.attn", rows[:, lo:hi], torch.arange(lo, hi), mask)
        out.append((cached_per_head(arith, keys, W, b), torch.einsum("bnd,hde->bhne", keys, W) + b[None, :, None, :]))
    return out


def _weights(arith, w, bias):
    return arith.weights(np.array(w, dtype=object)), arith.weights(np.array(bias, dtype=object))


def test_cached_projections_of_non_negative_integer_rows_are_the_whole_windows_projection_bit_for_bit():
    from exactformer.core.arith import TorchArithmetic
    from exactformer.core.arith.torch_cached import MIN_ROWS

    arith = TorchArithmetic()
    W, b = _weights(arith, [[[1, 0], [2, 1], [0, 3]]] * 2, [[1, 0], [0, 2]])  # 2 heads, d = 3, d_head = 2
    rows = torch.randint(0, 5, (2, 600, 3), generator=torch.Generator().manual_seed(0)).to(torch.float64)
    steps = _decode_projections(rows, MIN_ROWS + 40, W, b, arith)  # the buffer grows and is replaced several times
    for cached, plain in steps:
        assert cached is None or cached.contiguous().numpy().tobytes() == plain.contiguous().numpy().tobytes()
    assert all(cached is not None for cached, plain in steps if plain.shape[2] >= MIN_ROWS)


@pytest.mark.parametrize("bad", ["negative row", "fraction", "negative weight"])
def test_the_projection_cache_declines_where_the_order_of_summation_could_change_a_bit(bad):
    from exactformer.core.arith import TorchArithmetic
    from exactformer.core.arith.torch_cached import MIN_ROWS

    arith = TorchArithmetic()
    W, b = _weights(arith, [[[1, 0], [-2 if bad == "negative weight" else 2, 1], [0, 3]]], [[0, 0]])
    rows = torch.randint(0, 5, (1, 400, 3), generator=torch.Generator().manual_seed(1)).to(torch.float64)
    if bad != "negative weight":
        rows[0, 200, 1] = -1.0 if bad == "negative row" else 0.5
    steps = _decode_projections(rows, MIN_ROWS + 10, W, b, arith)
    long = [(cached, plain) for cached, plain in steps if plain.shape[2] >= MIN_ROWS]
    if bad == "negative weight":
        assert all(cached is None for cached, _ in long)
        return
    assert any(cached is None for cached, _ in long) and any(cached is not None for cached, _ in long)
    assert all(cached is None or torch.equal(cached, plain) for cached, plain in long)
