"""Grid tasks over registered constructions: ``check`` (:func:`exactformer.verify.check` against the entry's
reference) and ``frontier`` (:func:`exactformer.verify.frontier`), one cell per combination of options, lengths,
backend, dtype, device, seed and samples.

A configuration gives the construction's name (``construction``), its builder options (``options``, a table) and
the check's parameters; the reference is the registry entry's, as ``exactformer verify`` uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import Task

DTYPES = ("float16", "bfloat16", "float32", "float64")


def _validate(construction: str = "", options: dict[str, Any] | None = None, backend: str = "torch",
              dtype: str = "float64", lengths: list[int] | None = None, **_: Any) -> None:
    from ... import catalog
    from ...verify.arguments import BACKENDS

    entry = catalog.get(construction)  # KeyError naming the registered constructions
    unknown = sorted(set(options or {}) - set(entry.options))
    if unknown:
        raise ValueError(f"{construction} takes no option(s) {unknown}; its options are {sorted(entry.options)}")
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if lengths is not None and (not isinstance(lengths, list) or not all(isinstance(n, int) and n >= 0
                                                                          for n in lengths)):
        raise ValueError(f"lengths must be a list of sizes >= 0, not {lengths!r}")


def _subject(construction: str, options: dict[str, Any] | None, lengths: list[int] | None) -> tuple[Any, Any, list]:
    import torch

    from ... import catalog

    torch.set_num_threads(1)
    entry = catalog.get(construction)
    built = catalog.build(construction, **(options or {}))
    if entry.reference is None:
        raise ValueError(f"{construction} has no registered reference to check against")
    sizes = list(lengths) if lengths is not None else list(entry.default_lengths(built))
    return built, entry.reference(built), sizes


def run_check(construction: str, options: dict[str, Any] | None = None, lengths: list[int] | None = None,
              backend: str = "torch", dtype: str = "float64", device: str | None = None, seed: int = 0,
              samples: int = 200, exhaustive_up_to: int = 4096, check_invariants: bool = True) -> dict[str, Any]:
    """The report of one check, as JSON (:meth:`exactformer.verify.Report.as_dict`), with its headline figures."""
    import torch

    from ...verify import check

    built, reference, sizes = _subject(construction, options, lengths)
    report = check(built, reference, lengths=sizes, samples_per_length=samples, exhaustive_up_to=exhaustive_up_to,
                   backend=backend, dtype=getattr(torch, dtype) if backend == "torch" else None, device=device,
                   seed=seed, check_invariants=check_invariants)
    figures = {"passed": report.passed, "sizes": len(report.lengths), "tested": report.tested,
               "failed": sum(r.failed for r in report.lengths), "failures": len(report.failures)}
    return {"report": report.as_dict(), "summary": report.summary(), "figures": figures}


def run_frontier(construction: str, options: dict[str, Any] | None = None, lengths: list[int] | None = None,
                 dtypes: Sequence[str] = DTYPES, device: str | None = None, seed: int = 0, samples: int = 100,
                 exhaustive_up_to: int = 256) -> dict[str, Any]:
    """The precision frontier of one construction: per dtype, the largest size up to which every size passed."""
    import torch

    from ...verify import frontier

    built, reference, sizes = _subject(construction, options, lengths)
    result = frontier(built, reference, lengths=sizes, dtypes=[getattr(torch, d) for d in dtypes],
                      samples_per_length=samples, exhaustive_up_to=exhaustive_up_to, seed=seed, device=device)
    rows = [{"variant": r.variant, "dtype": r.dtype, "tested": r.tested, "passed": r.passed,
             "frontier": r.frontier, "first_failing_size": r.first_failing_size,
             "first_failure": None if r.first_failure is None else str(r.first_failure)} for r in result.rows]
    return {"rows": rows, "markdown": result.to_markdown(),
            "figures": {f"frontier {r['dtype']}": r["frontier"] for r in rows}}


CHECK = Task(run=run_check, validate=_validate, name="check",
             params=frozenset({"construction", "options", "lengths", "backend", "dtype", "device", "seed", "samples",
                               "exhaustive_up_to", "check_invariants"}))
FRONTIER = Task(run=run_frontier, validate=lambda dtypes=(), **kw: _validate(**kw), name="frontier",
                params=frozenset({"construction", "options", "lengths", "dtypes", "device", "seed", "samples",
                                  "exhaustive_up_to"}))
