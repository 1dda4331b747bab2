"""The depth story of Merrill & Sabharwal (2025) as a figure: layers against n.

Usage: ``python scripts/log_depth_depth_figure.py [--out docs/figures/log_depth_depth.png] [--max-n 4096]``.

Measured from the built models (``Construction.resources(n).layers``, the loop unrolled for n letters):

* Theorem 1 in the paper's architecture (``paper_tree_recognizer``: 3 + 6(⌈log2 n⌉ + 1));
* Theorem 1 with rational positions (``log_depth_recognizer``: 3⌈log2 n⌉ + 3);
* the pointer-jumping recognizer (⌈log2 n⌉);

beside the formulas: the theorem's 8⌈log2 n⌉ + 9, the non-uniform Corollary 1.1's 4⌈log2 n⌉ + 5, and the paper's
fit for trained (non-looped) transformers on the A5 word problem, d = 4.8 log2 n − 15.8 (Figure 2; r² = 0.93).
The measured series are printed as a table too.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from exactformer.constructions.log_depth import log_depth_recognizer, paper_depth  # noqa: E402
from exactformer.constructions.log_depth_paper import paper_tree_recognizer  # noqa: E402
from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer  # noqa: E402
from exactformer.languages import named  # noqa: E402


def series(max_n: int) -> dict[str, list[tuple[int, float]]]:
    """Layers against n for every curve of the figure (measured ones from the models)."""
    dfa = named.parity()
    models = {
        "Thm 1, paper's architecture (built)": paper_tree_recognizer(dfa),
        "Thm 1, rational positions (built)": log_depth_recognizer(dfa),
        "pointer jumping (built)": pointer_jumping_recognizer(dfa),
    }
    ns = sorted({n for k in range(0, max_n.bit_length() + 1) for n in (2**k, 2**k + 1) if 1 <= n <= max_n})
    out: dict[str, list[tuple[int, float]]] = {name: [(n, c.resources(n).layers) for n in ns]
                                               for name, c in models.items()}
    out["theorem: 8⌈log2 n⌉ + 9"] = [(n, paper_depth(n)) for n in ns]
    out["Cor. 1.1 (non-uniform): 4⌈log2 n⌉ + 5"] = [(n, 4 * ((n - 1).bit_length() if n > 1 else 0) + 5) for n in ns]
    out["trained, A5 (fit): 4.8 log2 n − 15.8"] = [(n, 4.8 * math.log2(n) - 15.8) for n in ns if n >= 8]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/figures/log_depth_depth.png")
    parser.add_argument("--max-n", type=int, default=4096)
    args = parser.parse_args()
    data = series(args.max_n)
    names = list(data)
    print("| n | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    ns = [n for n, _ in data[names[0]]]
    for n in ns:
        cells = []
        for name in names:
            value = dict(data[name]).get(n)
            cells.append("-" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value)))
        print(f"| {n} | " + " | ".join(cells) + " |")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    styles = ["o-", "s-", "^-", "--", ":", "-."]
    for (name, points), style in zip(data.items(), styles):
        xs, ys = zip(*points)
        ax.plot(xs, ys, style, label=name, markersize=3, drawstyle="steps-post" if "built" in name else "default")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("input length n")
    ax.set_ylabel("layers (unrolled)")
    ax.set_title("Merrill & Sabharwal: depth against n")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
