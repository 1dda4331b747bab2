"""Campaign scaling: the same MLRegTest subset run by the sweep runner on a local Dask cluster of 1 worker and of 2
workers (one thread each), in one run, each with a fresh store (issue 23, [T2-4]).

Each cluster is started before its timing (its start-up is printed apart), then ``exactformer.verify.sweep`` runs
every cell of ``configs/mlregtest_subset.toml`` through it (``scheduler=`` the cluster's address). Printed per
run: wall seconds of the campaign, the cells' CPU seconds (the workers' process time, summed and per cell, read
from the store), the load average before and after; then the speedup of 2 workers over 1. Every cell's answers are
checked against the DFA by the task itself: a run with a disagreement is reported.

Usage::

    python benchmarks/sweep_scaling.py                   # the subset (12 languages, minutes on 2 cores)
    python benchmarks/sweep_scaling.py --repeats 2       # 1, 2, 1, 2 workers, alternating
    python benchmarks/sweep_scaling.py --quick           # 3 small languages, 20 words per length 1..8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exactformer.sweep import Store, load_config, parse_config  # noqa: E402
from exactformer.verify import sweep  # noqa: E402

CONFIG = ROOT / "configs" / "mlregtest_subset.toml"


def run_once(cfg, workers: int, folder: Path) -> dict:
    from distributed import LocalCluster

    t0 = time.perf_counter()
    load_before = os.getloadavg()[0]
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        started = time.perf_counter() - t0
        store = folder / f"w{workers}-{time.time_ns()}.sqlite"
        t1 = time.perf_counter()
        summary = sweep(cfg, store=store, scheduler=cluster.scheduler_address, progress=False)
        wall = time.perf_counter() - t1
    with Store(store) as db:
        cells = list(db.cells())
    cpu = [c.cpu_seconds for c in cells]
    fails = sum(c.figures.get("FAIL", 0) for c in cells)
    return {"workers": workers, "cells": len(cells), "complete": summary.complete, "startup": started, "wall": wall,
            "cpu": sum(cpu), "cpu_median": statistics.median(cpu), "fails": fails, "load": (load_before,
                                                                                          os.getloadavg()[0])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, default=CONFIG)
    p.add_argument("--quick", action="store_true", help="3 small languages, 20 words per length 1..8")
    p.add_argument("--repeats", type=int, default=1, help="alternate 1 and 2 workers this many times")
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    if args.quick:
        raw = dict(cfg.raw)
        raw["params"] = {**raw["params"], "samples": 20, "lengths": ["1..8"]}
        raw["corpus"] = {**raw["corpus"], "limit": 3}
        cfg = parse_config(raw, source="sweep_scaling --quick")
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for workers in (1, 2):
                runs.append(run_once(cfg, workers, Path(folder)))
    print(f"# {cfg.source}: {len(cfg.cells)} cells; {os.cpu_count()} CPUs; one torch thread per worker")
    print("| workers | cells | cluster start s | campaign wall s | cells CPU s | CPU s per cell (median) | load before "
          "/ after | disagreements |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['workers']} | {r['cells']} | {r['startup']:.1f} | {r['wall']:.1f} | {r['cpu']:.1f} | "
              f"{r['cpu_median']:.2f} | {r['load'][0]:.1f} / {r['load'][1]:.1f} | {r['fails']} |")
    one = statistics.median(r["wall"] for r in runs if r["workers"] == 1)
    two = statistics.median(r["wall"] for r in runs if r["workers"] == 2)
    print(f"\nspeedup of 2 workers over 1 (median campaign wall): {one / two:.2f}x ({one:.1f} s -> {two:.1f} s)")
    return 0 if all(r["complete"] and r["fails"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
