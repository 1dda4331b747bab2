"""Certificates: a construction proven correct for every n from finitely many exact facts and inequalities in n.

A test runs a construction on finitely many inputs. Most of this library's constructions are correct for a reason
that reduces to finitely many exact facts (an MLP right on every pair of monoid elements, a readout right on every
(symbol, state) pair) plus inequalities in n (an attention score maximal at the right key for *every* offset), and
an induction that composes them. A :class:`Certificate` lists those facts as :class:`Lemma` objects, each checked
by one of four methods:

``exhaustive``
    Checked in exact rational arithmetic on every element of a finite set, whose size is recorded (``cases``).
``symbolic``
    Checked as an identity or inequality in n (and positions) with sympy, from the exact weights.
``induction``
    Composed from other lemmas of the certificate (``uses``): it holds exactly when every lemma it uses holds.
``tested``
    Not proven: checked on finitely many inputs only; ``scope`` says which. A certificate with a tested lemma
    does not prove its conclusion for every n, and says so.

Every lemma reads the construction's *weights* (never the functions that built them), so a mutated or misbuilt
model fails the lemma its mutation breaks. Floats are not covered: a certificate speaks of the exact model; how
far each float dtype carries it is the precision frontier's business (:func:`~exactformer.verify.frontier`).

The provers themselves, one per family, live in :mod:`exactformer.proofs` (they know the constructions' parameter
types, which the verifier must not import) and register themselves here with :func:`register_prover`;
:func:`prove` dispatches on the construction's ``parameters`` type.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..core.construction import Construction

__all__ = [
    "Method", "Status", "Lemma", "Certificate", "Prover", "register_prover", "prove", "provers",
    "exhaustive", "symbolic", "induction", "tested",
]

Method = Literal["exhaustive", "symbolic", "induction", "tested"]
Status = Literal["proven", "failed", "tested"]


@dataclass(frozen=True)
class Lemma:
    """One fact of a certificate, how it was checked, and whether it holds.

    Attributes
    ----------
    name
        A name a reader finds in the prover's source and the paper (e.g. ``"window_selects_oldest"``).
    statement
        The fact, in one sentence, with its quantifiers ("for every window length L >= 1 and every offset ...").
    method
        ``"exhaustive"``, ``"symbolic"``, ``"induction"`` or ``"tested"`` (see the module docstring).
    status
        ``"proven"``, ``"failed"`` (a counterexample or a false inequality, in ``detail``) or ``"tested"``
        (evidence only: a ``tested`` lemma that held).
    cases
        For ``exhaustive``: the size of the finite set checked (every element, in exact arithmetic).
    scope
        The range the lemma covers: ``"every n"`` or a bound such as ``"n <= 2^16"``.
    detail
        The closed form proven, or the first counterexample, or what was tested.
    uses
        The names of the lemmas an ``induction`` composes.
    seconds
        How long checking it took.
    """

    name: str
    statement: str
    method: Method
    status: Status
    cases: int | None = None
    scope: str = "every n"
    detail: str = ""
    uses: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def proven(self) -> bool:
        return self.status == "proven"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["uses"] = list(self.uses)
        return d


@dataclass
class Certificate:
    """What :func:`prove` established about one construction: a conclusion and the lemmas it rests on.

    Attributes
    ----------
    construction
        The construction's name.
    conclusion
        The theorem the lemmas compose to (e.g. "for every window length L and every step t, the decoder's t-th
        token is the reference machine's").
    lemmas
        In the order they are checked; an ``induction`` lemma comes after those it uses.
    scope
        The range the conclusion covers when every lemma is proven: ``"every n"``, or a bound the proof needs
        (a precision or size limit), e.g. ``"n <= 2^20"``.
    assumptions
        What the proof takes for granted (exact arithmetic, the input encoding...), one sentence each.
    tested_to
        Where the conclusion is not proven (a ``tested`` lemma), the largest size the tests reached, as a phrase
        (``"n = 12"``); ``None`` otherwise.
    beside
        ``tested`` lemmas beside a proof of bounded scope (e.g. float runs beyond the proven range): evidence, not
        part of the proof, so they leave :attr:`proven` and the status alone unless one fails.
    """

    construction: str
    conclusion: str
    lemmas: list[Lemma] = field(default_factory=list)
    scope: str = "every n"
    assumptions: tuple[str, ...] = ("exact rational arithmetic (floats are covered by the precision frontier)",)
    tested_to: str | None = None
    beside: list[Lemma] = field(default_factory=list)

    def lemma(self, name: str) -> Lemma:
        """The lemma called ``name`` (``KeyError`` naming the ones there are otherwise)."""
        for lemma in self.lemmas + self.beside:
            if lemma.name == name:
                return lemma
        raise KeyError(f"no lemma {name!r} in the certificate of {self.construction}; it has "
                       f"{', '.join(lm.name for lm in self.lemmas + self.beside)}")

    @property
    def failed(self) -> list[Lemma]:
        """The lemmas that do not hold."""
        return [lm for lm in self.lemmas + self.beside if lm.failed]

    @property
    def tested_only(self) -> list[Lemma]:
        """The lemmas that were tested, not proven."""
        return [lm for lm in self.lemmas if lm.status == "tested"]

    @property
    def proven(self) -> bool:
        """Whether the conclusion is proven (over :attr:`scope`): every lemma proven, none failed, none tested."""
        return bool(self.lemmas) and all(lm.proven for lm in self.lemmas) and not any(lm.failed for lm in self.beside)

    @property
    def holds(self) -> bool:
        """Whether no lemma failed (the conclusion may still rest on tested lemmas)."""
        return not self.failed

    @property
    def status(self) -> str:
        """``"proven for every n"``, ``"proven for n <= ..."``, ``"tested to n = ..."`` or ``"failed: LEMMA, ..."``."""
        if self.failed:
            return "failed: " + ", ".join(lm.name for lm in self.failed)
        if self.proven:
            return f"proven for {self.scope}"
        return f"tested to {self.tested_to}" if self.tested_to else "tested, not proven"

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for lm in self.lemmas:
            kinds[lm.method] = kinds.get(lm.method, 0) + 1
        methods = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        return f"{self.construction}: {self.status} ({len(self.lemmas)} lemmas: {methods})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "construction": self.construction,
            "conclusion": self.conclusion,
            "status": self.status,
            "proven": self.proven,
            "scope": self.scope,
            "tested_to": self.tested_to,
            "assumptions": list(self.assumptions),
            "lemmas": [lm.as_dict() for lm in self.lemmas],
            "beside": [lm.as_dict() for lm in self.beside],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent)

    _HEADER = ("lemma", "method", "cases", "scope", "status", "detail")

    def _rows(self) -> list[list[str]]:
        return [[lm.name, lm.method, "" if lm.cases is None else f"{lm.cases:,}", lm.scope, lm.status,
                 lm.detail or (("from " + ", ".join(lm.uses)) if lm.uses else "")] for lm in self.lemmas + self.beside]

    def to_markdown(self) -> str:
        lines = [f"**{self.summary()}**", "", f"Conclusion: {self.conclusion}", "",
                 "Assumptions: " + "; ".join(self.assumptions) + ".", "",
                 "| " + " | ".join(self._HEADER) + " |", "|" + "---|" * len(self._HEADER)]
        for row in self._rows():
            lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |")
        return "\n".join(lines)

    def render(self) -> Any:
        """A rich renderable (the lemma table, failed lemmas in red) for the terminal."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(self.summary()), title_justify="left")
        for h in self._HEADER:
            table.add_column(h, justify="right" if h == "cases" else "left")
        for row, lm in zip(self._rows(), self.lemmas + self.beside):
            style = "red" if lm.failed else ("yellow" if lm.status == "tested" else None)
            table.add_row(*(Text(cell) for cell in row), style=style)
        return Group(table, Text(f"Conclusion: {self.conclusion}"),
                     Text("Assumptions: " + "; ".join(self.assumptions) + "."))

    def __str__(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return f"<Certificate {self.summary()}>"


# ---------------------------------------------------------------------------------------------------------------
# checking one lemma
# ---------------------------------------------------------------------------------------------------------------


def exhaustive(name: str, statement: str, cases: Iterable[Any], holds: Callable[[Any], bool | str], *,
               scope: str = "every n", describe: Callable[[Any], str] = repr) -> Lemma:
    """Check ``holds(case)`` on every element of the finite set ``cases``, in exact arithmetic.

    ``holds`` returns ``True`` when the case is fine, and ``False`` or a string (what went wrong) otherwise; the
    first failing case makes the lemma ``failed`` with the case (``describe(case)``) and the message in ``detail``.
    The lemma records how many cases were checked.
    """
    start = time.perf_counter()
    count = 0
    for case in cases:
        count += 1
        verdict = holds(case)
        if verdict is not True:
            why = f": {verdict}" if isinstance(verdict, str) else ""
            return Lemma(name, statement, "exhaustive", "failed", cases=count, scope=scope,
                         detail=f"fails at {describe(case)}{why}", seconds=time.perf_counter() - start)
    return Lemma(name, statement, "exhaustive", "proven", cases=count, scope=scope,
                 seconds=time.perf_counter() - start)


def symbolic(name: str, statement: str, check: Callable[[], tuple[bool, str]], *, scope: str = "every n") -> Lemma:
    """A lemma proven in closed form: ``check()`` returns (whether it holds, the closed form or the counterexample).

    ``check`` does the sympy work (simplify an identity to 0, or show an inequality for every n in ``scope``);
    an exception inside it is a failure with the exception's message, never a pass.
    """
    start = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as err:  # noqa: BLE001 - a proof attempt that raises proves nothing
        ok, detail = False, f"{type(err).__name__}: {err}"
    return Lemma(name, statement, "symbolic", "proven" if ok else "failed", scope=scope, detail=detail,
                 seconds=time.perf_counter() - start)


def induction(name: str, statement: str, uses: Iterable[Lemma], *, scope: str = "every n") -> Lemma:
    """A lemma composed from others: proven when every lemma in ``uses`` is, failed when one failed, else tested."""
    used = list(uses)
    if not used:
        raise ValueError(f"the induction {name!r} uses no lemma")
    names = tuple(lm.name for lm in used)
    failed = [lm.name for lm in used if lm.failed]
    if failed:
        return Lemma(name, statement, "induction", "failed", scope=scope, uses=names,
                     detail="a lemma it uses fails: " + ", ".join(failed))
    status: Status = "proven" if all(lm.proven for lm in used) else "tested"
    return Lemma(name, statement, "induction", status, scope=scope, uses=names)


def tested(name: str, statement: str, passed: bool, detail: str, *, scope: str) -> Lemma:
    """A fact checked on finitely many inputs only (``scope`` says which): ``tested`` if it held, else ``failed``."""
    return Lemma(name, statement, "tested", "tested" if passed else "failed", scope=scope, detail=detail)


tested.__test__ = False  # type: ignore[attr-defined]  # pytest: a module importing it is not collecting a test


# ---------------------------------------------------------------------------------------------------------------
# provers
# ---------------------------------------------------------------------------------------------------------------

Prover = Callable[[Construction], Certificate]
_PROVERS: dict[type, Prover] = {}


def register_prover(parameters_type: type, prover: Prover) -> Prover:
    """Make ``prover`` the one :func:`prove` uses for constructions whose ``parameters`` are a ``parameters_type``.

    The most specific registered type wins (a subclass's prover before its base class's).
    """
    _PROVERS[parameters_type] = prover
    return prover


def provers() -> dict[type, Prover]:
    """The registered provers by parameter type (a copy)."""
    return dict(_PROVERS)


def prove(construction: Construction) -> Certificate:
    """Prove ``construction`` correct from its weights, lemma by lemma (see the module docstring).

    Returns a :class:`Certificate` whatever the outcome: a broken model gives a certificate whose failed lemmas say
    where. Raises ``TypeError`` for a construction whose family has no prover.
    """
    params = construction.parameters
    for cls in type(params).__mro__:
        if cls in _PROVERS:
            return _PROVERS[cls](construction)
    known = ", ".join(sorted(t.__name__ for t in _PROVERS)) or "none"
    raise TypeError(f"no prover for {construction.name!r} (parameters {type(params).__name__}); provers exist for "
                    f"{known}")
