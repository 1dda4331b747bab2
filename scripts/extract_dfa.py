"""Learn the DFA every registered recognizer computes, by L* from its answers alone, and compare it with the reference.

For each registered construction whose reference is a DFA (the recognizers), :func:`exactformer.verify.extract_dfa`
runs L* with the model (torch float64) as membership oracle and a bounded equivalence test: every word up to the
length where a length has at most 4,096 words, then 200 random words of each length up to ``--max-length`` (10 for
binary alphabets, 4 for the 60 letters of the A5 word problem, unless given). The table says how many states the
learned minimal DFA has beside the reference's, whether the two are equivalent (else the shortest word on which they
differ), how many distinct words the model answered, and the wall-clock seconds. The PARITY and FIRST models refuse
the empty word (outside their domain); it is answered by the reference and the table says so.

    python scripts/extract_dfa.py --out scripts/results/extract_dfa.txt     # every recognizer
    python scripts/extract_dfa.py --only parity first --max-length 12
    python scripts/extract_dfa.py --quick                                   # parity and first, words up to 4
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from exactformer import constructions
from exactformer.languages import DFA
from exactformer.verify.extract import Extraction, extract_dfa

HEADER = ("| construction | alphabet | reference states | learned states | agrees | shortest disagreement | queries "
          "(membership + equivalence) | hypotheses | equivalence bound | outside domain | seconds |")


def recognizers() -> list[str]:
    """The registered constructions whose reference is a DFA."""
    out = []
    for name in constructions.names():
        entry = constructions.get(name)
        if entry.reference is not None and isinstance(entry.reference(entry.builder(**entry.options)), DFA):
            out.append(name)
    return out


def extract(name: str, max_length: int | None) -> Extraction:
    """``name`` built with its default options, extracted and compared with its reference."""
    entry = constructions.get(name)
    construction = entry.builder(**entry.options)
    reference = entry.reference(construction)
    bound = max_length if max_length is not None else (10 if len(reference.alphabet) == 2 else 4)
    return extract_dfa(construction, reference=reference, max_length=bound, outside_domain="reference")


def row(name: str, result: Extraction) -> str:
    agrees = "yes" if result.equivalent else "NO"
    word = "-" if result.disagreement is None else f"`{result.disagreement!r}`"
    outside = ", ".join(repr(w) for w in result.outside_domain) or "-"
    assert result.reference is not None
    return (f"| `{name}` | {len(result.alphabet)} | {len(result.reference.states)} | {result.states} | {agrees} | "
            f"{word} | {result.queries:,} ({result.membership_queries:,} + {result.equivalence_queries:,}) | "
            f"{result.rounds} | {result.bound} | {outside} | {result.seconds:.1f} |")


def commit() -> str:
    """The checkout's commit (read when the run starts)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=False).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def header(argv: list[str], started_at: str) -> list[str]:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return [f"# python scripts/extract_dfa.py {' '.join(argv)}".rstrip(),
            f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {started_at}, torch {torch.__version__} "
            f"1 thread, {os.cpu_count()} CPU cores shared with other sessions (load average {load} at the end).",
            "# L* (AALpy) with the model (torch float64) as membership oracle; 'queries' are distinct words the model",
            "# answered. States are those of the minimal complete DFAs (a dead state counts).", "", HEADER,
            "|" + "---|" * HEADER.count(" | ") + "---|"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="these constructions (default: every recognizer)")
    parser.add_argument("--max-length", type=int, help="the equivalence test's longest word")
    parser.add_argument("--quick", action="store_true", help="parity and first, words up to length 4")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started_at = commit()
    names = ["parity", "first"] if args.quick else (args.only or recognizers())
    max_length = 4 if args.quick and args.max_length is None else args.max_length
    rows = []
    for name in names:
        rows.append(row(name, extract(name, max_length)))
        print(rows[-1], flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(header(argv, started_at) + rows) + "\n")
    return 0 if all("| yes |" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
