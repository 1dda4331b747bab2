"""The errors exactformer raises. Each names what is wrong, so a user never gets a silent wrong answer."""

from __future__ import annotations

__all__ = [
    "ExactformerError",
    "IrrationalOperation",
    "NonFiniteError",
    "AttentionTieError",
    "ReadoutTieError",
    "InputError",
    "ModelFormatError",
    "MemoryBudgetError",
]


class ExactformerError(Exception):
    """Base class of every exactformer error."""


class IrrationalOperation(ExactformerError):
    """The exact (rational) evaluator met an operation whose result is irrational (softmax, a norm, a sinusoid).

    Use the certified evaluator (``backend="certified"``) for such models.
    """


class NonFiniteError(ExactformerError, FloatingPointError):
    """A NaN or infinity appeared in a forward pass; the message names the layer and sublayer."""


class AttentionTieError(ExactformerError):
    """Hard attention found several maximal scores where the model states no tie rule."""


class ReadoutTieError(ExactformerError):
    """The readout decided nothing: its two largest logits are equal (``argmax``) or its logit is exactly 0
    (``sign``), so the answer would be an accident of the evaluation order. The message names the sequence, the tied
    labels and their logit."""


class InputError(ExactformerError, ValueError):
    """An input the model cannot take: a symbol outside the vocabulary, a length beyond what it was built for."""


class ModelFormatError(ExactformerError, ValueError):
    """A malformed, truncated or inconsistent model description or weights file."""


class MemoryBudgetError(InputError, MemoryError):
    """A request would allocate more than the memory budget (:data:`exactformer.core.budget.MEMORY_BUDGET`).

    The message says how many bytes the request needs and what the budget is; raise the budget (or set the
    ``EXACTFORMER_MEMORY_BUDGET`` environment variable) to allow it.
    """
