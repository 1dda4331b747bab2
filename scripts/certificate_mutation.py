"""Can each construction's certificate fail? Every behaviour-changing single-weight mutant should break a lemma.

For each registered construction with a prover: its certificate (lemmas, their sizes, status), then ``--samples``
single-entry mutants of its exact weights (:func:`exactformer.verify.mutants.sample_mutations`), classified by the
mutation harness's oracle (the reference on other inputs than the check's, at the sizes ``scripts/mutation.py``
uses), and ``prove()`` run on every behaviour-changing one: how many break the certificate, and which lemmas caught
them. With ``--equivalent`` the behaviour-preserving mutants are proven too (a lemma failing there is stricter than
correctness needs). A construction whose family has no prover prints "no prover".

    python scripts/certificate_mutation.py                                # every construction, 40 mutants each
    python scripts/certificate_mutation.py --only post-machine --samples 200 --equivalent \\
        --out scripts/results/certificate_mutation.txt
    python scripts/certificate_mutation.py --quick                        # post-machine and demo, 3 mutants
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from mutation import sizes_for

from exactformer import constructions
from exactformer.verify.certificate import prove
from exactformer.verify.certificate_mutation import certificate_mutation_rate

HEADER = ("| construction | lemmas (method: cases) | status | mutants | behaviour-changing | broken | rate | caught by "
          "| equivalent failing | CPU s |")


def lemma_sizes(certificate) -> str:
    """``name (method: cases)`` for each lemma, the cases only for exhaustive ones."""
    return "; ".join(f"{lm.name} ({lm.method}" + (f": {lm.cases:,})" if lm.cases is not None else ")")
                     for lm in certificate.lemmas)


def row_for(name: str, samples: int, seed: int, equivalent: bool) -> tuple[str, list[str]]:
    """The table line of ``name`` and the lines naming any behaviour-changing mutant its certificate survived."""
    construction = constructions.build(name)
    try:
        certificate = prove(construction)
    except TypeError:
        return f"| `{name}` | no prover | | | | | | | | |", []
    started = time.process_time()
    entry = constructions.get(name)
    result = certificate_mutation_rate(construction, entry.reference(construction), samples, seed,
                                       lengths=sizes_for(name, construction), prove_equivalent=equivalent, name=name)
    caught = ", ".join(f"{k} {v}" for k, v in sorted(result.caught_by().items())) or "-"
    strict = str(len(result.strict)) if equivalent else "not run"
    rate = f"{100 * result.rate:.0f}%" if result.changing else "- (none changed behaviour)"
    line = (f"| `{name}` | {lemma_sizes(certificate)} | {certificate.status} | {len(result.outcomes)} | "
            f"{len(result.changing)} | {len(result.broken)} | {rate} | {caught} | {strict} | "
            f"{time.process_time() - started:.1f} |")
    holes = [f"- `{name}`: `{o.mutation}` changes behaviour ({o.witness}) and the certificate holds ({o.status})"
             for o in result.unbroken]
    holes += [f"- `{name}` (equivalent, certificate fails: {', '.join(o.caught_by)}): `{o.mutation}`"
              for o in result.strict]
    return line, holes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated construction names")
    parser.add_argument("--equivalent", action="store_true", help="also prove the behaviour-preserving mutants")
    parser.add_argument("--out", type=Path, default=None, help="write the table and the notable mutants here")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = [n for n in args.only.split(",") if n] or constructions.names()
    samples = args.samples
    if args.quick:
        names, samples = ["post-machine", "demo"], 3
    lines = [HEADER, "|---" * (HEADER.count("|") - 1) + "|"]
    print("\n".join(lines), flush=True)
    notes: list[str] = []
    for name in names:
        line, holes = row_for(name, samples, args.seed, args.equivalent)
        lines.append(line)
        notes += holes
        print(line, flush=True)
    if notes:
        print("\n" + "\n".join(notes))
    if args.out is not None:
        flags = f"--samples {samples} --seed {args.seed}" + (" --equivalent" if args.equivalent else "")
        if args.only:
            flags += f" --only {args.only}"
        text = "\n".join(lines) + "\n\nnotable mutants:\n" + ("\n".join(notes) if notes else "none")
        args.out.write_text(f"# python scripts/certificate_mutation.py {flags}\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
