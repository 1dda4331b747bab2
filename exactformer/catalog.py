"""The catalog: every registered construction paired with its independent reference, and the README's table.

This is the one module that imports constructions, languages and verify together. A construction module builds
weights and knows no reference; a reference (:mod:`exactformer.languages`, :mod:`exactformer.verify`) knows no
construction; here each registry :class:`Entry` names a builder, its default options and sizes, an example input,
and the reference ``exactformer verify`` checks it against.

The registry itself (:class:`Entry`, :func:`register`, :func:`get`, :func:`build`, :func:`names`,
:data:`REGISTRY`) is :mod:`exactformer.constructions.registry`, a plain table that imports only the core (so
``ef.constructions.get(...)`` works too); importing :mod:`exactformer` imports this module, which fills it.

The README's table is :func:`construction_table`'s output (``exactformer table --write README.md`` rewrites the
part between the ``constructions`` markers), so nothing in it is typed by hand: resources are measured from the
models, the status is a fresh :func:`~exactformer.verify.check` run against each entry's reference, and the proof column
is the entry's certificate (:func:`~exactformer.verify.prove`), or "no certificate" where its family has no prover.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import torch

from . import constructions as C
from . import proofs  # noqa: F401  (fills ef.verify.prove's registry)
from .constructions.registry import REGISTRY, Entry, build, get, names, register
from .core.construction import Construction
from .languages import named
from .languages.graphs import ReachabilityQuery
from .languages.tag import collatz_tag_system
from .verify.certificate import prove
from .verify.check import check
from .verify.graphs import BFSConnectivityReference, BFSReachabilityReference
from .verify.machines import tag_reference, turing_reference
from .verify.reference import FunctionReference

__all__ = [
    "Entry", "register", "get", "build", "names", "REGISTRY", "ENTRIES",
    "TableRow", "construction_rows", "construction_table", "rows_table",
    "write_readme_table", "readme_table", "BEGIN", "END",
]


# ---------------------------------------------------------------------------------------------------------------
# references of the entries (each from the input the construction was built from, never from its weights)
# ---------------------------------------------------------------------------------------------------------------


def _first_symbol(construction: Construction) -> FunctionReference:
    """The demo's reference: the first symbol of the word, over the model's vocabulary."""
    return FunctionReference(lambda word: word[0], construction.model.embedding.vocab, name="first symbol")


def _dfa(construction: Construction) -> Any:
    """The very DFA a log-depth recognizer was built from."""
    return construction.parameters.dfa


def _a5() -> Any:
    return named.word_problem("A5")


def _recognizer(name: str, recognizer: Callable[..., Construction], language: Callable[[], Any],
                options: dict[str, Any], example: str, longest: int, summary: str) -> Entry:
    """An entry for ``recognizer(language(), name=name, **options)``, checked against that DFA on n = 0..longest."""
    return Entry(name=name, builder=lambda **o: recognizer(language(), name=name, **o), summary=summary,
                 example=example, options=options, reference=_dfa, lengths=tuple(range(0, longest + 1)))


def _collatz(ring_length: int = 9) -> Construction:
    return C.tag_system(collatz_tag_system(), ring_length)


def _tag(construction: Construction) -> Any:
    """Every ring transition from every working state, and whole decodes from a^n (n < L), random words and random
    configurations, against the ring Post machine (:func:`exactformer.verify.machines.tag_reference`)."""
    return tag_reference(construction.parameters.ring)


def _turing(construction: Construction) -> Any:
    """Every compiled transition from every working state, and whole decodes from the blank tape, random tapes and
    random configurations, against the compiled Post machine (:func:`exactformer.verify.machines.turing_reference`)."""
    return turing_reference(construction.parameters.compiled)


def _window(construction: Construction) -> tuple[int, ...]:
    """The one size of a Post-machine construction: its window L (see :mod:`exactformer.verify.machines`)."""
    return (construction.parameters.queue_length,)


def _reachability_example() -> ReachabilityQuery:
    return ReachabilityQuery(graph=nx.DiGraph([(0, 1), (1, 2), (2, 3), (4, 3), (0, 5)]), root=0, candidates=(4, 3),
                             answer=3)


def _layer_norm(build: Callable[..., Construction]) -> Callable[..., Construction]:
    """The layer-norm variant's builder: its options are the epsilon and the output scale."""
    return lambda eps=0, output_scale=1: build(layer_norm=True, eps=eps, output_scale=output_scale)


def _chiang_cholak(name: str, builder: Callable[..., Construction], language: Callable[[], Any],
                   options: dict[str, Any], summary: str) -> Entry:
    """A PARITY or FIRST model, checked against the named DFA on n = 1..12 (the empty word is outside the domain;
    exhaustive up to 2^12 words)."""
    return Entry(name=name, builder=builder, summary=summary, example="1011", options=options,
                 reference=lambda c: language(), lengths=tuple(range(1, 13)))


