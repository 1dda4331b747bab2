"""What every arithmetic offers the forward pass, and what a pass records.

An :class:`Arithmetic` computes the transformer's operations (embedding, norms, MLPs, attention of some queries
over some keys) in one kind of number; :func:`exactformer.core.forward.forward` calls them in the architecture's
order. A pass records a :class:`Trace` (every residual stream) and the :class:`Decision` s it made.

Arrays are ``[batch, position, coordinate]`` in every arithmetic.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Union

import numpy as np
import torch

from ..architecture import MLP, Attention, Norm, Transformer
from ..errors import ModelFormatError, NonFiniteError
from ..rational import _not_shared_zero
from ..sites import Site
from ..sparse import SparseRationalMatrix

__all__ = ["Item", "Decision", "Trace", "Arithmetic", "named_weights", "check_exact_weight"]

#: One input position: a token of the vocabulary, or a vector of the residual space (a continuous input).
Item = Union[str, np.ndarray, torch.Tensor, Sequence[Any]]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class Decision:
    """A discrete choice the forward pass made, and whether it is certain.

    ``where`` names the sublayer (``"L1.attn"``), ``what`` the choice (``"argmax head 0, query 3"``).
    Exact arithmetic certifies every decision; certified arithmetic certifies a decision when the intervals
    separate; torch certifies none (floats carry no error bound).
    """

    where: str
    what: str
    certified: bool
    margin: float | None = None


@dataclass
class Trace:
    """Every intermediate residual stream of one forward pass, by label (``"embed"``, ``"L0.attn"``, ...)."""

    space_names: tuple[str, ...]
    labels: list[str] = field(default_factory=list)
    residuals: list[Any] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    #: the residuals recorded at some positions only (``forward(..., queries=..., full_trace=True)``): by label,
    #: ``(sequence length, the positions held, in row order)``
    partial: dict[str, tuple[int, tuple[int, ...]]] = field(default_factory=dict)

    def record(self, label: str, x: Any, partial: tuple[int, tuple[int, ...]] | None = None) -> None:
        self.labels.append(label)
        self.residuals.append(x)
        if partial is not None:
            self.partial[label] = partial

    def rows(self, site: str | Site, positions: Sequence[int] | None) -> list[int] | None:
        """The rows of the residual after ``site`` that hold ``positions`` (negatives from the end; ``None``: every
        position, returned as ``None``). For a residual recorded at some positions only, a position it does not
        hold raises ``KeyError``."""
        label = site.label if isinstance(site, Site) else site
        label = self.labels[-1] if label == "final" and self.labels else label
        held = self.partial.get(label)
        if held is None:
            return None if positions is None else list(positions)
        length, kept = held
        wanted = range(length) if positions is None else [p % length for p in positions]
        missing = [p for p in wanted if p not in kept]
        if missing:
            raise KeyError(f"the residual {label!r} holds positions {list(kept)} only, not {missing}")
        return [kept.index(p) for p in wanted]

    def __getitem__(self, site: str | Site) -> Any:
        """The residual after ``site``: a :class:`~exactformer.core.sites.Site` or its trace label (``"final"`` is
        the last one recorded)."""
        label = site.label if isinstance(site, Site) else site
        if label == "final" and self.residuals:
            return self.residuals[-1]
        try:
            return self.residuals[self.labels.index(label)]
        except ValueError:
            raise KeyError(f"no residual {label!r} in this trace (have: {', '.join(self.labels)})") from None

    @property
    def sites(self) -> list[Site]:
        """The recorded residual streams as structured sites, in order."""
        return [Site.parse(label) for label in self.labels]

    @property
    def final(self) -> Any:
        return self.residuals[-1]

    def named(self, label: str | Site, batch: int = 0, position: int = -1) -> dict[str, Any]:
        """The residual after ``label`` at one position, as ``{coordinate name: value}``."""
        row = self[label][batch][position]
        if isinstance(row, torch.Tensor):
            row = row.detach().cpu().tolist()
        return dict(zip(self.space_names, list(row)))

    @property
    def certified(self) -> bool:
        """Whether every recorded decision is certified."""
        return all(d.certified for d in self.decisions)


def named_weights(model: Transformer) -> list[tuple[str, Any]]:
    """Every distinct weight array of ``model`` with the name the evaluators' errors use for it.

    Names follow the trace labels: ``"embed.W_E"``, ``"L0.attn.W_Q"``, ``"loop0.B1.mlp.b_in"`` (a looped block is
    listed once, as its first repetition), ``"S0.mlp.W_out"``, ``"readout.W_U"``, ``"readout.b_U"``. An array
    shared by several sublayers is listed once, under its first name.
    """
    out: list[tuple[str, Any]] = [("embed.W_E", model.embedding.W_E)]
    for label, layer in model.named_layers(None):
        for kind, sub in layer.sublayers():
            out += [(f"{label}.{kind}.{name}", getattr(sub.block, name)) for name in sub.block.WEIGHTS]
    out += [("readout.W_U", model.readout.W_U), ("readout.b_U", model.readout.b_U)]
    seen: set[int] = set()
    unique = []
    for name, arr in out:
        if id(arr) not in seen:
            seen.add(id(arr))
            unique.append((name, arr))
    return unique


def _entry_index(arr: Any, flat_index: int) -> tuple[int, ...]:
    """The index of the ``flat_index``-th entry of a weight (the ``k``-th stored entry of a sparse matrix)."""
    if isinstance(arr, SparseRationalMatrix):
        return int(arr.rows[flat_index]), int(arr.cols[flat_index])
    return tuple(int(i) for i in np.unravel_index(flat_index, arr.shape))


def _is_finite_number(v: Any) -> bool:
    """Whether ``v`` (an entry of a weight or an input) is not a float NaN or infinity."""
    if isinstance(v, (float, np.floating)):
        return math.isfinite(float(v))
    if isinstance(v, torch.Tensor):
        return bool(torch.isfinite(v).all())
    return True


def check_exact_weight(name: str, arr: Any, user: str = "the exact evaluator") -> None:
    """Refuse a weight with an entry that is not an exact rational (a Fraction, or an int).

    Parameters
    ----------
    name
        The weight's name, for the message (e.g. ``"L0.attn.W_Q"``).
    arr
        A rational array or a :class:`~exactformer.core.sparse.SparseRationalMatrix`.
    user
        Who needs exact entries, for the message (``"the certified evaluator"``, ``"save_model"``).

    Raises
    ------
    NonFiniteError
        For a float NaN or infinity, naming the weight and the entry's index.
    ModelFormatError
        For any other entry that is not an exact rational (a finite float, ``None``...).
    """
    if isinstance(arr, SparseRationalMatrix):
        values = arr.values
        flat_indices = None
    else:
        flat = np.asarray(arr, dtype=object).reshape(-1)
        flat_indices = _not_shared_zero(flat)
        values = flat[flat_indices]
    if all(isinstance(v, Fraction) for v in values):
        return
    for k, v in enumerate(values):
        if isinstance(v, numbers.Rational) and not isinstance(v, bool):
            continue
        index = _entry_index(arr, k if flat_indices is None else int(flat_indices[k]))
        where = f"weight {name}{list(index)}"
        if not _is_finite_number(v):
            raise NonFiniteError(f"{where} is {v!r}: a NaN or an infinity is not an exact rational, which {user} "
                                 "needs")
        raise ModelFormatError(f"{where} is {v!r} ({type(v).__name__}), not an exact rational, which {user} "
                               "needs (write it as a Fraction or a string like '1/3')")


class Arithmetic(ABC):
    """The operations :func:`~exactformer.core.forward.forward` needs; each subclass computes in one kind of
    number."""

    name = "abstract"

    def __init__(self) -> None:
        self.trace: Trace | None = None

    # -- the weights ----------------------------------------------------------------------------------------
    def check_weights(self, model: Transformer) -> None:
        """Refuse a model with a weight this arithmetic cannot compute with: every runner calls this before its
        first sublayer.

        A weight holding a NaN or an infinity raises :class:`NonFiniteError`, and (exact and certified) an entry
        that is not an exact rational raises :class:`ModelFormatError`, each naming the weight (see
        :func:`named_weights`) and the entry's index. Weights are rational arrays built from exact numbers, which
        refuse floats; such an entry can only come from writing into an array after the model was built. Each array
        is looked at once per arithmetic (as :meth:`TorchArithmetic.weights` renders it once).
        """
        checked: dict[int, Any] = self.__dict__.setdefault("_checked_weights", {})
        if checked.get(id(model)) is model:
            return
        for name, arr in named_weights(model):
            if checked.get(id(arr)) is not arr:
                self._check_weight(name, arr)
                checked[id(arr)] = arr
        checked[id(model)] = model

    def _check_weight(self, name: str, arr: Any) -> None:  # noqa: B027 (each arithmetic says what it can take)
        """Raise if the weight ``name`` holds an entry this arithmetic cannot compute with."""

    # -- set-up ---------------------------------------------------------------------------------------------
    @abstractmethod
    def embed(self, model: Transformer, inputs: Sequence[Sequence[Item]], start: int = 0) -> Any:
        """The embedded inputs ``[batch, position, d_model]``, as the positions ``start, start + 1, ...`` of a
        sequence of ``start + len(inputs[0])`` tokens (``start > 0``: new tokens after cached ones)."""

    def positions(self, start: int, stop: int) -> Any:
        """The positions ``start, ..., stop - 1`` as this arithmetic indexes them (a numpy range; torch: a tensor)."""
        return np.arange(start, stop)

    def decide(self, where: str, what: str, certified: bool, margin: float | None = None) -> None:
        if self.trace is not None:
            self.trace.decisions.append(Decision(where, what, certified, margin))

    # -- the sublayers -------------------------------------------------------------------------------------
    def add(self, a: Any, b: Any) -> Any:
        return a + b

    @abstractmethod
    def norm(self, x: Any, norm: Norm, model: Transformer, where: str) -> Any:
        """``norm`` of every row of ``x`` (see :func:`~exactformer.core.attention_rules.norm_parts`)."""

    @abstractmethod
    def mlp(self, x: Any, mlp: MLP, where: str) -> Any:
        """``act(x W_in + b_in) W_out + b_out``, row by row."""

    @abstractmethod
    def attend(self, xq: Any, xk: Any, query_pos: Any, key_pos: Any, att: Attention, length: int, where: str) -> Any:
        """Attention of the queries at ``query_pos`` (rows of ``xq``) over the keys at ``key_pos`` (rows of
        ``xk``) in a sequence of ``length`` tokens: ``[batch, len(query_pos), d_model]``, ``b_O`` included.

        The keys a query sees are :func:`~exactformer.core.attention_rules.allowed`; hard and average-hard
        attention read :func:`~exactformer.core.attention_rules.chosen_keys`.
        """

    def check(self, x: Any, where: str) -> None:  # noqa: B027 (exact values cannot be NaN; torch overrides)
        """Raise :class:`NonFiniteError` if ``x`` holds a NaN or an infinity (only floats can)."""
