"""The plain-torch example of docs/export.md runs PARITY from an exported file and matches the library.

The block is read from the page (the one after the ``<!-- plain-torch example -->`` marker) and executed as it is,
after the export command the page gives, so the page cannot drift from the code. The block's own last lines
compare its answer and logit with the library's float64 run and with the parity of the word.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

import exactformer as ef
from exactformer.cli import app
from exactformer.core.model_spec import ModelSpec

ROOT = Path(__file__).resolve().parents[2]


def plain_torch_block() -> str:
    text = (ROOT / "docs" / "export.md").read_text()
    match = re.search(r"<!-- plain-torch example -->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/export.md lost its plain-torch example"
    return match.group(1)


def test_the_plain_torch_example_of_the_docs_runs_and_matches_the_library(tmp_path, monkeypatch, capsys):
    block = plain_torch_block()
    assert len(block.splitlines()) <= 45  # "about 40 lines"
    result = CliRunner().invoke(app, ["export", "parity", "-o", str(tmp_path / "parity.safetensors"), "--n", "8",
                                      "--dtype", "float64"])
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "docs/export.md (plain-torch example)", "exec"), {})
    assert capsys.readouterr().out.startswith("10110101 odd ")


@pytest.mark.parametrize("word", ["1", "0", "0110", "1111111", "10110101"])
def test_the_same_steps_agree_with_the_library_on_other_words(tmp_path, monkeypatch, word):
    """The docs' code on other words of length 8 and on other lengths (a file exported per length)."""
    path = tmp_path / "parity.safetensors"
    result = CliRunner().invoke(app, ["export", "parity", "-o", str(path), "--n", str(len(word)), "--dtype",
                                      "float64"])
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path)
    block = plain_torch_block().replace('word = "parity.safetensors", "10110101"',
                                        f'word = "parity.safetensors", {word!r}')
    exec(compile(block, "docs/export.md (plain-torch example)", "exec"), {})


def test_the_file_spec_is_the_constructions_spec_and_state_dict_carries_it(tmp_path):
    c = ef.constructions.build("log-depth-parity")
    path = tmp_path / "ld.safetensors"
    result = CliRunner().invoke(app, ["export", "log-depth-parity", "-o", str(path), "--n", "5"])
    assert result.exit_code == 0, result.output
    with safe_open(str(path), "pt") as f:
        spec = ModelSpec.from_json(json.loads(f.metadata()["spec"]))
        keys = set(f.keys())
    assert spec == c.spec(5, example=ef.constructions.get("log-depth-parity").example)
    state = c.state_dict(torch.float32, n=5)
    assert state.spec == c.spec(5)
    # every sublayer's tensors are in the file under the spec's prefix, in execution order
    assert all(f"{s.prefix}.{'W_Q' if s.attention else 'W_in'}" in keys for s in spec.sublayers)
    assert spec.tokens == c.tokens_for(5) and spec.encoding.prefix == ("<bos>",)
    # without n the loop is listed once, under the names state_dict() gives its tensors
    loose = c.spec()
    assert loose.tokens is None and any(".loop0." in s.prefix for s in loose.sublayers)
    assert all(f"{s.prefix}.{'W_Q' if s.attention else 'W_in'}" in c.state_dict() for s in loose.sublayers)
    kinds = {s.attention.kind for s in spec.sublayers if s.attention}
    assert kinds == {a.block.kind for _, layer in c.model.named_layers(spec.tokens) for a in [layer.attention] if a}


def test_the_spec_names_norm_placement_and_the_ln_n_scale():
    ln = ef.constructions.build("parity-ln").spec(4)
    assert all(s.output_norm is not None and s.output_norm.kind == "layernorm" and s.input_norm is None
               for s in ln.sublayers)
    scaled = ef.constructions.build("first-scaled").spec(4)
    att = [s.attention for s in scaled.sublayers if s.attention]
    assert any(a.scale_log_length for a in att)
    for a in att:  # the float64 value at N = 5 tokens is the formula's
        expected = float(Fraction(a.scale_coefficient)) * math.sqrt(Fraction(a.scale_sqrt_of))
        assert a.scale_at_n == pytest.approx(expected * (math.log(5) if a.scale_log_length else 1), rel=1e-15)
