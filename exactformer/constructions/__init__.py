"""Constructions: exact weights realising published theorems, one module per paper, and their registry."""

from .demo import copy_first
from .registry import REGISTRY, Entry, build, get, names, register


def _first_symbol_reference(construction):
    """The demo's reference: the first symbol of the word (a plain function, independent of the model)."""
    from ..verify.reference import FunctionReference

    return FunctionReference(lambda word: word[0], construction.model.embedding.vocab, name="first symbol")

register(
    Entry(
        name="demo",
        builder=copy_first,
        summary="one hard-attention layer copies the first symbol to the last position",
        example="abba",
        options={"alphabet": ("a", "b")},
        reference=lambda c: _first_symbol_reference(c),
        lengths=tuple(range(1, 17)),
    )
)

__all__ = ["copy_first", "REGISTRY", "Entry", "build", "get", "names", "register"]
