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

import dataclasses
import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, Protocol

import numpy as np

from ..core.architecture import Attention, Layer, Loop, RelativeBias, Sublayer, Transformer
from ..core.construction import Construction
from ..core.errors import InputError
from ..core.sparse import SparseRationalMatrix
from .check import check
from .reference import as_reference
from .report import Report

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

#: The mutation operators: each maps an exact weight to its mutated value.
OPERATORS: dict[str, Callable[[Fraction], Fraction]] = {
    "negate": lambda w: -w,
    "zero": lambda w: Fraction(0),
    "+1": lambda w: w + 1,
    "x2": lambda w: 2 * w,
    "+1/7": lambda w: w + Fraction(1, 7),
}

Verdict = Literal["caught", "caught only by invariants", "missed", "equivalent", "flagged"]


# ------------------------------------------------------------------------------------------------------------------
# where the weights are


@dataclass(frozen=True)
class WeightSite:
    """One weight tensor of a model, named like :meth:`Construction.weights` names it with ``n=None``
    (``embed.W_E``, ``L0.attn.W_Q``, ``loop0.B1.mlp.b_in``, ``unembed.W_U``; ``L0.attn.rel_bias.h0`` for the
    relative-position bias of head 0, indexed by offset)."""

    name: str
    shape: tuple[int, ...]
    nonzero: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class Mutation:
    """One single-entry mutant: ``site[index]`` changed from ``before`` to ``after`` by ``operator``."""

    site: str
    index: tuple[int, ...]
    operator: str
    before: Fraction
    after: Fraction

    def __str__(self) -> str:
        index = ",".join(str(i) for i in self.index)
        return f"{self.site}[{index}] {self.operator}: {self.before} -> {self.after}"


def _layer_slots(model: Transformer) -> list[tuple[str, Layer]]:
    return model.named_layers(None)


def _tensor(model: Transformer, name: str) -> Any:
    """The array (or relative bias) called ``name`` in ``model``."""
    if name == "embed.W_E":
        return model.embedding.W_E
    if name in ("unembed.W_U", "unembed.b_U"):
        return model.readout.W_U if name.endswith("W_U") else model.readout.b_U
    label, kind, param = _split(name)
    layer = dict(_layer_slots(model))[label]
    sub = layer.attention if kind == "attn" else layer.mlp
    assert sub is not None
    if param.startswith("rel_bias.h"):
        assert isinstance(sub.block, Attention) and sub.block.relative_bias is not None
        return sub.block.relative_bias[int(param[len("rel_bias.h"):])]
    return getattr(sub.block, param)


def _split(name: str) -> tuple[str, str, str]:
    parts = name.split(".")
    for k, part in enumerate(parts):
        if part in ("attn", "mlp"):
            return ".".join(parts[:k]), part, ".".join(parts[k + 1 :])
    raise KeyError(f"{name!r} names no weight of a layer")


def _count_nonzero(arr: Any) -> int:
    if isinstance(arr, SparseRationalMatrix):
        return len(arr.values)
    return int(np.count_nonzero(arr != 0))


def weight_sites(model: Transformer) -> list[WeightSite]:
    """Every weight tensor of ``model`` once (a looped block's layers once), with its shape and nonzero count."""
    names = ["embed.W_E"]
    for label, layer in _layer_slots(model):
        if layer.attention is not None:
            att = layer.attention.block
            names += [f"{label}.attn.{p}" for p in att.WEIGHTS]
            for h, bias in enumerate(att.relative_bias or ()):  # type: ignore[union-attr]
                if bias is not None:
                    names.append(f"{label}.attn.rel_bias.h{h}")
        if layer.mlp is not None:
            names += [f"{label}.mlp.{p}" for p in layer.mlp.block.WEIGHTS]
    names += ["unembed.W_U", "unembed.b_U"]
    sites = []
    for name in names:
        t = _tensor(model, name)
        if isinstance(t, RelativeBias):
            offsets = _bias_offsets(t)
            sites.append(WeightSite(name, (len(offsets),), sum(1 for o in offsets if t(o) != 0)))
        else:
            sites.append(WeightSite(name, tuple(t.shape), _count_nonzero(t)))
    return [s for s in sites if s.size]


def _bias_offsets(bias: RelativeBias) -> list[int]:
    """The offsets a relative bias names, and the offsets between them and 0: each is one mutable entry (the
    bias's default applies to the others, so they are the same weight)."""
    listed = sorted(bias.values)
    lo, hi = min([0, *listed]), max([0, *listed])
    return list(range(lo, hi + 1))


