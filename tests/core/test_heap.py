"""``retained_heap``: freed memory stays in the heap while a batched check runs, and goes back afterwards."""

from __future__ import annotations

import resource
import sys
from typing import Any

import pytest
import torch

import exactformer as ef
from exactformer.core import heap
from exactformer.verify import tensor_check

glibc_only = pytest.mark.skipif(heap._glibc() is None, reason="mallopt is glibc's")


def _faults_of_a_second_block(megabytes: int = 16) -> int:
    """Page faults taken by filling a block of the size just freed (0 when the heap kept the freed pages).

    Two blocks are made and freed first: torch aligns its blocks (``posix_memalign``), and an aligned request asks
    the heap for a little more than the block, which the one freed chunk may not hold until it has coalesced with
    its neighbours (the second block then lands next to the first, and the two freed chunks merge)."""
    for _ in range(2):
        block = torch.ones(megabytes << 17, dtype=torch.float64)
        del block
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = torch.ones(megabytes << 17, dtype=torch.float64)
    del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc_only
def test_within_the_block_a_freed_block_is_reused_without_page_faults():
    """16 MB is 4,096 pages: a block mapped afresh faults on each of them, a reused heap block on none."""
    with heap.retained_heap() as on:
        assert on
        assert _faults_of_a_second_block() < 64
        with heap.retained_heap():  # nested: the inner end leaves the setting in place
            pass
        assert _faults_of_a_second_block() < 64


class _FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_the_thresholds_are_set_once_and_the_trim_threshold_restored_by_the_outermost_block(monkeypatch):
    libc = _FakeLibc()
    monkeypatch.setattr(heap, "_glibc", lambda: libc)
    with heap.retained_heap(), heap.retained_heap():
        assert libc.calls == [("mallopt", heap.M_MMAP_THRESHOLD, 32 << 20), ("mallopt", heap.M_TRIM_THRESHOLD, 2 << 30)]
    assert libc.calls[2:] == [("mallopt", heap.M_TRIM_THRESHOLD, 128 << 10), ("malloc_trim", 0)]
    assert heap._depth == 0


def test_it_is_off_where_the_environment_says_so_or_the_c_library_is_not_glibc(monkeypatch):
    libc = _FakeLibc()
    monkeypatch.setattr(heap, "_glibc", lambda: libc)
    monkeypatch.setenv("EXACTFORMER_RETAIN_HEAP", "0")
    with heap.retained_heap() as on:
        assert not on
    monkeypatch.delenv("EXACTFORMER_RETAIN_HEAP")
    monkeypatch.setattr(heap, "_glibc", lambda: None)
    with heap.retained_heap() as on:
        assert not on
    assert libc.calls == []


def test_glibc_is_recognised_on_linux_only():
    if not sys.platform.startswith("linux"):
        assert heap._glibc() is None


def test_the_tensor_path_runs_its_forward_passes_within_the_block(monkeypatch):
    depths: list[int] = []
    forward = tensor_check.forward

    def recording(*args, **kwargs):
        depths.append(heap._depth)
        return forward(*args, **kwargs)

    monkeypatch.setattr(tensor_check, "forward", recording)
    monkeypatch.setattr(heap, "_glibc", lambda: _FakeLibc())
    c = ef.constructions.build("parity")
    ref = ef.constructions.get("parity").reference(c)
    report = ef.verify.check(c, ref, lengths=[6], exhaustive_up_to=64, path="tensor")
    assert report.passed and report.tested == 64
    assert depths and all(d == 1 for d in depths)
    assert heap._depth == 0
