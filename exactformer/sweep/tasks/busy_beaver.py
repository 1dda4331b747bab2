"""Busy-beaver lists through the Post-machine decoder, as a corpus task (``configs/busy_beaver.toml``).

The entries are the halting lines of the Ligocki lists (``2x2``, ``3x2``, ``4x2``) and the 2-symbol champions of at
most 4 states in ``champions.json`` (the ``busy_beaver`` folder of the external data, :data:`DATA`). For each
machine three independent runs are compared:

* the TM reference (:class:`exactformer.languages.TuringMachine`): steps, ones, visited width T; the steps and ones
  must equal the listed ones;
* the compiled Post machine run by the reference simulator: the token trace, whose length must be
  t + (T - 2)·(non-halting left moves) (:func:`~exactformer.languages.compiler.predicted_post_steps`);
* the one-layer decoder (cached torch float64 decoding): every generated token must equal the reference Post step,
  the run must halt, every margin must be 1, and the TM steps and ones read off its tokens alone must equal the
  listed ones.

A cell's machines of the same T are decoded ``batch`` at a time through one decoder (the disjoint union of their
Post machines); a machine's seconds are its batch's decoding time divided by the batch's size. The rendered table
has the line format of ``scripts/results/post_machine_bb_sweep.txt``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...languages import data_dir
from . import Task, provenance

#: The busy-beaver lists: the ``busy_beaver`` folder of the external data (:func:`exactformer.languages.data_dir`).
DATA = data_dir() / "busy_beaver"
LISTS = ("2x2", "3x2", "4x2", "champions")
COLUMNS = ("# list machine listed_steps listed_ones | TM_steps ones T Post_steps predicted tokens "
           "tf_TM_steps tf_ones token_match ok seconds")


def _data(data: str | None) -> Path:
    path = Path(data) if data else DATA
    if not (path / "champions.json").exists():
        raise ValueError(f"no busy-beaver data at {path} (champions.json missing); set the 'data' parameter")
    return path


def machines(data: Path, lists: Sequence[str]) -> list[tuple[str, str, int, int]]:
    """(list, machine, listed steps, listed ones) for every halting line of the lists, then the champions."""
    unknown = sorted(set(lists) - set(LISTS))
    if unknown:
        raise ValueError(f"unknown busy-beaver list(s) {unknown}; the lists are {', '.join(LISTS)}")
    out = []
    for name in lists:
        if name == "champions":
            for ch in json.loads((data / "champions.json").read_text())["champions"]:
                if ch["symbols"] == 2 and ch["states"] <= 4:
                    out.append(("champions", ch["tm"], int(ch["steps"]), int(ch["sigma"])))
            continue
        for line in (data / "ligocki_bb_lists" / f"{name}.txt").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "Halt":
                out.append((name, parts[0], int(parts[2]), int(parts[3])))
    return out


def reference(text: str) -> dict[str, Any]:
    """The TM run and the compiled Post machine's trace (independent of the transformer)."""
    from ...languages.compiler import compile_turing_machine, predicted_post_steps
    from ...languages.turing import TuringMachine

    tm = TuringMachine.from_standard(text)
    ref = tm.run(1_000_000)
    T = max(ref.width, 3)
    compiled = compile_turing_machine(tm, T)
    pm_run = compiled.machine.run(compiled.initial_queue(), 10_000_000, trace=True)
    return {"tm_steps": ref.steps, "ones": ref.ones, "halted": ref.halted, "T": T, "post_steps": pm_run.steps,
            "trace": list(pm_run.trace or ()), "predicted": predicted_post_steps(ref, T)}


def entries(data: str | None = None, lists: Sequence[str] = LISTS, limit: int = 0, **_: Any) -> list[str]:
    """``list:machine`` for every machine of the lists (the first ``limit`` of each list; 0: all)."""
    out = []
    for name in lists:
        found = machines(_data(data), [name])
        out += [f"{m[0]}:{m[1]}" for m in (found[:limit] if limit else found)]
    return out


