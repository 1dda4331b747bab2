"""MLRegTest conformance of the pointer-jumping recognizer (issue 5 item 7), run as a sweep (docs/sweep.md).

A thin wrapper: it runs ``configs/mlregtest.toml`` (every language of counts.tsv; the task is
:mod:`exactformer.sweep.tasks.mlregtest`) with ``exactformer sweep`` and writes the table rendered from the store.
Resuming an interrupted run is rerunning the same command (the store skips every completed language); sharding is
pointing ``--scheduler`` at a cluster of as many workers as wanted.

Usage::

    python scripts/log_depth_mlregtest.py --quick       # configs/mlregtest_subset.toml with 20 words per length 1..8
    python scripts/log_depth_mlregtest.py                # everything (about 7 core-hours here), resumable
    python scripts/log_depth_mlregtest.py --config configs/mlregtest_subset.toml --out subset.txt

which is the same as ``exactformer sweep configs/mlregtest.toml --store STORE --render OUT``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exactformer.sweep import load_config, parse_config  # noqa: E402
from exactformer.sweep.render import sweep_and_render  # noqa: E402
from exactformer.sweep.tasks.mlregtest import DATA, languages, words_for  # noqa: E402,F401  (benchmarks use them)

CONFIG = ROOT / "configs" / "mlregtest.toml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, default=CONFIG)
    p.add_argument("--quick", action="store_true", help="the subset's first 3 languages, 20 words per length 1..8")
    p.add_argument("--store", type=Path, default=None, help="results store (default: the config's .sqlite)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--scheduler", default=None)
    p.add_argument("--out", type=Path, default=None, help="write the rendered table here (default: print it)")
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    store = args.store
    if args.quick:
        quick = dict(load_config(ROOT / "configs" / "mlregtest_subset.toml").raw)
        quick["params"] = {**quick["params"], "samples": 20, "lengths": ["1..8"]}
        quick["corpus"] = {**quick["corpus"], "limit": 3}
        cfg = parse_config(quick, source="mlregtest --quick")
        store = store or Path(tempfile.mkdtemp()) / "quick.sqlite"
    store = store or args.config.with_suffix(".sqlite")
    summary, cells = sweep_and_render(cfg, store, args.out, workers=args.workers, scheduler=args.scheduler)
    return 0 if summary.complete and sum(c.figures.get("FAIL", 0) for c in cells) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
