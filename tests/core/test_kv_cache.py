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
