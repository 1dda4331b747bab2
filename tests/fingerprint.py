"""A fingerprint of what every registered construction computes, to hold a refactoring of the core to bit-equality.

This is a regression record, not a correctness check: the values were produced by the code itself (the correctness
checks are the verifier's, against independent references). It exists so that moving the forward pass, the
arithmetics and the construction helpers around changes no answer, margin, logit or residual by a single bit.

For every registered construction (default options), at up to three of its default sizes, a few deterministic inputs
(chosen by its own reference's ``inputs`` with a fixed seed) are run

* in torch float64 and float32 with the full trace: the answers, the margins (as float hex), a SHA-256 of the logits'
  bytes and one of every residual stream's bytes in trace order;
* in torch float64 and float32 through the readout-only pass (``keep_trace=False``): answers and margins;
* in exact arithmetic at the smallest size where the model is rational: answers, logits and a hash of every residual
  as exact fractions;
* for the machine constructions, a greedy decode of the registry's example (``simulate``): the tokens.

Float bits depend on the machine: torch picks its kernels by ``torch.backends.cpu.get_cpu_capability``, and MKL (matrix
products) and its vector math pick theirs by the CPU itself. An AMD EPYC (family 25, model 17) and the machine of the
first record, of the same capability (AVX512), were seen to differ in the last bits of PARITY's margins and of the
LayerNorm constructions' residuals, for the same code. So the float parts are recorded per machine (:func:`machine`: the
capability, the CPU's vendor, family and model, and a hash of its feature flags), and ``float_by_capability`` keeps the
first record, made on a machine whose identity was not written down. A machine with a record of its own compares bit for
bit with it; any other compares bit for bit with a record of its capability where one matches, and otherwise answers
exactly and margins to a relative 1e-9 (see ``tests/test_fingerprint.py``).

Regenerate with ``python -m tests.fingerprint --write`` only when a change is meant to change what a construction
computes, and say so in the commit (this rewrites the machine-independent part and this machine's floats, and drops
every other machine's floats, which the change makes stale). ``--add-machine`` records this machine's floats beside
the others for unchanged code: it refuses when the machine-independent part differs from the stored one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import exactformer as ef
from exactformer.core.errors import ExactformerError, IrrationalOperation

PATH = Path(__file__).parent / "data" / "fingerprint.json"
INPUTS_PER_SIZE = 4
SIZES_PER_CONSTRUCTION = 3
DTYPES = {"float64": torch.float64, "float32": torch.float32}
#: Constructions whose exact run takes minutes today (object arrays of Fractions through a composition MLP of
#: 7.6M parameters, d_mlp 7,388: 73 s for one size-1 batch); their exact path is the same code as the others'.
EXACT_TOO_SLOW = {"log-depth-a5": "exact run takes ~73 s (object arrays through 7.6M exact parameters)"}


def capability() -> str:
    """The CPU kernel family torch uses here (float results are bit-equal only within one)."""
    return str(torch.backends.cpu.get_cpu_capability())


@cache
def machine() -> str:
    """This machine's identity for float records: torch's CPU capability, the CPU's vendor, family and model, and
    a hash of its feature flags (a hypervisor may hide some, and MKL chooses kernels by them). Linux reads
    ``/proc/cpuinfo``; elsewhere :func:`platform.processor` stands for the CPU."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = " ".join(sorted(fields.get("flags", "").split()))
    cpu = (f"{fields['vendor_id']} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"
           if "vendor_id" in fields else (platform.processor() or platform.machine()))
    return f"{capability()} {cpu} flags {hashlib.sha256(flags.encode()).hexdigest()[:12]}"


