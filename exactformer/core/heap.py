"""Keeping freed memory in the process's heap while a long batched check runs (glibc only).

A batched forward pass allocates its trace (every residual of every sublayer: for PARITY's 2,496 words of 21 tokens,
five residuals of 4 MB and the temporaries beside them) and frees it when the batch is done. glibc's ``malloc`` returns
freed blocks at the top of the heap to the kernel once they exceed its trim threshold, and serves blocks above its mmap
threshold by fresh mappings, so the next batch takes every page of its trace back with a page fault (and the kernel
zeroes it): 250,000-400,000 faults, 0.7-0.9 of 3.0 CPU s, for the 2^18 PARITY words of length 18 on the tensor path.

:func:`retained_heap` sets the two thresholds (``M_MMAP_THRESHOLD`` 32 MiB, glibc's largest; ``M_TRIM_THRESHOLD``
2 GiB) for the duration of a check, so the batches reuse the heap's pages: 100,000 faults and 2.55 CPU s for the same
words, at the same peak resident memory (~500 MB). On leaving, the trim threshold goes back to glibc's default
(128 KiB) and :func:`malloc_trim` returns the free pages to the kernel. The mmap threshold stays at 32 MiB: once set,
glibc no longer moves it itself (its own rule raises it, up to the same 32 MiB, each time a large block is freed).

Elsewhere (another C library, macOS, Windows) it does nothing. ``EXACTFORMER_RETAIN_HEAP=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

__all__ = ["retained_heap"]

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit machines (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 2 << 30
DEFAULT_TRIM_THRESHOLD = 128 << 10
_depth = 0
_lock = threading.Lock()


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (present in glibc only: musl has mallopt but ignores it)
        libc.mallopt, libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


@contextmanager
def retained_heap() -> Iterator[bool]:
    """Within the block, freed memory stays in the heap for the next allocation (see the module docstring).

    Yields whether the thresholds were set (glibc, and not turned off by ``EXACTFORMER_RETAIN_HEAP=0``). Nested
    blocks (and blocks in other threads) keep the setting until the last one ends.
    """
    global _depth
    libc = _glibc() if os.environ.get("EXACTFORMER_RETAIN_HEAP", "1") != "0" else None
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
