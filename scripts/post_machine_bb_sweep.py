"""Busy-beaver sweep through the transformer, run as a sweep (docs/sweep.md): every 2-symbol machine of <= 4 states
in shared/data/busy_beaver.

A thin wrapper: it runs ``configs/busy_beaver.toml`` (the task is :mod:`exactformer.sweep.tasks.busy_beaver`, which
says what is compared) and writes the table rendered from the store; rerunning resumes.

Usage::

    python scripts/post_machine_bb_sweep.py [--quick] [--store FILE] [--workers N] [--scheduler tcp://...] [--out FILE]

which is the same as ``exactformer sweep configs/busy_beaver.toml --render scripts/results/post_machine_bb_sweep.txt``
(``--quick``: ``configs/busy_beaver_quick.toml``, the 2x2 list and the champions).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exactformer.sweep import load_config  # noqa: E402
from exactformer.sweep.render import sweep_and_render  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="configs/busy_beaver_quick.toml: 2x2 and the champions")
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--out", type=Path, default=None, help="write the rendered table here (default: print it)")
    args = ap.parse_args(argv)
    config = ROOT / "configs" / ("busy_beaver_quick.toml" if args.quick else "busy_beaver.toml")
    cfg = load_config(config)
    store = args.store or config.with_suffix(".sqlite")
    summary, cells = sweep_and_render(cfg, store, args.out, workers=args.workers, scheduler=args.scheduler)
    return 0 if summary.complete and all(c.figures["match"] == c.figures["machines"] for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
