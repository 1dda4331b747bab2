"""Sweep Chiang & Cholak's PARITY / FIRST transformers: cross-entropy in float64 and the precision frontier per dtype.

Usage::

    python scripts/parity_first_sweep.py                       # 1,000 strings per length up to n = 10,000 (slow)
    python scripts/parity_first_sweep.py --work 3e7 --max-n 10000   # cap each cell at ~3e7 attention scores
    python scripts/parity_first_sweep.py --variants parity parity-ln --dtypes float32 float64

For every variant the script prints

1. cross-entropy (bits per string) and accuracy per n in float64, beside the note's numbers (Sections 8.1, 8.2),
   and in the lower dtypes while they still decide every string right;
2. the precision frontier: for each dtype (float16, bfloat16, float32, float64) the largest tested n up to which
   every sampled string was decided right, the first failing input and *why* it fails (which proof invariant
   broke first and by how much, compared with the float64 run), and the cross-entropy at the largest passing n.

Words are sampled uniformly (the all-zero word and ``1 0...0`` are always included, so both labels occur). With
``--work W`` a length gets ``min(samples, max(min_samples, W / N^2))`` strings: the attention cost of a string is
~N^2, so each cell costs about the same.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exactformer.constructions.parity_first import (  # noqa: E402
    first,
    negation_residue,
    parity,
    string_cross_entropy_bits,
)
from exactformer.core.construction import Construction  # noqa: E402
from exactformer.core.errors import ExactformerError  # noqa: E402

VARIANTS: dict[str, Callable[[], Construction]] = {
    "parity": lambda: parity(),
    "parity-ln": lambda: parity(layer_norm=True),
    "parity-ln(eps=1e-5)": lambda: parity(layer_norm=True, eps="1/100000"),
    "first": lambda: first(),
    "first-ln": lambda: first(layer_norm=True),
    "first-ln(eps=1e-5)": lambda: first(layer_norm=True, eps="1/100000"),
    "first-scaled": lambda: first(scaled=True),
    "first-scaled(big=3)": lambda: first(scaled=True, big=3),
}

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}

# The note's Section 8.1 (authors' scripts, float32, 500 strings per n; 20 strings at n = 3000 and 10000).
NOTE_8_1 = {
    "parity": {2: 0.93356, 4: 0.97585, 10: 0.99500, 20: 0.99863, 50: 0.99977, 100: 0.99994, 200: 0.999985,
               500: 0.9999976, 1000: 0.9999994, 3000: 0.99999992, 10000: 1.0000000027},
    "parity-ln(eps=1e-5)": {2: 0.05991, 4: 0.06040, 10: 0.07249, 20: 0.20237, 50: 0.74335, 100: 0.92887,
                            200: 0.98178, 500: 0.99705, 1000: 0.99926},
    "parity-ln": {2: 0.05981, 4: 0.05981, 10: 0.05981, 20: 0.05981, 50: 0.05981, 100: 0.05981, 200: 0.05981,
                  500: 0.05982, 1000: 0.05983, 3000: 0.06165, 10000: 0.14606},
    "first": {2: 0.85347, 4: 0.90480, 10: 0.95361, 20: 0.97499, 50: 0.98951, 100: 0.99467, 200: 0.99731,
              500: 0.99892, 1000: 0.99946},
    "first-ln(eps=1e-5)": {2: 0.11951, 4: 0.11955, 10: 0.11974, 20: 0.12035, 50: 0.12380, 100: 0.13673,
                           200: 0.17964, 500: 0.35131, 1000: 0.56812},
    "first-ln": {2: 0.11947, 4: 0.11947, 10: 0.11947, 20: 0.11947, 50: 0.11947, 100: 0.11947, 200: 0.11947,
                 500: 0.11947, 1000: 0.11947, 3000: 0.11947, 10000: 0.11948},
}
# Section 8.2 (derived), FIRST without LN, n = 10, 100, 1000, 10^4
NOTE_8_2 = {"first-scaled": {10: 0.9262, 100: 0.9779, 1000: 0.9941, 10000: 0.9985},
            "first-scaled(big=3)": {10: 0.7835, 100: 0.7576, 1000: 0.7328, 10000: 0.7150}}

DEFAULT_LENGTHS = [1, 2, 4, 10, 20, 50, 100, 200, 500, 1000, 2000, 3000, 5000, 10000]


def words_for(n: int, count: int, seed: int) -> list[str]:
    rng = random.Random(f"{seed}:{n}")
    out = ["0" * n, "1" + "0" * (n - 1)][:count]
    out += ["".join(rng.choice("01") for _ in range(n)) for _ in range(count - len(out))]
    if n <= 12 and count >= 2**n:  # exhaustive when the sample would cover everything anyway
        out = [format(v, f"0{n}b") for v in range(2**n)]
    return out


def samples_for(n: int, args: argparse.Namespace) -> int:
    if args.work is None:
        return args.samples
    return int(min(args.samples, max(args.min_samples, args.work / (n + 1) ** 2)))


def _float(v: Any) -> float:
    return float(v.mid) if hasattr(v, "mid") else float(v)


def describe_word(word: str) -> str:
    k = word.count("1")
    text = word if len(word) <= 24 else f"{word[:8]}...{word[-4:]}"
    return f"n={len(word)}, k={k}, w_1={word[0]}: {text}"


def _rows(result: Any, site: str) -> np.ndarray:
    return result.output.trace[site][result.batch_index].detach().to(torch.float64).cpu().numpy()


def proof_quantities(c: Construction, result: Any, word: str) -> list[str]:
    """The proof's quantities, read scale-invariantly (ratios within a position survive layer norm), and their error.

    PARITY: k and i recovered as ``count:k/N / count:1/N`` and ``pos:i/N / count:1/N`` after layer-1 attention,
    and ``[i = k]`` as ``hat / count:1/N`` after the layer-1 FFN; the hat needs the first two to within 1/2.
    FIRST: ``[w_1 = 1]`` as ``gate / pos:[i=1]`` at position 1 after the layer-1 FFN.
    """
    s = c.model.space.index
    k = word.count("1")
    if c.name.startswith("parity"):
        att, ffn = _rows(result, "L0.attn"), _rows(result, "L0.mlp")
        one = att[:, s("count:1/N")]
        i = np.arange(len(one))
        k_err = np.abs(att[:, s("count:k/N")] / one - k).max()
        i_err = np.abs(att[:, s("pos:i/N")] / one - i).max()
        hat = ffn[:, s("hat:[i=k]/N")] / ffn[:, s("count:1/N")]
        hat_err = np.abs(hat - (i == k)).max()
        return [f"k read back {k_err:.2g} off, i {i_err:.2g} off (hat needs < 1/2)",
                f"hat [i=k] {hat_err:.2g} off (at i = {int(np.abs(hat - (i == k)).argmax())}, k = {k})"]
    ffn = _rows(result, "L0.mlp")
    gate = ffn[1, s("gate:[i=1,w_i=1]")] / ffn[1, s("pos:[i=1]")]
    return [f"gate [w_1=1] read back as {gate:.3g} (want {int(word[0] == '1')})"]


def explain(c: Construction, word: str, dtype: torch.dtype, error: Exception | None = None) -> str:
    """Why ``word`` fails in ``dtype``, with the float64 run (which agrees with the reference) as the yardstick."""
    ref = c.run(word, dtype=torch.float64)
    n_tokens = len(c.encode(word))
    pos = c.model.readout.position
    tiny = torch.finfo(dtype).tiny
    ln = c.extras["options"].get("layer_norm")
    answer = abs(ref.residual("L1.attn", pos)["answer"])  # the answer entering the last sublayer (float64)
    if error is not None:
        parts = [f"{type(error).__name__}: {str(error).split(' (first')[0]}"]
        if ln:
            mean_square = 2 * answer**2 / c.model.d_model
            smallest = tiny * torch.finfo(dtype).eps  # the smallest subnormal
            fate = "underflows to 0, so LayerNorm divides 0/0" if mean_square < smallest / 2 else \
                f"is below the smallest normal {tiny:.2g} (subnormal, few bits left)"
            parts.append(f"the CLS vector entering the final LayerNorm is [u, -u] with |u_answer| = {answer:.2g}: "
                         f"its mean square {mean_square:.2g} {fate}" if mean_square < tiny else
                         f"|u_answer| = {answer:.2g}")
        return "; ".join(parts)
    low = c.run(word, dtype=dtype)
    parts = [f"z = {_float(low.logits[0]):.3g} in {str(dtype)[6:]} vs {_float(ref.logits[0]):.3g} in float64"]
    parts += proof_quantities(c, low, word)
    parts.append(f"answer entering the last sublayer {answer:.2g} in float64 "
                 f"vs {abs(low.residual('L1.attn', pos)['answer']):.2g}")
    if ln:
        parts.append(f"[u,-u] residue after the final LN at CLS {negation_residue(c, low)[pos]:.2g} "
                     f"(float64 {negation_residue(c, ref)[pos]:.2g})")
    tol = 8 * torch.finfo(dtype).eps * math.ceil(math.log2(n_tokens + 1))
    for site in low.output.trace.labels:
        a, b = _rows(low, site), _rows(ref, site)
        gap = np.abs(a - b) / (1 + np.abs(b))
        if gap.max() > tol:
            p, j = np.unravel_index(int(gap.argmax()), gap.shape)
            parts.append(f"first leaves float64 after {site} ({c.model.space.names[j]} at {p}: "
                         f"{a[p, j]:.3g} vs {b[p, j]:.3g})")
            break
    return "; ".join(parts)


@dataclass
class Row:
    variant: str
    dtype: str
    tested: list[tuple[int, int]] = field(default_factory=list)  # (n, strings)
    per_n: dict[int, dict[str, float]] = field(default_factory=dict)  # n -> ce_bits, accuracy, min_abs_z, strings
    largest_passing: int | None = None
    failing_n: int | None = None
    failing_input: str = ""
    why: str = ""
    seconds: float = 0.0


def _raises(c: Construction, word: str, dtype: torch.dtype) -> bool:
    try:
        c.run(word, dtype=dtype)
    except ExactformerError:
        return True
    return False


def frontier_row(name: str, c: Construction, dtype_name: str, lengths: list[int], args: argparse.Namespace) -> Row:
    """Lengths in increasing order until the first wrong decision (or error) in ``dtype_name``."""
    dtype = DTYPES[dtype_name]
    row = Row(name, dtype_name)
    label = c.extras["language"]
    start = time.time()
    for n in lengths:
        ws = words_for(n, samples_for(n, args), args.seed)
        bad, bits, correct, margin = None, 0.0, 0, math.inf
        row.tested.append((n, len(ws)))
        try:
            batch = max(1, min(256, int(2e7 / (n + 1) ** 2)))
            for s in range(0, len(ws), batch):
                chunk = ws[s : s + batch]
                for w, r in zip(chunk, c.run_batch(chunk, dtype=dtype)):
                    z = _float(r.logits[0])
                    bits += string_cross_entropy_bits(z, label(w))
                    ok = bool(r.answer) == label(w)
                    correct += ok
                    margin = min(margin, abs(z))
                    if not ok and bad is None:
                        bad = w
        except ExactformerError as exc:  # a NaN or an overflow: also a failure; find the word that raises
            culprit = next((w for w in ws if _raises(c, w, dtype)), None)
            row.failing_n = n
            row.failing_input = describe_word(culprit) if culprit else f"n={n} (a batch)"
            row.why = explain(c, culprit, dtype, exc) if culprit else f"{type(exc).__name__}: {exc}"
            break
        row.per_n[n] = {"ce_bits": bits / len(ws), "accuracy": correct / len(ws), "min_abs_z": margin,
                        "strings": len(ws)}
        if bad is not None:
            row.failing_n, row.failing_input = n, describe_word(bad)
            row.why = explain(c, bad, dtype)
            break
        row.largest_passing = n
        if args.time_limit and time.time() - start > args.time_limit:
            row.why = f"(stopped by the time limit after n = {n})"
            break
    row.seconds = time.time() - start
    return row


def to_markdown(rows: list[Row], dtypes: list[str]) -> str:
    by = {(r.variant, r.dtype): r for r in rows}
    variants = list(dict.fromkeys(r.variant for r in rows))
    lower = [d for d in ("float32", "bfloat16", "float16") if d in dtypes]
    lines = ["### Cross-entropy (bits per string) and accuracy", "",
             "| variant | n | strings | CE float64 | acc float64 | min abs z | note | "
             + " | ".join(f"CE {d} (acc)" for d in lower) + " |",
             "|---|---|---|---|---|---|---|" + "---|" * len(lower)]
    for v in variants:
        ref = by.get((v, "float64"))
        if ref is None:
            continue
        for n, stats in ref.per_n.items():
            note = NOTE_8_1.get(v, {}).get(n) or NOTE_8_2.get(v, {}).get(n)
            cells = []
            for d in lower:
                s = by[(v, d)].per_n.get(n) if (v, d) in by else None
                cells.append("-" if s is None else f"{s['ce_bits']:.5f} ({s['accuracy']:.3f})")
            lines.append(f"| {v} | {n} | {stats['strings']} | {stats['ce_bits']:.7f} | {stats['accuracy']:.4f} | "
                         f"{stats['min_abs_z']:.3g} | {'-' if note is None else note} | " + " | ".join(cells) + " |")
    lines += ["", "### Precision frontier", "",
              "| variant | dtype | largest n passing (strings) | first failing n | first failing input | why |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        tested = dict(r.tested)
        passing = "-" if r.largest_passing is None else f"{r.largest_passing} ({tested[r.largest_passing]})"
        fail = "-" if r.failing_n is None else str(r.failing_n)
        why = r.why or f"none up to n = {max(n for n, _ in r.tested)}"
        lines.append(f"| {r.variant} | {r.dtype} | {passing} | {fail} | {r.failing_input or '-'} | {why} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    p.add_argument("--lengths", nargs="+", type=int, default=None, help="word lengths n (default: 1 ... 10000)")
    p.add_argument("--max-n", type=int, default=10_000)
    p.add_argument("--samples", type=int, default=1000, help="strings per length (at most)")
    p.add_argument("--work", type=float, default=None, help="cap strings per length at WORK / N^2")
    p.add_argument("--min-samples", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=None, help="seconds per (variant, dtype) before stopping")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--markdown", type=Path, default=None, help="also write the tables here")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lengths = [n for n in (args.lengths or DEFAULT_LENGTHS) if n <= args.max_n]
    t0 = time.time()
    rows = []
    for name in args.variants:
        c = VARIANTS[name]()
        for dtype_name in args.dtypes:
            row = frontier_row(name, c, dtype_name, lengths, args)
            rows.append(row)
            print(f"  {name:22s} {dtype_name:9s} largest passing n={row.largest_passing} first failing n="
                  f"{row.failing_n} ({row.seconds:.0f}s) {row.why[:200]}", flush=True)
    text = to_markdown(rows, args.dtypes)
    print()
    print(text)
    print(f"\n(total {time.time() - t0:.0f} s; samples <= {args.samples}, work = {args.work}, seed = {args.seed})")
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
