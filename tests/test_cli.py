"""The command line: list, build, trace (with labelled residuals), and clean errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from exactformer.cli import app
from exactformer.core.serialize import load_model

runner = CliRunner()


def test_list_names_the_demo_and_its_citation():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "demo" in result.output


def test_list_shows_each_constructions_claims():
    result = runner.invoke(app, ["list"], env={"COLUMNS": "400"})
    assert result.exit_code == 0 and "claims" in result.output
    assert "layers <= 8⌈log2 n⌉ + 9; layers == ⌈log2 n⌉ (this build); attention hard" in result.output


def test_trace_prints_a_labelled_residual_stream():
    result = runner.invoke(app, ["trace", "demo", "abba"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "residual after L0.attn" in result.output
    assert "copy:a" in result.output and "pos:first" in result.output
    assert "answer: 'a'" in result.output


def test_build_writes_a_loadable_model(tmp_path):
    out = tmp_path / "demo.safetensors"
    result = runner.invoke(app, ["build", "demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_model(out).d_model == 6


def test_an_unknown_construction_is_named():
    result = runner.invoke(app, ["trace", "nope", "x"])
    assert result.exit_code != 0 and "no construction named 'nope'" in result.output


def test_every_command_has_help():
    for command in ("list", "build", "trace", "verify", "frontier", "export"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and len(result.output) > 50


def test_verify_passes_the_demo_and_prints_its_report():
    result = runner.invoke(app, ["verify", "demo", "--lengths", "1-6"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output


def test_frontier_prints_one_row_per_dtype():
    result = runner.invoke(app, ["frontier", "demo", "--lengths", "1,8", "--samples", "10"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        assert f"| demo | {dtype} | 8 |" in result.output


def test_export_writes_transformer_lens_names(tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "demo.safetensors"
    result = runner.invoke(app, ["export", "demo", "--out", str(out), "--n", "4"])
    assert result.exit_code == 0, result.output
    tensors = load_file(str(out))
    assert tensors["blocks.0.attn.W_Q"].shape == (1, 6, 1) and tensors["pos_embed.W_pos"].shape == (4, 6)


def _without_status(table: str) -> list[str]:
    """The table's rows without their last two (status and proof) columns."""
    return [line.rsplit("|", 3)[0] for line in table.strip().splitlines()]


def test_readme_table_is_generated_from_the_code_and_up_to_date():
    """The README's constructions table equals a fresh generation: theorems and resources measured from the models
    (the status and proof columns, a fresh verification and certificate of every construction, are compared by the
    slow test below)."""
    from pathlib import Path

    from exactformer.catalog import construction_table, readme_table

    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert _without_status(readme_table(readme)) == _without_status(construction_table(verify=False)), (
        "run `exactformer table --write README.md`")


@pytest.mark.slow
def test_readme_table_status_is_a_fresh_verification():
    from pathlib import Path

    from exactformer.catalog import construction_table, readme_table

    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert readme_table(readme) == construction_table(), "run `exactformer table --write README.md`"


def _registered_names():
    from exactformer.constructions import REGISTRY

    heavy = {"log-depth-a5", "pointer-jumping-a5"}  # same code path as the parity versions, minutes under load
    return [pytest.param(n, marks=pytest.mark.slow) if n in heavy else n for n in sorted(REGISTRY)]



@pytest.mark.parametrize("name", _registered_names())
def test_verify_works_for_every_registered_construction(name):
    """`exactformer verify NAME` at the entry's smallest non-trivial registered size, a few samples."""
    from exactformer.constructions import REGISTRY

    sizes = REGISTRY[name].default_lengths()
    size = min((n for n in sizes if n >= 2), default=max(sizes))
    result = runner.invoke(app, ["verify", name, "--lengths", str(size), "--samples", "4", "--exhaustive-up-to",
                                 "4"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output


def test_the_proof_column_is_each_certificates_status_or_no_certificate(monkeypatch):
    from exactformer import catalog
    from exactformer.verify import certificate

    rows = {row.name: row for row in catalog.construction_rows(["post-machine", "turing-machine"])}
    assert rows["post-machine"].proof == rows["turing-machine"].proof == "proven for every L and every step"
    monkeypatch.setattr(certificate, "_PROVERS", {})
    (row,) = catalog.construction_rows(["turing-machine"])
    assert row.proof == "no certificate" and row.status.startswith("verified")
    assert catalog.construction_rows(["turing-machine"], verify=False)[0].proof == "not run"
    assert catalog.construction_table(["turing-machine"]).splitlines()[0].endswith("| status | proof |")


def test_trace_prints_state_names_verbatim():
    """Names such as ``ARR:B:1`` are not read as rich emoji codes (``:B:`` would print as a emoji) or markup."""
    result = runner.invoke(app, ["trace", "turing-machine"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "state:ARR:A:0" in result.output and "out_state:ARR:B:1" in result.output
    assert "answer: ('0', 'ARR:B:1')" in result.output
    assert all(ord(ch) < 0x2000 or 0x2500 <= ord(ch) < 0x2600 for ch in result.output)  # text and box drawing only


def test_a_library_error_in_a_command_is_one_line_not_a_traceback():
    result = runner.invoke(app, ["trace", "demo", "aXb"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert result.output.strip() == "error: InputError: symbol 'X' is not in the alphabet ['a', 'b']"


# -- exactformer prove ---------------------------------------------------------------------------------------------


def test_prove_runs_as_a_module_and_prints_the_post_machine_certificate():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "300"}
    done = subprocess.run([sys.executable, "-m", "exactformer.cli", "prove", "post-machine"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "post_machine: proven for every L and every step (8 lemmas" in done.stdout
    for lemma in ("window_selects_queue_front", "transition_lookup", "every_token_is_the_references"):
        assert lemma in done.stdout


def test_prove_writes_the_certificate_as_json_and_markdown(tmp_path):
    import json

    out, md = tmp_path / "c.json", tmp_path / "c.md"
    result = runner.invoke(app, ["prove", "turing-machine", "--json", str(out), "--markdown", str(md)],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["proven"] is True and data["status"] == "proven for every L and every step"
    assert [lm["name"] for lm in data["lemmas"]][-1] == "every_token_is_the_references"
    assert md.read_text().startswith("**post_machine: proven for every L and every step")


def test_prove_exits_1_naming_the_lemma_when_a_lemma_fails(monkeypatch):
    """The registered Post-machine prover, run on the model with its queue-front bias negated."""
    from fractions import Fraction

    from exactformer.constructions.post_machine import PostMachineParameters
    from exactformer.proofs.post_machine import prove_post_machine
    from exactformer.verify import certificate
    from exactformer.verify.mutants import Mutation, apply_mutation

    def broken(construction):
        front = (construction.parameters.queue_length - 1,)
        bias = Mutation("L0.attn.rel_bias.h0", front, "negate", Fraction(1), Fraction(-1))
        return prove_post_machine(apply_mutation(construction, bias))

    monkeypatch.setitem(certificate._PROVERS, PostMachineParameters, broken)
    result = runner.invoke(app, ["prove", "post-machine"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "failed: window_selects_queue_front, every_token_is_the_references" in result.output


def test_prove_names_an_unknown_construction_or_option_in_one_line_exit_2():
    result = runner.invoke(app, ["prove", "nope"])
    assert result.exit_code == 2 and "no construction named 'nope'" in result.output
    result = runner.invoke(app, ["prove", "post-machine", "--option", "attention=softmax"])
    assert result.exit_code == 2 and "takes no option(s) ['attention']" in result.output
    assert "Traceback" not in result.output
