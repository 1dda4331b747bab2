"""The mutant judge of ``scripts/certificate_mutants.py`` (oracle classification, then the certificate), shared by
the provers' tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..scripts import import_script

judge_mutants = import_script("scripts", "certificate_mutants").judge_mutants


def assert_behaviour_changing_mutants_break_a_lemma(name: str, construction: Any, count: int,
                                                   lengths: Sequence[int]) -> None:
    """Every behaviour-changing mutant among ``count`` sampled ones fails some lemma of its certificate (and the
    sample holds at least one: otherwise the test measures nothing)."""
    judged = judge_mutants(name, construction, count, lengths)
    changing = [j for j in judged if j.behaviour_changing]
    assert changing, "no behaviour-changing mutant among the sample: the test measures nothing"
    assert [str(j.mutation) for j in changing if not j.broken] == []