def _entry(t: Any, index: tuple[int, ...]) -> Fraction:
    if isinstance(t, RelativeBias):
        return t(_bias_offsets(t)[index[0]])
    if isinstance(t, SparseRationalMatrix):
        hit = np.flatnonzero((t.rows == index[0]) & (t.cols == index[1]))
        return t.values[int(hit[0])] if len(hit) else Fraction(0)
    return Fraction(t[index])


def _nonzero_positions(t: Any) -> np.ndarray | None:
    """The flat indices of the nonzero entries of a dense weight (``None`` for a sparse matrix or a bias)."""
    if isinstance(t, (SparseRationalMatrix, RelativeBias)):
        return None
    return np.flatnonzero(np.asarray(t).reshape(-1) != 0)


def _random_index(site: WeightSite, t: Any, nonzero: bool, rng: random.Random,
                  positions: np.ndarray | None) -> tuple[int, ...] | None:
    """A uniformly random index of a nonzero (or zero) entry of ``t``; ``None`` if there is none. ``positions``
    are the flat indices of a dense ``t``'s nonzero entries (:func:`_nonzero_positions`)."""
    want = site.nonzero if nonzero else site.size - site.nonzero
    if want <= 0:
        return None
    if isinstance(t, SparseRationalMatrix):
        if nonzero:
            k = rng.randrange(len(t.values))
            return int(t.rows[k]), int(t.cols[k])
        taken = set(zip(t.rows.tolist(), t.cols.tolist()))
        while True:  # zeros are the vast majority of a sparse matrix: rejection sampling ends quickly
            ij = (rng.randrange(t.shape[0]), rng.randrange(t.shape[1]))
            if ij not in taken:
                return ij
    if isinstance(t, RelativeBias):
        offsets = _bias_offsets(t)
        pool = [k for k, o in enumerate(offsets) if (t(o) != 0) == nonzero]
        return (rng.choice(pool),)
    assert positions is not None
    if nonzero:
        flat = int(positions[rng.randrange(len(positions))])
    else:  # the k-th zero: skip past the nonzero positions before it (positions are sorted)
        k = rng.randrange(site.size - len(positions))
        lo, hi = 0, len(positions)
        while lo < hi:  # the number m of nonzero positions p with p - (its rank) <= k, by bisection
            mid = (lo + hi) // 2
            if int(positions[mid]) - mid <= k:
                lo = mid + 1
            else:
                hi = mid
        flat = k + lo
    return tuple(int(i) for i in np.unravel_index(flat, t.shape))


def sample_mutations(model: Transformer, count: int, *, seed: int = 0,
                     operators: Sequence[str] = tuple(OPERATORS)) -> list[Mutation]:
    """``count`` distinct single-entry mutations of ``model``: half on nonzero entries, half on zeros (all on one
    kind when the other has no entry), each entry chosen uniformly among the entries of its kind, each operator
    uniformly among those of ``operators`` that change the entry."""
    if count < 0:
        raise InputError(f"the number of mutants must be >= 0, got {count}")
    unknown = [op for op in operators if op not in OPERATORS]
    if unknown:
        raise InputError(f"unknown mutation operator(s) {unknown}; available: {list(OPERATORS)}")
    rng = random.Random(f"mutations:{seed}")
    sites = weight_sites(model)
    tensors = {s.name: _tensor(model, s.name) for s in sites}
    positions = {name: _nonzero_positions(t) for name, t in tensors.items()}
    nonzero_total = sum(s.nonzero for s in sites)
    zero_total = sum(s.size - s.nonzero for s in sites)
    out: list[Mutation] = []
    seen: set[tuple[str, tuple[int, ...], str]] = set()
    attempts = 0
    while len(out) < count and attempts < 50 * count + 100:
        attempts += 1
        on_nonzero = (len(out) % 2 == 0) if (nonzero_total and zero_total) else bool(nonzero_total)
        weights = [s.nonzero if on_nonzero else s.size - s.nonzero for s in sites]
        if not any(weights):
            break
        site = rng.choices(sites, weights=weights)[0]
        index = _random_index(site, tensors[site.name], on_nonzero, rng, positions[site.name])
        if index is None:
            continue
        before = _entry(tensors[site.name], index)
        changing = [op for op in operators if OPERATORS[op](before) != before]
        if not changing:
            continue
        op = rng.choice(changing)
        key = (site.name, index, op)
        if key in seen:
            continue
        seen.add(key)
        out.append(Mutation(site.name, index, op, before, OPERATORS[op](before)))
    return out


# ------------------------------------------------------------------------------------------------------------------
# building a mutant


