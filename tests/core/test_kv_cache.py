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


@pytest.mark.parametrize("kind", ["torch", "numpy"])
def test_keeping_some_sequences_is_as_if_only_they_had_been_fed(kind):
    """``KVCache.keep([2, 0])`` after two steps, then two more steps of those two sequences: the kept keys and
    positions are those of a cache fed sequences 2 and 0 alone from the start."""
    make = (lambda a: torch.tensor(a)) if kind == "torch" else np.asarray
    rng = np.random.default_rng(3)
    steps = [rng.integers(0, 5, (4, n, 3)).astype(np.float64) for n in (5, 1, 1, 1)]
    mask = Mask("window", 4)
    whole, alone, position = KVCache(), KVCache(), 0
    for k, rows in enumerate(steps):
        pos = make(np.arange(position, position + rows.shape[1]))
        position += rows.shape[1]
        if k == 2:
            whole.keep([2, 0])
        keys, key_pos = whole.extend("L0.attn", make(rows if k < 2 else rows[[2, 0]]), pos, mask)
        want, want_pos = alone.extend("L0.attn", make(rows[[2, 0]]), pos, mask)
        if k >= 2:
            assert np.array_equal(np.asarray(keys), np.asarray(want))
            assert np.array_equal(np.asarray(key_pos), np.asarray(want_pos))
    kept, kept_pos = whole.entries["L0.attn"]
    want, want_pos = alone.entries["L0.attn"]
    assert np.array_equal(np.asarray(kept), np.asarray(want)) and np.array_equal(np.asarray(kept_pos),
                                                                                 np.asarray(want_pos))


def test_cached_projections_are_known_plain_so_the_per_step_tests_skip_reading_them():
    """The projections the cache hands out are finite non-negative integers (module docstring): ``known_plain``
    says so, and the finiteness and sign tests of the attention answer from it; a tensor computed otherwise, even
    with the same values, is read."""
    from exactformer.core.arith import TorchArithmetic
    from exactformer.core.arith.torch import _all_finite
    from exactformer.core.arith.torch_cached import MIN_ROWS, known_plain
    from exactformer.core.arith.torch_hard import _plain_values

    arith = TorchArithmetic()
    W, b = _weights(arith, [[[1, 0], [2, 1], [0, 3]]], [[0, 1]])
    rows = torch.randint(0, 5, (2, MIN_ROWS + 20, 3), generator=torch.Generator().manual_seed(2)).to(torch.float64)
    (cached, plain), = [s for s in _decode_projections(rows, MIN_ROWS + 30, W, b, arith)[-1:]]
    assert cached is not None and known_plain(cached) and not known_plain(plain)
    assert _all_finite(cached) and _plain_values(cached)
    plain[0, 0, 0, 0] = float("nan")
    assert not _all_finite(plain) and not _plain_values(plain)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.0, 0.5, -1.0])
def test_the_plain_integer_test_reads_every_block(monkeypatch, bad):
    """``_peak_if_plain`` tests a large tensor block by block: a bad entry in the last block is still found, and the
    peak is the largest entry of every block."""
    from exactformer.core.arith import torch_cached

    monkeypatch.setattr(torch_cached, "PLAIN_TEST_BLOCK", 8)
    x = torch.arange(5 * 4 * 3, dtype=torch.float64).reshape(5, 4, 3)
    assert torch_cached._peak_if_plain(x) == 59.0
    x[4, 3, 2] = bad
    assert torch_cached._peak_if_plain(x) is None


def test_the_keys_and_values_of_one_step_read_the_same_tested_rows_and_both_stay_exact():
    """Two projections (a key map and a value map) of the same cached rows share one test of the new rows; with a
    negative row partway through, both decline from there on (and never hand out a wrong projection)."""
    from exactformer.core.arith import TorchArithmetic
    from exactformer.core.arith.torch_cached import cached_per_head

    arith = TorchArithmetic()
    maps = [_weights(arith, [[[1, 0], [2, 1], [0, 3]]], [[0, 0]]), _weights(arith, [[[0, 1], [1, 1], [3, 0]]],
                                                                             [[1, 1]])]
    rows = torch.randint(0, 5, (2, 300, 3), generator=torch.Generator().manual_seed(4)).to(torch.float64)
    rows[1, 150, 2] = -1.0
    cache, mask, answered = KVCache(), Mask("window", 100), 0
    for lo, hi in [(0, 3)] + [(p, p + 1) for p in range(3, rows.shape[1])]:
        keys, _ = cache.extend("L0.attn", rows[:, lo:hi], torch.arange(lo, hi), mask)
        for W, b in maps:
            cached = cached_per_head(arith, keys, W, b)
            if cached is not None:
                answered += 1
                assert torch.equal(cached, torch.einsum("bnd,hde->bhne", keys, W) + b[None, :, None, :])
                assert hi <= 150 or lo >= 250  # the negative row is in no window that was projected
    assert answered > 0
