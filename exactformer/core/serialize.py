"""Save and load models: safetensors for the weights, JSON metadata for the architecture. No pickle anywhere.

Every exact weight ``name`` is stored losslessly as two int64 tensors ``name.num`` and ``name.den`` (lowest terms,
positive denominators), next to a float64 rendering ``name`` for tools that just want numbers. A weight whose
numerator or denominator does not fit in int64 (the superposition construction's positional constants do not) is
stored as limbs: ``name.num`` then has one more, last axis of ``k`` int64 limbs, ``p = sum_i limb_i * 2**(62 i)``,
every limb carrying the sign of ``p``. A :class:`~exactformer.core.sparse.SparseRationalMatrix` weight stores its
nonzero entries only: ``name.shape`` (rows, cols), ``name.rows`` and ``name.cols`` (one index per entry), and
``name.num``, ``name.den`` and the float64 ``name`` as 1-d lists of its entries. The architecture
(space, vocabulary, positional features, every sublayer's options, loop and readout) is JSON in the safetensors
header's metadata under ``"exactformer"``. :func:`load_model` checks everything (format version, every tensor
present with the right shape, numerators/denominators consistent with the float rendering, every option known)
and raises :class:`~exactformer.core.errors.ModelFormatError` naming the first problem.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .architecture import Embedding, Layer, Loop, Readout, RepeatCount, Sublayer, Transformer
from .arith import check_exact_weight
from .attention import Attention, Mask, RelativeBias, Scale
from .errors import ModelFormatError
from .mlp import MLP, Norm
from .positions import feature_from_json
from .rational import to_float_array
from .space import Space
from .sparse import SparseRationalMatrix

__all__ = ["save_model", "load_model", "model_to_json", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_INT64 = (-(2**63), 2**63 - 1)


def _norm_json(norm: Norm) -> dict[str, Any]:
    return {"kind": norm.kind, "eps": str(norm.eps), "mask": list(norm.mask) if norm.mask is not None else None}


def _norm_from(data: dict[str, Any]) -> Norm:
    mask = data.get("mask")
    return Norm(kind=data["kind"], eps=Fraction(data["eps"]), mask=tuple(mask) if mask is not None else None)


def _sublayer_json(sub: Sublayer, prefix: str, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    block = sub.block
    out: dict[str, Any] = {
        "input_norm": _norm_json(sub.input_norm),
        "residual": sub.residual,
        "output_norm": _norm_json(sub.output_norm),
    }
    if isinstance(block, Attention):
        s = block.scale
        out["attention"] = {
            "kind": block.kind,
            "scale": {"coefficient": str(s.coefficient), "sqrt_of": str(s.sqrt_of), "log_length": s.log_length},
            "mask": {"kind": block.mask.kind, "width": block.mask.width},
            "tie_rule": block.tie_rule,
            "relative_bias": None
            if block.relative_bias is None
            else [
                None
                if b is None
                else {"values": {str(k): str(v) for k, v in b.values.items()}, "default": str(b.default)}
                for b in block.relative_bias
            ],
        }
    else:
        out["mlp"] = {"activation": block.activation, "threshold": str(block.threshold)}
    for name in block.WEIGHTS:
        tensors[f"{prefix}.{name}"] = getattr(block, name)
    return out


def _layers_json(layers: tuple[Layer, ...], prefix: str, tensors: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    out = []
    for k, layer in enumerate(layers):
        entry: dict[str, Any] = {"name": layer.name}
        for kind, sub in layer.sublayers():
            entry[kind] = _sublayer_json(sub, f"{prefix}{k}.{kind}", tensors)
        out.append(entry)
    return out


def model_to_json(model: Transformer) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The architecture as JSON-ready data and the exact tensors by storage name."""
    tensors: dict[str, Any] = {"embed.W_E": model.embedding.W_E, "unembed.W_U": model.readout.W_U,
                               "unembed.b_U": model.readout.b_U}
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "space": list(model.space.names),
        "vocab": list(model.embedding.vocab),
        "positional": [{"coordinate": c, "feature": f.to_json()} for c, f in model.embedding.positional],
        "layers": _layers_json(model.layers, "layers.L", tensors),
        "loop": None,
        "suffix": _layers_json(model.suffix, "suffix.S", tensors),
        "readout": {
            "labels": list(model.readout.labels),
            "position": model.readout.position,
            "decision": model.readout.decision,
        },
        "max_length": model.max_length,
    }
    if model.loop is not None:
        c = model.loop.count
        meta["loop"] = {
            "count": {"function": c.function, "multiplier": c.multiplier, "offset": c.offset,
                      "extra_tokens": c.extra_tokens},
            "block": _layers_json(model.loop.block, "loop.B", tensors),
        }
    return meta, tensors


_LIMB_BITS = 62


