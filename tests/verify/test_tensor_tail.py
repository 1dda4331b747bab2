"""The tensor path's readout-only tail: the last attention sublayer and the sublayers after it answer only the
positions that are read there (the readout's and the statements').

Lemmas checked here:

* ``forward(..., queries=rows, full_trace=True)`` records every residual: those before the last attention sublayer
  with the full pass's bits, the later ones at the queried rows (``trace.partial``); a probe reads the rows it asks
  for through ``trace.rows``, and a position the trace does not hold is a ``KeyError``, never another row;
* the tail holds the readout position and every position a statement reads after the last attention, and is not
  used when a statement reads the tail at every position;
* with several batches the tail is used after the first batch has shown the full pass's bits at those rows, and the
  report is the general path's (margins to the last bit); when the first batch disagrees, every batch takes the
  full pass and the report is still the general path's.
"""

from __future__ import annotations

import pytest
import torch

from exactformer.constructions import registry
from exactformer.core.arith import TorchArithmetic
from exactformer.core.construction import Probe
from exactformer.core.forward import forward
from exactformer.languages import named
from exactformer.verify import check, tensor_check
from exactformer.verify.tensor_check import _tail_rows

from .test_tensor_path import _same_reports


def _tokens(construction, words: list[str]) -> list[list[str]]:
    return [list(construction.encode(w)) for w in words]


WORDS = ["0110100111", "1111111111", "0000000000", "1010101010"]


def test_a_full_trace_with_queries_records_the_full_pass_before_the_tail_and_the_queried_rows_after():
    c = registry.build("parity")
    arith = TorchArithmetic()
    tokens = _tokens(c, WORDS)
    full = forward(c.model, tokens, arith)
    tail = forward(c.model, tokens, arith, queries=[-1, 3], full_trace=True)
    assert tail.labels == full.labels
    n = len(tokens[0])
    for label, x in zip(tail.labels, tail.residuals):
        if label in tail.partial:
            assert tail.partial[label] == (n, (n - 1, 3))
            assert torch.equal(x, full[label][:, [n - 1, 3]])
        else:
            assert torch.equal(x, full[label])
    assert set(tail.partial) == {"L1.attn", "L1.mlp"}  # the last attention sublayer and the MLP after it
    probe = Probe(site="L1.mlp", coordinates=("answer",), positions=(3, -1))
    index = c.model.space.index
    assert torch.equal(probe.read_batch(tail, index), probe.read_batch(full, index))
    assert (probe.read(tail, index, 2) == probe.read(full, index, 2)).all()
    with pytest.raises(KeyError, match="holds positions"):
        Probe(site="L1.mlp", coordinates=("answer",), positions=(2,)).read_batch(tail, index)
    with pytest.raises(KeyError, match="holds positions"):
        Probe(site="L1.mlp", coordinates=("answer",)).read_batch(tail, index)  # every position
    early = Probe(site="L0.mlp", coordinates=("hat:[i=k]/N",))  # before the tail: every position, as in full
    assert torch.equal(early.read_batch(tail, index), early.read_batch(full, index))


def test_a_full_trace_needs_queries_and_no_cache():
    from exactformer.core.errors import InputError
    from exactformer.core.forward import KVCache

    c = registry.build("parity")
    tokens = _tokens(c, WORDS)
    with pytest.raises(InputError, match="needs queries"):
        forward(c.model, tokens, TorchArithmetic(), full_trace=True)
    with pytest.raises(InputError, match="no cache"):
        forward(c.model, tokens, TorchArithmetic(), queries=[-1], cache=KVCache(), full_trace=True)


def test_the_tail_holds_the_readout_and_the_positions_statements_read_there():
    parity = registry.build("parity")  # readout at the end; answer.sign reads the last MLP at -1 only
    assert _tail_rows(parity, 12, check_invariants=True) == [11]
    first = registry.build("first")  # readout at CLS, position 0
    assert _tail_rows(first, 12, check_invariants=True) == [0]
    every = registry.build("parity-ln")  # its LayerNorm statements read the tail at every position
    assert _tail_rows(every, 12, check_invariants=True) is None
    assert _tail_rows(every, 12, check_invariants=False) == [11]  # the readout alone
    assert _tail_rows(parity, 1, check_invariants=True) is None  # one position: nothing to save


