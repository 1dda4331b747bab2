"""Every registered construction computes today what it computed when the fingerprint was recorded, bit for bit.

See :mod:`tests.fingerprint`: answers, margins, logits and every residual stream in float64 and float32 (full trace
and readout-only pass), exact results, and machine decodes. The exact results and decodes are compared on every
machine; the float bits on a machine with a record of its own (:func:`tests.fingerprint.machine`), or with a record
of its CPU capability that it matches; elsewhere answers exactly and margins to a relative 1e-9.
"""

from __future__ import annotations

import json
import math
import warnings

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
    own, others = F.float_records(STORED)
    if own is not None:  # this machine's own record: bit for bit
        assert floats[name] == own[name], F.machine()
        return
    if any(floats[name] == record[name] for record in others):  # bit for bit with a machine of its capability
        return
    # another machine: the answers exactly, the margins to a relative 1e-9 (said, so that a refactor that changes
    # bits is not passed over silently where the machine has no record: `python -m tests.fingerprint --add-machine`
    # on unchanged code records it)
    warnings.warn(f"{name}: no float record of this machine ({F.machine()}) matches its bits; compared answers "
                  "exactly and margins to 1e-9", stacklevel=1)
    some_record = others[0] if others else next(iter(STORED["float_by_machine"].values()))
    want, have = some_record[name], floats[name]
    assert sorted(want) == sorted(have)
    for key in want:
        for part in ("answers",):
            assert have[key][part] == want[key][part], key
        for w, h in zip(want[key]["margins"], have[key]["margins"], strict=True):
            assert math.isclose(float.fromhex(w), float.fromhex(h), rel_tol=1e-9, abs_tol=1e-12), key


def test_machine_identity_names_the_capability_and_the_cpu():
    """Records are keyed by the capability first (the fallback compares within it) and then the CPU."""
    ident = F.machine()
    assert ident.split()[0] == F.capability()
    assert "flags" in ident.split()


def test_float_records_are_this_machines_own_then_those_of_its_capability(monkeypatch):
    monkeypatch.setattr(F, "capability", lambda: "AVX512")
    monkeypatch.setattr(F, "machine", lambda: "AVX512 CPU-A flags 1")
    stored = {"float_by_machine": {"AVX512 CPU-A flags 1": "a", "AVX512 CPU-B flags 2": "b", "AVX2 CPU-C flags 3": "c"},
              "float_by_capability": {"AVX512": "legacy", "AVX2": "old"}}
    assert F.float_records(stored) == ("a", ["b", "legacy"])
    monkeypatch.setattr(F, "machine", lambda: "AVX512 CPU-D flags 4")
    assert F.float_records(stored) == (None, ["a", "b", "legacy"])