def _integers_to_tensor(values: list[int], shape: tuple[int, ...]) -> torch.Tensor:
    """int64 tensor of ``shape`` when every value fits, else ``shape + (k,)`` signed base-2**62 limbs."""
    if all(_INT64[0] <= v <= _INT64[1] for v in values):
        return torch.tensor(values, dtype=torch.int64).reshape(shape)
    k = max(abs(v).bit_length() for v in values) // _LIMB_BITS + 1
    mask = (1 << _LIMB_BITS) - 1
    limbs = [[(-1 if v < 0 else 1) * ((abs(v) >> (_LIMB_BITS * i)) & mask) for i in range(k)] for v in values]
    return torch.tensor(limbs, dtype=torch.int64).reshape(*shape, k)


def _tensor_to_integers(tensor: torch.Tensor, shape: tuple[int, ...], name: str) -> list[int]:
    """Inverse of :func:`_integers_to_tensor` (plain or limbs), refusing any other shape or mixed-sign limbs."""
    if tuple(tensor.shape) == shape:
        return tensor.reshape(-1).tolist()
    if tensor.dim() == len(shape) + 1 and tuple(tensor.shape[:-1]) == shape and tensor.shape[-1] >= 1:
        out = []
        for limbs in tensor.reshape(-1, tensor.shape[-1]).tolist():
            if any(x < 0 for x in limbs) and any(x > 0 for x in limbs):
                raise ModelFormatError(f"{name}: limbs of one integer carry different signs")
            if any(abs(x) >> _LIMB_BITS for x in limbs):
                raise ModelFormatError(f"{name}: a limb exceeds 2**{_LIMB_BITS}")
            out.append(sum(x << (_LIMB_BITS * i) for i, x in enumerate(limbs)))  # shifts keep the sign
        return out
    raise ModelFormatError(f"{name}: shape {tuple(tensor.shape)} is neither {shape} nor {shape} plus a limb axis")


def save_model(model: Transformer, path: str | Path, *, extra_metadata: dict[str, str] | None = None) -> Path:
    """Write ``model`` to a safetensors file (exact weights as int64 numerator/denominator pairs, or limbs).

    Raises
    ------
    NonFiniteError
        For a weight entry that is a NaN or an infinity (named by its storage name and index).
    ModelFormatError
        For any other entry that is not an exact rational.
    """
    meta, exact = model_to_json(model)
    tensors: dict[str, torch.Tensor] = {}
    for name, arr in exact.items():
        check_exact_weight(name, arr, "save_model")  # a NaN: NonFiniteError naming it (not fractions' ValueError)
        if isinstance(arr, SparseRationalMatrix):
            tensors[f"{name}.shape"] = torch.tensor(arr.shape, dtype=torch.int64)
            tensors[f"{name}.rows"] = torch.from_numpy(arr.rows.copy())
            tensors[f"{name}.cols"] = torch.from_numpy(arr.cols.copy())
            values = list(arr.values)
            floats, shape = torch.from_numpy(arr.float_values()), (arr.nnz,)
        else:
            values = [Fraction(v) for v in arr.flat]
            floats, shape = torch.from_numpy(to_float_array(arr)), arr.shape
        tensors[f"{name}.num"] = _integers_to_tensor([v.numerator for v in values], shape)
        tensors[f"{name}.den"] = _integers_to_tensor([v.denominator for v in values], shape)
        tensors[name] = floats
    metadata = {"exactformer": json.dumps(meta, sort_keys=True)}
    metadata.update(extra_metadata or {})
    path = Path(path)
    save_file(tensors, str(path), metadata=metadata)
    return path


def _exact(tensors: dict[str, torch.Tensor], name: str) -> Any:
    """The exact weight ``name``: a rational array or a :class:`SparseRationalMatrix` (typed ``Any``: the
    architecture's constructors check which form each weight may take)."""
    for key in (f"{name}.num", f"{name}.den", name):
        if key not in tensors:
            raise ModelFormatError(f"the file has no tensor {key!r}")
    nums, dens, floats = (tensors[k] for k in (f"{name}.num", f"{name}.den", name))
    if nums.dtype != torch.int64 or dens.dtype != torch.int64:
        raise ModelFormatError(f"{name}: numerators and denominators must be int64")
    shape = tuple(floats.shape)
    numerators = _tensor_to_integers(nums, shape, f"{name}.num")
    denominators = _tensor_to_integers(dens, shape, f"{name}.den")
    if any(q <= 0 for q in denominators):
        raise ModelFormatError(f"{name}: a denominator is not positive")
    out = np.empty(shape, dtype=object)
    for index, (p, q) in enumerate(zip(numerators, denominators)):
        out.flat[index] = Fraction(p, q)
    if not np.array_equal(to_float_array(out), floats.to(torch.float64).numpy()):
        raise ModelFormatError(f"{name}: the float64 rendering does not match the exact weights")
    if f"{name}.shape" in tensors:
        return _sparse(tensors, name, out)
    return out


def _is_sparse(arr: object) -> bool:
    return isinstance(arr, SparseRationalMatrix)


