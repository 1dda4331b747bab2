"""MLRegTest conformance of the pointer-jumping recognizer (issue 5 item 7).

For every MLRegTest automaton (``shared/data/mlregtest/att_format/*.att``; the 330 complement languages are built
as ``DFA.complement()`` of their base) whose transition monoid has at most ``--max-monoid`` elements, compile
``pointer_jumping_recognizer`` and compare its answer with ``DFA.accepts`` on ``--samples`` uniformly sampled words
(half accepted, half rejected where both exist) at every length 1..32 and at 64 and 128, in torch float64.

The composition MLPs are stored as sparse rational matrices (``exactformer.core.sparse``) and multiplied in
compressed sparse form over their candidate units only (``exactformer.core.sparse_products``: 2|M| lookup units or
2|Q|^2 function-code units per position), so memory grows with the units (a few nonzero weights each) and time
with the positions times the candidates, not with d_model x d_mlp. ``--max-entries`` and ``--min-entries`` select
languages by d_model x d_mlp, to run bands of wide ones (a language over ``--max-entries`` gets a ``not run``
line); ``--smallest-first`` runs the languages with the fewest MLP units first (the time of a run grows with them:
a lookup unit costs about twice a function unit's nonzero weights, but d_model is then smaller, so d_model x d_mlp
is a poor order). Before
the sparse storage, the dense rational arrays (8 bytes per entry) limited a run to ~10^8 entries; such lines in old
files say ``too wide``, and merging counts them as not run.

Usage::

    python scripts/log_depth_mlregtest.py --quick            # a handful of files, 20 words per length
    python scripts/log_depth_mlregtest.py                    # everything (hours on 2 cores)
    python scripts/log_depth_mlregtest.py --shard 0/8        # every 8th language of counts.tsv
    python scripts/log_depth_mlregtest.py --min-entries 1e8 --smallest-first --resume old.txt > wide.txt
    python scripts/log_depth_mlregtest.py --merge old.txt shard0.txt shard1.txt > merged.txt
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

import torch

from exactformer.constructions.monoid_composition import choose_code
from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.core.arith import arithmetic_for
from exactformer.languages.dfa import DFA
from exactformer.languages.errors import LanguagesError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mlregtest"
LENGTHS = list(range(1, 33)) + [64, 128]
COMPLEMENTS = {"coSL": "SL", "coSP": "SP", "TcoSL": "TSL"}


def languages(data: Path) -> list[tuple[str, Path, bool]]:
    """(name, att file, complement?) for every language of counts.tsv that has a file or a base file."""
    out = []
    with open(data / "counts.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            cls = row["Class"]
            base = COMPLEMENTS.get(cls, cls)
            name = ".".join([row["Alph"], row["Tier"], cls, row["k"], row["j"], row["i"]])
            path = (
                data
                / "att_format"
                / (".".join([row["Alph"], row["Tier"], base, row["k"], row["j"], row["i"]]) + ".att")
            )
            out.append((name, path, cls in COMPLEMENTS))
    return out


def words_for(dfa: DFA, length: int, count: int, rng: random.Random) -> list:
    acc, rej = dfa.count(length, accepted=True), dfa.count(length, accepted=False)
    n_acc = min(acc, count // 2 if rej else count)
    n_rej = min(rej, count - n_acc)
    return [dfa.sample(length, accepted=True, rng=rng) for _ in range(n_acc)] + [
        dfa.sample(length, accepted=False, rng=rng) for _ in range(n_rej)
    ]


def check_language(dfa: DFA, samples: int, lengths: list[int], seed: int) -> tuple[int, int, str]:
    """(words tested, disagreements, first disagreement or '')."""
    c = pointer_jumping_recognizer(dfa)
    arith = arithmetic_for("torch", dtype=torch.float64)  # the weights rendered once per language
    rng = random.Random(seed)
    tested, bad, first = 0, 0, ""
    for n in lengths:
        words = words_for(dfa, n, samples, rng)
        for start in range(0, len(words), 512):
            batch = words[start : start + 512]
            for w, answer in zip(batch, c.answer_batch(batch, arith=arith)):
                tested += 1
                if answer != dfa.accepts(w):
                    bad += 1
                    first = first or f"{w!r}: model {answer}, DFA {dfa.accepts(w)}"
    return tested, bad, first


HEADER = f"{'language':24} {'|Q|':>4} {'|M|':>5} {'code':8} {'units':>8} {'words':>6} {'result':10} {'s':>6}"


def _not_run(line: str) -> bool:
    """Whether a result line says the language was not run (``not run``; ``too wide`` in the files of sessions
    before the weights were stored sparse, when d_model x d_mlp over ``--max-entries`` was not compiled)."""
    return " not run " in line or " too wide " in line


def merge(files: list[Path]) -> list[str]:
    """The result lines of ``files`` merged by language, a later file's line replacing an earlier one's (a rerun,
    e.g. of a language first skipped as too wide), sorted by name, under the first file's comment lines and
    :data:`HEADER`; followed by the tally of results over the merged lines."""
    comments: list[str] = []
    by_name: dict[str, str] = {}
    for k, path in enumerate(files):
        for line in path.read_text().splitlines():
            if line.startswith("# merged:"):  # an earlier merge's tally: recounted below
                continue
            if line.startswith("#") and k == 0:
                comments.append(line)
            elif line[:1].isdigit():  # a language's line (names start with the alphabet size)
                by_name[line.split()[0]] = line
    tally = {"ok": 0, "FAIL": 0, "not run": 0, "skipped": 0, "missing": 0}
    for line in by_name.values():
        if _not_run(line):
            tally["not run"] += 1
            continue
        for key in ("FAIL", "skipped", "missing", "ok"):  # "ok" last: a failure's word may contain it
            if f" {key}" in line:
                tally[key] += 1
                break
    summary = "# merged: " + ", ".join(f"{k}: {v}" for k, v in tally.items()) + f" ({len(by_name)} languages)"
    return [*comments, summary, HEADER, *(by_name[name] for name in sorted(by_name))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--quick", action="store_true", help="6 small files, 20 words per length, lengths 1..8, 64")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--max-monoid", type=int, default=1000)
    p.add_argument(
        "--max-entries",
        type=float,
        default=None,
        help="list the languages whose d_model * d_mlp is over this as 'not run' instead of running them",
    )
    p.add_argument(
        "--min-entries",
        type=float,
        default=0,
        help="skip, without a line, the languages whose d_model * d_mlp is below this (to run a band of wide ones)",
    )
    p.add_argument(
        "--smallest-first",
        action="store_true",
        help="run the languages in increasing number of MLP units, the cost of a run (after --shard and --resume)",
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N languages")
    p.add_argument("--match", default="", help="only languages whose name contains this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--shard",
        default=None,
        help="K/N: only the languages whose index in counts.tsv is K mod N (a systematic sample)",
    )
    p.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="skip the languages with a result in this output file (those listed as not run are run again)",
    )
    p.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        default=None,
        help="print the result lines of these output files merged by language (a later file's line wins), sorted",
    )
    args = p.parse_args(argv)
    if args.merge:
        print("\n".join(merge(args.merge)))
        return 0
    torch.set_num_threads(1)
    langs = [x for x in languages(args.data) if args.match in x[0]]
    lengths = LENGTHS
    if args.quick:
        langs = [x for x in langs if x[0].startswith("04.")][::80][:6]
        args.samples, lengths = 20, list(range(1, 9)) + [64]
    if args.shard:
        k, n = (int(v) for v in args.shard.split("/"))
        langs = langs[k::n]
    if args.resume:
        lines = args.resume.read_text().splitlines()
        done = {line.split()[0] for line in lines if line[:1].isdigit() and not _not_run(line)}
        langs = [x for x in langs if x[0] not in done]
    if args.limit:
        langs = langs[: args.limit]
    counts = {"passed": 0, "failed": 0, "monoid>max": 0, "not run": 0, "missing": 0}
    print(HEADER)
    prepared = []
    for name, path, complement in langs:
        if not path.exists():
            counts["missing"] += 1
            print(f"{name:24} missing {path.name}")
            continue
        dfa = DFA.from_att(path)
        if complement:
            dfa = dfa.complement()
        try:
            monoid = dfa.transition_monoid(max_size=args.max_monoid)
        except LanguagesError:
            counts["monoid>max"] += 1
            print(f"{name:24} {'':>4} {'>' + str(args.max_monoid):>5} skipped (monoid larger than --max-monoid)")
            continue
        code = choose_code(dfa)
        n_states = len(monoid.states)
        entries = (7 + 2 * code.dim + 2 * n_states) * (code.width() + 4)  # d_model x d_mlp
        if entries >= args.min_entries:
            prepared.append((entries, name, dfa, n_states, len(monoid), code))
    if args.smallest_first:
        prepared.sort(key=lambda item: (item[5].width(), item[0]))
    for entries, name, dfa, n_states, monoid_size, code in prepared:
        t0 = time.time()
        described = f"{name:24} {n_states:>4} {monoid_size:>5} {code.kind:8} {code.width():>8}"
        if args.max_entries is not None and entries > args.max_entries:
            counts["not run"] += 1
            print(f"{described} {'':>6} {'not run':10} (d_model x d_mlp = {entries:.2e}, over --max-entries)")
            continue
        tested, bad, first = check_language(dfa, args.samples, lengths, args.seed)
        counts["passed" if bad == 0 else "failed"] += 1
        result = "ok" if bad == 0 else f"{bad} FAIL"
        print(
            f"{described} {tested:>6} {result:10} {time.time() - t0:6.1f}" + (f"  first: {first}" if first else ""),
            flush=True,
        )
    print()
    print("languages:", len(langs), "|", ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