# ---------------------------------------------------------------------------------------------------------------
# the entries
# ---------------------------------------------------------------------------------------------------------------

ENTRIES: tuple[Entry, ...] = (
    Entry(name="demo", builder=C.copy_first,
          summary="one hard-attention layer copies the first symbol to the last position",
          example="abba", options={"alphabet": ("a", "b")}, reference=_first_symbol, lengths=tuple(range(1, 17))),
    # Chiang & Cholak 2022
    _chiang_cholak("parity", lambda big=1: C.parity(big=big), named.parity, {"big": 1},
                   "Chiang & Cholak 2022: two-layer softmax PARITY, accuracy 1, |z| ~ 2 tanh(b)/N^2 (CE -> 1 bit)"),
    _chiang_cholak("parity-ln", _layer_norm(C.parity), named.parity, {"eps": 0, "output_scale": 1},
                   "Chiang & Cholak 2022: PARITY with post-LayerNorm on [x, -x]; eps = 0 gives z = +-c sqrt(10)"),
    _chiang_cholak("first", lambda big=1: C.first(big=big), named.first, {"big": 1},
                   "Chiang & Cholak 2022: two-layer softmax FIRST, accuracy 1, |z| = e^b/(2(e^b + n)) (CE -> 1 bit)"),
    _chiang_cholak("first-ln", _layer_norm(C.first), named.first, {"eps": 0, "output_scale": 1},
                   "Chiang & Cholak 2022: FIRST with post-LayerNorm on [x, -x]; eps = 0 gives z = +-c sqrt(6)"),
    _chiang_cholak("first-scaled", lambda big=1: C.first(scaled=True, big=big), named.first, {"big": 1},
                   "Chiang & Cholak 2022: FIRST with logits times ln N, a_1 = N^b/(N^b + n) (sharp for b > 1)"),
    # Merrill & Sabharwal, Theorem 1, and pointer jumping: recognizers built from a DFA, checked against that DFA
    _recognizer("log-depth-parity", C.log_depth_recognizer, named.parity, {"erratum_fixes": True}, "0110", 64,
                "Merrill & Sabharwal Thm 1: PARITY by the looped activeness tree, answer at $"),
    _recognizer("log-depth-a5", C.log_depth_recognizer, _a5, {"erratum_fixes": True}, "0123", 32,
                "Merrill & Sabharwal Thm 1: the A5 word problem by the looped activeness tree, answer at $"),
    _recognizer("log-depth-paper-parity", C.paper_tree_recognizer, named.parity, {}, "0110", 32,
                "Merrill & Sabharwal Thm 1 as stated: PARITY with BOS-only positions, the layer-norm hash, "
                "average-hard attention and masked pre-norm"),
    _recognizer("pointer-jumping-parity", C.pointer_jumping_recognizer, named.parity, {"composition": None}, "0110",
                64, "log-depth pointer jumping (note's Path B): PARITY in ⌈log2 n⌉ looped layers, state at every "
                "token"),
    _recognizer("pointer-jumping-a5", C.pointer_jumping_recognizer, _a5, {"composition": None}, "0123", 32,
                "log-depth pointer jumping: the A5 word problem, the running product at every token"),
    # Merrill & Sabharwal, Theorem 2
    Entry(name="connectivity", builder=C.log_depth_connectivity,
          summary="Merrill & Sabharwal Thm 2: s-t reachability by a looped log-depth transformer (repeated squaring)",
          example=(nx.DiGraph([(0, 1), (1, 2), (2, 3)]), 0, 3),
          options={"num_vertices": 8, "printed_base_case": False, "printed_flip": False, "printed_threshold": False},
          reference=lambda c: BFSConnectivityReference(),
          lengths=lambda c: tuple(range(1, c.parameters.num_vertices + 1))),
    # Zhu et al.
    Entry(name="superposition", builder=C.superposition_reachability,
          summary="Zhu et al. Thm 1: reachability by continuous thoughts in superposition (2 layers, 5+1 heads)",
          example=_reachability_example(),
          options={"max_nodes": 31, "max_edges": 60, "max_length": None, "printed_eps2": False,
                   "activation": "step", "thoughts": "eccentricity"},
          reference=lambda c: BFSReachabilityReference(max_edges=c.parameters.max_edges),
          lengths=lambda c: tuple(range(3, min(12, c.parameters.max_nodes) + 1))),  # graphs of 3..12 nodes
    # Li & Wang 2025
    Entry(name="post-machine", builder=_collatz,
          summary="Li & Wang 2025: one layer, one hard head over a window of L; De Mol's Collatz 2-tag system on a "
                  "ring Post machine (next token = next Post step)",
          example="aaa______", options={"ring_length": 9}, reference=_tag, lengths=_window),
    Entry(name="turing-machine", builder=lambda tm="1RB1LB_1LA1RZ", tape_length=4: C.turing_machine(tm, tape_length),
          summary="Li & Wang 2025: a Turing machine compiled to a Post machine (cyclic tape, held cell) and run by the "
                  "one-layer window decoder; BB(2) by default",
          example=("0", "0", "0"), options={"tm": "1RB1LB_1LA1RZ", "tape_length": 4}, reference=_turing,
          lengths=_window),
)