def _with_entry(t: Any, index: tuple[int, ...], value: Fraction) -> Any:
    if isinstance(t, RelativeBias):
        values = dict(t.values)
        values[_bias_offsets(t)[index[0]]] = value
        return RelativeBias(values, t.default)
    if isinstance(t, SparseRationalMatrix):
        entries = {(int(i), int(j)): v for i, j, v in zip(t.rows, t.cols, t.values)}
        entries[(int(index[0]), int(index[1]))] = value
        return SparseRationalMatrix.from_entries(shape=t.shape, entries=entries)
    arr = t.copy()
    arr[index] = value
    return arr


def _replace_in_layer(layer: Layer, kind: str, param: str, index: tuple[int, ...], value: Fraction) -> Layer:
    sub = layer.attention if kind == "attn" else layer.mlp
    assert sub is not None
    block = sub.block
    if param.startswith("rel_bias.h"):
        assert isinstance(block, Attention) and block.relative_bias is not None
        h = int(param[len("rel_bias.h"):])
        biases = list(block.relative_bias)
        biases[h] = _with_entry(biases[h], index, value)
        new_block: Any = dataclasses.replace(block, relative_bias=tuple(biases))
    else:
        new_block = dataclasses.replace(block, **{param: _with_entry(getattr(block, param), index, value)})
    new_sub: Sublayer = dataclasses.replace(sub, block=new_block)
    if kind == "attn":
        return dataclasses.replace(layer, attention=new_sub)
    return dataclasses.replace(layer, mlp=new_sub)


def apply_mutation(construction: Construction, mutation: Mutation) -> Construction:
    """The construction with one weight entry changed (everything else, encoder and invariants included, shared)."""
    model = construction.model
    name, index, value = mutation.site, mutation.index, mutation.after
    if name == "embed.W_E":
        new_model = dataclasses.replace(
            model, embedding=dataclasses.replace(model.embedding, W_E=_with_entry(model.embedding.W_E, index, value))
        )
    elif name in ("unembed.W_U", "unembed.b_U"):
        param = name.split(".")[1]
        new = _with_entry(getattr(model.readout, param), index, value)
        new_model = dataclasses.replace(model, readout=dataclasses.replace(model.readout, **{param: new}))
    else:
        label, kind, param = _split(name)
        layers, loop, suffix = list(model.layers), model.loop, list(model.suffix)
        if label.startswith("L"):
            k = int(label[1:])
            layers[k] = _replace_in_layer(layers[k], kind, param, index, value)
        elif label.startswith("S"):
            k = int(label[1:])
            suffix[k] = _replace_in_layer(suffix[k], kind, param, index, value)
        else:
            assert loop is not None
            k = int(label.split(".B")[1])
            block = list(loop.block)
            block[k] = _replace_in_layer(block[k], kind, param, index, value)
            loop = Loop(block=tuple(block), count=loop.count)
        new_model = dataclasses.replace(model, layers=tuple(layers), loop=loop, suffix=tuple(suffix))
    return dataclasses.replace(construction, model=new_model)


# ------------------------------------------------------------------------------------------------------------------
# the oracle and the verdict


class Oracle(Protocol):
    """Decides whether a mutant's behaviour differs from the reference's: ``witness(mutant)`` returns a
    description of an input where it does, or ``None``."""

    def witness(self, construction: Construction) -> str | None:
        ...


@dataclass
class CheckOracle:
    """The reference asked about inputs other than the check's: :func:`check` with another seed, ``factor`` times
    the samples, exhaustive enumeration up to ``exhaustive_up_to`` inputs per size (twice the check's defaults),
    invariants off, stopping at the first wrong answer (or error, or tie). Machine references contribute their own
    runs from other prompts."""

    reference: Any
    lengths: Sequence[int]
    samples_per_length: int = 400
    exhaustive_up_to: int = 8192
    seed: int = 7919
    backend: str = "torch"
    dtype: Any = None

    def witness(self, construction: Construction) -> str | None:
        report = check(construction, self.reference, lengths=self.lengths, samples_per_length=self.samples_per_length,
                       exhaustive_up_to=self.exhaustive_up_to, seed=self.seed, backend=self.backend,
                       dtype=self.dtype, check_invariants=False, shrink=False, fail_fast=True)
        if report.passed:
            return None
        return _describe_failure(report)


def _describe_failure(report: Report) -> str:
    if report.failures:
        f = report.failures[0]
        return f"{f.kind} on {_short(f.input)}: expected {_short(f.expected)}, got {_short(f.got)}"
    for r in report.lengths:
        if not r.ok:
            return f"size {r.size}: {r.failed} of {r.tested} wrong"
    return "the check failed"


