"""The MLRegTest conformance of the pointer-jumping recognizer, as a corpus task (``configs/mlregtest.toml``).

Each entry is a language of MLRegTest's ``counts.tsv`` (the 330 complement languages are built as
``DFA.complement()`` of their base's ``.att`` file). A language whose transition monoid has more than
``max_monoid`` elements is skipped; the others are compiled with ``pointer_jumping_recognizer`` and answer
``samples`` words per length (half accepted, half rejected where both exist, drawn by the DFA's exact uniform sampler
from ``random.Random(seed)``) at every length of ``lengths``, in torch float64 on one thread, against
``DFA.accepts``.

The rendered table has the columns and line format of ``scripts/results/log_depth_mlregtest.txt``.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...languages import data_dir
from . import Task, provenance

#: The MLRegTest automata: the ``mlregtest`` folder of the external data (:func:`exactformer.languages.data_dir`).
DATA = data_dir() / "mlregtest"
LENGTHS = (*range(1, 33), 64, 128)
COMPLEMENTS = {"coSL": "SL", "coSP": "SP", "TcoSL": "TSL"}
HEADER = f"{'language':24} {'|Q|':>4} {'|M|':>5} {'code':8} {'units':>8} {'words':>6} {'result':10} {'s':>6}"


def _data(data: str | None) -> Path:
    path = Path(data) if data else DATA
    if not (path / "counts.tsv").exists():
        raise ValueError(f"no MLRegTest data at {path} (counts.tsv missing); set the 'data' parameter")
    return path


def languages(data: Path) -> list[tuple[str, Path, bool]]:
    """(name, att file, complement?) for every language of counts.tsv, in its order."""
    out = []
    with open(data / "counts.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            cls = row["Class"]
            base = COMPLEMENTS.get(cls, cls)
            name = ".".join([row["Alph"], row["Tier"], cls, row["k"], row["j"], row["i"]])
            stem = ".".join([row["Alph"], row["Tier"], base, row["k"], row["j"], row["i"]])
            out.append((name, data / "att_format" / (stem + ".att"), cls in COMPLEMENTS))
    return out


def words_for(dfa: Any, length: int, count: int, rng: random.Random) -> list:
    """Up to ``count`` words of ``length``: half accepted and half rejected where both exist."""
    acc, rej = dfa.count(length, accepted=True), dfa.count(length, accepted=False)
    n_acc = min(acc, count // 2 if rej else count)
    n_rej = min(rej, count - n_acc)
    return [dfa.sample(length, accepted=True, rng=rng) for _ in range(n_acc)] + [
        dfa.sample(length, accepted=False, rng=rng) for _ in range(n_rej)
    ]


def words_per_pass(length: int, d_model: int) -> int:
    """Words of ``length`` letters in one forward pass: as many as keep the float64 residual stream within
    :data:`~exactformer.core.arith.torch_fast.RESIDUAL_BUDGET` bytes (at least 1, at most 512).

    The recognizers of large monoids are thousands of coordinates wide and every sublayer passes over the whole
    stream, so a batch that outgrows the cache runs at memory speed: on ``04.04.LTT.6.2.9`` (d_model 6,851) the
    cell took 130.6 CPU s in passes of up to 512 words and 71.7 s within 4 MB (d_model 767: 13.4 -> 8.3 s; d_model
    85: 1.4 -> 1.2 s), the same answers.
    """
    from ...core.arith.torch_fast import RESIDUAL_BUDGET

    return max(1, min(512, RESIDUAL_BUDGET // ((length + 1) * d_model * 8)))


def check_language(dfa: Any, samples: int, lengths: Sequence[int], seed: int) -> tuple[int, int, str]:
    """(words tested, disagreements, first disagreement or '') of the recognizer against ``dfa.accepts``."""
    import torch

    from ...constructions.pointer_jumping import pointer_jumping_recognizer
    from ...core.arith import arithmetic_for

    c = pointer_jumping_recognizer(dfa)
    arith = arithmetic_for("torch", dtype=torch.float64)  # the weights rendered once per language
    rng = random.Random(seed)
    tested, bad, first = 0, 0, ""
    for n in lengths:
        words = words_for(dfa, n, samples, rng)
        size = words_per_pass(n, c.model.d_model)
        for start in range(0, len(words), size):
            batch = words[start : start + size]
            for w, answer in zip(batch, c.answer_batch(batch, arith=arith)):
                tested += 1
                if answer != dfa.accepts(w):
                    bad += 1
                    first = first or f"{w!r}: model {answer}, DFA {dfa.accepts(w)}"
    return tested, bad, first


def entries(data: str | None = None, match: str = "", limit: int = 0, every: int = 1, **_: Any) -> list[str]:
    """The names of the languages of ``counts.tsv`` containing ``match``: every ``every``-th one, the first ``limit``
    of those (0: all)."""
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"'every' must be a positive integer, not {every!r}")
    names = [name for name, _, _ in languages(_data(data)) if match in name][::every]
    return names[:limit] if limit else names


def run(entries: list[str], data: str | None = None, samples: int = 100, max_monoid: int = 1000,
        lengths: Sequence[int] = LENGTHS, seed: int = 0) -> dict[str, Any]:
    """Check the recognizer of each language of ``entries``; one record per language."""
    import torch

    from ...constructions.monoid_composition import choose_code
    from ...languages.dfa import DFA
    from ...languages.errors import LanguagesError

    torch.set_num_threads(1)

    files = {name: (path, complement) for name, path, complement in languages(_data(data))}
    records = []
    for name in entries:
        t0 = time.perf_counter()
        path, complement = files[name]
        record: dict[str, Any] = {"language": name}
        if not path.exists():
            records.append({**record, "status": "missing", "file": path.name})
            continue
        dfa = DFA.from_att(path)
        if complement:
            dfa = dfa.complement()
        try:
            monoid = dfa.transition_monoid(max_size=max_monoid)
        except LanguagesError:
            records.append({**record, "status": "skipped", "max_monoid": max_monoid})
            continue
        code = choose_code(dfa)
        tested, bad, first = check_language(dfa, samples, lengths, seed)
        records.append({**record, "status": "ok" if bad == 0 else "FAIL", "states": len(monoid.states),
                        "monoid": len(monoid), "code": code.kind, "units": code.width(), "words": tested,
                        "wrong": bad, "first": first, "seconds": round(time.perf_counter() - t0, 1)})
    figures = {key: sum(r["status"] == key for r in records) for key in ("ok", "FAIL", "skipped", "missing")}
    figures["words"] = sum(r.get("words", 0) for r in records)
    return {"languages": records, "figures": figures}


def line(record: dict[str, Any]) -> str:
    """A language's line in the format of ``scripts/results/log_depth_mlregtest.txt``."""
    name = record["language"]
    if record["status"] == "missing":
        return f"{name:24} missing {record['file']}"
    if record["status"] == "skipped":
        return f"{name:24} {'':>4} {'>' + str(record['max_monoid']):>5} skipped (monoid larger than --max-monoid)"
    described = f"{name:24} {record['states']:>4} {record['monoid']:>5} {record['code']:8} {record['units']:>8}"
    result = "ok" if record["wrong"] == 0 else f"{record['wrong']} FAIL"
    first = f"  first: {record['first']}" if record["first"] else ""
    return f"{described} {record['words']:>6} {result:10} {record['seconds']:6.1f}{first}"


def render(cells: list[Any]) -> str:
    """The tally, where the cells came from (:func:`~exactformer.sweep.tasks.provenance`), the header and one line
    per language (sorted by name) of the stored cells."""
    records = sorted((r for c in cells for r in c.result["languages"]), key=lambda r: r["language"])
    tally = {key: sum(r["status"] == key for r in records) for key in ("ok", "FAIL", "skipped", "missing")}
    summary = "# store: " + ", ".join(f"{k}: {v}" for k, v in tally.items()) + f" ({len(records)} languages)"
    return "\n".join([summary, provenance(cells, "configs/mlregtest.toml"), HEADER, *(line(r) for r in records)])


def _validate(**params: Any) -> None:
    _data(params.get("data"))


MLREGTEST = Task(run=run, entries=entries, validate=_validate, render=render, name="mlregtest",
                 params=frozenset({"data", "samples", "max_monoid", "lengths", "seed"}))
