"""Can a certificate fail? Every behaviour-changing single-weight mutant should break a lemma of its certificate.

:func:`certificate_mutation_rate` samples mutants of a construction's exact weights
(:func:`~exactformer.verify.mutants.sample_mutations`), lets the mutation harness's oracle
(:class:`~exactformer.verify.oracle.CheckOracle`: the reference asked about other inputs than the check's) decide
which ones change behaviour, and runs :func:`~exactformer.verify.certificate.prove` on each of those. A certificate
that still holds for a mutant whose answers are wrong would prove a falsehood: the rate of broken certificates among
behaviour-changing mutants must be 1. With ``prove_equivalent=True`` the behaviour-preserving mutants are proven too,
which measures the other direction: how often a lemma is stricter than correctness needs (a margin, a layout).

Example
-------
>>> import exactformer as ef
>>> from exactformer.verify.certificate_mutation import certificate_mutation_rate
>>> c = ef.constructions.build("post-machine")
>>> ref = ef.constructions.get("post-machine").reference(c)
>>> result = certificate_mutation_rate(c, ref, samples=4, seed=1, lengths=[9])
>>> result.rate
1.0
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..core.construction import Construction
from .certificate import Certificate, prove
from .mutants import Mutation, apply_mutation, sample_mutations
from .oracle import CheckOracle, Oracle
from .reference import as_reference

__all__ = ["CertificateOutcome", "CertificateMutationResult", "certificate_mutation_rate"]

Behaviour = Literal["changing", "equivalent"]


@dataclass
class CertificateOutcome:
    """One mutant: whether it changes behaviour (and where, ``witness``), and what its certificate said.

    ``status`` is the mutant's certificate status, ``None`` when it was not proven (an equivalent mutant, unless
    asked), or ``"prover raised ..."`` when the prover could not even build a certificate; ``caught_by`` names the
    lemmas that failed.
    """

    mutation: Mutation
    behaviour: Behaviour
    witness: str | None = None
    status: str | None = None
    caught_by: tuple[str, ...] = ()

    @property
    def behaviour_changing(self) -> bool:
        return self.behaviour == "changing"

    @property
    def broken(self) -> bool:
        """Whether the mutant's certificate does not hold (a lemma failed, or the prover raised)."""
        return bool(self.caught_by) or bool(self.status and self.status.startswith("prover raised"))

    def as_dict(self) -> dict[str, Any]:
        m = self.mutation
        return {"site": m.site, "index": list(m.index), "operator": m.operator, "before": str(m.before),
                "after": str(m.after), "behaviour": self.behaviour, "witness": self.witness, "status": self.status,
                "caught_by": list(self.caught_by)}