def _count_tail_passes(monkeypatch) -> list[bool]:
    calls: list[bool] = []
    original = tensor_check.forward

    def spy(model, inputs, arith, **options):
        calls.append(bool(options.get("full_trace")))
        return original(model, inputs, arith, **options)

    monkeypatch.setattr(tensor_check, "forward", spy)
    return calls


@pytest.mark.parametrize("name", ["parity", "first", "first-scaled", "log-depth-parity"])
def test_with_several_batches_the_tail_is_used_and_the_report_is_the_general_paths(name, monkeypatch):
    entry = registry.get(name)
    c = entry.builder(**entry.options)
    reference = entry.reference(c)
    options = dict(lengths=[6, 9], exhaustive_up_to=1 << 9, seed=2)
    calls = _count_tail_passes(monkeypatch)
    tensor = check(c, reference, path="tensor", batch_size=2, **options)
    _same_reports(tensor, check(c, reference, path="general", **options))
    assert tensor.passed and tensor.tested == 2**6 + 2**9
    # per size: the first batch in full, its tail again (the test), then the other batches tail only
    assert calls.count(False) == 2 and calls.count(True) == 2**6 // 2 + 2**9 // 2


def test_a_small_tail_over_few_batches_is_not_worth_the_test():
    """The tail's share of the sublayers must repay the first batch's second pass: log-depth-parity's last attention
    sublayer and MLP are 2 of 20 sublayers at n = 6, so 4 batches keep the full pass, 32 take the tail."""
    c = registry.build("log-depth-parity")
    assert _tail_rows(c, 8, check_invariants=True, batches=4) is None
    assert _tail_rows(c, 8, check_invariants=True, batches=32) is not None
    parity = registry.build("parity")  # 2 of 4 sublayers: worth it from 4 batches
    assert _tail_rows(parity, 8, check_invariants=True, batches=3) is None
    assert _tail_rows(parity, 8, check_invariants=True, batches=4) == [7]


def test_when_the_first_batch_disagrees_every_batch_takes_the_full_pass(monkeypatch):
    c = registry.build("parity")
    monkeypatch.setattr(tensor_check, "_same_bits", lambda full, tail: False)
    calls = _count_tail_passes(monkeypatch)
    tensor = check(c, named.parity(), lengths=[8], exhaustive_up_to=1 << 8, batch_size=32, path="tensor")
    _same_reports(tensor, check(c, named.parity(), lengths=[8], exhaustive_up_to=1 << 8, path="general"))
    assert calls == [False, True] + [False] * 7  # one tail tried, then full passes


def test_a_broken_tail_fails_alike_on_both_paths():
    """A sign-flipped readout fails on every batch: the tail reports what the general path reports."""
    import dataclasses

    c = registry.build("parity")
    readout = dataclasses.replace(c.model.readout, W_U=c.model.readout.W_U * -1)
    broken = dataclasses.replace(c, model=dataclasses.replace(c.model, readout=readout))
    options = dict(lengths=[7], exhaustive_up_to=1 << 7, seed=1)
    tensor = check(broken, named.parity(), path="tensor", batch_size=8, **options)
    _same_reports(tensor, check(broken, named.parity(), path="general", **options))
    assert not tensor.passed


def test_a_reference_over_fewer_symbols_is_remapped_batch_by_batch():
    """The reference's symbol indices are mapped to the encoder's per batch (here '1' is the encoder's symbol 1 and
    the reference's symbol 0): the report is the general path's."""
    from exactformer.languages import DFA

    ones = DFA(states={0, 1}, alphabet={"1"}, transitions={(0, "1"): 1, (1, "1"): 0}, start=0, accepting={1})
    c = registry.build("parity")
    options = dict(lengths=[1, 4, 7], exhaustive_up_to=8, seed=1)
    tensor = check(c, ones, path="tensor", batch_size=1, **options)
    _same_reports(tensor, check(c, ones, path="general", **options))
    assert tensor.passed and tensor.tested == 3