def _short(v: Any, limit: int = 60) -> str:
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class MutantOutcome:
    """What happened to one mutant."""

    mutation: Mutation
    verdict: Verdict
    witness: str | None = None
    caught_by: str | None = None

    @property
    def behaviour_changing(self) -> bool:
        return self.verdict in ("caught", "caught only by invariants", "missed")

    def as_dict(self) -> dict[str, Any]:
        m = self.mutation
        return {"site": m.site, "index": list(m.index), "operator": m.operator, "before": str(m.before),
                "after": str(m.after), "verdict": self.verdict, "witness": self.witness, "caught_by": self.caught_by}


@dataclass
class MutationReport:
    """The outcome of :func:`mutate`: one :class:`MutantOutcome` per mutant, and the tallies."""

    construction: str
    entries: int
    nonzero_entries: int
    outcomes: list[MutantOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def _count(self, *verdicts: str) -> int:
        return sum(1 for o in self.outcomes if o.verdict in verdicts)

    @property
    def mutants(self) -> int:
        return len(self.outcomes)

    @property
    def behaviour_changing(self) -> int:
        return self._count("caught", "caught only by invariants", "missed")

    @property
    def caught(self) -> int:
        """Behaviour-changing mutants the check failed (by an answer, an error or a tie, or by an invariant)."""
        return self._count("caught", "caught only by invariants")

    @property
    def caught_only_by_invariants(self) -> int:
        return self._count("caught only by invariants")

    @property
    def missed(self) -> list[MutantOutcome]:
        """The behaviour-changing mutants the check passed: each a hole in the verifier."""
        return [o for o in self.outcomes if o.verdict == "missed"]

    @property
    def caught_fraction(self) -> float:
        return self.caught / self.behaviour_changing if self.behaviour_changing else 1.0

    @property
    def passed(self) -> bool:
        """Whether every behaviour-changing mutant was caught."""
        return not self.missed

    def summary(self) -> str:
        return (f"{self.construction}: {self.mutants} mutants of {self.entries} entries, {self.behaviour_changing} "
                f"behaviour-changing, {self.caught} caught ({self.caught_only_by_invariants} only by invariants), "
                f"{len(self.missed)} missed ({100 * self.caught_fraction:.0f}% caught) in {self.seconds:.1f} s")

    def as_dict(self) -> dict[str, Any]:
        return {"construction": self.construction, "entries": self.entries, "nonzero_entries": self.nonzero_entries,
                "mutants": self.mutants, "behaviour_changing": self.behaviour_changing, "caught": self.caught,
                "caught_only_by_invariants": self.caught_only_by_invariants, "missed": len(self.missed),
                "seconds": round(self.seconds, 2), "outcomes": [o.as_dict() for o in self.outcomes]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent)

    def to_markdown(self) -> str:
        lines = [f"**{self.summary()}**", "", "| mutation | verdict | witness | caught by |", "|---|---|---|---|"]
        for o in self.outcomes:
            lines.append(f"| `{o.mutation}` | {o.verdict} | {o.witness or '-'} | {o.caught_by or '-'} |")
        return "\n".join(lines)

    def render(self) -> Any:
        """A rich renderable: the tallies, then one row per mutant (missed ones in red)."""
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(self.summary()), title_justify="left")
        for h in ("mutation", "verdict", "witness", "caught by"):
            table.add_column(h)
        for o in self.outcomes:  # Text cells: names and witnesses print verbatim, never as rich markup
            style = "red" if o.verdict == "missed" else ("dim" if o.verdict == "equivalent" else None)
            cells = (str(o.mutation), o.verdict, o.witness or "-", o.caught_by or "-")
            table.add_row(*(Text(c) for c in cells), style=style)
        return table

    def __repr__(self) -> str:
        return f"<MutationReport {self.summary()}>"


def mutate(
    construction: Construction,
    reference: Any,
    *,
    lengths: Iterable[int] = range(0, 17),
    samples: int = 40,
    seed: int = 0,
    operators: Sequence[str] = tuple(OPERATORS),
    mutations: Sequence[Mutation] | None = None,
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
    lengths
        The sizes of the check (and of the default oracle).
    samples
        How many mutants to sample (see :func:`sample_mutations`); ignored when ``mutations`` is given.
    seed
        Seeds the choice of mutants (the check keeps its own default seed).
    operators
        The operators to use, a subset of :data:`OPERATORS`.
    mutations
        Run exactly these mutants instead of sampling.
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
        return MutantOutcome(mutation, verdict, witness, _describe_failure(answers))
    if options.get("check_invariants", True):
        full = check(mutant, ref, **fast)
        if not full.passed:
            verdict = "caught only by invariants" if witness is not None else "flagged"
            return MutantOutcome(mutation, verdict, witness, _describe_failure(full))
    return MutantOutcome(mutation, "missed" if witness is not None else "equivalent", witness)
