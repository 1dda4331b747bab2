"""Bad inputs get clear errors: every case names the exception type and a fragment of the message that says what is
wrong, over the Python API (verifier arguments, constructions, references, machines, model files) and the command
line (which prints one line, exits 2 and never shows a traceback).

A check that tested nothing is not a pass, so the verifier refuses arguments that would make it test nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import torch
from typer.testing import CliRunner

import exactformer as ef
from exactformer import constructions as C
from exactformer.cli import app
from exactformer.core.budget import format_bytes, memory_budget, parse_bytes
from exactformer.core.errors import InputError, MemoryBudgetError, ModelFormatError
from exactformer.core.serialize import load_model, save_model
from exactformer.languages import (
    DFA,
    InvalidAutomatonError,
    InvalidMachineError,
    InvalidQueryError,
    LanguagesError,
    NoSuchWordError,
    ParseError,
    SymbolNotInAlphabetError,
    TuringMachine,
)
from exactformer.verify import check, frontier
from exactformer.verify.reference import CorpusReference


def _demo():
    return C.build("demo")


def _demo_reference():
    return C.get("demo").reference(_demo())


def _parity():
    return C.build("parity")


def _query(edges, root, candidates, answer, graph_type=nx.DiGraph):
    graph = graph_type()
    graph.add_edges_from(edges)
    return ef.languages.ReachabilityQuery(graph=graph, root=root, candidates=candidates, answer=answer)


def _turing_prompt_run():
    c = C.turing_machine("1RB1LB_1LA1RZ", 2000)
    with memory_budget(100_000):  # the 1,999-token prompt's residual stream needs ~1.5 MB
        c.run(c.parameters.queue)


def _cuda_when_absent():
    """A CUDA device this machine lacks: ``cuda`` without a GPU, one index past the last with GPUs."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    _demo().run("ab", device=f"cuda:{count}" if count else "cuda")


def _dfa(**overrides: Any) -> DFA:
    kwargs: dict[str, Any] = dict(states={0, 1}, alphabet="ab", transitions={(0, "a"): 1}, start=0, accepting={1})
    kwargs.update(overrides)
    return DFA(**kwargs)


def _pm(**overrides: Any):
    from exactformer.languages.post import PostMachine

    kwargs: dict[str, Any] = dict(symbols="ab", states={"p", "h"}, transitions={("p", "a"): ("b", "h")}, start="p",
                                  halting={"h"})
    kwargs.update(overrides)
    return PostMachine(**kwargs)


def _tm(**overrides: Any) -> TuringMachine:
    kwargs: dict[str, Any] = dict(states={"A"}, alphabet={0, 1}, transitions={("A", 0): (1, "R", "Z")}, start="A",
                                  halting={"Z"})
    kwargs.update(overrides)
    return TuringMachine(**kwargs)


