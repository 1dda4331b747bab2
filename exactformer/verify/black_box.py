"""Black-box models: anything that answers words, checked by its answers alone.

A *black box* is a model the verifier can only ask: a plain Python function, a torch module (a trained
``HookedTransformer``, say) or a construction whose internals are ignored. :func:`as_black_box` wraps each of them
as a :class:`BlackBox`, whose :meth:`BlackBox.answers` runs a batch of words and returns one answer per word;
:func:`check_black_box` (what :func:`~exactformer.verify.check` does when its first argument is not a
construction) compares those answers with a reference and returns the usual :class:`~exactformer.verify.Report`,
marked ``black_box`` (answers only: no invariants, no resource claims, no diagnosis inside the model).

What a model may return for one word:

* a ``bool`` (or numpy bool): the decision;
* a float logit (a Python or numpy float, or a one-element tensor): positive accepts, negative rejects; a logit of
  exactly 0 decides nothing and is an error, as is NaN;
* where the reference's answers are not booleans (e.g. a symbol), an answer of the same type, compared with ``==``.

Anything else (``None``, an ``int``, a list, a string where a decision is wanted) is refused with a
:class:`BlackBoxError` naming the word and the value; so is a model that raises (the error names the word and
chains the model's exception). The one exception the caller may ask to be treated otherwise is
:class:`~exactformer.core.errors.InputError`, the library's "outside the model's domain" (a construction's empty
word): :class:`BlackBox` marks such a word :data:`OUTSIDE_DOMAIN` when ``domain_errors=True``.

The torch adapter (:func:`torch_black_box`) documents the tokenisation and readout: each symbol becomes a token id
(``tokens``; by default its index in the alphabet), optional ``bos`` and ``eos`` ids go around the word, the module
is called on a ``[batch, positions]`` ``long`` tensor of equally long words, and ``readout`` turns its output into
answers (by default: the last position's logits; one column is a sign logit, two columns an argmax with column 1 =
accept).
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.arith import arithmetic_for
from ..core.errors import ExactformerError, InputError
from .reference import as_reference
from .report import Failure, LengthReport, Report

__all__ = ["BlackBox", "BlackBoxError", "OUTSIDE_DOMAIN", "as_black_box", "torch_black_box", "is_black_box",
           "check_black_box", "render"]

Word = Any  # a str of one-character symbols, or a tuple of symbols


class BlackBoxError(ExactformerError, ValueError):
    """A black-box model raised on a word, or returned something that is not an answer; the message names both."""


class _OutsideDomain:
    def __repr__(self) -> str:
        return "OUTSIDE_DOMAIN"


#: The answer recorded for a word the model refuses with :class:`~exactformer.core.errors.InputError`.
OUTSIDE_DOMAIN: Any = _OutsideDomain()


def render(word: Sequence[Any]) -> Word:
    """A word as models take it: a ``str`` when every symbol is a one-character string, else a tuple."""
    symbols = tuple(word)
    return "".join(symbols) if all(isinstance(s, str) and len(s) == 1 for s in symbols) else symbols


def decision(value: Any, word: Any, name: str, *, boolean: bool = True) -> Any:
    """``value`` (one answer of model ``name`` on ``word``) as an answer: a ``bool`` when ``boolean``.

    Raises
    ------
    BlackBoxError
        If ``value`` is not a ``bool``, a float logit that decides (not 0, not NaN), or (``boolean=False``) a
        string.
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise BlackBoxError(f"{name} returned a tensor of shape {tuple(value.shape)} for the word {word!r}: "
                                "give one answer per word (a bool or a float logit)")
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        logit = float(value)
        if math.isnan(logit) or logit == 0:
            raise BlackBoxError(f"{name} returned the logit {logit!r} for the word {word!r}: "
                                f"{'NaN' if math.isnan(logit) else 'a logit of exactly 0'} decides nothing")
        return logit > 0
    if not boolean and isinstance(value, str):
        return value
    wanted = "a bool or a float logit" if boolean else "a bool, a float logit or a label (str)"
    raise BlackBoxError(f"{name} returned {value!r} ({type(value).__name__}) for the word {word!r}: "
                        f"a black-box model must return {wanted}")


