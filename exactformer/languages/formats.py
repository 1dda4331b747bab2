"""Readers and writers of automaton formats: OpenFst / AT&T text acceptors, Graphviz DOT, automata-lib objects.

Each reader returns the parts of a DFA as plain data (``states``, ``alphabet``, ``transitions``, ``start``,
``accepting``), which :meth:`DFA.from_att <exactformer.languages.dfa.DFA.from_att>`,
:meth:`DFA.from_dot <exactformer.languages.dfa.DFA.from_dot>` and
:meth:`DFA.from_automata_lib <exactformer.languages.dfa.DFA.from_automata_lib>` turn into a validated automaton;
each writer takes those parts.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InvalidAutomatonError, ParseError

__all__ = ["read_source", "parse_att", "parse_dot", "write_dot", "compile_regex", "automata_lib_parts",
           "to_automata_lib"]


def read_source(path_or_text: str | os.PathLike[str], *, suffixes: tuple[str, ...] = ()) -> tuple[str, str]:
    """The text of ``path_or_text`` and a name for messages.

    A :class:`os.PathLike` is always a path. A ``str`` is read as text when it has a line break or a tab, or when it
    names no existing file; otherwise it is a path.
    """
    if isinstance(path_or_text, os.PathLike):
        path = Path(path_or_text)
        return path.read_text(encoding="utf-8"), str(path)
    if not isinstance(path_or_text, str):
        raise TypeError(f"expected a path or the text itself, not {type(path_or_text).__name__}")
    text = path_or_text
    looks_like_text = "\n" in text or "\t" in text or "{" in text
    if not looks_like_text and (os.path.isfile(text) or text.endswith(suffixes)):
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {text}")
        return path.read_text(encoding="utf-8"), str(path)
    return text, "<text>"


# --------------------------------------------------------------------------------------------------------------------
# AT&T / OpenFst text format


def parse_att(text: str, *, name: str = "<text>", alphabet: Iterable[Hashable] | None = None) -> dict[str, Any]:
    """Parse an OpenFst / AT&T text *acceptor*.

    Lines are ``src dst in out [weight]`` (an arc; ``in`` must equal ``out``), ``src dst label [weight]`` is not
    accepted (it is ambiguous with a weighted final line), and ``state [weight]`` (a final state; a weight of
    ``Infinity`` means not final). Fields are separated by tabs or spaces. The start state is the first field of the
    first line (the OpenFst convention). States become ``int`` when they are integers; labels are kept as strings.

    Parameters
    ----------
    alphabet
        The alphabet; by default the set of arc labels.

    Raises
    ------
    ParseError
        On a line that does not parse, a transducer arc (``in != out``), an epsilon label, or empty text.
    InvalidAutomatonError
        On two arcs with the same source and label but different destinations.
    """
    states: set[Hashable] = set()
    transitions: dict[tuple[Hashable, Hashable], Hashable] = {}
    accepting: set[Hashable] = set()
    labels: set[Hashable] = set()
    start: Hashable | None = None

    def state(token: str) -> Hashable:
        return int(token) if re.fullmatch(r"-?\d+", token) else token

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        where = f"{name}, line {lineno}"
        if len(fields) in (4, 5):
            src, dst, label, out = (state(fields[0]), state(fields[1]), fields[2], fields[3])
            if label != out:
                raise ParseError(f"{where}: arc {raw.strip()!r} has input {label!r} and output {out!r}; "
                                 "only acceptors (input == output) describe a DFA")
            if label in ("<eps>", "<epsilon>"):
                raise ParseError(f"{where}: epsilon arc {raw.strip()!r}; a DFA has no epsilon transitions")
            if start is None:
                start = src
            states.update((src, dst))
            labels.add(label)
            previous = transitions.get((src, label))
            if previous is not None and previous != dst:
                raise InvalidAutomatonError(f"{where}: state {src!r} has two arcs labelled {label!r} "
                                            f"(to {previous!r} and {dst!r}); the automaton is not deterministic")
            transitions[(src, label)] = dst
        elif len(fields) in (1, 2):
            s = state(fields[0])
            if start is None:
                start = s
            states.add(s)
            if len(fields) == 2:
                try:
                    weight = float(fields[1])
                except ValueError:
                    raise ParseError(f"{where}: final weight {fields[1]!r} is not a number") from None
                if math.isinf(weight) and weight > 0:
                    continue
            accepting.add(s)
        else:
            raise ParseError(f"{where}: expected 'src dst in out' or 'state', got {len(fields)} fields: "
                             f"{raw.strip()!r}")
    if start is None:
        raise ParseError(f"{name}: no arcs and no final states (empty text)")
    return {
        "states": states,
        "alphabet": set(alphabet) if alphabet is not None else labels,
        "transitions": transitions,
        "start": start,
        "accepting": accepting,
    }


# --------------------------------------------------------------------------------------------------------------------
# Graphviz DOT

_DOT_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/|^\#[^\n]*)
  | (?P<arrow>->|--)
  | (?P<punct>[{}\[\]=;,:])
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<html><[^<>]*(?:<[^<>]*>[^<>]*)*>)
  | (?P<id>[^\s{}\[\]=;,:"<>\-]+(?:-(?!>|-)[^\s{}\[\]=;,:"<>\-]*)*|-?(?:\.\d+|\d+(?:\.\d*)?))
    """,
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)

