"""Can a certificate fail? Single-weight mutants of each construction, classified by the oracle, then proven.

For each construction, ``--samples`` single-entry mutants of its exact weights (``verify.mutants.sample_mutations``,
half on zero entries) are classified as *behaviour-changing* or *equivalent* by the oracle that mutation testing
uses (the catalog entry's reference asked about inputs of the sizes in :data:`SIZES`, answers only, as
``verify/mutate.py`` does), and each mutant's certificate is built (``ef.verify.prove``). A behaviour-changing
mutant must break a lemma (its certificate has a failed lemma); an equivalent one may break one too (a lemma pins
an invariant that the answers at these sizes do not show, or the lemma is a sufficient condition the mutant
violates harmlessly). Prints one row per construction.

    python scripts/certificate_mutants.py                     # the log-depth families and the demo, 40 mutants each
    python scripts/certificate_mutants.py --only demo --samples 100
    python scripts/certificate_mutants.py --quick             # the demo, 3 mutants
    python scripts/certificate_mutants.py --only log-depth-paper-parity   # its certificate runs every word

The paper-faithful tree's certificate is proven for a bounded n by running every word (``exactformer.proofs.
log_depth_paper``); its mutants are proven over :data:`PROOF_RANGE` letters, less than the certificate's own range,
to fit the time (an equivalent mutant runs every word).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from exactformer import constructions
from exactformer.core.construction import Construction
from exactformer.proofs.log_depth_paper import proof_range
from exactformer.verify.certificate_mutation import CertificateOutcome, certificate_mutation_rate
from exactformer.verify.oracle import CheckOracle
from exactformer.verify.reference import as_reference

#: The oracle's sizes per construction (small: the oracle runs once per mutant).
SIZES: dict[str, tuple[int, ...]] = {
    "demo": tuple(range(1, 9)),
    "pointer-jumping-parity": tuple(range(0, 11)),
    "pointer-jumping-a5": tuple(range(0, 7)),
    "log-depth-parity": tuple(range(0, 11)),
    "log-depth-a5": tuple(range(0, 7)),
    "connectivity": tuple(range(1, 5)),
    "superposition": tuple(range(3, 7)),
    "log-depth-paper-parity": tuple(range(0, 11)),
}
#: The proof range (every word of at most this many letters) for the certificates proven by running every word.
PROOF_RANGE: dict[str, int] = {"log-depth-paper-parity": 7}
#: The constructions run by default (connectivity and superposition prove slowly: their certificates run the model).
DEFAULT = tuple(SIZES)[:5]


def judge_mutants(name: str, construction: Construction, count: int, lengths: Sequence[int], *,
                  seed: int = 0) -> list[CertificateOutcome]:
    """``count`` sampled mutants of ``construction`` (registered as ``name``), each classified by the oracle at
    ``lengths`` and proven (:func:`~exactformer.verify.certificate_mutation.certificate_mutation_rate`, the
    equivalent mutants too)."""
    ref = as_reference(constructions.get(name).reference(construction))
    oracle = CheckOracle(ref, list(lengths), samples_per_length=40, exhaustive_up_to=256)
    return certificate_mutation_rate(construction, ref, count, seed, oracle=oracle, prove_equivalent=True,
                                     name=name).outcomes


def row(name: str, samples: int, seed: int) -> tuple[str, list[str]]:
    """The table row of ``name`` and the behaviour-changing mutants whose certificate held."""
    construction = constructions.build(name)
    sizes = SIZES.get(name) or tuple(constructions.get(name).default_lengths(construction))
    started = time.process_time()
    if name in PROOF_RANGE:
        with proof_range(PROOF_RANGE[name]):
            judged = judge_mutants(name, construction, samples, sizes, seed=seed)
    else:
        judged = judge_mutants(name, construction, samples, sizes, seed=seed)
    changing = [j for j in judged if j.behaviour_changing]
    equivalent = [j for j in judged if not j.behaviour_changing]
    broken = sum(j.broken for j in changing)
    rate = f"{broken}/{len(changing)}" + (f" ({100 * broken / len(changing):.0f}%)" if changing else "")
    line = (f"| `{name}` | {min(sizes)}..{max(sizes)} | {len(judged)} | {len(changing)} | {rate} | {len(equivalent)} | "
            f"{sum(j.broken for j in equivalent)} | {time.process_time() - started:.0f} |")
    return line, [f"- `{name}`: {j.mutation} (witness {j.witness})" for j in changing if not j.broken]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated construction names")
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = [n for n in args.only.split(",") if n] or list(DEFAULT)
    samples = args.samples
    if args.quick:
        names, samples = ["demo"], 3
    lines = ["| construction | oracle sizes | mutants | behaviour-changing | of them breaking a lemma | equivalent | "
             "of them breaking a lemma | CPU s |", "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    unbroken: list[str] = []
    for name in names:
        line, missed = row(name, samples, args.seed)
        lines.append(line)
        unbroken += missed
        print(line, flush=True)
    tail = "\n\nbehaviour-changing mutants whose certificate held:\n" + ("\n".join(unbroken) or "none")
    print(tail)
    if args.out is not None:
        args.out.write_text(f"# python scripts/certificate_mutants.py --samples {samples} --seed {args.seed}\n\n"
                            + "\n".join(lines) + tail + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