@dataclass
class BlackBox:
    """A model known only by its answers.

    Parameters
    ----------
    answer_batch
        Words (each a ``str`` or a tuple of symbols, all of one length) to the model's raw answers, in order.
    name
        How reports and errors name the model.
    domain_errors
        Whether an :class:`~exactformer.core.errors.InputError` from the model marks the word
        :data:`OUTSIDE_DOMAIN` (``True``) or is an error like any other (``False``).
    """

    answer_batch: Callable[[list[Word]], Sequence[Any]]
    name: str = "black box"
    domain_errors: bool = False

    def answers(self, words: Sequence[Word], *, boolean: bool = True) -> list[Any]:
        """The answers to ``words`` (any lengths; run in groups of one length), each checked by :func:`decision`,
        or :data:`OUTSIDE_DOMAIN` for a word refused with ``InputError`` when :attr:`domain_errors`."""
        out: dict[int, Any] = {}
        by_length: dict[int, list[int]] = {}
        for i, w in enumerate(words):
            by_length.setdefault(len(w), []).append(i)
        for indices in by_length.values():
            group = [words[i] for i in indices]
            for i, raw in zip(indices, self._raw(group)):
                out[i] = raw if raw is OUTSIDE_DOMAIN else decision(raw, words[i], self.name, boolean=boolean)
        return [out[i] for i in range(len(words))]

    def _raw(self, group: list[Word]) -> list[Any]:
        try:
            raw = list(self.answer_batch(group))
        except Exception:
            if len(group) == 1:
                return [self._one(group[0])]
            return [self._one(w) for w in group]  # find the word that raised
        if len(raw) != len(group):
            raise BlackBoxError(f"{self.name} returned {len(raw)} answers for {len(group)} words")
        return raw

    def _one(self, word: Word) -> Any:
        try:
            return list(self.answer_batch([word]))[0]
        except InputError as exc:
            if self.domain_errors:
                return OUTSIDE_DOMAIN
            raise BlackBoxError(f"{self.name} refused the word {word!r}: {exc}") from exc
        except Exception as exc:
            raise BlackBoxError(f"{self.name} raised {type(exc).__name__} on the word {word!r}: {exc}") from exc


def _is_construction(model: Any) -> bool:
    return all(hasattr(model, a) for a in ("name", "model", "encode", "run_batch"))


def is_black_box(model: Any) -> bool:
    """Whether ``model`` is checked as a black box: a :class:`BlackBox`, a torch module or a callable that is not a
    construction."""
    return isinstance(model, (BlackBox, torch.nn.Module)) or (callable(model) and not _is_construction(model))


def _construction_answers(construction: Any) -> Callable[[list[Word]], list[Any]]:
    arith = arithmetic_for("torch", dtype=torch.float64)  # one for every batch: the weights are rendered once

    def answer_batch(words: list[Word]) -> list[Any]:
        results = construction.run_batch(list(words), backend="torch", dtype=torch.float64, arith=arith,
                                         keep_trace=False)
        return [r.answer for r in results]

    return answer_batch


def torch_black_box(module: torch.nn.Module, alphabet: Sequence[Any], *, tokens: Mapping[Any, int] | None = None,
                    bos: int | None = None, eos: int | None = None,
                    readout: Callable[[Any], Sequence[Any]] | None = None,
                    device: str | torch.device | None = None, name: str | None = None) -> BlackBox:
    """A torch module (e.g. a trained ``HookedTransformer``) as a :class:`BlackBox`.

    Parameters
    ----------
    module
        Called as ``module(ids)`` on a ``[batch, positions]`` ``long`` tensor, under ``torch.no_grad()``.
    alphabet
        The input symbols.
    tokens
        Symbol to token id; by default a symbol's index in ``alphabet``.
    bos, eos
        Token ids put before and after every word (none by default).
    readout
        The module's output to one answer per word. By default the output is read as logits
        ``[batch, positions, columns]`` at the last position: one column is a sign logit (positive accepts), two
        columns an argmax (column 1 accepts); other widths need a ``readout``.
    """
    ids = dict(tokens) if tokens is not None else {a: i for i, a in enumerate(alphabet)}
    missing = [a for a in alphabet if a not in ids]
    if missing:
        raise InputError(f"tokens gives no id for the symbol(s) {missing}")

    def default_readout(out: Any) -> list[Any]:
        logits = out[:, -1, :] if out.dim() == 3 else out
        if logits.shape[-1] == 1:
            return [float(v) for v in logits[:, 0]]
        if logits.shape[-1] == 2:
            return [bool(v) for v in logits.argmax(dim=-1) == 1]
        raise BlackBoxError(f"the default readout reads 1 column (a sign logit) or 2 (an argmax), the model gives "
                            f"{logits.shape[-1]}: pass readout=")

    def answer_batch(words: list[Word]) -> list[Any]:
        rows = [([bos] if bos is not None else []) + [ids[s] for s in w] + ([eos] if eos is not None else [])
                for w in words]
        batch = torch.tensor(rows, dtype=torch.long, device=device)
        with torch.no_grad():
            return list((readout or default_readout)(module(batch)))

    return BlackBox(answer_batch, name=name or type(module).__name__)


