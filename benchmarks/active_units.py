"""Time the torch evaluator's products for composition MLPs with and without the session-7 fast paths.

For each MLRegTest language named, build ``pointer_jumping_recognizer`` and classify one batch of sampled words
(half accepted) three ways, in float64 on the CPU, one thread:

* ``full``: every large sparse matrix multiplied by SciPy's dense x CSC product (the path before session 7);
* ``rows``: a mostly zero input multiplied by rows over its nonzero entries
  (:meth:`~exactformer.core.sparse_products.CompressedMatrix.rmatmul`), the MLP still over every unit;
* ``active``: as ``rows``, and a ReLU MLP over its candidate units only
  (:class:`~exactformer.core.sparse_products.ActiveUnitsMLP`; the default).

Prints CPU seconds (the fastest of ``--repeat`` runs) and whether the three runs' final residual streams are equal
bit for bit (``torch.equal``) and their answers the DFA's.

Usage::

    python benchmarks/active_units.py                                   # a lookup and a function-code language
    python benchmarks/active_units.py --languages 04.04.SP.6.1.1 --length 32 --samples 20
    python benchmarks/active_units.py --quick                           # two small languages (the test)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

import exactformer.core.sparse_products as sparse_products
from exactformer.constructions.monoid_composition import choose_code
from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.core.arith import TorchArithmetic
from exactformer.core.runners import classify
from exactformer.languages.dfa import DFA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from log_depth_mlregtest import DATA, languages, words_for  # noqa: E402


def run(model, inputs, mode: str) -> tuple[float, torch.Tensor, list]:
    """(CPU seconds, final residual stream, labels) of one classification in ``mode``."""
    saved = (TorchArithmetic._active_units, sparse_products.SPARSE_INPUT_DENSITY)
    if mode != "active":
        TorchArithmetic._active_units = lambda self, *args: None
    if mode == "full":
        sparse_products.SPARSE_INPUT_DENSITY = 10**9  # never by rows (unless the input is all zero)
    try:
        arith = TorchArithmetic(dtype=torch.float64)
        classify(model, inputs[:1], arith)  # render the weights and compress them: not timed
        start = time.process_time()
        result = classify(model, inputs, arith)
        return time.process_time() - start, result.trace.final, list(result.labels)
    finally:
        TorchArithmetic._active_units, sparse_products.SPARSE_INPUT_DENSITY = saved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--languages", nargs="+", default=["04.04.SP.4.1.6", "64.11.TLT.6.1.2"])
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="two small languages, 10 words of length 8, one run each")
    args = p.parse_args(argv)
    if args.quick:
        args.languages, args.length, args.samples, args.repeat = ["04.03.TLTT.2.3.4", "04.03.TLT.4.1.1"], 8, 10, 1
    torch.set_num_threads(1)
    paths = {name: (path, complement) for name, path, complement in languages(DATA)}
    print(f"{'language':18} {'code':8} {'units':>7} {'words':>5} {'full s':>7} {'rows s':>7} {'active s':>8} "
          f"{'speed-up':>8}  same floats, DFA's answers")
    for name in args.languages:
        path, complement = paths[name]
        dfa = DFA.from_att(path)
        dfa = dfa.complement() if complement else dfa
        c = pointer_jumping_recognizer(dfa)
        words = words_for(dfa, args.length, args.samples, random.Random(0))
        inputs = [c.encode(w) for w in words]
        seconds, finals, labels = {}, {}, {}
        for mode in ("full", "rows", "active"):
            runs = [run(c.model, inputs, mode) for _ in range(args.repeat)]
            seconds[mode] = min(r[0] for r in runs)
            finals[mode], labels[mode] = runs[0][1], runs[0][2]
        same = all(torch.equal(finals["full"], finals[m]) for m in ("rows", "active"))
        truth = [dfa.accepts(w) for w in words]
        answers = all(labels[m] == labels["full"] for m in labels)
        agree = c.answer_batch(words, arith=TorchArithmetic(dtype=torch.float64)) == truth
        print(f"{name:18} {choose_code(dfa).kind:8} {c.resources(args.length + 2).d_mlp:>7} {len(words):>5} "
              f"{seconds['full']:7.2f} {seconds['rows']:7.2f} {seconds['active']:8.2f} "
              f"{seconds['full'] / seconds['active']:7.1f}x  {same and answers}, {agree}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
