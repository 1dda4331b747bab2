"""The verifier: the only place where constructions meet their independent references.

``check(construction, reference, ...)`` returns a :class:`Report`; ``frontier(...)`` measures how far each float
dtype carries a construction; ``mutate(...)`` measures how many single-weight mutants the check catches;
``prove(construction)`` returns a :class:`Certificate` (lemmas checked exhaustively or symbolically in n);
``strategies`` has hypothesis strategies for words, graphs and machines; ``sweep(config, ...)`` runs a campaign of
such checks on Dask distributed with a resumable results store (:mod:`exactformer.sweep`). ``check`` also takes
a black box (any callable or torch module, :mod:`~exactformer.verify.black_box`), and ``extract_dfa(model,
alphabet, ...)`` learns the DFA a black-box recognizer computes by L* and compares it with the reference
(:mod:`~exactformer.verify.extract`).
"""

from ..sweep.runner import sweep  # the campaign runner (imports no construction: tasks are found by name)
from .black_box import BlackBox, BlackBoxError, as_black_box, torch_black_box
from .certificate import Certificate, Lemma, prove, register_prover
from .check import check, diagnose, float_tolerance, invariant_holds
from .claims import claim_results
from .extract import Extraction, extract_dfa
from .frontier import DTYPES, Frontier, FrontierRow, frontier
from .mutate import CheckOracle, Mutation, MutationReport, apply_mutation, mutate, sample_mutations, weight_sites
from .reference import CorpusReference, FunctionReference, LanguageReference, Reference, as_reference
from .report import ClaimResult, Failure, InvariantTally, LengthReport, Report

__all__ = [
    "check",
    "sweep",
    "prove",
    "Certificate",
    "Lemma",
    "register_prover",
    "diagnose",
    "float_tolerance",
    "invariant_holds",
    "frontier",
    "mutate",
    "Mutation",
    "MutationReport",
    "CheckOracle",
    "apply_mutation",
    "sample_mutations",
    "weight_sites",
    "Frontier",
    "FrontierRow",
    "DTYPES",
    "Reference",
    "LanguageReference",
    "FunctionReference",
    "CorpusReference",
    "as_reference",
    "Report",
    "LengthReport",
    "Failure",
    "InvariantTally",
    "ClaimResult",
    "claim_results",
    "BlackBox",
    "BlackBoxError",
    "as_black_box",
    "torch_black_box",
    "extract_dfa",
    "Extraction",
]
