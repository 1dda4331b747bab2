"""Mutants of a model: where its exact weights are, which single-entry changes to try, and the changed model.

:func:`weight_sites` lists every weight tensor by the name :meth:`Construction.weights` gives it;
:func:`sample_mutations` draws entries (half among the nonzero ones, half among the zeros) and an operator of
:data:`OPERATORS` for each; :func:`apply_mutation` builds the construction with that one entry changed. What the
mutants are for is :func:`exactformer.verify.mutate.mutate`.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..core.architecture import Attention, Layer, Loop, RelativeBias, Sublayer, Transformer
from ..core.construction import Construction
from ..core.errors import InputError
from ..core.sparse import SparseRationalMatrix

__all__ = ["OPERATORS", "WeightSite", "Mutation", "weight_sites", "sample_mutations", "apply_mutation"]

#: The mutation operators: each maps an exact weight to its mutated value.
OPERATORS: dict[str, Callable[[Fraction], Fraction]] = {
    "negate": lambda w: -w,
    "zero": lambda w: Fraction(0),
    "+1": lambda w: w + 1,
    "x2": lambda w: 2 * w,
    "+1/7": lambda w: w + Fraction(1, 7),
}


# ------------------------------------------------------------------------------------------------------------------
# where the weights are


@dataclass(frozen=True)
class WeightSite:
    """One weight tensor of a model, named like :meth:`Construction.weights` names it with ``n=None``
    (``embed.W_E``, ``L0.attn.W_Q``, ``loop0.B1.mlp.b_in``, ``unembed.W_U``; ``L0.attn.rel_bias.h0`` for the
    relative-position bias of head 0, indexed by offset)."""

    name: str
    shape: tuple[int, ...]
    nonzero: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class Mutation:
    """One single-entry mutant: ``site[index]`` changed from ``before`` to ``after`` by ``operator``."""

    site: str
    index: tuple[int, ...]
    operator: str
    before: Fraction
    after: Fraction

    def __str__(self) -> str:
        index = ",".join(str(i) for i in self.index)
        return f"{self.site}[{index}] {self.operator}: {self.before} -> {self.after}"


def _layer_slots(model: Transformer) -> list[tuple[str, Layer]]:
    return model.named_layers(None)


def _tensor(model: Transformer, name: str) -> Any:
    """The array (or relative bias) called ``name`` in ``model``."""
    if name == "embed.W_E":
        return model.embedding.W_E
    if name in ("unembed.W_U", "unembed.b_U"):
        return model.readout.W_U if name.endswith("W_U") else model.readout.b_U
    label, kind, param = _split(name)
    layer = dict(_layer_slots(model))[label]
    sub = layer.attention if kind == "attn" else layer.mlp
    assert sub is not None
    if param.startswith("rel_bias.h"):
        assert isinstance(sub.block, Attention) and sub.block.relative_bias is not None
        return sub.block.relative_bias[int(param[len("rel_bias.h"):])]
    return getattr(sub.block, param)


def _split(name: str) -> tuple[str, str, str]:
    parts = name.split(".")
    for k, part in enumerate(parts):
        if part in ("attn", "mlp"):
            return ".".join(parts[:k]), part, ".".join(parts[k + 1 :])
    raise KeyError(f"{name!r} names no weight of a layer")


def _count_nonzero(arr: Any) -> int:
    if isinstance(arr, SparseRationalMatrix):
        return len(arr.values)
    return int(np.count_nonzero(arr != 0))


def weight_sites(model: Transformer) -> list[WeightSite]:
    """Every weight tensor of ``model`` once (a looped block's layers once), with its shape and nonzero count."""
    names = ["embed.W_E"]
    for label, layer in _layer_slots(model):
        if layer.attention is not None:
            att = layer.attention.block
            names += [f"{label}.attn.{p}" for p in att.WEIGHTS]
            for h, bias in enumerate(att.relative_bias or ()):  # type: ignore[union-attr]
                if bias is not None:
                    names.append(f"{label}.attn.rel_bias.h{h}")
        if layer.mlp is not None:
            names += [f"{label}.mlp.{p}" for p in layer.mlp.block.WEIGHTS]
    names += ["unembed.W_U", "unembed.b_U"]
    sites = []
    for name in names:
        t = _tensor(model, name)
        if isinstance(t, RelativeBias):
            offsets = _bias_offsets(t)
            sites.append(WeightSite(name, (len(offsets),), sum(1 for o in offsets if t(o) != 0)))
        else:
            sites.append(WeightSite(name, tuple(t.shape), _count_nonzero(t)))
    return [s for s in sites if s.size]


def _bias_offsets(bias: RelativeBias) -> list[int]:
    """The offsets a relative bias names, and the offsets between them and 0: each is one mutable entry (the
    bias's default applies to the others, so they are the same weight)."""
    listed = sorted(bias.values)
    lo, hi = min([0, *listed]), max([0, *listed])
    return list(range(lo, hi + 1))


def _entry(t: Any, index: tuple[int, ...]) -> Fraction:
    if isinstance(t, RelativeBias):
        return t(_bias_offsets(t)[index[0]])
    if isinstance(t, SparseRationalMatrix):
        hit = np.flatnonzero((t.rows == index[0]) & (t.cols == index[1]))
        return t.values[int(hit[0])] if len(hit) else Fraction(0)
    return Fraction(t[index])


def _nonzero_positions(t: Any) -> np.ndarray | None:
    """The flat indices of the nonzero entries of a dense weight (``None`` for a sparse matrix or a bias)."""
    if isinstance(t, (SparseRationalMatrix, RelativeBias)):
        return None
    return np.flatnonzero(np.asarray(t).reshape(-1) != 0)


def _random_index(site: WeightSite, t: Any, nonzero: bool, rng: random.Random,
                  positions: np.ndarray | None) -> tuple[int, ...] | None:
    """A uniformly random index of a nonzero (or zero) entry of ``t``; ``None`` if there is none. ``positions``
    are the flat indices of a dense ``t``'s nonzero entries (:func:`_nonzero_positions`)."""
    want = site.nonzero if nonzero else site.size - site.nonzero
    if want <= 0:
        return None
    if isinstance(t, SparseRationalMatrix):
        if nonzero:
            k = rng.randrange(len(t.values))
            return int(t.rows[k]), int(t.cols[k])
        taken = set(zip(t.rows.tolist(), t.cols.tolist()))
        while True:  # zeros are the vast majority of a sparse matrix: rejection sampling ends quickly
            ij = (rng.randrange(t.shape[0]), rng.randrange(t.shape[1]))
            if ij not in taken:
                return ij
    if isinstance(t, RelativeBias):
        offsets = _bias_offsets(t)
        pool = [k for k, o in enumerate(offsets) if (t(o) != 0) == nonzero]
        return (rng.choice(pool),)
    assert positions is not None
    if nonzero:
        flat = int(positions[rng.randrange(len(positions))])
    else:  # the k-th zero: skip past the nonzero positions before it (positions are sorted)
        k = rng.randrange(site.size - len(positions))
        lo, hi = 0, len(positions)
        while lo < hi:  # the number m of nonzero positions p with p - (its rank) <= k, by bisection
            mid = (lo + hi) // 2
            if int(positions[mid]) - mid <= k:
                lo = mid + 1
            else:
                hi = mid
        flat = k + lo
    return tuple(int(i) for i in np.unravel_index(flat, t.shape))


def sample_mutations(model: Transformer, count: int, *, seed: int = 0,
                     operators: Sequence[str] = tuple(OPERATORS)) -> list[Mutation]:
    """``count`` distinct single-entry mutations of ``model``: half on nonzero entries, half on zeros (all on one
    kind when the other has no entry), each entry chosen uniformly among the entries of its kind, each operator
    uniformly among those of ``operators`` that change the entry."""
    if count < 0:
        raise InputError(f"the number of mutants must be >= 0, got {count}")
    unknown = [op for op in operators if op not in OPERATORS]
    if unknown:
        raise InputError(f"unknown mutation operator(s) {unknown}; available: {list(OPERATORS)}")
    rng = random.Random(f"mutations:{seed}")
    sites = weight_sites(model)
    tensors = {s.name: _tensor(model, s.name) for s in sites}
    positions = {name: _nonzero_positions(t) for name, t in tensors.items()}
    nonzero_total = sum(s.nonzero for s in sites)
    zero_total = sum(s.size - s.nonzero for s in sites)
    out: list[Mutation] = []
    seen: set[tuple[str, tuple[int, ...], str]] = set()
    attempts = 0
    while len(out) < count and attempts < 50 * count + 100:
        attempts += 1
        on_nonzero = (len(out) % 2 == 0) if (nonzero_total and zero_total) else bool(nonzero_total)
        weights = [s.nonzero if on_nonzero else s.size - s.nonzero for s in sites]
        if not any(weights):
            break
        site = rng.choices(sites, weights=weights)[0]
        index = _random_index(site, tensors[site.name], on_nonzero, rng, positions[site.name])
        if index is None:
            continue
        before = _entry(tensors[site.name], index)
        changing = [op for op in operators if OPERATORS[op](before) != before]
        if not changing:
            continue
        op = rng.choice(changing)
        key = (site.name, index, op)
        if key in seen:
            continue
        seen.add(key)
        out.append(Mutation(site.name, index, op, before, OPERATORS[op](before)))
    return out


# ------------------------------------------------------------------------------------------------------------------
# building a mutant


def _with_entry(t: Any, index: tuple[int, ...], value: Fraction) -> Any:
    if isinstance(t, RelativeBias):
        values = dict(t.values)
        values[_bias_offsets(t)[index[0]]] = value
        return RelativeBias(values, t.default)
    if isinstance(t, SparseRationalMatrix):
        entries = {(int(i), int(j)): v for i, j, v in zip(t.rows, t.cols, t.values)}
        entries[(int(index[0]), int(index[1]))] = value
        return SparseRationalMatrix.from_entries(shape=t.shape, entries=entries)
    arr = t.copy()
    arr[index] = value
    return arr


def _replace_in_layer(layer: Layer, kind: str, param: str, index: tuple[int, ...], value: Fraction) -> Layer:
    sub = layer.attention if kind == "attn" else layer.mlp
    assert sub is not None
    block = sub.block
    if param.startswith("rel_bias.h"):
        assert isinstance(block, Attention) and block.relative_bias is not None
        h = int(param[len("rel_bias.h"):])
        biases = list(block.relative_bias)
        biases[h] = _with_entry(biases[h], index, value)
        new_block: Any = dataclasses.replace(block, relative_bias=tuple(biases))
    else:
        new_block = dataclasses.replace(block, **{param: _with_entry(getattr(block, param), index, value)})
    new_sub: Sublayer = dataclasses.replace(sub, block=new_block)
    if kind == "attn":
        return dataclasses.replace(layer, attention=new_sub)
    return dataclasses.replace(layer, mlp=new_sub)


def apply_mutation(construction: Construction, mutation: Mutation) -> Construction:
    """The construction with one weight entry changed (everything else, encoder and invariants included, shared)."""
    model = construction.model
    name, index, value = mutation.site, mutation.index, mutation.after
    if name == "embed.W_E":
        new_model = dataclasses.replace(
            model, embedding=dataclasses.replace(model.embedding, W_E=_with_entry(model.embedding.W_E, index, value))
        )
    elif name in ("unembed.W_U", "unembed.b_U"):
        param = name.split(".")[1]
        new = _with_entry(getattr(model.readout, param), index, value)
        new_model = dataclasses.replace(model, readout=dataclasses.replace(model.readout, **{param: new}))
    else:
        label, kind, param = _split(name)
        layers, loop, suffix = list(model.layers), model.loop, list(model.suffix)
        if label.startswith("L"):
            k = int(label[1:])
            layers[k] = _replace_in_layer(layers[k], kind, param, index, value)
        elif label.startswith("S"):
            k = int(label[1:])
            suffix[k] = _replace_in_layer(suffix[k], kind, param, index, value)
        else:
            assert loop is not None
            k = int(label.split(".B")[1])
            block = list(loop.block)
            block[k] = _replace_in_layer(block[k], kind, param, index, value)
            loop = Loop(block=tuple(block), count=loop.count)
        new_model = dataclasses.replace(model, layers=tuple(layers), loop=loop, suffix=tuple(suffix))
    return dataclasses.replace(construction, model=new_model)
