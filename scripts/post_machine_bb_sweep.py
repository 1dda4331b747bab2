"""Busy-beaver sweep through the transformer: every 2-symbol machine of <= 4 states in shared/data/busy_beaver.

The machines: every halting line of the Ligocki lists 2x2, 3x2 and 4x2, and the 2-symbol champions of at most 4
states in champions.json. For each machine, three independent runs are compared:

* the TM reference (:class:`exactformer.languages.TuringMachine`): steps, ones, visited width T; the steps and ones
  must equal the listed ones;
* the compiled Post machine run by the reference simulator (:class:`exactformer.languages.PostMachine`): the token
  trace, and its length must be t + (T - 2)·(non-halting left moves);
* the one-layer decoder (cached torch float64 decoding): every generated token must equal the reference Post step,
  the run must halt, every margin must be 1, and the TM steps and ones read off its tokens alone must equal the
  listed ones.

Machines with the same T are decoded ``--batch`` at a time through one decoder
(:func:`exactformer.constructions.turing_tag.turing_machines`, the disjoint union of their Post machines); the
per-machine seconds are the batch's decoding time divided by its size. One line per machine, then a summary per
list and in all (machines, matches, generated tokens, decoding seconds, wall seconds).

Usage: python scripts/post_machine_bb_sweep.py [--quick] [--lists 2x2 3x2 4x2] [--batch B] [--limit N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from exactformer.constructions import run_turing_machines, turing_machines
from exactformer.languages.compiler import compile_turing_machine, predicted_post_steps
from exactformer.languages.turing import TuringMachine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "busy_beaver"
if not DATA.exists():
    DATA = Path("/work/shared/data/busy_beaver")


def machines(lists: list[str]) -> list[tuple[str, str, int, int]]:
    """(list, machine, listed steps, listed ones) for every halting line of the lists, then the champions."""
    out = []
    for name in lists:
        if name == "champions":
            for ch in json.loads((DATA / "champions.json").read_text())["champions"]:
                if ch["symbols"] == 2 and ch["states"] <= 4:
                    out.append(("champions", ch["tm"], int(ch["steps"]), int(ch["sigma"])))
            continue
        for line in (DATA / "ligocki_bb_lists" / f"{name}.txt").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "Halt":
                out.append((name, parts[0], int(parts[2]), int(parts[3])))
    return out


def reference(text: str) -> dict:
    """The TM run and the compiled Post machine's trace (independent of the transformer)."""
    tm = TuringMachine.from_standard(text)
    ref = tm.run(1_000_000)
    T = max(ref.width, 3)
    compiled = compile_turing_machine(tm, T)
    pm_run = compiled.machine.run(compiled.initial_queue(), 10_000_000, trace=True)
    return {
        "tm_steps": ref.steps,
        "ones": ref.ones,
        "halted": ref.halted,
        "T": T,
        "post_steps": pm_run.steps,
        "trace": list(pm_run.trace or ()),
        "predicted": predicted_post_steps(ref, T),
    }


def sweep(rows: list[tuple[str, str, int, int]], batch: int, f) -> dict[str, list[int | float]]:
    """Check every machine; write one line each; return per list [machines, matches, tokens, decode seconds]."""
    refs = [reference(text) for _, text, _, _ in rows]
    order = sorted(range(len(rows)), key=lambda i: (refs[i]["T"], refs[i]["post_steps"]))
    groups: list[list[int]] = []
    for i in order:
        if groups and len(groups[-1]) < batch and refs[groups[-1][0]]["T"] == refs[i]["T"]:
            groups[-1].append(i)
        else:
            groups.append([i])
    results: dict[int, tuple] = {}
    for group in groups:
        T = refs[group[0]]["T"]
        c = turing_machines([rows[i][1] for i in group], T)
        t0 = time.perf_counter()
        runs = run_turing_machines(c, max_tokens=max(refs[i]["post_steps"] for i in group) + 5)
        dt = (time.perf_counter() - t0) / len(group)
        for i, run in zip(group, runs):
            results[i] = (run, dt)
    stats: dict[str, list[int | float]] = {}
    for i, (name, text, steps, ones) in enumerate(rows):
        r, (run, dt) = refs[i], results[i]
        token_match = [tuple(map(str, t)) for t in run.post.tokens] == [tuple(map(str, t)) for t in r["trace"]]
        ok = (
            r["halted"]
            and r["tm_steps"] == steps
            and r["ones"] == ones
            and r["post_steps"] == r["predicted"] == run.tokens
            and token_match
            and run.halted
            and set(run.post.margins) == {1.0}
            and run.tm_steps == steps
            and run.ones == ones
        )
        s = stats.setdefault(name, [0, 0, 0, 0.0])
        s[0] += 1
        s[1] += ok
        s[2] += run.tokens
        s[3] += dt
        f.write(
            f"{name} {text} {steps} {ones} | {r['tm_steps']} {r['ones']} {r['T']} {r['post_steps']} "
            f"{r['predicted']} {run.tokens} {run.tm_steps} {run.ones} {token_match} {ok} {dt:.3f}\n"
        )
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lists", nargs="+", default=["2x2", "3x2", "4x2", "champions"])
    ap.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parents[1] / "scripts" / "results" / "post_machine_bb_sweep.txt"),
    )
    ap.add_argument("--limit", type=int, default=0, help="machines per list (0 = all)")
    ap.add_argument("--batch", type=int, default=4, help="machines of the same T decoded together")
    ap.add_argument("--quick", action="store_true", help="2x2 and the champions only")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    lists = ["2x2", "champions"] if args.quick else args.lists
    rows = []
    for name in lists:
        ms = machines([name])
        rows += ms[: args.limit] if args.limit else ms
    wall = {}
    with open(args.out, "w") as f:
        f.write(
            f"# python scripts/post_machine_bb_sweep.py {' '.join(argv if argv is not None else sys.argv[1:])}"
            f"; torch {torch.__version__}, 1 thread, {platform.machine()} CPU, shared and loaded; batch "
            f"{args.batch}\n"
        )
        f.write(
            "# list machine listed_steps listed_ones | TM_steps ones T Post_steps predicted tokens "
            "tf_TM_steps tf_ones token_match ok seconds\n"
        )
        stats: dict[str, list[int | float]] = {}
        for name in lists:
            t0 = time.perf_counter()
            stats.update(sweep([r for r in rows if r[0] == name], args.batch, f))
            wall[name] = time.perf_counter() - t0
            f.flush()
        total = [0, 0, 0, 0.0]
        for name in lists:
            s = stats.get(name, [0, 0, 0, 0.0])
            total = [a + b for a, b in zip(total, s)]
            f.write(
                f"# {name}: machines {s[0]}, match {s[1]}, tokens {s[2]}, decoding {s[3]:.0f} s, "
                f"wall {wall[name]:.0f} s\n"
            )
        summary = (
            f"# SUMMARY: machines {total[0]}, match {total[1]} (every token, TM steps and ones), "
            f"failures {total[0] - total[1]}; tokens {total[2]}, decoding {total[3]:.0f} s, "
            f"wall {sum(wall.values()):.0f} s"
        )
        f.write(summary + "\n")
    print(summary)
    return 0 if total[0] == total[1] else 1


if __name__ == "__main__":
    sys.exit(main())
