"""Busy-beaver sweep through the transformer: every 2-symbol machine of <= 4 states in the Ligocki lists.

For each machine: the TM reference (steps, ones, visited width T), the compiled Post machine run by the reference
simulator (token trace), and the one-layer decoder (cached torch float64 decoding), compared token by token; the TM
steps and ones are read off the transformer's tokens. One line per machine is appended to the output as it goes.

Usage: python scripts/post_machine_bb_sweep.py [--quick] [--lists 2x2 3x2 4x2] [--out FILE] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from exactformer.constructions.post_machine import run_turing_machine, turing_machine
from exactformer.languages.compiler import compile_turing_machine, predicted_post_steps
from exactformer.languages.turing import TuringMachine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "busy_beaver"
if not DATA.exists():
    DATA = Path("/work/shared/data/busy_beaver")


def machines(lists: list[str]) -> list[tuple[str, str, int, int]]:
    out = []
    for name in lists:
        for line in (DATA / "ligocki_bb_lists" / f"{name}.txt").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "Halt":
                out.append((name, parts[0], int(parts[2]), int(parts[3])))
    return out


def check(text: str) -> dict:
    tm = TuringMachine.from_standard(text)
    ref = tm.run(1_000_000)
    T = max(ref.width, 3)
    compiled = compile_turing_machine(tm, T)
    pm_run = compiled.machine.run(compiled.initial_queue(), 10_000_000, trace=True)
    c = turing_machine(tm, T)
    t0 = time.perf_counter()
    run = run_turing_machine(c, max_tokens=pm_run.steps + 5)
    dt = time.perf_counter() - t0
    return {
        "tm_steps": ref.steps, "ones": ref.ones, "T": T, "post_steps": pm_run.steps,
        "predicted": predicted_post_steps(ref, T), "tokens": run.tokens, "tf_tm_steps": run.tm_steps,
        "tf_ones": run.ones, "token_match": list(run.post.tokens) == list(pm_run.trace), "halted": run.halted,
        "seconds": dt,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lists", nargs="+", default=["2x2", "3x2", "4x2"])
    ap.add_argument("--out", default="benchmarks/results/post_machine_bb_sweep.txt")
    ap.add_argument("--limit", type=int, default=0, help="machines per list (0 = all)")
    ap.add_argument("--quick", action="store_true", help="2x2 only")
    args = ap.parse_args(argv)
    lists = ["2x2"] if args.quick else args.lists
    rows = []
    for name in lists:
        ms = machines([name])
        rows += ms[: args.limit] if args.limit else ms
    bad = 0
    with open(args.out, "w") as f:
        f.write("# list machine listed_steps listed_ones | TM_steps ones T Post_steps predicted tokens "
                "tf_TM_steps tf_ones token_match ok seconds\n")
        for name, text, steps, ones in rows:
            r = check(text)
            ok = (r["tm_steps"] == steps and r["ones"] == ones and r["post_steps"] == r["predicted"] == r["tokens"]
                  and r["tf_tm_steps"] == steps and r["tf_ones"] == ones and r["token_match"] and r["halted"])
            bad += not ok
            f.write(f"{name} {text} {steps} {ones} | {r['tm_steps']} {r['ones']} {r['T']} {r['post_steps']} "
                    f"{r['predicted']} {r['tokens']} {r['tf_tm_steps']} {r['tf_ones']} {r['token_match']} {ok} "
                    f"{r['seconds']:.3f}\n")
            f.flush()
        f.write(f"# machines {len(rows)}, failures {bad}\n")
    print(f"machines {len(rows)}, failures {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
