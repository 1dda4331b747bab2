"""The AT&T / OpenFst and Graphviz DOT readers: conventions and clear errors."""

from __future__ import annotations

import pytest

from exactformer.languages import DFA, InvalidAutomatonError, ParseError

ATT = "3\t1\ta\ta\n1\t1\tb\tb\n1\n3\t3\tb\tb\n"


def test_att_start_is_the_source_of_the_first_line_and_missing_arcs_reject():
    d = DFA.from_att(ATT)
    assert d.start == 3 and d.accepting == {1}
    assert d.alphabet == {"a", "b"}
    assert d.accepts("a") and d.accepts("bbabb") and not d.accepts("aa") and not d.accepts("")
    assert not d.is_complete


def test_att_weights_and_infinite_final_weight():
    d = DFA.from_att("0 1 x x 0.5\n1 0.0\n0 Infinity\n")
    assert d.accepting == {1}
    assert d.accepts("x")


def test_att_path(tmp_path):
    f = tmp_path / "lang.att"
    f.write_text(ATT)
    assert DFA.from_att(f) == DFA.from_att(str(f)) == DFA.from_att(ATT)


def test_att_explicit_alphabet_adds_unused_symbols():
    d = DFA.from_att(ATT, alphabet="abc")
    assert d.alphabet == {"a", "b", "c"} and not d.accepts("ac")


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        ("0\t1\ta\tb\n", ParseError, "only acceptors"),
        ("0\t1\t<eps>\t<eps>\n", ParseError, "epsilon"),
        ("0\t1\ta\n", ParseError, "got 3 fields"),
        ("", ParseError, "empty"),
        ("0\t1\ta\ta\n0\t2\ta\ta\n", InvalidAutomatonError, "not deterministic"),
        ("0\tx\n", ParseError, "not a number"),
    ],
)
def test_att_errors_name_the_line(text, error, fragment):
    with pytest.raises(error) as info:
        DFA.from_att(text if text else "\n")
    assert fragment in str(info.value)


def test_missing_att_file():
    with pytest.raises(FileNotFoundError):
        DFA.from_att("no_such_file.att")


DOT = """digraph g {
  __start0 [label="", shape=none];
  s0 [shape=doublecircle];
  s1 [label=s1];
  s0 -> s1 [label=1];
  s1 -> s0 [label=1];
  s0 -> s0 [label=0];
  s1 -> s1 [label=0];
  __start0 -> s0 [label=""];
}"""


def test_dot_accepting_shapes_and_start_marker():
    d = DFA.from_dot(DOT)
    assert d.start == "s0" and d.accepting == {"s0"}
    for w in ["", "0", "11", "0101", "1", "10"]:
        assert d.accepts(w) == (w.count("1") % 2 == 0)


def test_dot_node_defaults_and_interval_labels():
    text = """digraph fsm { node [shape=doublecircle] "A" node [shape=circle]
        "A" -> "B" [label="[1 , ∞]"] "A" -> "A" [label="[-∞ , 0]"] "B" -> "B" [label="[-∞ , ∞]"]
        node [shape=point] start start -> "A" }"""
    d = DFA.from_dot(text)
    assert d.alphabet == {"0", "1"} and d.accepting == {"A"}
    assert d.accepts("000") and not d.accepts("01")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("graph", "expected '{'"),
        ("digraph { __start -> a; a -> a [label=x];", "missing '}'"),
        ("tree { }", "must start with 'digraph'"),
        ("digraph { a -> b [label=x]; }", "start marker"),
        ("digraph { __start -> a; a -> b; }", "has no label"),
        ("digraph { __start -> a; a -> b [label=x]; a -> c [label=x]; }", "not deterministic"),
    ],
)
def test_dot_errors(text, fragment):
    with pytest.raises((ParseError, InvalidAutomatonError)) as info:
        DFA.from_dot(text + "\n")
    assert fragment in str(info.value)


def test_dot_start_argument_when_there_is_no_marker():
    d = DFA.from_dot("digraph { a -> a [label=x]; }", start="a")
    assert d.start == "a" and d.accepting == frozenset()


def test_dot_comma_label_is_several_symbols_as_in_automata_tools():
    """``label="0,1"`` is two parallel edges, one per symbol (spaces around a symbol are dropped)."""
    text = 'digraph { __start [shape=none]; __start -> s; s [shape=doublecircle]; s -> t [label="0, 1"]; ' \
           't -> s [label="0,1"]; }'
    d = DFA.from_dot(text)
    assert d.alphabet == {"0", "1"} and d.is_complete
    for w in ["", "0", "01", "110", "1111"]:
        assert d.accepts(w) == (len(w) % 2 == 0)


def test_dot_label_equal_to_a_given_symbol_is_kept_whole():
    d = DFA.from_dot('digraph { __start -> s; s -> s [label="a,b"]; }', alphabet=["a,b", "c"])
    assert d.transitions == {("s", "a,b"): "s"}
    assert DFA.from_dot(d.to_dot(), alphabet=d.alphabet).equivalent(d)
