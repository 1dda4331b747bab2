"""What a theorem claims a construction uses, as functions of the input size n, and its comparison with what the
built model measures.

A construction states its theorem's resource bounds as :class:`Claim` values (``layers <= 8 ceil(log2 n) + 9``,
``heads == 1``...), gathered in :class:`ClaimedResources`. :meth:`ClaimedResources.compare` sets them against
:meth:`~exactformer.core.construction.Construction.resources` at a size n and says, per claim, whether the model
keeps it: the verifier reports every claim broken at any size it checks, so a construction that quietly grows past
its theorem (a layer too many per level, a second head) fails.

Examples
--------
>>> claims = ClaimedResources(claims=(Claim("layers", "<=", lambda n: 8 * ceil_log2(n) + 9, "8⌈log2 n⌉ + 9"),))
>>> claims.claims[0].describe(16)
'layers <= 8⌈log2 n⌉ + 9 = 41 at n = 16'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InputError

__all__ = ["Claim", "ClaimedResources", "ClaimCheck", "ceil_log2", "constant", "log_depth", "RESOURCE_FIELDS"]

#: The measured quantities a claim may bound (fields of :class:`~exactformer.core.construction.Resources`).
RESOURCE_FIELDS = ("layers", "heads", "max_heads_per_layer", "d_model", "d_mlp", "params", "tokens")


def ceil_log2(n: int) -> int:
    """``⌈log2 n⌉`` for ``n >= 1``, and 0 for ``n <= 1`` (the papers' depth functions)."""
    return 0 if n <= 1 else (int(n) - 1).bit_length()


@dataclass(frozen=True)
class Claim:
    """One bound the theorem states: ``resource relation bound(n)``.

    Parameters
    ----------
    resource
        A field of :class:`~exactformer.core.construction.Resources` (see :data:`RESOURCE_FIELDS`).
    relation
        ``"=="`` (the theorem fixes it) or ``"<="`` (an upper bound).
    bound
        The bound as a function of the input size n.
    formula
        The bound as the paper writes it, for reports (``"8⌈log2 n⌉ + 9"``).
    source
        ``"theorem"`` (the paper's bound) or ``"build"`` (the size this construction states for itself, e.g. its
        exact depth, which may be tighter than the theorem's).
    """

    resource: str
    relation: Literal["==", "<="]
    bound: Callable[[int], int]
    formula: str
    source: Literal["theorem", "build"] = "theorem"

    def __post_init__(self) -> None:
        if self.resource not in RESOURCE_FIELDS:
            raise InputError(f"a claim bounds one of {', '.join(RESOURCE_FIELDS)}, not {self.resource!r}")
        if self.relation not in ("==", "<="):
            raise InputError(f"a claim's relation is '==' or '<=', not {self.relation!r}")
        if self.source not in ("theorem", "build"):
            raise InputError(f"a claim's source is 'theorem' or 'build', not {self.source!r}")

    def describe(self, n: int | None = None) -> str:
        """``"layers <= 8⌈log2 n⌉ + 9"``, with its value at ``n`` when given."""
        text = f"{self.resource} {self.relation} {self.formula}"
        return text if n is None else f"{text} = {self.bound(n)} at n = {n}"

    def holds(self, measured: int, n: int) -> bool:
        """Whether ``measured`` keeps this claim at size ``n``."""
        bound = self.bound(n)
        return measured == bound if self.relation == "==" else measured <= bound


@dataclass(frozen=True)
class ClaimCheck:
    """One claim set against one measurement."""

    claim: Claim
    n: int
    measured: int
    bound: int
    holds: bool

    def violation(self) -> str:
        """The broken claim as an inequality: ``"layers = 42 > 8⌈log2 n⌉ + 9 = 41 at n = 16"``."""
        sign = ">" if self.claim.relation == "<=" else "!="
        bound = self.claim.formula if self.claim.formula == str(self.bound) else f"{self.claim.formula} = {self.bound}"
        source = " (this build's claim)" if self.claim.source == "build" else ""
        return f"{self.claim.resource} = {self.measured} {sign} {bound} at n = {self.n}{source}"

    def __str__(self) -> str:
        mark = "holds" if self.holds else "BROKEN"
        return f"{self.claim.resource} = {self.measured} vs {self.claim.describe()} = {self.bound} at n = {self.n}: " \
               f"{mark}"


@dataclass(frozen=True)
class ClaimedResources:
    """The theorem's resource claims for a construction.

    Parameters
    ----------
    claims
        The bounds, each a function of n.
    attention
        The attention kinds the theorem allows (``("hard",)``, ``("softmax",)``...), or ``None`` for no claim.
    precision
        The theorem's precision claim in words (``"O(log n) bits"``, ``"constant"``), for reports and the
        precision frontier; ``None`` for none.
    """

    claims: tuple[Claim, ...] = ()
    attention: tuple[str, ...] | None = None
    precision: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "claims", tuple(self.claims))

    def compare(self, resources: Any) -> list[ClaimCheck]:
        """Every claim, and the attention claim, set against ``resources`` (a measured
        :class:`~exactformer.core.construction.Resources`)."""
        n = int(resources.n)
        out = []
        for claim in self.claims:
            measured = int(getattr(resources, claim.resource))
            bound = int(claim.bound(n))
            out.append(ClaimCheck(claim, n, measured, bound, claim.holds(measured, n)))
        return out

    def attention_holds(self, resources: Any) -> bool:
        """Whether every attention kind the model uses is one the theorem allows."""
        return self.attention is None or set(resources.attention_kinds) <= set(self.attention)

    def describe(self, precision: bool = True) -> str:
        """The claims in one line (``"layers <= 8⌈log2 n⌉ + 9; attention hard; precision ..."``), the precision
        claim left out with ``precision=False``."""
        parts = [c.describe() + (" (this build)" if c.source == "build" else "") for c in self.claims]
        if self.attention is not None:
            parts.append("attention " + " or ".join(self.attention))
        if precision and self.precision is not None:
            parts.append(f"precision {self.precision}")
        return "; ".join(parts) if parts else "no resource claims"


def constant(value: int) -> Callable[[int], int]:
    """The bound ``n -> value`` (a theorem that fixes a resource for every n)."""

    def bound(n: int) -> int:
        return value

    bound.__name__ = f"constant_{value}"
    return bound


def log_depth(multiplier: int, offset: int) -> Callable[[int], int]:
    """The bound ``n -> multiplier * ⌈log2 n⌉ + offset``."""

    def bound(n: int) -> int:
        return multiplier * ceil_log2(n) + offset

    bound.__name__ = f"log_depth_{multiplier}_{offset}"
    return bound

