"""Mutation testing of the verifier: break one exact weight, and see whether the default check notices.

A verifier that passes a broken construction is worse than none. :func:`mutate` measures how often that happens:

1. **Mutants.** Single-entry changes of the exact weights (:func:`weight_sites` lists every entry by name: the
   token embedding, every attention and MLP matrix and bias, the relative-position biases, the unembedding). An
   entry of a looped block is one entry, however often the loop runs. Entries are sampled, half among the
   nonzero ones and half among the zeros, and each gets one of the :data:`OPERATORS` that changes it (``negate``,
   ``zero``, ``x2`` change only a nonzero entry).
2. **Oracle.** Whether a mutant changes the model's behaviour is decided by an oracle that does not look at the
   inputs the check tests: by default :class:`CheckOracle`, the same reference asked for *other* inputs (another
   seed, twice the samples, exhaustive enumeration up to a larger count; for machines the reference's own runs
   from other prompts) and only the answers compared. A mutant is *behaviour-changing* when, on some oracle input,
   its answer differs from the reference's, or it raises (a NaN, an attention tie) or leaves the decision tied.
   The first such input is its *witness*.
3. **Verdict.** Each behaviour-changing mutant is run through the check (by default the one ``exactformer verify
   NAME`` runs) and is *caught* (a wrong answer, an error or a tie), *caught only by invariants* (the answers it
   was checked on were right, but a proof invariant broke), or *missed* (the check passed it). A mutant that
   changes no behaviour the oracle can see is *equivalent*; the check is not run on it unless asked
   (``check_equivalent=True``), and then one it fails is *flagged* (an invariant noticed a change that no answer
   shows).

The oracle and the check run in the same backend (torch, float64 by default); the oracle's sizes are the check's
unless given. That is the claim measured: *at these sizes*, every behaviour change of one weight is caught.

Example
-------
>>> import exactformer as ef
>>> c = ef.constructions.copy_first()
>>> ref = ef.constructions.get("demo").reference(c)
>>> result = ef.verify.mutate(c, ref, lengths=range(1, 6), samples=6, seed=1)
>>> result.missed
[]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..core.construction import Construction
from ..core.errors import InputError
from .check import check
from .mutants import OPERATORS, Mutation, WeightSite, apply_mutation, sample_mutations, weight_sites
from .mutation_report import MutantOutcome, MutationReport, Verdict
from .oracle import CheckOracle, Oracle, describe_failure
from .reference import as_reference

__all__ = [
    "OPERATORS",
    "WeightSite",
    "Mutation",
    "MutantOutcome",
    "MutationReport",
    "Oracle",
    "CheckOracle",
    "weight_sites",
    "sample_mutations",
    "apply_mutation",
    "mutate",
]


def mutate(
    construction: Construction,
    reference: Any,
    *,
    samples: int = 40,
    operators: Sequence[str] = tuple(OPERATORS),
    seed: int = 0,
    mutations: Sequence[Mutation] | None = None,
    lengths: Iterable[int] = range(0, 17),
    oracle: Oracle | None = None,
    check_options: dict[str, Any] | None = None,
    check_equivalent: bool = False,
    progress: Callable[[int, int, MutantOutcome], None] | None = None,
    name: str | None = None,
) -> MutationReport:
    """Mutation-test the verifier on ``construction``: how many single-weight mutants does :func:`check` catch?

    Parameters
    ----------
    construction
        The (correct) construction to mutate.
    reference
        Its independent reference (what ``exactformer verify`` checks it against).
    samples
        How many mutants to sample (see :func:`sample_mutations`); ignored when ``mutations`` is given.
    operators
        The operators to use, a subset of :data:`OPERATORS`.
    seed
        Seeds the choice of mutants (the check keeps its own default seed).
    mutations
        Run exactly these mutants instead of sampling.
    lengths
        The sizes of the check (and of the default oracle).
    oracle
        Decides which mutants change behaviour; by default a :class:`CheckOracle` over the same ``lengths``.
    check_options
        Keyword arguments of the check that judges each mutant (default: ``check``'s own defaults, as
        ``exactformer verify`` runs it).
    check_equivalent
        Also run the check on mutants the oracle finds no behaviour change in (reported ``flagged`` if it fails).
    progress
        Called as ``progress(done, total, outcome)`` after each mutant.
    name
        The name the report gives the construction (default: ``construction.name``).

    Returns
    -------
    MutationReport
        Per mutant: the mutation, its verdict, a witness input from the oracle, and the check's first failure.

    Raises
    ------
    InputError
        If the unmutated construction does not pass its own check (mutation testing needs a correct start).
    """
    started = time.perf_counter()
    sizes = list(lengths)
    ref = as_reference(reference)
    options = dict(check_options or {})
    options.setdefault("lengths", sizes)
    baseline = check(construction, ref, **{**options, "shrink": False})
    if not baseline.passed:
        raise InputError(f"{construction.name} fails its own check before any mutation ({baseline.summary()}); "
                         "mutation testing measures a correct construction's verifier")
    if oracle is None:
        samples_per_length = 2 * int(options.get("samples_per_length", 200))
        exhaustive = 2 * int(options.get("exhaustive_up_to", 4096))
        oracle = CheckOracle(ref, sizes, samples_per_length=samples_per_length, exhaustive_up_to=exhaustive,
                             backend=options.get("backend", "torch"), dtype=options.get("dtype"))
    chosen = list(mutations) if mutations is not None else sample_mutations(construction.model, samples, seed=seed,
                                                                            operators=operators)
    sites = weight_sites(construction.model)
    report = MutationReport(construction=name or construction.name, entries=sum(s.size for s in sites),
                            nonzero_entries=sum(s.nonzero for s in sites))
    for k, mutation in enumerate(chosen):
        outcome = _judge(apply_mutation(construction, mutation), mutation, ref, oracle, options, check_equivalent)
        report.outcomes.append(outcome)
        if progress is not None:
            progress(k + 1, len(chosen), outcome)
    report.seconds = time.perf_counter() - started
    return report


def _judge(mutant: Construction, mutation: Mutation, ref: Any, oracle: Oracle, options: dict[str, Any],
           check_equivalent: bool) -> MutantOutcome:
    try:
        witness = oracle.witness(mutant)
    except Exception as exc:  # a mutant the forward pass cannot even run changes behaviour
        witness = f"{type(exc).__name__}: {exc}"
    if witness is None and not check_equivalent:
        return MutantOutcome(mutation, "equivalent")
    fast = {**options, "shrink": False, "fail_fast": True}
    try:
        answers = check(mutant, ref, **{**fast, "check_invariants": False})
    except Exception as exc:  # the check refused to pass it: caught, though not by a report
        return MutantOutcome(mutation, "caught" if witness is not None else "flagged", witness,
                             f"check raised {type(exc).__name__}: {exc}")
    if not answers.passed:
        verdict: Verdict = "caught" if witness is not None else "flagged"
        return MutantOutcome(mutation, verdict, witness, describe_failure(answers))
    if options.get("check_invariants", True):
        full = check(mutant, ref, **fast)
        if not full.passed:
            verdict = "caught only by invariants" if witness is not None else "flagged"
            return MutantOutcome(mutation, verdict, witness, describe_failure(full))
    return MutantOutcome(mutation, "missed" if witness is not None else "equivalent", witness)
