"""Depth against n for the connectivity construction beside Theorem 2's 2⌈log2 n⌉ + 18, and its precision frontier.

Usage::

    python scripts/log_depth_connectivity_table.py            # depth table n = 1..4096 and frontier n <= 8
    python scripts/log_depth_connectivity_table.py --quick    # depth table and frontier n <= 4
    python scripts/log_depth_connectivity_table.py --no-frontier   # depth table only
    python scripts/log_depth_connectivity_table.py --frontier-max 12 --device cuda
"""

from __future__ import annotations

import argparse

import torch

from exactformer.constructions.log_depth_connectivity import (
    levels_for,
    log_depth_connectivity,
    paper_depth,
)
from exactformer.verify.frontier import frontier
from exactformer.verify.graphs import BFSConnectivityReference


def depth_table(ns: list[int]) -> str:
    lines = [
        "| n | tokens n²+n³+2n (s=t=n−1) | levels ⌈log2 n⌉ | layers (built) | Theorem 2: 2⌈log2 n⌉+18 | difference |",
        "|---|---|---|---|---|---|",
    ]
    for n in ns:
        r = log_depth_connectivity(n).resources(n)
        lines.append(
            f"| {n} | {r.tokens} | {levels_for(n)} | {r.layers} | {paper_depth(n)} | {paper_depth(n) - r.layers} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small frontier (n <= 4)")
    parser.add_argument("--frontier-max", type=int, default=8, help="largest graph size in the frontier")
    parser.add_argument("--device", default=None, help="torch device for the frontier")
    parser.add_argument("--no-frontier", action="store_true", help="the depth table only")
    args = parser.parse_args()
    ns = [
        1,
        2,
        3,
        4,
        5,
        7,
        8,
        9,
        12,
        15,
        16,
        17,
        31,
        32,
        33,
        63,
        64,
        65,
        127,
        128,
        129,
        255,
        256,
        257,
        511,
        512,
        513,
        1023,
        1024,
        1025,
        4096,
    ]
    print(depth_table(ns))
    if args.no_frontier:
        return
    top = 4 if args.quick else args.frontier_max
    c = log_depth_connectivity(top)
    dtypes = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
    f = frontier(
        c,
        BFSConnectivityReference(graphs_per_size=2),
        lengths=range(1, top + 1),
        dtypes=dtypes,
        samples_per_length=32,
        exhaustive_up_to=32,
        device=args.device,
    )
    print()
    print(f.to_markdown())


if __name__ == "__main__":
    main()
