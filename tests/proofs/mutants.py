"""The mutant judge of ``scripts/certificate_mutants.py`` (oracle classification, then the certificate), shared by
the provers' tests."""

from __future__ import annotations

from ..scripts import import_script

judge_mutants = import_script("scripts", "certificate_mutants").judge_mutants
