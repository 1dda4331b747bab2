"""Mutants of a construction, split by the oracle into behaviour-changing and equivalent (as verify/mutate.py does),
each with its certificate: what the provers' tests measure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exactformer.catalog import get
from exactformer.core.construction import Construction
from exactformer.verify.certificate import Certificate, prove
from exactformer.verify.mutants import Mutation, apply_mutation, sample_mutations
from exactformer.verify.oracle import CheckOracle
from exactformer.verify.reference import as_reference


@dataclass
class Judged:
    mutation: Mutation
    witness: str | None
    certificate: Certificate

    @property
    def behaviour_changing(self) -> bool:
        return self.witness is not None

    @property
    def broken(self) -> bool:
        return bool(self.certificate.failed)


def judge_mutants(entry_name: str, construction: Construction, count: int, lengths: Sequence[int], *,
                  seed: int = 0) -> list[Judged]:
    """``count`` sampled single-weight mutants of ``construction``, each classified by the oracle (the catalog
    entry's reference on ``lengths``, answers only) and proven."""
    ref = as_reference(get(entry_name).reference(construction))
    oracle = CheckOracle(ref, list(lengths), samples_per_length=40, exhaustive_up_to=256)
    out = []
    for mutation in sample_mutations(construction.model, count, seed=seed):
        mutant = apply_mutation(construction, mutation)
        try:
            witness = oracle.witness(mutant)
        except Exception as err:  # a mutant the forward pass cannot run changes behaviour
            witness = f"{type(err).__name__}: {err}"
        out.append(Judged(mutation, witness, prove(mutant)))
    return out
