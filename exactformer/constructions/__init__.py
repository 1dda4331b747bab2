"""Constructions: exact weights realising published theorems, one module per paper, and their registry."""

from .demo import copy_first
from .registry import REGISTRY, Entry, build, get, names, register

register(
    Entry(
        name="demo",
        builder=copy_first,
        summary="one hard-attention layer copies the first symbol to the last position",
        example="abba",
        options={"alphabet": ("a", "b")},
    )
)

__all__ = ["copy_first", "REGISTRY", "Entry", "build", "get", "names", "register"]
