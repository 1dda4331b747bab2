"""Figures for docs/parity_first.md: Hahn's lemma made visible, and the residual stream of ``1011``.

Usage::

    python scripts/parity_first_figures.py                 # writes docs/figures/parity_first_*.png
    python scripts/parity_first_figures.py --samples 16 --max-n 500   # quicker

* ``parity_first_cross_entropy.png``: cross-entropy (bits per string) against n for PARITY and FIRST without layer
  norm (-> 1 bit: Hahn), with layer norm at eps = 0 (constant) and eps = 1e-5 (-> 1 bit later), and FIRST with
  log-length-scaled attention. Dots: the models run in float64 on sampled strings; lines: the note's closed forms
  (no LN, scaled, LN at eps = 0), computed without the model.
* ``parity_first_output_scale.png``: cross-entropy of the eps = 0 models against the output scale c.
* ``parity_1011_residual.png``, ``parity_ln_1011_residual.png``, ``first_1011_residual.png``: the residual stream
  of ``1011`` after every sublayer (coordinate names on the y-axis, positions on the x-axis), float64.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exactformer.constructions.parity_first import first, parity  # noqa: E402
from exactformer.core.construction import Construction  # noqa: E402
from exactformer.languages import named  # noqa: E402
from exactformer.verify.cross_entropy import CrossEntropy  # noqa: E402
from exactformer.verify.cross_entropy import cross_entropy_bits as _cross_entropy_bits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def cross_entropy_bits(c: Construction, words: list[str], **options: Any) -> CrossEntropy:
    """Cross-entropy with the labels of the named language (PARITY or FIRST) the model is named after."""
    language = named.parity() if c.name.startswith("parity") else named.first()
    return _cross_entropy_bits(c, words, language.accepts, **options)


def ce_closed(z: float) -> float:
    """-log2 sigmoid(z) for the correct sign z > 0."""
    return math.log1p(math.exp(-z)) / math.log(2)


def parity_closed(n: int, big: float = 1.0, d_head: int = 5) -> float:
    """Note Section 5: the expected CE of the no-LN PARITY model (half the words have odd k)."""
    N = n + 1
    b = big / math.sqrt(d_head)
    E, O = (N + 1) // 2, N // 2
    Z1, Z2 = E * math.exp(b) + O * math.exp(-b), E * math.exp(-b) + O * math.exp(b)
    z_odd = (math.exp(b) / Z2 - math.exp(-b) / Z1) / N
    z_even = (math.exp(-b) / Z2 - math.exp(b) / Z1) / N
    return (ce_closed(z_odd) + ce_closed(-z_even)) / 2


def first_closed(n: int, big: float = 1.0, d_head: int = 6, scaled: bool = False) -> float:
    """Note Sections 6 and 8.2: |z| = a_1 / 2 with a_1 = e^b/(e^b + n), or N^b/(N^b + n) when scaled."""
    b = big / math.sqrt(d_head)
    w = (n + 1) ** b if scaled else math.exp(b)
    return ce_closed(w / (w + n) / 2)


def sample_words(n: int, count: int, seed: int = 0) -> list[str]:
    rng = random.Random(f"{seed}:{n}")
    return ["0" * n, "1" + "0" * (n - 1)] + ["".join(rng.choice("01") for _ in range(n)) for _ in range(count - 2)]


def measured(c: Construction, lengths: list[int], samples: int) -> list[float]:
    out = []
    for n in lengths:
        count = max(2, min(samples, int(4e6 / (n + 1) ** 2) or 2))
        out.append(cross_entropy_bits(c, sample_words(n, count), dtype=torch.float64).bits)
        print(f"  {c.name:12s} n={n:5d} CE={out[-1]:.6f}", flush=True)
    return out


def cross_entropy_figure(out: Path, samples: int, max_n: int) -> None:
    lengths = [n for n in (1, 2, 4, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if n <= max_n]
    dense = np.unique(np.round(np.logspace(0, 5, 120)).astype(int))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    eps = "1/100000"
    panels = [
        (
            "PARITY",
            [
                ("no LN", parity(), lambda n: parity_closed(n), "tab:red"),
                ("LN, eps = 0", parity(layer_norm=True), lambda n: ce_closed(math.sqrt(10)), "tab:blue"),
                ("LN, eps = 1e-5", parity(layer_norm=True, eps=eps), None, "tab:purple"),
            ],
        ),
        (
            "FIRST",
            [
                ("no LN", first(), lambda n: first_closed(n), "tab:red"),
                ("LN, eps = 0", first(layer_norm=True), lambda n: ce_closed(math.sqrt(6)), "tab:blue"),
                ("LN, eps = 1e-5", first(layer_norm=True, eps=eps), None, "tab:purple"),
                ("scaled (ln N)", first(scaled=True), lambda n: first_closed(n, scaled=True), "tab:orange"),
                (
                    "scaled, big = 3",
                    first(scaled=True, big=3),
                    lambda n: first_closed(n, big=3, scaled=True),
                    "tab:green",
                ),
            ],
        ),
    ]
    for ax, (title, curves) in zip(axes, panels):
        for label, c, closed, color in curves:
            ys = measured(c, lengths, samples)
            ax.plot(lengths, ys, "o", color=color, label=f"{label} (model, float64)")
            if closed is not None:
                ax.plot(dense, [closed(int(n)) for n in dense], "-", color=color, lw=1, alpha=0.7)
        ax.axhline(1.0, color="gray", ls=":", lw=1)
        ax.text(1.1, 1.015, "1 bit: Hahn's limit", color="gray", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("n (bits in the word)")
        ax.set_title(f"{title}: cross-entropy against n")
        ax.legend(fontsize=8, loc="center right")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cross-entropy (bits per string)")
    axes[0].set_ylim(0, 1.08)
    fig.suptitle(
        "Chiang & Cholak (2022): exact transformers keep accuracy 1; only LN with eps = 0 keeps CE from 1 "
        "(lines: closed forms)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out / "parity_first_cross_entropy.png", dpi=110)
    plt.close(fig)


def output_scale_figure(out: Path) -> None:
    cs = [1, 2, 3, 5, 10]
    dense = np.linspace(0.5, 10, 100)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, build, half, color in (("PARITY", parity, 10, "tab:blue"), ("FIRST", first, 6, "tab:orange")):
        ys = [cross_entropy_bits(build(layer_norm=True, output_scale=c), sample_words(100, 4)).bits for c in cs]
        ax.plot(cs, ys, "o", color=color, label=f"{name}-LN, eps = 0, n = 100 (model)")
        ax.plot(
            dense,
            [ce_closed(c * math.sqrt(half)) for c in dense],
            "-",
            color=color,
            lw=1,
            label=f"log2(1 + exp(-c sqrt({half})))",
        )
    ax.set_yscale("log")
    ax.set_xlabel("output scale c")
    ax.set_ylabel("cross-entropy (bits per string)")
    ax.set_title("LN at eps = 0: CE -> 0 as the output scale grows (any n)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out / "parity_first_output_scale.png", dpi=110)
    plt.close(fig)


def residual_figure(c: Construction, word: str, path: Path, title: str) -> None:
    """One heatmap per site (embedding, then after every sublayer) of the residual stream of ``word``."""
    result = c.run(word, dtype=torch.float64)
    trace = result.output.trace
    tokens = c.encode(word)
    names = list(c.model.space.names)
    sites = list(trace.labels)
    captions = {
        "embed": "embedding",
        "L0.attn": "after layer-1 attention",
        "L0.mlp": "after layer-1 FFN",
        "L1.attn": "after layer-2 attention",
        "L1.mlp": "after layer-2 FFN (output)",
    }
    height = 0.32 * len(names) + 1.4
    fig, axes = plt.subplots(1, len(sites), figsize=(3.1 * len(sites) + 1.5, height), sharey=True)
    for ax, site in zip(axes, sites):
        x = trace[site][0].detach().to(torch.float64).numpy().T  # [coordinate, position]
        lim = max(1e-12, float(np.abs(x).max()))
        ax.imshow(x, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        for (r, p), v in np.ndenumerate(x):
            if abs(v) > 1e-12:
                text = f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.1e}"
                ax.text(
                    p, r, text, ha="center", va="center", fontsize=6.5, color="white" if abs(v) > 0.6 * lim else "black"
                )
        ax.set_xticks(range(len(tokens)), [f"{i}\n{t}" for i, t in enumerate(tokens)], fontsize=8)
        ax.set_title(captions.get(site, site), fontsize=9)
        ax.set_xlabel("position i / token", fontsize=8)
    axes[0].set_yticks(range(len(names)), names, fontsize=8)
    z = float(result.logits[0])
    fig.suptitle(
        f"{title}: residual stream of '{word}' (float64), z = {z:.6g}, {'accept' if result.answer else 'reject'}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    p.add_argument("--samples", type=int, default=64, help="strings per length (fewer at large n)")
    p.add_argument("--max-n", type=int, default=2000)
    p.add_argument("--word", default="1011")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    residual_figure(parity(), args.word, args.out / "parity_1011_residual.png", "PARITY (no LN)")
    residual_figure(
        parity(layer_norm=True),
        args.word,
        args.out / "parity_ln_1011_residual.png",
        "PARITY with LN (eps = 0) on [x, -x]",
    )
    residual_figure(first(), args.word, args.out / "first_1011_residual.png", "FIRST (no LN)")
    output_scale_figure(args.out)
    cross_entropy_figure(args.out, args.samples, args.max_n)
    for f in sorted(args.out.glob("*.png")):
        print(f"wrote {f.relative_to(ROOT) if f.is_relative_to(ROOT) else f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