# (id, the call, the exception type, a fragment of its message)
API_CASES: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # -- item 5: a check that would test nothing is refused before it runs --
    ("check-lengths-empty", lambda: check(_demo(), _demo_reference(), lengths=[]), InputError, "lengths is empty"),
    ("check-samples-zero", lambda: check(_demo(), _demo_reference(), lengths=[3], samples_per_length=0), InputError,
     "samples_per_length must be >= 1, got 0"),
    ("check-samples-negative", lambda: check(_demo(), _demo_reference(), lengths=[3], samples_per_length=-5),
     InputError, "samples_per_length must be >= 1, got -5"),
    ("check-length-negative", lambda: check(_demo(), _demo_reference(), lengths=[-3]), InputError,
     "negative size -3"),
    ("check-batch-size-zero", lambda: check(_demo(), _demo_reference(), lengths=[3], batch_size=0), InputError,
     "batch_size must be >= 1, got 0"),
    ("check-lengths-an-int", lambda: check(_demo(), _demo_reference(), lengths=5), TypeError,
     "lengths must be an iterable of input sizes"),
    ("check-lengths-a-float", lambda: check(_demo(), _demo_reference(), lengths=[2.5]), TypeError,
     "must hold integers, got float 2.5"),
    ("check-backend-unknown", lambda: check(_demo(), _demo_reference(), lengths=[3], backend="gpu"), InputError,
     "unknown backend 'gpu'"),
    ("check-dtype-integer", lambda: check(_demo(), _demo_reference(), lengths=[3], dtype=torch.int64), InputError,
     "floating-point torch dtype"),
    ("check-tolerance-negative", lambda: check(_demo(), _demo_reference(), lengths=[3], tolerance=-1.0),
     InputError, "tolerance must be a finite number >= 0"),
    ("check-exhaustive-negative", lambda: check(_demo(), _demo_reference(), lengths=[3], exhaustive_up_to=-1),
     InputError, "exhaustive_up_to must be >= 0"),
    ("check-no-construction", lambda: check(None, _demo_reference(), lengths=[3]), TypeError,
     "needs a Construction"),
    ("check-no-inputs-at-any-size", lambda: check(_demo(), CorpusReference([("ab", "a")], size=len), lengths=[5, 6]),
     InputError, "tested no inputs"),
    ("frontier-lengths-empty", lambda: frontier(_demo(), _demo_reference(), lengths=[]), InputError,
     "lengths is empty"),
    ("frontier-dtypes-empty", lambda: frontier(_demo(), _demo_reference(), lengths=[3], dtypes=[]), InputError,
     "dtypes is empty"),
    ("frontier-samples-zero", lambda: frontier(_demo(), _demo_reference(), lengths=[3], samples_per_length=0),
     InputError, "samples_per_length must be >= 1"),
    # -- item 6: running a construction --
    ("run-none", lambda: _demo().run(None), InputError, "the input is None"),
    ("run-symbol-outside-alphabet", lambda: _parity().run("012"), InputError, "symbol '2' is not in the alphabet"),
    ("run-an-int-word", lambda: _parity().run(5), InputError, "not int"),
    ("run-empty-word", lambda: _demo().run(""), InputError, "non-empty word"),
    ("run-batch-of-a-string", lambda: _demo().run_batch("ab"), InputError, "takes a list of inputs"),
    ("run-batch-empty", lambda: _demo().run_batch([]), InputError, "the batch is empty"),
    ("run-batch-ragged", lambda: _demo().run_batch(["ab", "abb"]), InputError, "same length"),
    ("run-backend-unknown", lambda: _demo().run("ab", backend="gpu"), InputError, "unknown backend 'gpu'"),
    ("run-device-cuda-absent", _cuda_when_absent, InputError, "' is not available"),
    ("run-device-unknown", lambda: _demo().run("ab", device="gpu"), InputError, "unknown device 'gpu'"),
    ("run-dtype-a-string", lambda: _demo().run("ab", dtype="float32"), InputError, "floating torch dtype"),
    ("run-accumulate-unknown", lambda: _demo().run("ab", dtype=torch.float32, accumulate="float16"), InputError,
     "accumulate must be 'dtype' or 'float64', got 'float16'"),
    ("simulate-not-a-machine", lambda: _demo().simulate(), TypeError, "does not simulate a machine"),
    ("run-over-the-memory-budget", _turing_prompt_run, MemoryBudgetError, "over the memory budget of 97.7 KiB"),
    # -- item 6: sizes of weights and resources --
    ("resources-negative", lambda: _demo().resources(-1), InputError, "non-negative integer, got -1"),
    ("resources-not-an-integer", lambda: _demo().resources(2.5), InputError, "got float 2.5"),
    ("weights-negative", lambda: _demo().weights(-1), InputError, "non-negative integer, got -1"),
    ("weights-not-an-integer", lambda: _demo().weights(n="8"), InputError, "got str '8'"),
    # W_pos of 10^9 tokens x 6 coordinates: 8 bytes a pointer per entry, 48 a Fraction for the one positional value
    ("weights-over-the-budget", lambda: ef.constructions.copy_first().weights(n=10**9), MemoryBudgetError,
     f"at least 89.4 GiB ({10**9 * 6 * 8 + 10**9 * 48:,} bytes)"),
    ("weights-beyond-max-length", lambda: ef.constructions.log_depth_connectivity(4).weights(n=100), InputError,
     "built for at most 88 tokens"),
    ("state-dict-integer-dtype", lambda: _demo().state_dict(torch.int32), InputError, "floating torch dtype"),
    # -- graphs --
    ("connectivity-multigraph", lambda: C.build("connectivity").run((nx.MultiDiGraph([(0, 1), (0, 1)]), 0, 1)),
     InputError, "MultiDiGraph"),
    ("connectivity-too-many-vertices",
     lambda: C.build("connectivity").run((nx.path_graph(10, create_using=nx.DiGraph), 0, 9)), InputError,
     "handles at most 8"),
    ("connectivity-string-vertices", lambda: C.build("connectivity").run((nx.DiGraph([("a", "b")]), 0, 1)),
     InputError, "integers 0..n-1"),
    ("connectivity-not-a-triple", lambda: C.build("connectivity").run(nx.DiGraph([(0, 1)])), InputError,
     "tuple (graph, s, t)"),
    ("query-multigraph", lambda: _query([(0, 1), (1, 2), (3, 2)], 0, (2, 3), 2, nx.MultiDiGraph), InvalidQueryError,
     "MultiDiGraph"),
    ("query-two-reachable", lambda: _query([(0, 1), (0, 2)], 0, (1, 2), 1), InvalidQueryError,
     "exactly one candidate"),
    ("bfs-undirected-graph", lambda: ef.languages.bfs_layers(nx.Graph([(0, 1)]), 0), InvalidQueryError,
     "must be a networkx.DiGraph"),
    ("reachable-from-multigraph", lambda: ef.languages.reachable_from(nx.MultiDiGraph([(0, 1)]), 0),
     InvalidQueryError, "parallel edges"),
    ("superposition-node-beyond-max-nodes",
     lambda: C.build("superposition").answer(_query([(0, 1), (1, 200), (3, 200)], 0, (200, 3), 200)), InputError,
     "node 200 is not an integer in 0..30"),
    ("superposition-not-a-query", lambda: C.build("superposition").run("abc"), InputError,
     "expected a ReachabilityQuery"),
    # -- item 7 and malformed automata --
    ("dfa-same-pair-twice-in-triples", lambda: _dfa(transitions=[(0, "a", 0), (0, "a", 1)]), InvalidAutomatonError,
     "(0, 'a') is given twice, to 0 and to 1"),
    ("dfa-same-pair-flat-and-nested", lambda: _dfa(transitions={(0, "a"): 0, 0: {"a": 1}}), InvalidAutomatonError,
     "given twice"),
    ("dfa-unknown-target", lambda: _dfa(transitions={(0, "a"): 5}), InvalidAutomatonError, "goes to 5"),
    ("dfa-missing-start", lambda: _dfa(start=9), InvalidAutomatonError, "start state 9 is not a state"),
    ("dfa-unknown-accepting", lambda: _dfa(accepting={3}), InvalidAutomatonError, "accepting states [3]"),
    ("dfa-transitions-none", lambda: _dfa(transitions=None), InvalidAutomatonError,
     "transitions must be a mapping"),
    ("dfa-bad-triple", lambda: _dfa(transitions=[(0, "a", 1, 0)]), InvalidAutomatonError,
     "not a (state, symbol, next_state) triple"),
    ("dfa-unhashable-state", lambda: _dfa(states=[[0]]), InvalidAutomatonError, "must be hashable"),
    ("dfa-word-outside-alphabet", lambda: ef.languages.parity().accepts("012"), SymbolNotInAlphabetError,
     "symbol '2' at position 2"),
    ("dfa-count-non-integer-length", lambda: ef.languages.parity().count(2.5), ValueError,
     "non-negative integer, got float 2.5"),
    ("dfa-sample-no-such-word", lambda: _dfa(transitions={}).sample(3, accepted=True), NoSuchWordError,
     "no accepted word of length 3"),
    ("dfa-regex-unbalanced", lambda: DFA.from_regex("(a", alphabet="ab"), InvalidAutomatonError,
     "cannot compile regex"),
    ("att-nondeterministic", lambda: DFA.from_att("0\t1\ta\ta\n0\t2\ta\ta\n1\n"), InvalidAutomatonError,
     "not deterministic"),
    ("dot-empty-symbol-between-commas", lambda: DFA.from_dot('digraph { __start -> a; a -> b [label="x,"]; }'),
     ParseError, "label 'x,', which cannot be read"),
    ("dot-empty-label", lambda: DFA.from_dot('digraph { __start -> a; a -> b [label=""]; }'), ParseError,
     "label '', which cannot be read"),
    ("dot-interval-holds-no-symbol",
     lambda: DFA.from_dot('digraph { __start -> a; a -> b [label="[5 , 9]"]; }', alphabet="01"), ParseError,
     "holds no symbol of the alphabet"),
    ("dot-interval-bound-not-a-number", lambda: DFA.from_dot('digraph { __start -> a; a -> b [label="[x , 9]"]; }'),
     ParseError, "bound 'x' is not a number"),
    ("dot-comma-label-overlaps-another-edge",
     lambda: DFA.from_dot('digraph { __start -> a; a -> b [label="x,y"]; a -> c [label="y"]; }'),
     InvalidAutomatonError, "two edges on 'y'"),
    ("tomita-unknown-number", lambda: ef.languages.tomita(99), LanguagesError, "numbered 1..7, got 99"),
    ("word-problem-unknown-group", lambda: ef.languages.word_problem("nope"), LanguagesError, "unknown group 'nope'"),
    # -- malformed machines and standard-notation strings --
    ("tm-text-empty", lambda: TuringMachine.from_standard(""), ParseError, "empty Turing machine text"),
    ("tm-text-short-group", lambda: TuringMachine.from_standard("1RB1LB_1LA"), ParseError,
     "has 3 characters, expected 6"),
    ("tm-text-bad-move", lambda: TuringMachine.from_standard("1XB1LB_1LA1RZ"), ParseError,
     "is not <digit><L|R><state letter>"),
    ("tm-text-writes-unknown-symbol", lambda: TuringMachine.from_standard("2RB1LB_1LA1RZ"), ParseError,
     "writes 2, but the machine has 2 symbols"),
    ("tm-text-not-text", lambda: TuringMachine.from_standard(5), TypeError, "expected the machine's text"),
    ("tm-move-not-l-or-r", lambda: _tm(transitions={("A", 0): (1, "U", "Z")}), InvalidMachineError, "'U'"),
    ("tm-start-not-a-state", lambda: _tm(start="Q"), InvalidMachineError, "start state 'Q'"),
    ("tm-halting-state-with-transition", lambda: _tm(states={"A"}, halting={"Z"},
                                                     transitions={("Z", 0): (1, "R", "A")}),
     InvalidMachineError, "halting state 'Z' has a transition"),
    ("turing-machine-tape-too-short", lambda: C.turing_machine("1RB1LB_1LA1RZ", 1), InvalidMachineError,
     "at least 3 cells, got 1"),
    ("turing-machine-not-a-machine", lambda: C.turing_machine(5, 4), InputError, "expected a TuringMachine"),
    ("post-machine-none", lambda: C.post_machine(None), InputError, "the Post machine has none of the attributes"),
    ("post-machine-queue-length-one", lambda: C.post_machine(_pm(), queue_length=1), InputError,
     "queue length must be at least 2, got 1"),
    ("post-machine-prompt-length", lambda: C.post_machine(_pm(), queue_length=3).run(["a", "b"]), InputError,
     "exactly the queue of 3 symbols, got 2"),
    ("post-machine-symbol-outside", lambda: C.post_machine(_pm(), queue_length=3).run(["a", "b", "z"]), InputError,
     "symbol 'z' is not in the Post machine's alphabet"),
    ("post-machine-prompt-not-a-sequence", lambda: C.build("post-machine").run(5), InputError,
     "post_machine cannot encode the input int 5: TypeError"),
    ("pm-start-not-a-state", lambda: _pm(start="q"), InvalidMachineError, "start state 'q' is not a state"),
    ("pm-symbol-outside-alphabet", lambda: _pm(transitions={("p", "a"): ("z", "h")}), InvalidMachineError,
     "symbol 'z' outside the alphabet"),
    # -- builders and the registry --
    ("registry-unknown-name", lambda: C.build("nope"), KeyError, "no construction named 'nope'"),
    ("registry-option-typo", lambda: C.build("parity", layer_norm=True), TypeError, "takes no option(s)"),
    ("builder-connectivity-zero-vertices", lambda: C.build("connectivity", num_vertices=0), InputError,
     "num_vertices must be a positive integer, got 0"),
    ("builder-superposition-one-node", lambda: C.build("superposition", max_nodes=1), InputError,
     "max_nodes must be an integer >= 2, got 1"),
    ("builder-demo-alphabet-not-a-sequence", lambda: C.build("demo", alphabet=5), ValueError,
     "alphabet must be a string or a sequence"),
    ("builder-log-depth-not-a-dfa", lambda: C.log_depth_recognizer(None), InputError, "needs an exactformer"),
    ("memory-budget-unreadable", lambda: parse_bytes("lots"), ValueError, "cannot read 'lots' as a number of bytes"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in API_CASES])
