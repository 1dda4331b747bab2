"""Benchmark: the Zhu et al. superposition construction on every ProsQA test + valid problem (800).

For each problem: C = dist(root, target) continuous thoughts through ``think`` (problems with the same edge count
and C in one batch), then ``<A>``. Checks every thought against BFS (max |error| over coordinates) and every answer,
and prints problems/second, the thought-count table (distance vs root eccentricity vs graph diameter) and, with
``--frontier``, the precision frontier over dtypes and tau.

    python benchmarks/superposition.py            # all 800, float64, CPU
    python benchmarks/superposition.py --quick    # 40 problems (< 30 s)
    python benchmarks/superposition.py --device cuda --dtype float32
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exactformer.constructions.superposition import run_thoughts, superposition_reachability  # noqa: E402
from exactformer.core.arith import arithmetic_for  # noqa: E402
from exactformer.languages.graphs import load_prosqa  # noqa: E402

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def data_dir() -> Path:
    for candidate in (ROOT.parent / "shared" / "data" / "prosqa", Path("/work/shared/data/prosqa"), ROOT / "data"):
        if (candidate / "prosqa_test.json").is_file():
            return candidate
    raise SystemExit("ProsQA data not found (shared/data/prosqa)")


def ball(q, hops):
    dist = nx.single_source_shortest_path_length(q.graph, q.root, cutoff=hops)
    return sorted(v for v, d in dist.items() if d <= hops)


def evaluate(construction, queries, dtype, device, batch, group="edges+distance"):
    """(answers right, problems with every thought exact, max thought error, seconds, thoughts, runs that raised).

    ``group="edges"``: one batch per edge count, C = the largest dist(root, target) in it (every problem gets
    C >= its distance, and every thought 1..C is checked); ``"edges+distance"``: C = dist exactly.
    """
    space = construction.model.space
    arith = arithmetic_for("torch", dtype=dtype, device=device)
    groups: dict[tuple[int, int], list] = {}
    for q in queries:
        groups.setdefault((q.graph.number_of_edges(), q.distance if group != "edges" else 0), []).append(q)
    groups = {(m, max(q.distance for q in g)): g for (m, _), g in groups.items()}
    right = exact = thoughts = 0
    worst = 0.0
    start = time.perf_counter()
    errors = 0
    for (_, hops), group in sorted(groups.items()):
        for k in range(0, len(group), batch):
            chunk = group[k : k + batch]
            try:
                run = run_thoughts(construction, chunk, hops, arith=arith)
            except Exception:  # noqa: BLE001 (a NaN in low precision counts as wrong)
                errors += len(chunk)
                continue
            for b, q in enumerate(chunk):
                right += run.labels[b] == str(q.answer)
                ok = True
                for c in range(1, hops + 1):
                    vc = ball(q, c)
                    want = np.zeros(space.dim)
                    for v in vc:
                        want[space.index(f"content:{v}")] = 1 / math.sqrt(len(vc))
                    err = float(np.abs(run.thoughts[b][c - 1] - want).max())
                    worst = max(worst, err)
                    ok &= err <= 1e-6
                    thoughts += 1
                exact += ok
    return right, exact, worst, time.perf_counter() - start, thoughts, errors


def random_frontier() -> None:
    """verify.frontier (answers and both invariants) on random DAG / cyclic / dense digraphs of 3..10 nodes."""
    from exactformer.verify import frontier  # noqa: PLC0415
    from exactformer.verify.graphs import BFSReachabilityReference  # noqa: PLC0415

    variants = {f"tau={t}": superposition_reachability(10, 90, tau=t) for t in (5, 10, 20)}
    variants = {"derived tau": superposition_reachability(10, 90), **variants}
    start = time.perf_counter()
    result = frontier(variants, BFSReachabilityReference(max_edges=90), lengths=range(3, 11), check_invariants=True)
    print(result.to_markdown())
    print(f"\n({time.perf_counter() - start:.0f} s)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 problems only (< 30 s)")
    parser.add_argument("--dtype", default="float64", choices=sorted(DTYPES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--group",
        default="edges+distance",
        choices=["edges", "edges+distance"],
        help="batch by edge count (C = max distance in the batch) or by (edges, distance)",
    )
    parser.add_argument("--frontier", action="store_true", help="also the dtype and tau frontier on ProsQA")
    parser.add_argument(
        "--verify-frontier",
        action="store_true",
        help="only exactformer.verify.frontier on random digraphs (sizes 3..10), per dtype and tau",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.verify_frontier:
        random_frontier()
        return
    where = data_dir()
    queries = load_prosqa("test", where) + load_prosqa("valid", where)
    if args.quick:
        queries = queries[:30] + queries[500:510]
    construction = superposition_reachability(31, 60)
    p = construction.parameters
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(
        f"# superposition on ProsQA ({len(queries)} problems), {args.dtype} on {args.device} ({device_name}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )
    print(
        f"# n_max=31 m_max=60 T_max={p.max_length} d={construction.model.d_model}: eps_T={float(p.eps_T):.4f} "
        f"xi={float(p.xi):.1f} eta={float(p.eta):.2f} tau={float(p.tau):.1f} eps1={p.eps1} eps2={p.eps2}"
    )
    right, exact, worst, secs, nthoughts, errors = evaluate(
        construction, queries, DTYPES[args.dtype], args.device, args.batch, args.group
    )
    print(
        f"answers right: {right}/{len(queries)}; problems with every thought exact (<= 1e-6): "
        f"{exact}/{len(queries)}; thoughts checked: {nthoughts}; max thought error {worst:.3g}; "
        f"runs that raised: {errors} (batches: {args.group})"
    )
    print(f"time {secs:.2f} s: {len(queries) / secs:.1f} problems/s, {nthoughts / secs:.1f} thoughts/s")
    # thoughts needed vs eccentricity vs diameter
    table = Counter()
    for q in queries:
        ecc = max(nx.single_source_shortest_path_length(q.graph, q.root).values())
        diam = max(max(d.values()) for _, d in nx.all_pairs_shortest_path_length(q.graph))
        table[(q.distance, ecc, diam)] += 1
    print("\n| thoughts needed = dist(root, target) | root eccentricity | graph diameter | problems |")
    print("|---|---|---|---|")
    for (dist, ecc, diam), count in sorted(table.items()):
        print(f"| {dist} | {ecc} | {diam} | {count} |")
    if args.frontier:
        sample = queries[:50] if not args.quick else queries[:20]
        print(f"\n{len(sample)} problems:\n")
        print("| variant | dtype | answers right | thoughts exact (<= 1e-6) | max thought error |")
        print("|---|---|---|---|---|")
        for name, dtype in DTYPES.items():
            r, e, w, _, _, err = evaluate(construction, sample, dtype, args.device, args.batch)
            note = f" ({err} raised)" if err else ""
            print(f"| derived tau={float(p.tau):.0f} | {name} | {r}{note} | {e} | {w:.3g} |")
        for tau in (10, 20, 40, 50, 60, 100, 1000, 10000):
            c = superposition_reachability(31, 60, tau=tau)
            for name in ("float64", "float32"):
                r, e, w, _, _, err = evaluate(c, sample, DTYPES[name], args.device, args.batch)
                note = f" ({err} raised)" if err else ""
                print(f"| tau={tau} | {name} | {r}{note} | {e} | {w:.3g} |")


if __name__ == "__main__":
    main()