def _sparse(tensors: dict[str, torch.Tensor], name: str, values: np.ndarray) -> SparseRationalMatrix:
    """The sparse weight ``name``: ``name.shape`` (rows, cols), ``name.rows`` and ``name.cols`` (one index per stored
    entry) and the entries ``values`` read by :func:`_exact`."""
    parts = {}
    for part in ("shape", "rows", "cols"):
        key = f"{name}.{part}"
        if key not in tensors:
            raise ModelFormatError(f"the file has no tensor {key!r}")
        tensor = tensors[key]
        if tensor.dtype != torch.int64 or tensor.dim() != 1:
            raise ModelFormatError(f"{key}: must be a 1-d int64 tensor")
        parts[part] = tensor.numpy()
    if len(parts["shape"]) != 2 or values.ndim != 1:
        raise ModelFormatError(f"{name}: a sparse weight has a shape of 2 sizes and a 1-d list of entries")
    try:
        return SparseRationalMatrix(shape=tuple(parts["shape"]), rows=parts["rows"], cols=parts["cols"],
                                    values=values)
    except ValueError as exc:
        raise ModelFormatError(f"{name}: {exc}") from None


def _sublayer_from(data: dict[str, Any], prefix: str, tensors: dict[str, torch.Tensor]) -> Sublayer:
    if "attention" in data:
        a = data["attention"]
        w = {n: _exact(tensors, f"{prefix}.{n}") for n in Attention.WEIGHTS}
        rb = a.get("relative_bias")
        block: Attention | MLP = Attention(
            **w,
            kind=a["kind"],
            scale=Scale(Fraction(a["scale"]["coefficient"]), Fraction(a["scale"]["sqrt_of"]),
                        bool(a["scale"]["log_length"])),
            mask=Mask(a["mask"]["kind"], a["mask"]["width"]),
            tie_rule=a["tie_rule"],
            relative_bias=None
            if rb is None
            else tuple(
                None if b is None else RelativeBias({int(k): Fraction(v) for k, v in b["values"].items()},
                                                    Fraction(b["default"]))
                for b in rb
            ),
        )
    else:
        m = data["mlp"]
        w = {n: _exact(tensors, f"{prefix}.{n}") for n in MLP.WEIGHTS}
        block = MLP(**w, activation=m["activation"], threshold=Fraction(m["threshold"]))
    return Sublayer(block, _norm_from(data["input_norm"]), bool(data["residual"]), _norm_from(data["output_norm"]))


def _layers_from(data: list[dict[str, Any]], prefix: str, tensors: dict[str, torch.Tensor]) -> tuple[Layer, ...]:
    layers = []
    for k, entry in enumerate(data):
        subs = {kind: _sublayer_from(entry[kind], f"{prefix}{k}.{kind}", tensors) for kind in ("attn", "mlp")
                if entry.get(kind) is not None}
        layers.append(Layer(attention=subs.get("attn"), mlp=subs.get("mlp"), name=entry.get("name", "")))
    return tuple(layers)


def _max_length(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelFormatError(f"max_length must be a positive integer or null, found {value!r}")
    return value


def load_model(path: str | Path) -> Transformer:
    """Read a model written by :func:`save_model`, validating every shape and option.

    Raises
    ------
    ModelFormatError
        For a missing, truncated, malformed or inconsistent file, naming what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"no model file at {path}")
    try:
        tensors = load_file(str(path))
        with open(path, "rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(header_len))
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path} is not a readable safetensors file: {exc}") from None
    raw = (header.get("__metadata__") or {}).get("exactformer")
    if raw is None:
        raise ModelFormatError(f"{path} has no exactformer metadata: it was not written by save_model")
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise ModelFormatError(f"{path}: the exactformer metadata must be a JSON object, found "
                                   f"{type(meta).__name__}")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelFormatError(f"unsupported format version {meta.get('format_version')!r}")
        space = Space.from_names(meta["space"])
        embedding = Embedding(
            W_E=_exact(tensors, "embed.W_E"),
            vocab=tuple(meta["vocab"]),
            positional=tuple((p["coordinate"], feature_from_json(p["feature"])) for p in meta["positional"]),
        )
        r = meta["readout"]
        readout = Readout(W_U=_exact(tensors, "unembed.W_U"), b_U=_exact(tensors, "unembed.b_U"),
                          labels=tuple(r["labels"]), position=int(r["position"]), decision=r["decision"])
        loop = None
        if meta["loop"] is not None:
            c = meta["loop"]["count"]
            loop = Loop(block=_layers_from(meta["loop"]["block"], "loop.B", tensors),
                        count=RepeatCount(c["function"], int(c["multiplier"]), int(c["offset"]),
                                          int(c.get("extra_tokens", 0))))
        model = Transformer(
            space=space,
            embedding=embedding,
            layers=_layers_from(meta["layers"], "layers.L", tensors),
            readout=readout,
            loop=loop,
            suffix=_layers_from(meta["suffix"], "suffix.S", tensors),
            max_length=_max_length(meta["max_length"]),
        )
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ModelFormatError(f"{path}: malformed exactformer metadata ({type(exc).__name__}: {exc})") from None
    expected = {f"{name}{suffix}" for name, arr in model_to_json(model)[1].items()
                for suffix in ("", ".num", ".den") + ((".shape", ".rows", ".cols") if _is_sparse(arr) else ())}
    unexpected = sorted(set(tensors) - expected)
    if unexpected:
        raise ModelFormatError(f"{path} holds tensors the architecture does not use: {unexpected[:5]}")
    return model