def test_a_bad_input_raises_a_clear_error(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value), f"{type(info.value).__name__}: {info.value}"


def test_the_cases_are_distinct():
    ids = [c[0] for c in API_CASES] + [c[0] for c in CLI_CASES] + [c[0] for c in MODEL_FILE_CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60


# -- malformed model files ----------------------------------------------------------------------------------------


def _saved(tmp_path: Path) -> Path:
    return save_model(_demo().model, tmp_path / "demo.safetensors")


def _with_header(path: Path, change: Callable[[dict], None]) -> Path:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    change(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    out = path.with_name("changed.safetensors")
    out.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n :])
    return out


def _with_meta(path: Path, change: Callable[[dict], None]) -> Path:
    def edit(header: dict) -> None:
        meta = json.loads(header["__metadata__"]["exactformer"])
        change(meta)
        header["__metadata__"]["exactformer"] = json.dumps(meta)

    return _with_header(path, edit)


def _truncated(path: Path) -> Path:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _junk(path: Path) -> Path:
    path.write_bytes(b"not a safetensors file at all")
    return path


MODEL_FILE_CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("file-truncated", _truncated, "is not a readable safetensors file"),
    ("file-junk", _junk, "is not a readable safetensors file"),
    ("file-missing", lambda p: p.with_name("nothing.safetensors"), "no model file at"),
    ("file-without-metadata", lambda p: _with_header(p, lambda h: h.pop("__metadata__")), "no exactformer metadata"),
    ("metadata-not-json", lambda p: _with_header(p, lambda h: h["__metadata__"].__setitem__("exactformer", "{no")),
     "malformed exactformer metadata (JSONDecodeError"),
    ("metadata-a-list", lambda p: _with_header(p, lambda h: h["__metadata__"].__setitem__("exactformer", "[1]")),
     "must be a JSON object, found list"),
    ("metadata-future-version", lambda p: _with_meta(p, lambda m: m.__setitem__("format_version", 99)),
     "unsupported format version 99"),
    ("metadata-vocabulary-too-short", lambda p: _with_meta(p, lambda m: m.__setitem__("vocab", ["a"])),
     "W_E must have shape [1, d_model]"),
    ("metadata-without-space", lambda p: _with_meta(p, lambda m: m.pop("space")), "(KeyError: 'space')"),
    ("metadata-unknown-decision", lambda p: _with_meta(p, lambda m: m["readout"].__setitem__("decision", "vote")),
     "unknown decision rule 'vote'"),
    ("metadata-max-length-a-string", lambda p: _with_meta(p, lambda m: m.__setitem__("max_length", "x")),
     "max_length must be a positive integer or null, found 'x'"),
]


