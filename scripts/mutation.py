"""Mutation testing of every registered construction: how many single-weight mutants does the default check catch?

For each construction, ``--samples`` single-entry mutants of its exact weights (half on zero entries) are classified
by the oracle (the reference on other inputs: another seed, twice the samples and the exhaustive limit) as
behaviour-changing or not, and each behaviour-changing one is run through the check ``exactformer verify`` runs,
at the sizes in :data:`SIZES` (the constructions' small sizes: the full verify sizes where a check takes seconds,
fewer where it takes minutes). Prints one row per construction and, with ``--out``, writes the table and every
missed mutant to a file.

    python scripts/mutation.py                       # every construction, 40 mutants each
    python scripts/mutation.py --only parity,demo --samples 100
    python scripts/mutation.py --quick               # two constructions, 3 mutants each (the test suite)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from exactformer import constructions
from exactformer.verify.mutate import mutate

#: The sizes each construction is mutation-tested at; a construction not listed uses its verify sizes.
SIZES: dict[str, tuple[int, ...]] = {
    "connectivity": tuple(range(1, 6)),
    "log-depth-a5": tuple(range(0, 7)),
    "log-depth-paper-parity": tuple(range(0, 13)),
    "log-depth-parity": tuple(range(0, 17)),
    "pointer-jumping-a5": tuple(range(0, 9)),
    "pointer-jumping-parity": tuple(range(0, 17)),
}


def sizes_for(name: str, construction: object) -> tuple[int, ...]:
    """The sizes ``name`` is mutation-tested at (:data:`SIZES`, else its registered verify sizes)."""
    if name in SIZES:
        return SIZES[name]
    return constructions.get(name).default_lengths(construction)


def run_one(name: str, samples: int, seed: int) -> dict:
    torch.set_num_threads(1)
    entry = constructions.get(name)
    construction = constructions.build(name)
    started = time.process_time()
    report = mutate(construction, entry.reference(construction), lengths=sizes_for(name, construction),
                    samples=samples, seed=seed, name=name)
    row = report.as_dict()
    row["cpu_seconds"] = round(time.process_time() - started, 1)
    row["sizes"] = f"{min(sizes_for(name, construction))}..{max(sizes_for(name, construction))}"
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated construction names")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=None, help="write the table and the missed mutants here")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or constructions.names()
    samples = args.samples
    if args.quick:
        names, samples, args.workers = ["demo", "post-machine"], 3, 1
    header = ("| construction | sizes | entries | mutants | behaviour-changing | caught | only by invariants | missed "
              "| CPU s |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    print(header, flush=True)
    print(lines[1], flush=True)
    missed_lines: list[str] = []
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = [(name, pool.submit(run_one, name, samples, args.seed)) for name in names]
        for name, future in futures:
            row = future.result()
            line = (f"| `{name}` | {row['sizes']} | {row['entries']} | {row['mutants']} | "
                    f"{row['behaviour_changing']} | {row['caught']} | {row['caught_only_by_invariants']} | "
                    f"{row['missed']} | {row['cpu_seconds']} |")
            lines.append(line)
            print(line, flush=True)
            for o in row["outcomes"]:
                if o["verdict"] == "missed":
                    index = ",".join(map(str, o["index"]))
                    missed_lines.append(f"- `{name}`: `{o['site']}[{index}]` {o['operator']} "
                                        f"({o['before']} -> {o['after']}): witness {o['witness']}")
    if missed_lines:
        print("\nmissed:\n" + "\n".join(missed_lines))
    if args.out is not None:
        text = "\n".join(lines) + ("\n\nmissed:\n" + "\n".join(missed_lines) if missed_lines else "\n\nmissed: none")
        args.out.write_text(f"# python scripts/mutation.py --samples {samples} --seed {args.seed}\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
