"""Depth of the Theorem 1 tree recognizer against n, beside the paper's 8⌈log2 n⌉ + 9 and 4⌈log2 n⌉ + 5.

Usage: ``python scripts/log_depth_depth_table.py [--quick] [--verify]``. Depth is measured from the built models
(``Construction.resources(n).layers``, the unrolled loop plus suffix), for the tree recognizer, for the
pointer-jumping recognizer and for the tree in the paper's architecture (``paper_tree_recognizer``); ``--verify``
also runs, at each n, the tree recognizer with and without the final level on the word ``0^(n-1) 1`` (torch
float64) and reports whether the answers agree with the DFA.
"""

from __future__ import annotations

import argparse

import torch

from exactformer.constructions.log_depth import levels_for, log_depth_recognizer, paper_depth
from exactformer.constructions.log_depth_paper import paper_tree_recognizer
from exactformer.constructions.pointer_jumping import pointer_jumping_recognizer
from exactformer.languages import named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="n up to 64 only")
    parser.add_argument("--verify", action="store_true", help="also check sampled words at each n (float64)")
    args = parser.parse_args()
    dfa = named.parity()
    c = log_depth_recognizer(dfa)
    short = log_depth_recognizer(dfa, final_level=False)
    pj = pointer_jumping_recognizer(dfa)
    faithful = paper_tree_recognizer(dfa)
    ns = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65]
    if not args.quick:
        ns += [127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025]
    print(
        "| n | levels needed ⌊log2 n⌋+1 | levels run ⌈log2 n⌉+1 | measured depth | 3⌈log2 n⌉+3 "
        "| paper 8⌈log2 n⌉+9 | non-uniform 4⌈log2 n⌉+5 | pointer jumping (measured) "
        "| paper's architecture (measured) | ⌈log2 n⌉ levels only: correct? |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in ns:
        cl = (n - 1).bit_length() if n > 1 else 0
        depth = c.resources(n).layers
        note = ""
        if args.verify:
            word = "0" * (n - 1) + "1"  # odd parity; the top block's product is not the identity
            ok_full = c.accepts(word, backend="torch", dtype=torch.float64) == dfa.accepts(word)
            ok_short = short.accepts(word, backend="torch", dtype=torch.float64) == dfa.accepts(word)
            note = f"full {'ok' if ok_full else 'WRONG'}; short {'ok' if ok_short else 'WRONG'}"
        print(
            f"| {n} | {n.bit_length()} | {levels_for(n)} | {depth} | {3 * cl + 3} | {paper_depth(n)} "
            f"| {4 * cl + 5} | {pj.resources(n).layers} | {faithful.resources(n).layers} | {note} |"
        )


if __name__ == "__main__":
    main()