@pytest.mark.parametrize(("spoil", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in MODEL_FILE_CASES])
def test_a_malformed_model_file_is_a_model_format_error(tmp_path, spoil, fragment):
    path = spoil(_saved(tmp_path))
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    assert fragment in str(info.value)


# -- the command line: one line on stderr, exit 2, no traceback ---------------------------------------------------

runner = CliRunner()


def _a_file(tmp: Path) -> str:
    (tmp / "plain.txt").write_text("x")
    return str(tmp / "plain.txt")


# (id, arguments (``{tmp}`` is a fresh folder), a fragment of the message)
CLI_CASES: list[tuple[str, list[str], str]] = [
    ("cli-lengths-not-a-number", ["verify", "demo", "--lengths", "abc"], "cannot read 'abc'"),
    ("cli-lengths-negative", ["verify", "demo", "--lengths=-3"], "cannot read '-3'"),
    ("cli-lengths-step-zero", ["verify", "demo", "--lengths", "1-4:0"], "the step of '1-4:0' must be at least 1"),
    ("cli-lengths-empty-range", ["verify", "demo", "--lengths", "5-1"], "the range '5-1' is empty"),
    ("cli-lengths-empty-string", ["verify", "demo", "--lengths", ""], "cannot read ''"),
    ("cli-lengths-empty-part", ["frontier", "demo", "--lengths", "1,,3"], "cannot read ''"),
    ("cli-backend-gpu", ["verify", "demo", "--backend", "gpu"], "--backend must be one of exact, certified, torch"),
    ("cli-trace-backend-gpu", ["trace", "demo", "ab", "--backend", "gpu"], "got 'gpu'"),
    ("cli-trace-accumulate-unknown", ["trace", "demo", "ab", "--backend", "torch", "--accumulate", "fp128"],
     "accumulate must be 'dtype' or 'float64', got 'fp128'"),
    ("cli-verify-accumulate-unknown", ["verify", "demo", "--accumulate", "fp128"],
     "accumulate must be 'dtype' or 'float64', got 'fp128'"),
    ("cli-dtype-unknown", ["verify", "demo", "--dtype", "float8"], "--dtype must be one of"),
    ("cli-frontier-dtype-unknown", ["frontier", "demo", "--dtypes", "float32,int8"], "got 'int8'"),
    ("cli-samples-zero", ["verify", "demo", "--samples", "0"], "--samples must be at least 1, got 0"),
    ("cli-mutate-samples-zero", ["mutate", "demo", "--samples", "0"], "--samples must be at least 1, got 0"),
    ("cli-mutate-empty-range", ["mutate", "demo", "--lengths", "4-2"], "the range '4-2' is empty"),
    ("cli-frontier-samples-negative", ["frontier", "demo", "--samples=-2"], "--samples must be at least 1"),
    ("cli-exhaustive-negative", ["verify", "demo", "--exhaustive-up-to=-1"], "--exhaustive-up-to must be at least 0"),
    ("cli-json-missing-folder", ["verify", "demo", "--json", "{tmp}/no/such/dir/r.json"], "does not exist"),
    ("cli-json-is-a-folder", ["verify", "demo", "--json", "{tmp}"], "is a folder"),
    ("cli-markdown-under-a-file", ["verify", "demo", "--markdown", "{file}/r.md"], "does not exist"),
    ("cli-build-out-missing-folder", ["build", "demo", "--out", "{tmp}/no/m.safetensors"], "--out"),
    ("cli-export-out-is-a-folder", ["export", "demo", "--out", "{tmp}"], "is a folder"),
    ("cli-export-unknown-target", ["export", "demo", "--out", "{tmp}/x", "--to", "onnx"], "unknown export target"),
    ("cli-export-negative-n", ["export", "demo", "--out", "{tmp}/x", "--n=-3"], "--n must be at least 0, got -3"),
    ("cli-option-typo", ["trace", "demo", "ab", "--option", "alphabett=ab"], "takes no option(s) ['alphabett']"),
    ("cli-option-without-value", ["trace", "demo", "ab", "--option", "alphabet"], "must look like key=value"),
    ("cli-unknown-construction", ["verify", "nope"], "no construction named 'nope'"),
    ("cli-bad-builder-value", ["trace", "connectivity", "--option", "num_vertices=0"],
     "num_vertices must be a positive integer"),
    ("cli-trace-symbol-outside-alphabet", ["trace", "demo", "xyz"], "InputError: symbol 'x' is not in the alphabet"),
]


@pytest.mark.parametrize(("args", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in CLI_CASES])
def test_a_bad_command_line_prints_one_line_and_exits_2(tmp_path, args, fragment):
    args = [a.replace("{tmp}", str(tmp_path)).replace("{file}", _a_file(tmp_path)) for a in args]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_the_memory_budget_can_be_raised_for_a_block():
    """The guard refuses what the budget does not allow, and the same request runs under a larger budget."""
    c = ef.constructions.copy_first()
    needs = 32 * c.model.d_model * 8 + 32 * 48  # W_pos pointers, and one Fraction per positional value
    with memory_budget(1_000), pytest.raises(MemoryBudgetError, match=f"{needs:,} bytes"):
        c.weights(n=32)
    with memory_budget("1MiB"):
        assert c.weights(n=32)["pos_embed.W_pos"].shape == (32, c.model.d_model)
    assert format_bytes(48_000_000_000) == "44.7 GiB" and parse_bytes("4GiB") == 4 * 2**30