def run(entries: list[str], data: str | None = None, lists: Sequence[str] = LISTS,
        batch: int = 4) -> dict[str, Any]:
    """Check every machine of ``entries`` (``list:machine``); one record per machine."""
    import torch

    from ...constructions import run_turing_machines, turing_machines

    torch.set_num_threads(1)
    listed = {f"{m[0]}:{m[1]}": m for m in machines(_data(data), sorted({e.split(":")[0] for e in entries}))}
    rows = [listed[e] for e in entries]
    refs = [reference(text) for _, text, _, _ in rows]
    order = sorted(range(len(rows)), key=lambda i: (refs[i]["T"], refs[i]["post_steps"]))
    groups: list[list[int]] = []
    for i in order:
        if groups and len(groups[-1]) < batch and refs[groups[-1][0]]["T"] == refs[i]["T"]:
            groups[-1].append(i)
        else:
            groups.append([i])
    records: dict[int, dict[str, Any]] = {}
    for group in groups:
        c = turing_machines([rows[i][1] for i in group], refs[group[0]]["T"])
        t0 = time.perf_counter()
        runs = run_turing_machines(c, max_tokens=max(refs[i]["post_steps"] for i in group) + 5)
        dt = (time.perf_counter() - t0) / len(group)
        for i, out in zip(group, runs):
            (name, text, steps, ones), r = rows[i], refs[i]
            token_match = [tuple(map(str, t)) for t in out.post.tokens] == [tuple(map(str, t)) for t in r["trace"]]
            ok = (r["halted"] and r["tm_steps"] == steps and r["ones"] == ones
                  and r["post_steps"] == r["predicted"] == out.tokens and token_match and out.halted
                  and set(out.post.margins) == {1.0} and out.tm_steps == steps and out.ones == ones)
            records[i] = {"list": name, "machine": text, "listed_steps": steps, "listed_ones": ones,
                          "tm_steps": r["tm_steps"], "ones": r["ones"], "T": r["T"], "post_steps": r["post_steps"],
                          "predicted": r["predicted"], "tokens": out.tokens, "tf_tm_steps": out.tm_steps,
                          "tf_ones": out.ones, "token_match": token_match, "ok": bool(ok), "seconds": dt}
    ordered = [records[i] for i in range(len(rows))]
    figures = {"machines": len(ordered), "match": sum(r["ok"] for r in ordered),
               "tokens": sum(r["tokens"] for r in ordered)}
    return {"machines": ordered, "figures": figures}


def line(r: dict[str, Any]) -> str:
    """A machine's line in the format of ``scripts/results/post_machine_bb_sweep.txt``."""
    return (f"{r['list']} {r['machine']} {r['listed_steps']} {r['listed_ones']} | {r['tm_steps']} {r['ones']} "
            f"{r['T']} {r['post_steps']} {r['predicted']} {r['tokens']} {r['tf_tm_steps']} {r['tf_ones']} "
            f"{r['token_match']} {r['ok']} {r['seconds']:.3f}")


def render(cells: list[Any]) -> str:
    """The store's provenance, the column line, one line per machine (in list order), a summary per list and in
    all (``decoding``: the machines' wall seconds)."""
    records = [r for c in cells for r in c.result["machines"]]
    lists = list(dict.fromkeys(r["list"] for r in records))
    out = [provenance(cells, "configs/busy_beaver.toml"), COLUMNS,
           *(line(r) for name in lists for r in records if r["list"] == name)]
    total = [0, 0, 0, 0.0]
    for name in lists:
        mine = [r for r in records if r["list"] == name]
        s = [len(mine), sum(r["ok"] for r in mine), sum(r["tokens"] for r in mine), sum(r["seconds"] for r in mine)]
        total = [a + b for a, b in zip(total, s)]
        out.append(f"# {name}: machines {s[0]}, match {s[1]}, tokens {s[2]}, decoding {s[3]:.0f} s")
    out.append(f"# SUMMARY: machines {total[0]}, match {total[1]} (every token, TM steps and ones), failures "
               f"{total[0] - total[1]}; tokens {total[2]}, decoding {total[3]:.0f} s")
    return "\n".join(out)


BUSY_BEAVER = Task(run=run, entries=entries, render=render, name="busy_beaver",
                   params=frozenset({"data", "lists", "batch"}))
