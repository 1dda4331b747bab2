"""Setting a construction's claimed resources against what its model measures, at every size the verifier checks.

A construction states its theorem's bounds (:attr:`~exactformer.core.construction.Construction.claims`: layers
``<= 8⌈log2 n⌉ + 9``, one head, hard attention...). :func:`claim_results` measures
:meth:`~exactformer.core.construction.Construction.resources` at a size n and gives one :class:`ClaimResult` per
claim, and a ``"resources"`` :class:`~exactformer.verify.report.Failure` per broken one, naming the claim, the
measured value and the bound (``"layers = 42 > 8⌈log2 n⌉ + 9 = 41 at n = 16"``). :func:`~exactformer.verify.check`
records both in its report, so a construction that grows past its theorem fails however right its answers are.
"""

from __future__ import annotations

from typing import Any

from .report import ClaimResult, Failure

__all__ = ["claim_results"]


def claim_results(construction: Any, n: int) -> tuple[list[ClaimResult], list[Failure]]:
    """Every claim of ``construction`` at input size ``n``, and a failure for each that does not hold.

    A construction without claims (or an object without ``claims`` and ``resources``) gives no results.
    """
    claims = getattr(construction, "claims", None)
    if claims is None or not hasattr(construction, "resources") or (not claims.claims and claims.attention is None):
        return [], []
    resources = construction.resources(n)
    results, failures = [], []
    for c in claims.compare(resources):
        results.append(ClaimResult(claim=c.claim.describe(), source=c.claim.source, n=n, measured=str(c.measured),
                                   bound=str(c.bound), holds=c.holds))
        if not c.holds:
            failures.append(_failure(c.claim.describe(), c.measured, c.bound, c.violation()))
    if claims.attention is not None:
        used = ", ".join(resources.attention_kinds) or "none"
        allowed = " or ".join(claims.attention)
        holds = claims.attention_holds(resources)
        results.append(ClaimResult(claim=f"attention {allowed}", source="theorem", n=n, measured=used, bound=allowed,
                                   holds=holds))
        if not holds:
            failures.append(_failure(f"attention {allowed}", used, allowed,
                                     f"attention = {used}, not {allowed} as claimed, at n = {n}"))
    return results, failures


def _failure(claim: str, measured: Any, bound: Any, why: str) -> Failure:
    return Failure(kind="resources", input=None, minimal_input=None, expected=bound, got=measured,
                   where=f"claim {claim}", reason=why)