@dataclass
class CertificateMutationResult:
    """What :func:`certificate_mutation_rate` measured on one construction."""

    construction: str
    certificate: Certificate
    outcomes: list[CertificateOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changing(self) -> list[CertificateOutcome]:
        return [o for o in self.outcomes if o.behaviour_changing]

    @property
    def broken(self) -> list[CertificateOutcome]:
        """Behaviour-changing mutants whose certificate fails."""
        return [o for o in self.changing if o.broken]

    @property
    def unbroken(self) -> list[CertificateOutcome]:
        """Behaviour-changing mutants whose certificate still holds: each one a hole in the proof."""
        return [o for o in self.changing if not o.broken]

    @property
    def strict(self) -> list[CertificateOutcome]:
        """Equivalent mutants (proven only with ``prove_equivalent``) whose certificate fails anyway."""
        return [o for o in self.outcomes if not o.behaviour_changing and o.broken]

    @property
    def rate(self) -> float:
        """Broken certificates among behaviour-changing mutants (1.0 when there is none)."""
        return len(self.broken) / len(self.changing) if self.changing else 1.0

    def caught_by(self) -> Counter[str]:
        """How many behaviour-changing mutants each lemma caught (a mutant may fail several)."""
        return Counter(name for o in self.changing for name in o.caught_by)

    def summary(self) -> str:
        by = ", ".join(f"{k} {v}" for k, v in sorted(self.caught_by().items())) or "-"
        return (f"{self.construction}: {len(self.outcomes)} mutants, {len(self.changing)} behaviour-changing, "
                f"{len(self.broken)} break the certificate ({100 * self.rate:.0f}%; lemmas: {by}) in "
                f"{self.seconds:.1f} s")

    def as_dict(self) -> dict[str, Any]:
        return {"construction": self.construction, "certificate": self.certificate.status,
                "lemmas": [(lm.name, lm.method, lm.cases) for lm in self.certificate.lemmas],
                "mutants": len(self.outcomes), "behaviour_changing": len(self.changing), "broken": len(self.broken),
                "rate": self.rate, "strict": len(self.strict), "caught_by": dict(self.caught_by()),
                "seconds": round(self.seconds, 2), "outcomes": [o.as_dict() for o in self.outcomes]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent)

    def __repr__(self) -> str:
        return f"<CertificateMutationResult {self.summary()}>"


def certificate_mutation_rate(
    construction: Construction,
    reference: Any,
    samples: int = 40,
    seed: int = 0,
    *,
    lengths: Iterable[int] = range(0, 17),
    mutations: Sequence[Mutation] | None = None,
    oracle: Oracle | None = None,
    prove_equivalent: bool = False,
    name: str | None = None,
) -> CertificateMutationResult:
    """Sample ``samples`` single-weight mutants, classify them with the oracle, and prove each behaviour-changing one.

    Parameters
    ----------
    construction, reference
        A construction with a registered prover, and the reference its check runs against.
    samples, seed
        How many mutants :func:`~exactformer.verify.mutants.sample_mutations` draws, and its seed (ignored when
        ``mutations`` is given).
    lengths
        The oracle's sizes (as in :func:`~exactformer.verify.mutate.mutate`).
    oracle
        Decides which mutants change behaviour; by default :class:`~exactformer.verify.oracle.CheckOracle` with
        the mutation harness's defaults (twice the check's samples and exhaustive limit, another seed).
    prove_equivalent
        Also prove the mutants that change no behaviour (see :attr:`CertificateMutationResult.strict`).

    Raises
    ------
    TypeError
        When the construction's family has no prover (from :func:`prove`).
    ValueError
        When the unmutated construction's certificate does not hold (the measurement needs a sound start).
    """
    started = time.perf_counter()
    baseline = prove(construction)
    if not baseline.holds:
        raise ValueError(f"{construction.name}'s own certificate fails ({baseline.status}); the measurement needs a "
                         "construction whose certificate holds")
    ref = as_reference(reference)
    if oracle is None:
        oracle = CheckOracle(ref, list(lengths))
    chosen = list(mutations) if mutations is not None else sample_mutations(construction.model, samples, seed=seed)
    result = CertificateMutationResult(construction=name or construction.name, certificate=baseline)
    for mutation in chosen:
        mutant = apply_mutation(construction, mutation)
        try:
            witness = oracle.witness(mutant)
        except Exception as exc:  # noqa: BLE001 - a mutant the forward pass cannot run changes behaviour
            witness = f"{type(exc).__name__}: {exc}"
        behaviour: Behaviour = "changing" if witness is not None else "equivalent"
        outcome = CertificateOutcome(mutation, behaviour, witness)
        if behaviour == "changing" or prove_equivalent:
            try:
                certificate = prove(mutant)
                outcome.status = certificate.status
                outcome.caught_by = tuple(lm.name for lm in certificate.failed)
            except Exception as exc:  # noqa: BLE001 - reported, and counted as no certificate
                outcome.status = f"prover raised {type(exc).__name__}: {exc}"
        result.outcomes.append(outcome)
    result.seconds = time.perf_counter() - started
    return result