def as_black_box(model: Any, alphabet: Sequence[Any] | None = None, *, name: str | None = None,
                 batched: bool = False, domain_errors: bool = False, **torch_options: Any) -> BlackBox:
    """``model`` as a :class:`BlackBox`.

    ``model`` may be a :class:`BlackBox` (returned as is), a construction (run in torch float64, its answers only),
    a torch module (through :func:`torch_black_box`, which takes ``alphabet`` and ``torch_options``), or a callable
    taking one word (``batched=True``: a list of words, returning a list of answers).
    """
    if isinstance(model, BlackBox):
        return model
    if _is_construction(model):
        return BlackBox(_construction_answers(model), name=name or model.name, domain_errors=domain_errors)
    if isinstance(model, torch.nn.Module):
        if alphabet is None:
            raise InputError("a torch module needs the alphabet (its tokenisation: symbol i -> token id i)")
        box = torch_black_box(model, alphabet, name=name, **torch_options)
        box.domain_errors = domain_errors
        return box
    if torch_options:
        raise TypeError(f"{sorted(torch_options)} apply to torch modules only")
    if not callable(model):
        raise TypeError(f"a black-box model must be callable (a function of a word, or a torch module), got "
                        f"{type(model).__name__}")
    label = str(name or getattr(model, "__name__", type(model).__name__))
    one = model if batched else (lambda words: [model(w) for w in words])
    return BlackBox(one, name=label, domain_errors=domain_errors)


def check_black_box(model: Any, reference: Any, *, lengths: Sequence[int], samples_per_length: int,
                    exhaustive_up_to: int, seed: int, batch_size: int, shrink: bool) -> Report:
    """:func:`~exactformer.verify.check` for a black box: the reference's inputs at every size, the model's answers
    compared with ``==``, wrong answers shrunk while the model still errs on them; ``Report.black_box`` is set and
    the report holds answers only (no margins: ``min margin`` reads ``nan``; no invariants, no claims)."""
    ref = as_reference(reference)
    alphabet = getattr(ref, "alphabet", None)
    box = as_black_box(model, alphabet)
    report = Report(construction=box.name, reference=getattr(ref, "name", type(ref).__name__),
                    backend="black-box", dtype="-", seed=seed, black_box=True)
    for size in lengths:
        rng = random.Random(f"{seed}:{size}")
        xs, mode = ref.inputs(size, count=samples_per_length, exhaustive_limit=exhaustive_up_to, rng=rng)
        lr = LengthReport(size=size, mode=mode, min_margin=math.nan)
        for start in range(0, len(xs), batch_size):
            batch = xs[start : start + batch_size]
            expected = [ref.expected(x) for x in batch]
            got = box.answers(batch, boolean=all(isinstance(e, bool) for e in expected))
            for x, e, g in zip(batch, expected, got):
                lr.tested += 1
                if g == e:
                    lr.passed += 1
                elif len(lr.failures) < 3:
                    minimal = _shrink(box, ref, x) if shrink else x
                    lr.failures.append(Failure(
                        kind="answer", input=x, minimal_input=minimal, expected=ref.expected(minimal),
                        got=box.answers([minimal], boolean=isinstance(e, bool))[0], where="the answer (black box)",
                        reason="the model's answer differs from the reference's (a black box: no internals to "
                               "diagnose)"))
        report.lengths.append(lr)
    if report.tested == 0:
        raise InputError(f"the check tested no inputs: the reference {report.reference!r} has none at sizes "
                         f"{list(lengths)}")
    return report


def _shrink(box: BlackBox, ref: Any, x: Any, budget: int = 200) -> Any:
    """Greedy shrinking as :func:`~exactformer.verify.check` does it: the first smaller input the model still
    answers wrongly, until none is."""
    current, progress = x, True
    while progress and budget > 0:
        progress = False
        for candidate in ref.shrink(current):
            budget -= 1
            try:
                expected = ref.expected(candidate)
                wrong = box.answers([candidate], boolean=isinstance(expected, bool))[0] != expected
            except Exception:  # outside the reference's or the model's domain: not a valid shrink
                wrong = False
            if wrong:
                current, progress = candidate, True
                break
            if budget <= 0:
                break
    return current
