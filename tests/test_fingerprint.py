"""Every registered construction computes today what it computed when the fingerprint was recorded, bit for bit.

See :mod:`tests.fingerprint`: answers, margins, logits and every residual stream in float64 and float32 (full trace
and readout-only pass), exact results, and machine decodes. The exact results and decodes are compared on every
machine; the float bits on a machine whose CPU kernel family (``torch.backends.cpu.get_cpu_capability()``) has a
record, and elsewhere answers exactly and margins to a relative 1e-9.
"""

from __future__ import annotations

import json
import math

import pytest

import exactformer as ef

from . import fingerprint as F

STORED = json.loads(F.PATH.read_text())


def test_every_recorded_construction_is_still_registered():
    """A renamed or removed construction is noticed; a new one is guarded by its own tests until it is recorded
    (``python -m tests.fingerprint --write``)."""
    assert set(STORED["portable"]) <= set(ef.constructions.names())


@pytest.mark.parametrize("name", sorted(STORED["portable"]))
def test_fingerprint(name):
    portable, floats = F.split({name: F.fingerprint_of(name)})
    assert portable[name] == STORED["portable"][name]
    recorded = STORED["float_by_capability"].get(F.capability())
    if recorded is not None:
        assert floats[name] == recorded[name]
        return
    (some_record,) = list(STORED["float_by_capability"].values())[:1]
    want, have = some_record[name], floats[name]
    assert sorted(want) == sorted(have)
    for key in want:
        for part in ("answers",):
            assert have[key][part] == want[key][part], key
        for w, h in zip(want[key]["margins"], have[key]["margins"], strict=True):
            assert math.isclose(float.fromhex(w), float.fromhex(h), rel_tol=1e-9, abs_tol=1e-12), key
