"""Figure for docs/superposition.md: one ProsQA problem's continuous thoughts as the growing reachable set.

Each panel is the graph laid out by BFS distance from the root; a node's colour is its coordinate in the model's
thought c (read from the run, not from BFS), the outlined nodes are the candidates. The last panel is the answer's
logits. Prints the thought weights next to BFS's 1/sqrt|V_c|.

    python scripts/superposition_figures.py [--index 0] [--out docs/figures/superposition_thoughts.png]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exactformer.constructions.superposition import run_thoughts, superposition_reachability  # noqa: E402
from exactformer.languages.graphs import load_prosqa  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=0, help="which ProsQA test problem")
    parser.add_argument("--out", default=str(ROOT / "docs" / "figures" / "superposition_thoughts.png"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    where = next(p for p in (ROOT.parent / "shared" / "data" / "prosqa", Path("/work/shared/data/prosqa"))
                 if p.is_dir())
    q = load_prosqa("test", where)[args.index]
    c = superposition_reachability(31, 60)
    hops = max(nx.single_source_shortest_path_length(q.graph, q.root).values())  # root eccentricity
    run = run_thoughts(c, [q], hops)
    space, labels = c.model.space, c.model.readout.labels
    dist = nx.single_source_shortest_path_length(q.graph, q.root)
    layer = {v: dist.get(v, hops + 1) for v in q.graph.nodes}
    g = nx.DiGraph(q.graph.edges)
    g.add_nodes_from(q.graph.nodes)
    nx.set_node_attributes(g, layer, "layer")
    pos = nx.multipartite_layout(g, subset_key="layer")
    print(f"ProsQA test #{args.index}: {g.number_of_nodes()} nodes, {g.number_of_edges()} edges, root {q.root}, "
          f"candidates {q.candidates}, answer {q.answer}, dist {q.distance}, eccentricity {hops}")
    vectors = [np.eye(space.dim)[space.index(f"content:{q.root}")]] + list(run.thoughts[0])
    fig, axes = plt.subplots(1, len(vectors) + 1, figsize=(3.2 * (len(vectors) + 1), 3.6))
    for k, (ax, vec) in enumerate(zip(axes, vectors)):
        weights = [float(vec[space.index(f"content:{v}")]) for v in g.nodes]
        reached = sorted(v for v in g.nodes if vec[space.index(f"content:{v}")] > 0)
        bfs = sorted(v for v, d in dist.items() if d <= k)
        print(f"thought {k}: |V_{k}| = {len(reached)} (BFS {len(bfs)}), weight {max(weights):.6f} "
              f"(1/sqrt|V| = {1 / math.sqrt(len(bfs)):.6f}), equal to BFS: {reached == bfs}")
        nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.25, arrowsize=6, node_size=120)
        nx.draw_networkx_nodes(g, pos, ax=ax, node_size=120, node_color=weights, cmap="viridis", vmin=0, vmax=1,
                               edgecolors=["red" if v in q.candidates else "none" for v in g.nodes], linewidths=1.5)
        ax.set_title(f"[t{k}]: |V_{k}| = {len(reached)}" if k else "root r", fontsize=9)
        ax.axis("off")
    logits = np.array([float(x) for x in run.raw.output.logits[0]])
    shown = [str(v) for v in sorted(g.nodes)] + ["<A>"]
    colors = ["red" if s in {str(x) for x in q.candidates} else "grey" for s in shown]
    axes[-1].barh(range(len(shown)), [logits[labels.index(s)] for s in shown], color=colors)
    axes[-1].set_yticks(range(len(shown)), shown, fontsize=6)
    axes[-1].set_title(f"logits at <A>: argmax {run.labels[0]} (answer {q.answer})", fontsize=9)
    vC = len([v for v, d in dist.items() if d <= hops])
    print(f"answer {run.labels[0]}; logit(answer) = {logits[labels.index(str(q.answer))]:.6f} "
          f"(2/sqrt(|V_C|+5) = {2 / math.sqrt(vC + 5):.6f}), logit(negative) = "
          f"{logits[labels.index(str(q.negative))]:.6f} (1/sqrt(|V_C|+5) = {1 / math.sqrt(vC + 5):.6f})")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
