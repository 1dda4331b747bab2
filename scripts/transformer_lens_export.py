"""Every exportable construction, exported to TransformerLens, saved, loaded back, against our torch evaluator.

For each registered construction that exports (the others print their reasons), for each dtype, on its registry
example, 24 short words and two random words of each long length (:data:`LONG`, :data:`HEAVY`): the export for
each input (``to_transformer_lens(c, n=len(word))``) is written to a safetensors file, loaded back from the file
alone (:func:`exactformer.export.load_hooked_transformer`: a ``HookedTransformer`` from the stored config and dtype,
TransformerLens's ``load_state_dict(strict=True)``, the hooks rebuilt from the metadata) and run; the table gives
the largest |difference| from the library's own torch evaluator (``forward`` in ``TorchArithmetic`` of the same
dtype) over every residual stream and over the readout logits, whether every decision agrees, and whether the
loaded model's logits equal the in-memory export's bit for bit; "hooks" counts the hooks of the last (longest)
input's export (a looped model has more layers, so more hooks, at longer inputs).

    python scripts/transformer_lens_export.py --out scripts/results/transformer_lens_export.txt
    python scripts/transformer_lens_export.py --quick       # demo and parity, float64, two short words
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from exactformer import constructions
from exactformer.core.arith import TorchArithmetic
from exactformer.core.errors import ExactformerError
from exactformer.core.forward import forward
from exactformer.export import export_problems, load_hooked_transformer, to_transformer_lens

HEADER = ("| construction | dtype | inputs | longest (tokens) | hooks | max abs diff, residuals | "
          "max abs diff, readout logits | decisions agree | file = in-memory, bit for bit |")


#: Long inputs (2 random words per length) for every construction but the A5 recognisers, whose exports at these
#: lengths take minutes each (they get 16 and 64).
LONG = (16, 64, 256, 1024)
HEAVY = {"log-depth-a5": (16, 64), "pointer-jumping-a5": (16, 64)}


def accepted(construction, word: str) -> bool:
    try:
        construction.encode(word)
    except ExactformerError:  # not an input of this construction (a Post machine's prompt has one length)
        return False
    return True


def inputs_for(construction, name: str, example: object, count: int, long: bool, seed: int = 0) -> list[object]:
    """The registry example, and for a word example up to ``count`` other words over its symbols (lengths 1..6 and
    the example's) that the construction accepts as inputs, then (``long``) two random words of each long length."""
    if not isinstance(example, str):
        return [example]
    symbols = sorted(set(example))
    lengths = sorted(set(range(1, 7)) | {len(example)})
    words = [w for k in lengths for w in ("".join(p) for p in itertools.islice(itertools.product(symbols, repeat=k),
                                                                                4096))
             if w != example and accepted(construction, w)]
    rng = random.Random(seed)
    out = [example] + rng.sample(words, min(count, len(words)))
    for k in HEAVY.get(name, LONG) if long else ():
        out += [w for w in ("".join(rng.choice(symbols) for _ in range(k)) for _ in range(2))
                if accepted(construction, w)]
    return out


def size_of(construction, x: object) -> dict[str, int]:
    """``n=`` the input size when ``tokens_for`` says how it is encoded, else ``length=`` the token count."""
    tokens = len(construction.encode(x))
    n = len(x) if isinstance(x, (str, tuple, list)) else None
    return {"n": n} if n is not None and construction.tokens_for(n) == tokens else {"length": tokens}


def decide(logits: torch.Tensor, decision: str) -> list[int]:
    return (logits[:, 0] > 0).long().tolist() if decision == "sign" else logits.argmax(-1).tolist()


def row_for(name: str, dtype: torch.dtype, count: int, long: bool, folder: Path) -> str:
    construction = constructions.build(name)
    entry = constructions.get(name)
    model = construction.model
    residual = logit = 0.0
    agree = equal = True
    hooks = 0
    xs = inputs_for(construction, name, entry.example, count, long)
    for i, x in enumerate(xs):
        tokens = list(construction.encode(x))
        export = to_transformer_lens(construction, dtype=dtype, **size_of(construction, x))
        hooks = len(export.hook_notes)
        path = folder / f"{name}_{i}.safetensors"
        export.save(str(path), name=name)
        loaded = load_hooked_transformer(path)
        ids = loaded.tokens_of([tokens])
        ours = forward(model, [tokens], TorchArithmetic(dtype=dtype))
        with torch.no_grad():
            logits, cache = loaded.run_with_cache(ids)
            equal &= torch.equal(logits, export.model(ids))
        theirs = {"embed": cache["blocks.0.hook_resid_pre"]}
        theirs.update({label: cache[hook] for hook, label in loaded.export_info.sublayers.items()})
        residual = max([residual] + [float((theirs[k] - ours[k]).abs().max()) for k in ours.labels])
        row = ours.final[:, model.readout.position]
        W_U = torch.tensor(model.readout.W_U.astype(float), dtype=dtype)
        b_U = torch.tensor(model.readout.b_U.astype(float), dtype=dtype)
        reference = row @ W_U + b_U
        got = logits[:, model.readout.position]
        logit = max(logit, float((got - reference).abs().max()))
        agree &= decide(got, model.readout.decision) == decide(reference, model.readout.decision)
    longest = max(len(construction.encode(x)) for x in xs)
    return (f"| `{name}` | {str(dtype).removeprefix('torch.')} | {len(xs)} | {longest} | {hooks} | {residual:.3g} | "
            f"{logit:.3g} | {'yes' if agree else 'NO'} | {'yes' if equal else 'NO'} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo and parity, float64, two short inputs each")
    parser.add_argument("--inputs", type=int, default=24, help="words besides the example, per construction")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = ["demo", "parity"] if args.quick else sorted(constructions.REGISTRY)
    dtypes = [torch.float64] if args.quick else [torch.float64, torch.float32]
    count = 1 if args.quick else args.inputs
    lines = [f"# python {' '.join(['scripts/transformer_lens_export.py'] + (argv or sys.argv[1:]))}",
             f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} thread", "", HEADER, "|---" * 9 + "|"]
    refused = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            construction = constructions.build(name)
            problems = export_problems(construction)
            if problems:
                refused.append(f"- `{name}`: " + "; ".join(problems))
                continue
            for dtype in dtypes:
                lines.append(row_for(name, dtype, count, not args.quick, Path(tmp)))
                print(lines[-1], flush=True)
    lines += ["", "Refused (every reason):"] + refused
    text = "\n".join(lines) + "\n"
    print("\n".join(["", "Refused (every reason):"] + refused))
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