_START_SHAPES = {"none", "point", "plaintext", "plain"}
_ACCEPT_SHAPES = {"doublecircle", "doubleoctagon", "tripleoctagon", "Msquare"}


def _dot_tokens(text: str, name: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _DOT_TOKEN.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise ParseError(f"{name}, line {line}: cannot read DOT text at {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        value = m.group()
        pos = m.end()
        if kind in ("ws", "comment"):
            continue
        if kind == "quoted":
            value = value[1:-1].replace('\\"', '"').replace("\\\n", "")
            kind = "id"
        elif kind == "html":
            value = value[1:-1]
            kind = "id"
        tokens.append((kind, value))
    return tokens


def _interval_symbols(label: str, alphabet: list[str]) -> list[str] | None:
    """Symbols of a symbolic-automaton interval label like ``[1 , ∞]``, or ``None`` if it is not one."""
    m = re.fullmatch(r"\s*\[\s*([^,\]]+?)\s*,\s*([^,\]]+?)\s*\]\s*", label)
    if m is None:
        return None

    def bound(text: str) -> float:
        t = text.replace("∞", "inf").replace("+", "")
        return float(t)

    try:
        lo, hi = bound(m.group(1)), bound(m.group(2))
    except ValueError:
        return None
    out = []
    for s in alphabet:
        try:
            v = float(s)
        except ValueError:
            continue
        if lo <= v <= hi:
            out.append(s)
    return out


def _label_symbols(label: str, alphabet: set[str] | None, where: str) -> list[str]:
    """The symbols of a plain edge label: ``"a,b"`` is the two symbols ``a`` and ``b`` (spaces around each are
    dropped), the convention of automata drawings. A label that is itself a symbol of an explicitly given alphabet
    is kept whole (so a symbol may contain a comma). An empty label or an empty symbol is an error."""
    if alphabet is not None and label in alphabet:
        return [label]
    parts = [p.strip() for p in label.split(",")]
    if not label.strip() or any(not p for p in parts):
        raise ParseError(f"{where} has the label {label!r}, which cannot be read as symbols (an empty label, or an "
                         "empty symbol between commas; 'a,b' means the two symbols a and b)")
    return parts


def parse_dot(text: str, *, name: str = "<text>", alphabet: Iterable[Hashable] | None = None,
              start: Hashable | None = None) -> dict[str, Any]:
    """Parse a DFA drawn in Graphviz DOT.

    Conventions (those of AALpy, pythautomata and most automata drawings):

    * a node drawn with ``shape=doublecircle`` (or ``peripheries=2``) is accepting; ``node [...]`` defaults apply to
      the nodes first mentioned after them;
    * the start state is the target of the edge leaving a start marker: a node whose shape is ``none``, ``point``,
      ``plaintext`` or ``plain``, or whose name starts with ``__start``; the marker is not a state;
    * an edge label is a symbol, or several separated by commas (``"a,b"`` is the two symbols ``a`` and ``b``, as
      in AALpy and most automata tools; a label equal to a symbol of an explicit ``alphabet`` is kept whole); a
      label written as an interval ``[lo , hi]`` (with ``∞``/``-∞``/``inf``; the symbolic automata of
      pythautomata) stands for every numeric symbol of the alphabet in that range;
    * a label that cannot be read (empty, an empty symbol between commas, an interval with a bound that is not a
      number, or one that holds no symbol of the alphabet) raises :class:`ParseError`: no edge is dropped;
    * subgraphs are flattened; graph attributes are ignored.

    Parameters
    ----------
    alphabet
        The alphabet (strings). By default: the plain edge labels plus the finite interval bounds written as
        integers, so ``[-∞ , 0]`` and ``[1 , ∞]`` give ``{'0', '1'}``.
    start
        The start state, when the drawing has no start marker.
    """
    tokens = _dot_tokens(text, name)
    i = 0

    def peek(offset: int = 0) -> tuple[str, str]:
        return tokens[i + offset] if i + offset < len(tokens) else ("eof", "")

    def expect(value: str) -> None:
        nonlocal i
        if peek()[1] != value:
            raise ParseError(f"{name}: expected {value!r} in DOT text, found {peek()[1]!r}")
        i += 1

    def attr_list() -> dict[str, str]:
        nonlocal i
        attrs: dict[str, str] = {}
        while peek()[1] == "[":
            i += 1
            while peek()[1] != "]":
                if peek()[0] == "eof":
                    raise ParseError(f"{name}: unterminated attribute list")
                key = peek()[1]
                i += 1
                if peek()[1] == "=":
                    i += 1
                    attrs[key] = peek()[1]
                    i += 1
                else:
                    attrs[key] = "true"
                if peek()[1] in (",", ";"):
                    i += 1
            i += 1
        return attrs

    node_defaults: dict[str, str] = {}
    node_attrs: dict[str, dict[str, str]] = {}
    node_order: list[str] = []
    edges: list[tuple[str, str, dict[str, str]]] = []

    def touch(node: str) -> None:
        if node not in node_attrs:
            node_attrs[node] = dict(node_defaults)
            node_order.append(node)

    # header: [strict] (graph|digraph) [id] {
    while peek()[1].lower() in ("strict",):
        i += 1
    if peek()[1].lower() not in ("digraph", "graph"):
        raise ParseError(f"{name}: DOT text must start with 'digraph' or 'graph', found {peek()[1]!r}")
    i += 1
    if peek()[1] != "{":
        i += 1
    expect("{")
    depth = 1
    while depth:
        kind, value = peek()
        if kind == "eof":
            raise ParseError(f"{name}: missing '}}' at the end of the DOT graph")
        if value == "}":
            depth -= 1
            i += 1
            continue
        if value == "{":
            depth += 1
            i += 1
            continue
        if value == ";" or value == ",":
            i += 1
            continue
        low = value.lower() if kind == "id" else value
        if kind == "id" and low in ("node", "edge", "graph") and peek(1)[1] == "[":
            i += 1
            attrs = attr_list()
            if low == "node":
                node_defaults.update(attrs)
            continue
        if kind == "id" and low == "subgraph":
            i += 1
            if peek()[1] != "{":
                i += 1
            continue
        if kind != "id":
            raise ParseError(f"{name}: unexpected {value!r} in DOT text")
        if peek(1)[1] == "=":  # graph attribute a = b
            i += 3
            continue
        chain = [value]
        i += 1
        if peek()[1] == ":":  # port
            i += 2
        while peek()[0] == "arrow":
            i += 1
            if peek()[0] != "id":
                raise ParseError(f"{name}: an edge must end at a node, found {peek()[1]!r}")
            chain.append(peek()[1])
            i += 1
            if peek()[1] == ":":
                i += 2
        attrs = attr_list()
        for node in chain:
            touch(node)
        if len(chain) == 1:
            node_attrs[chain[0]].update(attrs)
        else:
            for u, v in zip(chain, chain[1:]):
                edges.append((u, v, attrs))

    def is_marker(node: str) -> bool:
        shape = node_attrs[node].get("shape", "").lower()
        return shape in _START_SHAPES or node.startswith("__start")

    markers = {n for n in node_order if is_marker(n)}
    state_nodes = [n for n in node_order if n not in markers]
    start_targets = {v for u, v, _ in edges if u in markers}
    if start is None:
        if len(start_targets) != 1:
            raise ParseError(f"{name}: expected exactly one edge from a start marker (a node with shape=none/point "
                             f"or named __start*), found {sorted(start_targets)}; pass start=")
        start = next(iter(start_targets))
    plain_labels: set[str] = set()
    interval_bounds: set[str] = set()
    given = {str(a) for a in alphabet} if alphabet is not None else None
    for u, v, attrs in edges:
        if u in markers:
            continue
        label = attrs.get("label")
        if label is None:
            raise ParseError(f"{name}: edge from {u!r} has no label")
        m = re.fullmatch(r"\s*\[\s*([^,\]]+?)\s*,\s*([^,\]]+?)\s*\]\s*", label)
        if m:
            for b in m.groups():
                if not re.fullmatch(r"[-+]?(?:∞|inf|infinity|\d+(?:\.\d*)?)", b.strip(), re.IGNORECASE):
                    raise ParseError(f"{name}: edge {u!r} -> {v!r} has the interval label {label!r}, whose bound {b!r} "
                                     "is not a number or ∞")
                if "∞" not in b and "inf" not in b.lower():
                    interval_bounds.add(str(int(float(b))) if re.fullmatch(r"[-+]?\d+(\.0*)?", b) else b)
        else:
            plain_labels.update(_label_symbols(label, given, f"{name}: edge {u!r} -> {v!r}"))
    symbols = sorted(given) if given is not None else sorted(plain_labels | interval_bounds)
    transitions: dict[tuple[Hashable, Hashable], Hashable] = {}
    for u, v, attrs in edges:
        if u in markers:
            continue
        label = attrs["label"]
        expanded = _interval_symbols(label, symbols)
        if expanded == []:
            raise ParseError(f"{name}: edge {u!r} -> {v!r} has the interval label {label!r}, which holds no symbol "
                             f"of the alphabet {symbols}")
        where = f"{name}: edge {u!r} -> {v!r}"
        for a in (expanded if expanded is not None else _label_symbols(label, given, where)):
            previous = transitions.get((u, a))
            if previous is not None and previous != v:
                raise InvalidAutomatonError(f"{name}: state {u!r} has two edges on {a!r} (to {previous!r} and "
                                            f"{v!r}); the automaton is not deterministic")
            transitions[(u, a)] = v
    accepting = {
        n for n in state_nodes
        if node_attrs[n].get("shape", "").strip('"') in _ACCEPT_SHAPES or node_attrs[n].get("peripheries") == "2"
    }
    return {
        "states": set(state_nodes),
        "alphabet": set(alphabet) if alphabet is not None else set(symbols),
        "transitions": transitions,
        "start": start,
        "accepting": accepting,
    }


def write_dot(*, states: Sequence[Hashable], transitions: Mapping[tuple[Hashable, Hashable], Hashable],
              start: Hashable, accepting: Iterable[Hashable]) -> str:
    """A DFA in Graphviz DOT, readable by :func:`parse_dot`: accepting states drawn as double circles, one edge per
    transition labelled with its symbol, nodes and edges in the order of ``states``."""
    ids = {q: f"q{i}" for i, q in enumerate(states)}
    accepting = set(accepting)
    lines = ["digraph DFA {", "  rankdir=LR;", '  __start [label="", shape=none];']
    for q in states:
        shape = "doublecircle" if q in accepting else "circle"
        label = str(q).replace('"', '\\"')
        lines.append(f'  {ids[q]} [label="{label}", shape={shape}];')
    lines.append(f"  __start -> {ids[start]};")
    position = {q: i for i, q in enumerate(states)}
    for (q, a), q2 in sorted(transitions.items(), key=lambda kv: (position[kv[0][0]], repr(kv[0][1]))):
        symbol = str(a).replace('"', '\\"')
        lines.append(f'  {ids[q]} -> {ids[q2]} [label="{symbol}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------------------
# automata-lib


def compile_regex(regex: str, alphabet: Iterable[str]) -> Any:
    """The ``automata.fa.dfa.DFA`` of a regular expression in automata-lib's syntax (``NFA.from_regex``).

    Raises
    ------
    InvalidAutomatonError
        If a symbol is not a one-character string or the expression does not compile.
    """
    from automata.fa.dfa import DFA as AutomataDFA
    from automata.fa.nfa import NFA as AutomataNFA

    symbols = set(alphabet)
    bad = [a for a in symbols if not (isinstance(a, str) and len(a) == 1)]
    if bad:
        raise InvalidAutomatonError(f"from_regex needs one-character string symbols, got {bad!r}")
    try:
        nfa = AutomataNFA.from_regex(regex, input_symbols=symbols)
    except Exception as error:  # automata-lib raises its own exception types
        raise InvalidAutomatonError(f"cannot compile regex {regex!r}: {error}") from error
    return AutomataDFA.from_nfa(nfa)


def automata_lib_parts(dfa: Any) -> dict[str, Any]:
    """The parts of an ``automata.fa.dfa.DFA`` (automata-lib), partial or complete."""
    transitions = {(q, a): q2 for q, row in dfa.transitions.items() for a, q2 in row.items()}
    return {"states": dfa.states, "alphabet": dfa.input_symbols, "transitions": transitions,
            "start": dfa.initial_state, "accepting": dfa.final_states}


def to_automata_lib(*, states: Sequence[Hashable], alphabet: Iterable[Hashable],
                    transitions: Mapping[tuple[Hashable, Hashable], Hashable], start: Hashable,
                    accepting: Iterable[Hashable], complete: bool) -> Any:
    """An ``automata.fa.dfa.DFA`` with these parts (automata-lib needs ``str`` symbols)."""
    from automata.fa.dfa import DFA as AutomataDFA

    rows: dict[Any, dict[Any, Any]] = {q: {} for q in states}
    for (q, a), q2 in transitions.items():
        rows[q][a] = q2
    return AutomataDFA(states=set(states), input_symbols=set(alphabet), transitions=rows, initial_state=start,
                       final_states=set(accepting), allow_partial=not complete)