def float_records(stored: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``(this machine's own float record or None, the other records of this machine's capability)``."""
    by_machine, here = stored.get("float_by_machine", {}), machine()
    own = by_machine.get(here)
    others = [rec for key, rec in by_machine.items() if key != here and key.split()[0] == capability()]
    legacy = stored.get("float_by_capability", {}).get(capability())
    return own, others + ([legacy] if legacy is not None else [])


def _sizes(sizes: tuple[int, ...]) -> list[int]:
    """Up to three sizes: the smallest positive one, one from the middle, the largest."""
    positive = sorted(s for s in sizes if s > 0) or sorted(sizes)
    picked = [positive[0], positive[len(positive) // 2], positive[-1]]
    return sorted(set(picked))[:SIZES_PER_CONSTRUCTION]


def _inputs(reference: Any, size: int) -> list[Any]:
    from exactformer.verify.reference import as_reference

    ref = as_reference(reference)
    xs, _ = ref.inputs(size, count=INPUTS_PER_SIZE, exhaustive_limit=INPUTS_PER_SIZE, rng=random.Random(size))
    return list(xs)[:INPUTS_PER_SIZE]


def _hex(v: Any) -> str:
    return float(v).hex()


def _tensor_bytes(x: Any) -> bytes:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().contiguous().numpy().tobytes()
    arr = np.asarray(x, dtype=object)
    return ("|".join(str(v) for v in arr.reshape(-1)) + f"#{arr.shape}").encode()


def _sha(chunks: list[bytes]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(len(c).to_bytes(8, "little"))
        h.update(c)
    return h.hexdigest()[:32]


def _groups(c: Any, xs: list[Any]) -> list[list[Any]]:
    """Inputs grouped by encoded length, in first-seen order (one batch each)."""
    groups: dict[int, list[Any]] = {}
    for x in xs:
        groups.setdefault(len(c.encode(x)), []).append(x)
    return list(groups.values())


def _run_full(c: Any, xs: list[Any], **options: Any) -> dict[str, Any]:
    answers, margins, logits, residuals = [], [], [], []
    for group in _groups(c, xs):
        results = c.run_batch(group, **options)
        answers += [repr(r.answer) for r in results]
        margins += [_hex(r.margin) for r in results]
        logits += [_tensor_bytes(r.logits) for r in results]
        trace = results[0].output.trace
        residuals += [_tensor_bytes(x) for x in trace.residuals]
    return {"answers": answers, "margins": margins, "logits": _sha(logits), "residuals": _sha(residuals),
            "n_residuals": len(residuals)}


def _run_readout_only(c: Any, xs: list[Any], dtype: torch.dtype) -> dict[str, Any]:
    answers, margins = [], []
    for group in _groups(c, xs):
        results = c.run_batch(group, dtype=dtype, keep_trace=False)
        answers += [repr(r.answer) for r in results]
        margins += [_hex(r.margin) for r in results]
    return {"answers": answers, "margins": margins}


def _is_thinking(c: Any) -> bool:
    return type(c).run_batch is not ef.core.Construction.run_batch


def fingerprint_of(name: str) -> dict[str, Any]:
    """The fingerprint of the construction registered as ``name`` (see the module docstring)."""
    entry = ef.constructions.get(name)
    c = entry.builder(**entry.options)
    reference = entry.reference(c)
    sizes = _sizes(entry.default_lengths(c))
    out: dict[str, Any] = {"sizes": sizes, "float": {}, "exact": None}
    for size in sizes:
        xs = _inputs(reference, size)
        if not xs:
            continue
        for dname, dtype in DTYPES.items():
            record = _run_full(c, xs, dtype=dtype)
            if not _is_thinking(c):
                record["readout_only"] = _run_readout_only(c, xs, dtype)
            out["float"][f"{dname}/n={size}"] = record
        if out["exact"] is None and name in EXACT_TOO_SLOW:
            out["exact"] = "skipped: " + EXACT_TOO_SLOW[name]
        if out["exact"] is None:
            try:
                exact = _run_full(c, xs, backend="exact")
                exact["logits_exact"] = [str(Fraction(v)) for r in c.run_batch(xs[:1], backend="exact")
                                         for v in np.ravel(np.asarray(r.logits, dtype=object))]
                out["exact"] = {"n": size, **exact}
            except IrrationalOperation:
                out["exact"] = "irrational"
    if c.simulator is not None:
        sim: dict[str, Any] = {}
        for dname, dtype in DTYPES.items():
            try:
                run = c.simulate(entry.example, max_tokens=40, dtype=dtype)
                sim[dname] = [repr(t) for t in run.tokens]
            except ExactformerError as exc:  # recorded as it is: the fingerprint keeps today's behaviour
                sim[dname] = f"{type(exc).__name__}"
        out["simulate"] = sim
    return out


def fingerprint() -> dict[str, Any]:
    """The fingerprint of every registered construction."""
    return {name: fingerprint_of(name) for name in ef.constructions.names()}


def split(fp: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(machine-independent part, float part)`` of a fingerprint: exact results and decodes' tokens are the
    same on every machine; float bits are per CPU capability."""
    portable = {name: {"sizes": v["sizes"], "exact": v["exact"], "simulate": v.get("simulate")} for name, v in
                fp.items()}
    floats = {name: v["float"] for name, v in fp.items()}
    return portable, floats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true",
                      help=f"record the fingerprint of changed code in {PATH} (drops other machines' floats)")
    mode.add_argument("--add-machine", action="store_true",
                      help="record this machine's floats beside the others (unchanged code only)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the tests run (tests/conftest.py): MKL sums some products by thread count
    portable, floats = split(fingerprint())
    if not (args.write or args.add_machine):
        print(machine())
        print(json.dumps({"portable": portable, "float": floats}, indent=1)[:4000])
        return
    stored = json.loads(PATH.read_text()) if PATH.exists() else {}
    if args.add_machine:
        if stored.get("portable") != portable:
            raise SystemExit("the machine-independent part differs from the stored one: the code changed what a "
                             "construction computes, so record it with --write")
    else:
        stored["portable"] = portable
        stored["float_by_capability"] = {}
        stored["float_by_machine"] = {}
    stored.setdefault("float_by_machine", {})[machine()] = floats
    stored["torch"] = torch.__version__.split("+")[0]
    PATH.parent.mkdir(parents=True, exist_ok=True)
    PATH.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    print(f"wrote {PATH} ({machine()})")


if __name__ == "__main__":
    main()
