"""The registry of constructions: a name, a builder, its citation and an example input, for the CLI and docs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.construction import Construction

__all__ = ["Entry", "register", "get", "build", "names", "REGISTRY"]


@dataclass(frozen=True)
class Entry:
    """One registered construction.

    ``example`` is an input the CLI's ``trace`` uses when none is given; ``options`` are the builder's keyword
    arguments with their defaults (what ``--option key=value`` may set). ``reference`` builds the independent
    reference that ``exactformer verify`` checks against (it may take the built construction, e.g. to read the
    DFA it was built from); ``lengths`` are the default sizes to verify.
    """

    name: str
    builder: Callable[..., Construction]
    summary: str
    example: Any
    options: dict[str, Any] = field(default_factory=dict)
    reference: Callable[[Construction], Any] | None = None
    lengths: tuple[int, ...] = tuple(range(0, 17))


REGISTRY: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    """Add ``entry`` to the registry (a name may be registered once)."""
    if entry.name in REGISTRY:
        raise ValueError(f"a construction named {entry.name!r} is already registered")
    REGISTRY[entry.name] = entry
    return entry


def names() -> list[str]:
    """Registered names, sorted."""
    return sorted(REGISTRY)


def get(name: str) -> Entry:
    """The entry called ``name``; the error lists the registered names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no construction named {name!r}; registered: {', '.join(names())}") from None


def build(name: str, **options: Any) -> Construction:
    """Build the construction called ``name`` with builder ``options``."""
    entry = get(name)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise TypeError(f"{name} takes no option(s) {unknown}; its options are {sorted(entry.options)}")
    return entry.builder(**options)
