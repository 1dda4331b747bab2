"""Suite-wide settings: one torch thread, and no skips under ``EXACTFORMER_NO_SKIP=1``.

The test machines have 2 cores shared with other jobs; torch's intra-op threads then fight each other and the
batches in these tests are small, so one thread is both faster and reproducible in timing.
"""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``EXACTFORMER_NO_SKIP=1`` (``.ci/run`` sets it) a skipped test fails, naming why it would have skipped:
    the README's install carries everything the tests need, so nothing on its path may skip."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("EXACTFORMER_NO_SKIP") == "1" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped under EXACTFORMER_NO_SKIP=1: {reason}"