for _entry in ENTRIES:
    register(_entry)


# ---------------------------------------------------------------------------------------------------------------
# the README's table
# ---------------------------------------------------------------------------------------------------------------

BEGIN = "<!-- constructions:begin (generated by `exactformer table --write README.md`; do not edit) -->"
END = "<!-- constructions:end -->"
# the quick verification the table reports: every size of the entry's default lengths, at most this many inputs each
SAMPLES = 16
EXHAUSTIVE_UP_TO = 64


@dataclass(frozen=True)
class TableRow:
    """One construction's line of the table."""

    name: str
    theorem: str
    layers: int
    heads: int
    d_model: int
    attention: str
    norms: str
    n: int
    status: str
    proof: str = "not run"


def _short_authors(authors: str) -> str:
    """``"David Chiang and Peter Cholak"`` -> ``"Chiang & Cholak"``; three or more -> ``"Zhu et al."``."""
    people = [p.strip() for p in re.split(r",| and ", authors) if p.strip()]
    surnames = [p.split()[-1] for p in people]
    if len(surnames) <= 1:
        return authors
    return " & ".join(surnames) if len(surnames) == 2 else f"{surnames[0]} et al."


def _status(entry: Entry, construction: Construction) -> str:
    if entry.reference is None:
        return "no reference registered"
    lengths = list(entry.default_lengths(construction))
    report = check(construction, entry.reference(construction), lengths=lengths, samples_per_length=SAMPLES,
                   exhaustive_up_to=EXHAUSTIVE_UP_TO, backend="torch", dtype=torch.float64, shrink=False)
    span = f"n = {min(lengths)}..{max(lengths)}" if len(lengths) > 1 else f"n = {lengths[0]}"
    if report.passed:
        return f"verified: {report.tested} inputs, {span}, float64"
    return f"FAILS: {len(report.failures)} failure reports, {span}, float64"


def _proof(construction: Construction) -> str:
    """The certificate's status (:func:`~exactformer.verify.prove`): ``"proven for ..."``, ``"tested to ..."`` or
    ``"failed: LEMMA, ..."``; ``"no certificate"`` where the family has no prover."""
    try:
        return prove(construction).status
    except TypeError as err:
        if str(err).startswith("no prover for"):
            return "no certificate"
        raise


def construction_rows(selected: list[str] | None = None, *, verify: bool = True) -> list[TableRow]:
    """One row per registered construction (or per name in ``selected``); ``verify=False`` leaves the status and
    proof columns ``"not run"``."""
    rows = []
    for name in selected or names():
        entry = get(name)
        construction = entry.builder(**entry.options)
        n = max(entry.default_lengths(construction))
        r = construction.resources(n)
        c = construction.citation
        rows.append(TableRow(
            name=name,
            theorem=f"{_short_authors(c.authors)} ({c.venue}): {c.theorem}",
            layers=r.layers, heads=r.heads, d_model=r.d_model,
            attention=", ".join(r.attention_kinds) or "-",
            norms=", ".join(k for k in r.norm_kinds if k != "none") or "-",
            n=n, status=_status(entry, construction) if verify else "not run",
            proof=_proof(construction) if verify else "not run",
        ))
    return rows


def construction_table(selected: list[str] | None = None, *, verify: bool = True) -> str:
    """The markdown table of :func:`construction_rows`."""
    return rows_table(construction_rows(selected, verify=verify))


def rows_table(rows: list[TableRow]) -> str:
    """The markdown table of some :class:`TableRow` (fresh ones, or a sweep store's: ``configs/readme_table.toml``)."""
    lines = [
        "| construction | theorem | layers | heads | d_model | attention | norms | status | proof |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        theorem, proof = row.theorem.replace("|", "\\|"), row.proof.replace("|", "\\|")
        lines.append(f"| `{row.name}` | {theorem} | {row.layers} (n = {row.n}) | {row.heads} | {row.d_model} | "
                     f"{row.attention} | {row.norms} | {row.status} | {proof} |")
    return "\n".join(lines)


def write_readme_table(path: str | Path, table: str | None = None) -> bool:
    """Replace the table between the markers in ``path``; return whether the file changed."""
    path = Path(path)
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path} has no '{BEGIN}' ... '{END}' markers")
    table = construction_table() if table is None else table
    new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: f"{BEGIN}\n{table}\n{END}", text, flags=re.S)
    if new != text:
        path.write_text(new)
    return new != text


def readme_table(path: str | Path) -> str:
    """The table currently between the markers in ``path``."""
    text = Path(path).read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:stop].strip()
